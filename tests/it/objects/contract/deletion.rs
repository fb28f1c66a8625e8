//! Listing by prefix, deleting what is due and nothing else, the clocks, idempotence, privacy.

use crate::objects::stores::{Kind, Store, DATE_KEY};
use crate::objects::{assert_private, cvs_policy, day, folder, next_year, policy, PERSONAL};
use chrono::Utc;

/// Due objects under the prefix are deleted; a recent one and one under another prefix stay;
/// no key is printed by plan, apply or the audit export; a second run deletes nothing; the
/// audit trail verifies.
pub async fn due_objects_go_and_the_rest_stays(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for k in [
        format!("cvs/{PERSONAL}.pdf"),
        "cvs/2/old.pdf".to_string(),
        "cvs/3.pdf".to_string(),
    ] {
        s.put_aged(&k, 400).await;
    }
    s.put_aged("cvs/new.pdf", 10).await;
    s.put_aged("other/old.pdf", 400).await;
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml("uploads"),
        &format!("prefix: cvs/\nclock: {}", s.clock()),
    );
    let plan = s.lethe(dir.path(), &cfg, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p = &plan.json()["policies"][0];
    assert_eq!(
        (p["eligible"].as_u64(), p["total"].as_u64()),
        (Some(3), Some(4)),
        "{p}"
    );
    assert_eq!(p["target"], "uploads:cvs/");
    assert_private(&plan);

    let (apply, a) = s.apply_ok(dir.path(), &cfg);
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["failed"].as_u64(),
            a["remaining"].as_u64()
        ),
        (Some(3), Some(0), Some(0)),
        "{a}"
    );
    assert_private(&apply);
    assert_eq!(s.keys("").await, vec!["cvs/new.pdf", "other/old.pdf"]);

    let again = s.lethe(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["policies"][0]["deleted"], 0);
    assert_eq!(s.keys("").await, vec!["cvs/new.pdf", "other/old.pdf"]);
    let verify = s.lethe(dir.path(), &cfg, &["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    let export = s.lethe(dir.path(), &cfg, &["audit", "export"]);
    assert!(
        export.stdout.contains("policy.applied"),
        "{}",
        export.stdout
    );
    assert_private(&export);
    s.drop_store().await;
}

/// A prefix is a string, not a folder: `cvs/a` takes `cvs/a1.pdf` and `cvs/ab/c.pdf`, and
/// leaves `cvs/b1.pdf` and `cvs/ba/a.pdf` beside them.
pub async fn a_prefix_need_not_end_at_a_slash(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for k in ["cvs/a1.pdf", "cvs/ab/c.pdf", "cvs/b1.pdf", "cvs/ba/a.pdf"] {
        s.put_aged(k, 400).await;
    }
    s.put_aged("cvs/a-new.pdf", 10).await;
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml("uploads"),
        &format!("prefix: cvs/a\nclock: {}", s.clock()),
    );
    let (_, a) = s.apply_ok(dir.path(), &cfg);
    assert_eq!(
        (a["deleted"].as_u64(), a["remaining"].as_u64()),
        (Some(2), Some(0)),
        "{a}"
    );
    assert_eq!(
        s.keys("").await,
        vec!["cvs/a-new.pdf", "cvs/b1.pdf", "cvs/ba/a.pdf"]
    );
    s.drop_store().await;
}

/// Every kind has the modification time as a clock: objects written today are not due now, and
/// a plan for next year sees them all due; a dry-run policy deletes nothing.
pub async fn the_modification_time_is_a_clock(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for k in ["rec/a.wav", "rec/b.wav", "other/c.wav"] {
        s.put(k).await;
    }
    let cfg = folder(
        dir.path(),
        &s.store_yaml("uploads"),
        &[(
            "all.yaml",
            &policy(
                "all",
                "uploads",
                "prefix: \"\"\nclock: { last_modified: true }\nmode: dry-run",
            ),
        )],
    );
    let plan = |as_of: &str| {
        let r = s.lethe(
            dir.path(),
            &cfg,
            &[
                "plan", "--format", "json", "--policy", "all", "--as-of", as_of,
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.json()["policies"][0].clone()
    };
    let now = plan(&Utc::now().to_rfc3339());
    assert_eq!(
        (now["eligible"].as_u64(), now["total"].as_u64()),
        (Some(0), Some(3)),
        "{now}"
    );
    // last_modified: nothing is 90 days old now; a plan for next year sees everything due.
    assert_eq!(plan(&next_year())["eligible"], 3);
    let apply = s.lethe(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let r = apply.json();
    assert_eq!(r["dry_run"][0], "all", "{r}");
    assert_eq!(s.keys("").await.len(), 3, "a dry run deletes nothing");
    s.drop_store().await;
}

/// A metadata clock: due objects go; an object without the key and one whose date cannot be
/// read are undated and kept; another prefix is untouched.
pub async fn a_metadata_clock_keeps_undated_and_unreadable_dates(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    let due = [
        format!("cvs/{PERSONAL}.pdf"),
        "cvs/2/old.pdf".to_string(),
        "cvs/3.pdf".to_string(),
    ];
    for k in &due {
        s.put_meta(k, &[(DATE_KEY, &old)]).await;
    }
    s.put_meta("cvs/new.pdf", &[(DATE_KEY, &day(10))]).await;
    s.put_meta("cvs/undated.pdf", &[]).await;
    s.put_meta("cvs/bad.pdf", &[(DATE_KEY, "yesterday")]).await;
    s.put_meta("other/old.pdf", &[(DATE_KEY, &old)]).await;
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml("uploads"),
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let plan = s.lethe(dir.path(), &cfg, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p = &plan.json()["policies"][0];
    assert_eq!(
        (
            p["eligible"].as_u64(),
            p["undated"].as_u64(),
            p["total"].as_u64()
        ),
        (Some(3), Some(2), Some(6)),
        "{p}"
    );
    assert_private(&plan);
    let (apply, a) = s.apply_ok(dir.path(), &cfg);
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["failed"].as_u64(),
            a["remaining"].as_u64()
        ),
        (Some(3), Some(0), Some(0)),
        "{a}"
    );
    assert_private(&apply);
    assert_eq!(
        s.keys("").await,
        vec![
            "cvs/bad.pdf",
            "cvs/new.pdf",
            "cvs/undated.pdf",
            "other/old.pdf"
        ]
    );
    s.drop_store().await;
}

/// A tag clock: a due tag goes, a recent one stays, an untagged object is undated; a dry-run
/// policy beside it over the whole bucket deletes nothing.
pub async fn a_tag_is_a_clock(kind: Kind) {
    use aws_sdk_s3::primitives::ByteStream;
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let b = s.bucket();
    let dir = tempfile::tempdir().unwrap();
    for (k, tag) in [("rec/old.wav", day(400)), ("rec/new.wav", day(5))] {
        b.client
            .put_object()
            .bucket(&b.bucket)
            .key(k)
            .tagging(format!("retain-from={tag}"))
            .body(ByteStream::from_static(b"audio"))
            .send()
            .await
            .unwrap();
    }
    s.put("rec/untagged.wav").await;
    let cfg = folder(
        dir.path(),
        &s.store_yaml("uploads"),
        &[
            (
                "rec.yaml",
                &policy(
                    "rec",
                    "uploads",
                    "prefix: rec/\nclock: { tag: retain-from }",
                ),
            ),
            (
                "all.yaml",
                &policy(
                    "all",
                    "uploads",
                    "prefix: \"\"\nclock: { last_modified: true }\nmode: dry-run",
                ),
            ),
        ],
    );
    let plan = s.lethe(
        dir.path(),
        &cfg,
        &[
            "plan",
            "--format",
            "json",
            "--policy",
            "all",
            "--as-of",
            &next_year(),
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(plan.json()["policies"][0]["eligible"], 3);
    let apply = s.lethe(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let r = apply.json();
    assert_eq!(r["dry_run"][0], "all", "{r}");
    let a = &r["policies"][0];
    assert_eq!(
        (a["deleted"].as_u64(), a["undated"].as_u64()),
        (Some(1), Some(1)),
        "{a}"
    );
    assert_eq!(s.keys("").await, vec!["rec/new.wav", "rec/untagged.wav"]);
    s.drop_store().await;
}
