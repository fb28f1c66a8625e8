//! S3 answers that go wrong, injected by a proxy in front of moto and of Garage: throttling,
//! server errors and dropped connections are retried; per-key errors inside a 200 answer are
//! read, counted and fail the run. A folder answers no requests, so it has none of these.

use super::proxy::{Fault, FaultProxy};
use super::stores::{Kind, Store};
use super::{assert_private, cvs_policy, PERSONAL};
use std::sync::atomic::Ordering;

on_stores! {
    throttling_errors_and_dropped_connections_are_retried: moto, garage;
    per_key_errors_in_a_200_answer_are_read_and_reported: moto, garage;
}

async fn throttling_errors_and_dropped_connections_are_retried(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for i in 0..30 {
        s.put_aged(&format!("cvs/{i}.pdf"), 400).await;
    }
    let proxy = FaultProxy::start(
        &s.bucket().endpoint,
        vec![
            Fault::SlowDown,
            Fault::Internal,
            Fault::Drop,
            Fault::SlowDown,
        ],
    )
    .await;
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml_at("uploads", &proxy.endpoint),
        &format!("prefix: cvs/\nclock: {}\nbatch_size: 10", s.clock()),
    );
    let (_, a) = s.apply_ok(dir.path(), &cfg);
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
        proxy.served.load(Ordering::SeqCst),
        4,
        "every fault was served"
    );
    assert!(proxy.deletes.load(Ordering::SeqCst) >= 7);
    assert!(s.keys("cvs/").await.is_empty());
    s.drop_store().await;
}

async fn per_key_errors_in_a_200_answer_are_read_and_reported(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    s.put_aged(&format!("cvs/{PERSONAL}.pdf"), 400).await;
    s.put_aged("cvs/b.pdf", 400).await;
    let proxy = FaultProxy::start(&s.bucket().endpoint, vec![Fault::RefuseFirstKey]).await;
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml_at("uploads", &proxy.endpoint),
        &format!("prefix: cvs/\nclock: {}", s.clock()),
    );
    let apply = s.lethe(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
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
    // The refusal was written into the answer after the server had deleted both keys:
    // `remaining` comes from a fresh listing, which finds nothing due (not eligible - deleted).
    assert_eq!(a["remaining"], 0, "{a}");
    assert!(s.keys("cvs/").await.is_empty());
    assert_private(&apply);
    s.drop_store().await;
}
