//! What keeps objects: lethe holds over prefixes, guards, pinned plans, and a hold added while
//! apply runs.

use crate::objects::proxy::{Fault, FaultProxy};
use crate::objects::stores::{Kind, Store};
use crate::objects::{cvs_policy, folder, policy};
use std::sync::atomic::Ordering;

/// A declared hold and a runtime hold each keep the objects under their prefix; a table hold
/// on an object store is refused; the audit trail keeps a hold's prefix only as a keyed hash.
pub async fn holds_keep_objects_under_their_prefix(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for k in ["cvs/case-1/a.pdf", "cvs/case-2/b.pdf", "cvs/other/c.pdf"] {
        s.put_aged(k, 400).await;
    }
    let cfg = folder(
        dir.path(),
        &s.store_yaml("uploads"),
        &[
            (
                "cvs.yaml",
                &policy("cvs", "uploads", &format!("prefix: cvs/\nclock: {}", s.clock())),
            ),
            (
                "hold.yaml",
                "kind: LegalHold\nname: case-2\nstore: uploads\nprefix: cvs/case-2/\nbasis: Rb. Amsterdam C/13/123\n",
            ),
        ],
    );
    let add = s.lethe(
        dir.path(),
        &cfg,
        &[
            "holds",
            "add",
            "--store",
            "uploads",
            "--prefix",
            "cvs/case-1/",
            "--reason",
            "dispute 2026-117",
        ],
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    let table = s.lethe(
        dir.path(),
        &cfg,
        &[
            "holds", "add", "--store", "uploads", "--table", "leads", "--reason", "x",
        ],
    );
    assert_eq!(
        table.code, 2,
        "a table hold on an object store: {}",
        table.stderr
    );
    let apply = s.lethe(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let a = &apply.json()["policies"][0];
    assert_eq!(
        (a["deleted"].as_u64(), a["held"].as_u64()),
        (Some(1), Some(2)),
        "{a}"
    );
    let holds: Vec<&str> = a["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hold"].as_str().unwrap())
        .collect();
    assert_eq!(holds, vec!["case-2", "hold-1"]);
    assert_eq!(
        s.keys("").await,
        vec!["cvs/case-1/a.pdf", "cvs/case-2/b.pdf"]
    );
    let list = s.lethe(dir.path(), &cfg, &["holds", "list"]);
    assert!(
        list.stdout.contains("uploads:cvs/case-1/"),
        "{}",
        list.stdout
    );
    // A prefix may name a person: the audit trail keeps it only as a keyed hash (no key here).
    let export = s.lethe(dir.path(), &cfg, &["audit", "export"]);
    assert!(export.stdout.contains("hold.added"), "{}", export.stdout);
    assert!(!export.stdout.contains("case-1"), "{}", export.stdout);
    s.drop_store().await;
}

/// A guard refuses a run that would delete too many objects, touching nothing; a pinned plan
/// refuses the drift when more objects fall due after review, and is applied when they are
/// gone again.
pub async fn guards_and_pinned_plans_cover_objects(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        s.put_aged(&format!("cvs/{i}.pdf"), 400).await;
    }
    let body = format!("prefix: cvs/\nclock: {}", s.clock());
    let cfg = folder(
        dir.path(),
        &s.store_yaml("uploads"),
        &[(
            "cvs.yaml",
            &policy(
                "cvs",
                "uploads",
                &format!("{body}\nguard: {{ max_rows: 3 }}"),
            )
            .replace("guard: { max_fraction: 1 }\n", ""),
        )],
    );
    let refused = s.lethe(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
    assert_eq!(refused.code, 4, "{}", refused.stdout);
    assert_eq!(s.keys("cvs/").await.len(), 5, "nothing touched");
    // Within the guard: a reviewed plan, then two more objects fall due; the pinned apply
    // refuses the drift, a new plan is applied.
    std::fs::write(cfg.join("cvs.yaml"), policy("cvs", "uploads", &body)).unwrap();
    let plan_file = dir.path().join("plan.json");
    let plan = s.lethe(
        dir.path(),
        &cfg,
        &["plan", "--plan-file", plan_file.to_str().unwrap()],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    s.put_aged("cvs/late.pdf", 400).await;
    let drift = s.lethe(
        dir.path(),
        &cfg,
        &["apply", "--yes", "--plan", plan_file.to_str().unwrap()],
    );
    assert_eq!(drift.code, 4, "{}", drift.stdout);
    s.remove("cvs/late.pdf").await;
    let pinned = s.lethe(
        dir.path(),
        &cfg,
        &[
            "apply",
            "--yes",
            "--format",
            "json",
            "--plan",
            plan_file.to_str().unwrap(),
        ],
    );
    assert_eq!(pinned.code, 0, "{}", pinned.stderr);
    assert_eq!(pinned.json()["pinned"], true);
    assert!(s.keys("cvs/").await.is_empty());
    s.drop_store().await;
}

/// A runtime hold added while apply works protects its objects from the next page on: every
/// page's due keys are deleted before the next page is read and judged. The verification's
/// fresh listing counts the held objects and finds nothing due left.
pub async fn a_hold_added_during_apply_protects_the_next_pages(kind: Kind) {
    use futures_util::StreamExt;
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Three pages: k00000-k00999, k01000-k01999, k02000-k02099.
    futures_util::stream::iter(0..2100)
        .map(|i| {
            let s = &s;
            async move { s.put_aged(&format!("cvs/k{i:05}"), 400).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    // The first page's requests are answered after a second: time to add the hold.
    let proxy = FaultProxy::start(&s.bucket().endpoint, vec![Fault::Slow; 4]).await;
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml_at("uploads", &proxy.endpoint),
        &format!("prefix: cvs/\nclock: {}", s.clock()),
    );
    let child = s.spawn(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
    let started = std::time::Instant::now();
    while proxy.deletes.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed().as_secs() < 120, "no delete request came");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let add = s.lethe(
        dir.path(),
        &cfg,
        &[
            "holds", "add", "--store", "uploads", "--prefix", "cvs/k01", "--reason", "case 12",
        ],
    );
    assert_eq!(add.code, 0, "{}", add.stderr);
    let out = child.wait_with_output().unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &r["policies"][0];
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["held"].as_u64(),
            a["remaining"].as_u64()
        ),
        (Some(1100), Some(1000), Some(0)),
        "{a}"
    );
    assert_eq!(s.keys("cvs/k01").await.len(), 1000);
    s.drop_store().await;
}
