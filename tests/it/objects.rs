//! Object stores end to end with the real binary: one behavioural suite on moto and on Garage,
//! versioning, delete markers and Object Lock on moto, lethe holds over prefixes, the contract
//! link to SQL, injected faults, and the folder store.

use crate::s3::{Fault, FaultProxy, Server, TestBucket};
use crate::support::{lethe_in, run, Backend, Run, TestDb};
use chrono::{Duration, Utc};
use std::path::{Path, PathBuf};

/// A recognizable personal value inside a key: it must never appear in lethe's output.
const PERSONAL: &str = "jan.jansen@example.nl";

/// Writes a policies folder with the given stores (YAML lines under `stores:`) and files, and
/// creates its state database with `lethe check`.
fn folder(dir: &Path, stores: &str, files: &[(&str, &str)]) -> PathBuf {
    let cfg = dir.join("policies");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("lethe.yaml"),
        format!(
            "state: sqlite://{}\nstores:\n{stores}",
            dir.join("state.db").display()
        ),
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(cfg.join(name), text).unwrap();
    }
    let url = format!("sqlite://{}", dir.join("state.db").display());
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(lethe::audit::StateDb::open(&url))
            .unwrap();
    })
    .join()
    .unwrap();
    cfg
}

/// A policies folder with the bucket as store `uploads` (reached at `endpoint`) and one policy
/// `cvs` with `body`.
fn cvs_policy(b: &TestBucket, dir: &Path, endpoint: &str, body: &str) -> PathBuf {
    folder(
        dir,
        &b.store_yaml("uploads", endpoint),
        &[("cvs.yaml", &policy("cvs", "uploads", body))],
    )
}

fn policy(name: &str, store: &str, body: &str) -> String {
    format!(
        "kind: RetentionPolicy\nname: {name}\nstore: {store}\nkeep: 90d\naction: delete\nguard: {{ max_fraction: 1 }}\n{body}\n"
    )
}

fn day(days_ago: i64) -> String {
    (Utc::now() - Duration::days(days_ago))
        .format("%Y-%m-%d")
        .to_string()
}

fn lethe(b: &TestBucket, dir: &Path, cfg: &Path, args: &[&str]) -> Run {
    let mut cmd = lethe_in(dir, cfg);
    b.creds(&mut cmd);
    run(cmd.args(args))
}

/// `lethe apply --yes --format json`, which must exit 0; the run and its first policy's outcome.
fn apply_ok(b: &TestBucket, dir: &Path, cfg: &Path) -> (Run, serde_json::Value) {
    let apply = lethe(b, dir, cfg, &["apply", "--yes", "--format", "json"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let a = apply.json()["policies"][0].clone();
    (apply, a)
}

fn assert_private(r: &Run) {
    assert!(
        !r.stdout.contains(PERSONAL) && !r.stderr.contains(PERSONAL),
        "a key with a personal value leaked:\n{}\n{}",
        r.stdout,
        r.stderr
    );
}

/// The behaviour every S3 server must show: a metadata clock, undated and unreadable dates kept,
/// other prefixes untouched, the audit trail intact, no key printed, a second run idempotent.
async fn behaviour(server: Server) {
    let Some(b) = TestBucket::new(server, false, false).await else {
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
        b.put(k, &[("uploaded-at", &old)]).await;
    }
    b.put("cvs/new.pdf", &[("uploaded-at", &day(10))]).await;
    b.put("cvs/undated.pdf", &[]).await;
    b.put("cvs/bad.pdf", &[("uploaded-at", "yesterday")]).await;
    b.put("other/old.pdf", &[("uploaded-at", &old)]).await;
    let cfg = cvs_policy(
        &b,
        dir.path(),
        &b.endpoint,
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let plan = lethe(&b, dir.path(), &cfg, &["plan", "--format", "json"]);
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
    assert_eq!(p["target"], "uploads:cvs/");
    assert_private(&plan);

    let (apply, a) = apply_ok(&b, dir.path(), &cfg);
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
        b.keys("").await,
        vec![
            "cvs/bad.pdf",
            "cvs/new.pdf",
            "cvs/undated.pdf",
            "other/old.pdf"
        ]
    );

    let again = lethe(
        &b,
        dir.path(),
        &cfg,
        &["apply", "--yes", "--format", "json"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["policies"][0]["deleted"], 0);
    let verify = lethe(&b, dir.path(), &cfg, &["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    let export = lethe(&b, dir.path(), &cfg, &["audit", "export"]);
    assert!(
        export.stdout.contains("policy.applied"),
        "{}",
        export.stdout
    );
    assert_private(&export);
    b.drop_bucket().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_on_moto() {
    behaviour(Server::Moto).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_on_garage() {
    behaviour(Server::Garage).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_and_delete_marker_goes() {
    let Some(b) = TestBucket::new(Server::Moto, true, false).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    for _ in 0..3 {
        b.put("cvs/a.pdf", &[("uploaded-at", &old)]).await;
    }
    for _ in 0..2 {
        b.put("cvs/b.pdf", &[("uploaded-at", &old)]).await;
    }
    // b.pdf is "deleted" already, but its old versions still hold the data.
    b.client
        .delete_object()
        .bucket(&b.bucket)
        .key("cvs/b.pdf")
        .send()
        .await
        .unwrap();
    b.put("cvs/c.pdf", &[("uploaded-at", &old)]).await;
    b.put("cvs/c.pdf", &[("uploaded-at", &day(1))]).await;
    let cfg = cvs_policy(
        &b,
        dir.path(),
        &b.endpoint,
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let (_, a) = apply_ok(&b, dir.path(), &cfg);
    assert_eq!(a["deleted"], 2, "{a}");
    assert_eq!(a["versions"], 6, "3 + 2 versions and 1 delete marker: {a}");
    assert_eq!(a["remaining"], 0);
    assert_eq!(b.versions("cvs/a.pdf").await, (0, 0));
    assert_eq!(b.versions("cvs/b.pdf").await, (0, 0));
    // The newest version of c.pdf is recent: the key is not due, no version of it goes.
    assert_eq!(b.versions("cvs/c.pdf").await, (2, 0));
    b.drop_bucket().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_is_a_hold_with_its_date() {
    use aws_sdk_s3::primitives::{ByteStream, DateTime};
    use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
    let Some(b) = TestBucket::new(Server::Moto, true, true).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    let until = Utc::now() + Duration::days(3);
    let put = |key: &'static str| {
        b.client
            .put_object()
            .bucket(&b.bucket)
            .key(key)
            .metadata("uploaded-at", &old)
            .body(ByteStream::from_static(b"data"))
    };
    put("cvs/legal.pdf")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    put("cvs/governance.pdf")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(until.timestamp()))
        .send()
        .await
        .unwrap();
    put("cvs/compliance.pdf")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(DateTime::from_secs(until.timestamp()))
        .send()
        .await
        .unwrap();
    put("cvs/free.pdf").send().await.unwrap();
    let cfg = cvs_policy(
        &b,
        dir.path(),
        &b.endpoint,
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let check = lethe(&b, dir.path(), &cfg, &["check"]);
    assert!(check.stdout.contains("Object Lock"), "{}", check.stdout);
    let apply = lethe(
        &b,
        dir.path(),
        &cfg,
        &["apply", "--yes", "--format", "json"],
    );
    assert_eq!(
        apply.code, 0,
        "locks are holds, not failures: {}\n{}",
        apply.stdout, apply.stderr
    );
    let a = &apply.json()["policies"][0];
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["failed"].as_u64(),
            a["held"].as_u64()
        ),
        (Some(1), Some(0), Some(3)),
        "{a}"
    );
    let holds = a["holds"].as_array().unwrap();
    let names: Vec<&str> = holds.iter().map(|h| h["hold"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "object-lock:compliance",
            "object-lock:governance",
            "object-lock:legal-hold"
        ]
    );
    let date = until.format("%Y-%m-%d").to_string();
    assert!(
        holds[0]["basis"].as_str().unwrap().contains(&date),
        "{holds:?}"
    );
    assert_eq!(
        b.keys("cvs/").await,
        vec!["cvs/compliance.pdf", "cvs/governance.pdf", "cvs/legal.pdf"]
    );
    let text = lethe(&b, dir.path(), &cfg, &["plan"]);
    assert!(
        text.stdout.contains("object-lock:governance"),
        "{}",
        text.stdout
    );
    b.drop_bucket().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lethe_holds_keep_objects_under_their_prefix() {
    let Some(b) = TestBucket::new(Server::Moto, false, false).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    for k in ["cvs/case-1/a.pdf", "cvs/case-2/b.pdf", "cvs/other/c.pdf"] {
        b.put(k, &[("uploaded-at", &old)]).await;
    }
    let cfg = folder(
        dir.path(),
        &b.store_yaml("uploads", &b.endpoint),
        &[
            (
                "cvs.yaml",
                &policy("cvs", "uploads", "prefix: cvs/\nclock: { metadata: uploaded-at }"),
            ),
            (
                "hold.yaml",
                "kind: LegalHold\nname: case-2\nstore: uploads\nprefix: cvs/case-2/\nbasis: Rb. Amsterdam C/13/123\n",
            ),
        ],
    );
    let add = lethe(
        &b,
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
    let table = lethe(
        &b,
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
    let apply = lethe(
        &b,
        dir.path(),
        &cfg,
        &["apply", "--yes", "--format", "json"],
    );
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
        b.keys("").await,
        vec!["cvs/case-1/a.pdf", "cvs/case-2/b.pdf"]
    );
    let list = lethe(&b, dir.path(), &cfg, &["holds", "list"]);
    assert!(
        list.stdout.contains("uploads:cvs/case-1/"),
        "{}",
        list.stdout
    );
    // A prefix may name a person: the audit trail keeps it only as a keyed hash (no key here).
    let export = lethe(&b, dir.path(), &cfg, &["audit", "export"]);
    assert!(export.stdout.contains("hold.added"), "{}", export.stdout);
    assert!(!export.stdout.contains("case-1"), "{}", export.stdout);
    b.drop_bucket().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_and_last_modified_are_clocks_too() {
    use aws_sdk_s3::primitives::ByteStream;
    let Some(b) = TestBucket::new(Server::Moto, false, false).await else {
        return;
    };
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
    b.put("rec/untagged.wav", &[]).await;
    let cfg = folder(
        dir.path(),
        &b.store_yaml("uploads", &b.endpoint),
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
    // last_modified: nothing is 90 days old now; a plan for next year sees everything due.
    let ahead = (Utc::now() + Duration::days(365)).to_rfc3339();
    let plan = lethe(
        &b,
        dir.path(),
        &cfg,
        &[
            "plan", "--format", "json", "--policy", "all", "--as-of", &ahead,
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(plan.json()["policies"][0]["eligible"], 3);
    let apply = lethe(
        &b,
        dir.path(),
        &cfg,
        &["apply", "--yes", "--format", "json"],
    );
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let r = apply.json();
    assert_eq!(r["dry_run"][0], "all", "{r}");
    let a = &r["policies"][0];
    assert_eq!(
        (a["deleted"].as_u64(), a["undated"].as_u64()),
        (Some(1), Some(1)),
        "{a}"
    );
    assert_eq!(b.keys("").await, vec!["rec/new.wav", "rec/untagged.wav"]);
    b.drop_bucket().await;
}

/// The contract-end clock reaches a customer's files through the key template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_end_reaches_the_customers_files() {
    let Some(b) = TestBucket::new(Server::Moto, false, false).await else {
        return;
    };
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    db.crm_schema().await;
    db.exec(&format!(
        "INSERT INTO contracts (id, customer_id, terminated_at) VALUES (1, 1, {}), (2, 2, NULL), (3, 4, {}), (4, 4, {})",
        db.ts("2020-01-01 00:00:00"),
        db.ts("2020-01-01 00:00:00"),
        db.ts(&format!("{} 00:00:00", day(10)))
    ))
    .await;
    for k in [
        "exports/1/leads.csv",
        "exports/1/x/more.csv",
        "exports/2/leads.csv",
        "exports/3/leads.csv",
        "exports/4/leads.csv",
        "exports/abc/leads.csv",
        "exports/top.csv",
    ] {
        b.put(k, &[]).await;
    }
    let stores = format!(
        "{}  crm: {{ kind: sql, url: \"{}\", country: NL }}\n",
        b.store_yaml("uploads", &b.endpoint),
        db.url
    );
    let cfg = folder(
        db.dir.path(),
        &stores,
        &[(
            "exports.yaml",
            &policy(
                "exports",
                "uploads",
                "key_template: \"exports/{customer_id}/\"\nclock: { store: crm, join: contracts, column: terminated_at, on: { customer_id: customer_id } }",
            ),
        )],
    );
    let (_, a) = apply_ok(&b, db.dir.path(), &cfg);
    // 1: ended long ago (two files); 2: not ended; 3 and abc: no contract (undated);
    // 4: one contract ended recently; top.csv: outside the template.
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["undated"].as_u64(),
            a["remaining"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "{a}"
    );
    assert_eq!(
        b.keys("").await,
        vec![
            "exports/2/leads.csv",
            "exports/3/leads.csv",
            "exports/4/leads.csv",
            "exports/abc/leads.csv",
            "exports/top.csv"
        ]
    );
    // An end date kept as text is refused outside SQLite: any text would compare with the cutoff.
    db.exec("CREATE TABLE deals (customer_id int, ended text)")
        .await;
    std::fs::write(
        cfg.join("deals.yaml"),
        policy(
            "deals",
            "uploads",
            "key_template: \"deals/{customer_id}/\"\nclock: { store: crm, join: deals, column: ended, on: { customer_id: customer_id } }",
        ),
    )
    .unwrap();
    let check = lethe(&b, db.dir.path(), &cfg, &["check"]);
    assert_eq!(check.code, 2, "{}\n{}", check.stdout, check.stderr);
    assert!(
        check.stderr.contains("is `text`, not a date or timestamp"),
        "{}",
        check.stderr
    );
    b.drop_bucket().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_errors_and_dropped_connections_are_retried() {
    let Some(b) = TestBucket::new(Server::Moto, false, false).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    for i in 0..30 {
        b.put(&format!("cvs/{i}.pdf"), &[("uploaded-at", &old)])
            .await;
    }
    let proxy = FaultProxy::start(
        &b.endpoint,
        vec![
            Fault::SlowDown,
            Fault::Internal,
            Fault::Drop,
            Fault::SlowDown,
        ],
    )
    .await;
    let cfg = cvs_policy(
        &b,
        dir.path(),
        &proxy.endpoint,
        "prefix: cvs/\nclock: { metadata: uploaded-at }\nbatch_size: 10",
    );
    let (_, a) = apply_ok(&b, dir.path(), &cfg);
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["failed"].as_u64(),
            a["batches"].as_u64()
        ),
        (Some(30), Some(0), Some(3)),
        "{a}"
    );
    assert_eq!(
        proxy.served.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "every fault was served"
    );
    assert!(proxy.deletes.load(std::sync::atomic::Ordering::SeqCst) >= 7);
    assert!(b.keys("cvs/").await.is_empty());
    b.drop_bucket().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_errors_in_a_200_answer_are_read_and_reported() {
    let Some(b) = TestBucket::new(Server::Moto, false, false).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    b.put(&format!("cvs/{PERSONAL}.pdf"), &[("uploaded-at", &old)])
        .await;
    b.put("cvs/b.pdf", &[("uploaded-at", &old)]).await;
    let proxy = FaultProxy::start(&b.endpoint, vec![Fault::RefuseFirstKey]).await;
    let cfg = cvs_policy(
        &b,
        dir.path(),
        &proxy.endpoint,
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let apply = lethe(
        &b,
        dir.path(),
        &cfg,
        &["apply", "--yes", "--format", "json"],
    );
    assert_eq!(
        apply.code, 1,
        "a refused key fails the run: {}\n{}",
        apply.stdout, apply.stderr
    );
    let r = apply.json();
    let a = &r["policies"][0];
    assert_eq!(r["status"], "failed");
    assert_eq!(
        (a["deleted"].as_u64(), a["failed"].as_u64()),
        (Some(1), Some(1)),
        "{a}"
    );
    assert!(
        a["errors"][0].as_str().unwrap().contains("AccessDenied"),
        "{a}"
    );
    assert_private(&apply);
    b.drop_bucket().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_and_pinned_plans_cover_objects() {
    let Some(b) = TestBucket::new(Server::Moto, false, false).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    for i in 0..5 {
        b.put(&format!("cvs/{i}.pdf"), &[("uploaded-at", &old)])
            .await;
    }
    let body = "prefix: cvs/\nclock: { metadata: uploaded-at }";
    let cfg = folder(
        dir.path(),
        &b.store_yaml("uploads", &b.endpoint),
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
    let refused = lethe(
        &b,
        dir.path(),
        &cfg,
        &["apply", "--yes", "--format", "json"],
    );
    assert_eq!(refused.code, 4, "{}", refused.stdout);
    assert_eq!(b.keys("cvs/").await.len(), 5, "nothing touched");
    // Within the guard: a reviewed plan, then two more objects fall due; the pinned apply
    // refuses the drift, a new plan is applied.
    std::fs::write(cfg.join("cvs.yaml"), policy("cvs", "uploads", body)).unwrap();
    let plan_file = dir.path().join("plan.json");
    let plan = lethe(
        &b,
        dir.path(),
        &cfg,
        &["plan", "--plan-file", plan_file.to_str().unwrap()],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    b.put("cvs/late.pdf", &[("uploaded-at", &old)]).await;
    let drift = lethe(
        &b,
        dir.path(),
        &cfg,
        &["apply", "--yes", "--plan", plan_file.to_str().unwrap()],
    );
    assert_eq!(drift.code, 4, "{}", drift.stdout);
    b.client
        .delete_object()
        .bucket(&b.bucket)
        .key("cvs/late.pdf")
        .send()
        .await
        .unwrap();
    let pinned = lethe(
        &b,
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
    assert!(b.keys("cvs/").await.is_empty());
    b.drop_bucket().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_folder_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("exports");
    let set_age = |p: &Path, days: i64| {
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_modified(
            std::time::SystemTime::now() - std::time::Duration::from_secs(days as u64 * 86400),
        )
        .unwrap();
    };
    for (rel, age) in [
        (format!("leads/2020/{PERSONAL}.csv"), 400),
        ("leads/2020/b.csv".to_string(), 400),
        ("leads/new.csv".to_string(), 3),
        ("leads/case-9/kept.csv".to_string(), 400),
        ("other/old.csv".to_string(), 400),
    ] {
        let p = root.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "naam;email").unwrap();
        set_age(&p, age);
    }
    // A file whose name is not UTF-8 cannot be named safely: kept (undated), and a file whose
    // name looks the same after lossy decoding is not taken for it.
    use std::os::unix::ffi::OsStrExt;
    let raw = root
        .join("leads")
        .join(std::ffi::OsStr::from_bytes(b"raw\xff.csv"));
    std::fs::write(&raw, "x").unwrap();
    set_age(&raw, 400);
    let lookalike = root.join("leads/raw\u{fffd}.csv");
    std::fs::write(&lookalike, "x").unwrap();
    // A link inside the folder to data outside it is neither followed nor deleted.
    let outside = dir.path().join("outside.csv");
    std::fs::write(&outside, "x").unwrap();
    set_age(&outside, 400);
    std::os::unix::fs::symlink(&outside, root.join("leads/link.csv")).unwrap();
    let cfg = folder(
        dir.path(),
        &format!("  exports: {{ kind: dir, path: \"{}\", country: NL }}\n", root.display()),
        &[
            (
                "leads.yaml",
                &policy("leads", "exports", "prefix: leads/\nclock: { last_modified: true }"),
            ),
            (
                "hold.yaml",
                "kind: LegalHold\nname: case-9\nstore: exports\nprefix: leads/case-9/\nbasis: dispute 9\n",
            ),
        ],
    );
    let mut cmd = lethe_in(dir.path(), &cfg);
    let apply = run(cmd.args(["apply", "--yes", "--format", "json"]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let a = &apply.json()["policies"][0];
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["held"].as_u64(),
            a["remaining"].as_u64(),
            a["undated"].as_u64()
        ),
        (Some(2), Some(1), Some(0), Some(1)),
        "{a}"
    );
    assert_private(&apply);
    assert!(raw.exists() && lookalike.exists());
    assert!(
        !root.join("leads/2020").exists(),
        "the emptied folder is removed"
    );
    assert!(root.join("leads/new.csv").exists() && root.join("leads/case-9/kept.csv").exists());
    assert!(root.join("other/old.csv").exists() && outside.exists());
    assert!(std::fs::symlink_metadata(root.join("leads/link.csv")).is_ok());
    // A prefix that leads through a link out of the folder is refused; a prefix with `..` is
    // a configuration error.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("old.csv"), "x").unwrap();
    set_age(&elsewhere.join("old.csv"), 400);
    std::os::unix::fs::symlink(&elsewhere, root.join("escape")).unwrap();
    std::fs::write(
        cfg.join("escape.yaml"),
        policy(
            "escape",
            "exports",
            "prefix: escape/\nclock: { last_modified: true }",
        ),
    )
    .unwrap();
    let mut cmd = lethe_in(dir.path(), &cfg);
    let out = run(cmd.args(["apply", "--yes", "--policy", "escape"]));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("out of the folder"), "{}", out.stderr);
    assert!(elsewhere.join("old.csv").exists());
    std::fs::write(
        cfg.join("escape.yaml"),
        policy(
            "escape",
            "exports",
            "prefix: leads/../../\nclock: { last_modified: true }",
        ),
    )
    .unwrap();
    let mut cmd = lethe_in(dir.path(), &cfg);
    let out = run(cmd.args(["check"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("escape.yaml:7:9"), "{}", out.stderr);
    std::fs::remove_file(cfg.join("escape.yaml")).unwrap();
    // A metadata clock on a folder is refused before anything runs.
    std::fs::write(
        cfg.join("meta.yaml"),
        policy(
            "meta",
            "exports",
            "prefix: x/\nclock: { metadata: uploaded-at }",
        ),
    )
    .unwrap();
    let mut cmd = lethe_in(dir.path(), &cfg);
    let bad = run(cmd.args(["plan"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("meta.yaml:8:20: a folder has no metadata or tags"),
        "{}",
        bad.stderr
    );
}

/// A runtime hold added while apply works protects its objects from the next page on: every
/// page's due keys are deleted before the next page is read and judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_added_during_apply_protects_the_next_pages() {
    use futures_util::StreamExt;
    let Some(b) = TestBucket::new(Server::Moto, false, false).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    // Three pages: k00000-k00999, k01000-k01999, k02000-k02099.
    futures_util::stream::iter(0..2100)
        .map(|i| {
            let (b, old) = (&b, &old);
            async move {
                b.put(&format!("cvs/k{i:05}"), &[("uploaded-at", old)])
                    .await
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    // The first page's requests are answered after a second: time to add the hold.
    let proxy = FaultProxy::start(&b.endpoint, vec![Fault::Slow; 4]).await;
    let cfg = cvs_policy(
        &b,
        dir.path(),
        &proxy.endpoint,
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lethe"))
        .current_dir(dir.path())
        .arg("--config")
        .arg(&cfg)
        .args(["apply", "--yes", "--format", "json"])
        .env("AWS_ACCESS_KEY_ID", &b.key_id)
        .env("AWS_SECRET_ACCESS_KEY", &b.secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while proxy.deletes.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(started.elapsed().as_secs() < 120, "no delete request came");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let add = lethe(
        &b,
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
    assert_eq!(b.keys("cvs/k01").await.len(), 1000);
    b.drop_bucket().await;
}
