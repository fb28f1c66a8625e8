//! What only moto has of the three stores: versioned buckets with delete markers, and S3 Object
//! Lock (Garage has neither, a folder has one version of each file).

use super::stores::{Store, DATE_KEY};
use super::{cvs_policy, day, folder, policy};
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

/// Puts `key` dated yesterday on every clock: metadata and tag `uploaded-at`, and its write.
async fn put_recent(s: &Store, key: &str) {
    let b = s.bucket();
    let recent = day(1);
    b.client
        .put_object()
        .bucket(&b.bucket)
        .key(key)
        .metadata(DATE_KEY, &recent)
        .tagging(format!("{DATE_KEY}={recent}"))
        .send()
        .await
        .unwrap();
}

/// The named counts of a report's policy (a count left out is 0).
fn counts<const N: usize>(report: &serde_json::Value, fields: [&str; N]) -> [u64; N] {
    fields.map(|f| report[f].as_u64().unwrap_or(0))
}

/// Leaves `key` with nothing but two delete markers: a recent version, deleted twice by the
/// application, then the version itself removed by id (as a lifecycle rule, or an apply killed
/// between its requests, leaves it).
async fn lone_markers(s: &Store, key: &str) {
    let b = s.bucket();
    put_recent(s, key).await;
    s.remove(key).await;
    s.remove(key).await;
    let listed = b
        .client
        .list_object_versions()
        .bucket(&b.bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    for v in listed.versions() {
        b.client
            .delete_object()
            .bucket(&b.bucket)
            .key(key)
            .set_version_id(v.version_id().map(String::from))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(b.versions(key).await, (0, 2), "{key}");
}

/// A key with only delete markers left holds no data: it is due whatever the clock (a clock on
/// its data cannot be read, and a marker's own date says nothing), and its markers go. A key
/// with a recent data version stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_only_delete_markers_goes_whatever_the_clock() {
    for clock in [
        "{ metadata: uploaded-at }",
        "{ tag: uploaded-at }",
        "{ last_modified: true }",
    ] {
        let Some(s) = Store::versioned_moto(false).await else {
            return;
        };
        let b = s.bucket();
        let dir = tempfile::tempdir().unwrap();
        lone_markers(&s, "cvs/gone.pdf").await;
        put_recent(&s, "cvs/new.pdf").await;
        let cfg = cvs_policy(
            dir.path(),
            &s.store_yaml("uploads"),
            &format!("prefix: cvs/\nclock: {clock}"),
        );
        let (_, a) = s.apply_ok(dir.path(), &cfg);
        let fields = ["eligible", "deleted", "versions", "undated", "remaining"];
        assert_eq!(counts(&a, fields), [1, 1, 2, 0, 0], "{clock}: {a}");
        assert_eq!(b.versions("cvs/gone.pdf").await, (0, 0), "{clock}");
        assert_eq!(b.versions("cvs/new.pdf").await, (1, 0), "{clock}");
        s.drop_store().await;
    }
}

/// A lethe hold still wins: a key with only delete markers under a held prefix stays, and is
/// counted as held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_key_with_only_delete_markers_stays() {
    let Some(s) = Store::versioned_moto(false).await else {
        return;
    };
    let b = s.bucket();
    let dir = tempfile::tempdir().unwrap();
    lone_markers(&s, "cvs/case-3/gone.pdf").await;
    lone_markers(&s, "cvs/other/gone.pdf").await;
    let cfg = folder(
        dir.path(),
        &s.store_yaml("uploads"),
        &[
            (
                "cvs.yaml",
                &policy("cvs", "uploads", "prefix: cvs/\nclock: { metadata: uploaded-at }"),
            ),
            (
                "hold.yaml",
                "kind: LegalHold\nname: case-3\nstore: uploads\nprefix: cvs/case-3/\nbasis: dispute 3\n",
            ),
        ],
    );
    let (_, a) = s.apply_ok(dir.path(), &cfg);
    assert_eq!(
        counts(&a, ["deleted", "held", "remaining"]),
        [1, 1, 0],
        "{a}"
    );
    assert_eq!(a["holds"][0]["held"], 1, "{a}");
    assert_eq!(b.versions("cvs/case-3/").await, (0, 2));
    assert_eq!(b.versions("cvs/other/").await, (0, 0));
    s.drop_store().await;
}

/// A reviewed plan counts keys with only delete markers as due, and the apply pinned to it
/// removes them: the plan and the apply agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_plan_and_its_apply_agree_on_delete_markers() {
    let Some(s) = Store::versioned_moto(false).await else {
        return;
    };
    let b = s.bucket();
    let dir = tempfile::tempdir().unwrap();
    lone_markers(&s, "cvs/a.pdf").await;
    lone_markers(&s, "cvs/b.pdf").await;
    s.put_meta("cvs/c.pdf", &[(DATE_KEY, &day(400))]).await;
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml("uploads"),
        "prefix: cvs/\nclock: { metadata: uploaded-at }",
    );
    let plan_file = dir.path().join("plan.json");
    let plan = s.lethe(
        dir.path(),
        &cfg,
        &[
            "plan",
            "--format",
            "json",
            "--plan-file",
            plan_file.to_str().unwrap(),
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p = &plan.json()["policies"][0];
    assert_eq!(counts(p, ["eligible", "undated"]), [3, 0], "{p}");
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
    assert_eq!(pinned.code, 0, "{}\n{}", pinned.stdout, pinned.stderr);
    let a = &pinned.json()["policies"][0];
    assert_eq!(
        counts(a, ["deleted", "versions", "remaining"]),
        [3, 5, 0],
        "2 + 2 delete markers and 1 version: {a}"
    );
    assert_eq!(b.versions("cvs/").await, (0, 0));
    s.drop_store().await;
}
