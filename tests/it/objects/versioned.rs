//! What only moto has of the three stores: versioned buckets with delete markers, and S3 Object
//! Lock (Garage has neither, a folder has one version of each file).

use super::stores::{Store, DATE_KEY};
use super::{cvs_policy, day};
use chrono::{Duration, Utc};

/// Every version and delete marker of a due key goes; a key whose newest version is recent
/// keeps all of its versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_and_delete_marker_goes() {
    let Some(s) = Store::versioned_moto(false).await else {
        return;
    };
    let b = s.bucket();
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    for _ in 0..3 {
        s.put_meta("cvs/a.pdf", &[(DATE_KEY, &old)]).await;
    }
    for _ in 0..2 {
        s.put_meta("cvs/b.pdf", &[(DATE_KEY, &old)]).await;
    }
    // b.pdf is "deleted" already, but its old versions still hold the data.
    s.remove("cvs/b.pdf").await;
    s.put_meta("cvs/c.pdf", &[(DATE_KEY, &old)]).await;
    s.put_meta("cvs/c.pdf", &[(DATE_KEY, &day(1))]).await;
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml("uploads"),
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let (_, a) = s.apply_ok(dir.path(), &cfg);
    assert_eq!(a["deleted"], 2, "{a}");
    assert_eq!(a["versions"], 6, "3 + 2 versions and 1 delete marker: {a}");
    assert_eq!(a["remaining"], 0);
    assert_eq!(b.versions("cvs/a.pdf").await, (0, 0));
    assert_eq!(b.versions("cvs/b.pdf").await, (0, 0));
    // The newest version of c.pdf is recent: the key is not due, no version of it goes.
    assert_eq!(b.versions("cvs/c.pdf").await, (2, 0));
    s.drop_store().await;
}

/// Object Lock is a hold: a legal hold, governance and compliance retention each keep their
/// object (with the retention date as the basis), and they are holds, not failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_is_a_hold_with_its_date() {
    use aws_sdk_s3::primitives::{ByteStream, DateTime};
    use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
    let Some(s) = Store::versioned_moto(true).await else {
        return;
    };
    let b = s.bucket();
    let dir = tempfile::tempdir().unwrap();
    let old = day(400);
    let until = Utc::now() + Duration::days(3);
    let put = |key: &'static str| {
        b.client
            .put_object()
            .bucket(&b.bucket)
            .key(key)
            .metadata(DATE_KEY, &old)
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
        dir.path(),
        &s.store_yaml("uploads"),
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let check = s.lethe(dir.path(), &cfg, &["check"]);
    assert!(check.stdout.contains("Object Lock"), "{}", check.stdout);
    let apply = s.lethe(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
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
        s.keys("cvs/").await,
        vec!["cvs/compliance.pdf", "cvs/governance.pdf", "cvs/legal.pdf"]
    );
    let text = s.lethe(dir.path(), &cfg, &["plan"]);
    assert!(
        text.stdout.contains("object-lock:governance"),
        "{}",
        text.stdout
    );
    s.drop_store().await;
}
