//! What Garage lacks: object tagging. It accepts a PutObject with tags and drops them, and
//! answers GetObjectTagging with NotImplemented; a tag clock there must fail, never guess.

use super::stores::{Kind, Store};
use super::{cvs_policy, day};
use aws_sdk_s3::primitives::ByteStream;

/// A tag clock on Garage: plan and apply fail naming the unanswered call, and nothing is
/// deleted (a tag that cannot be read is not taken for an old one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_clock_fails_and_deletes_nothing() {
    let Some(s) = Store::new(Kind::Garage).await else {
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
    let cfg = cvs_policy(
        dir.path(),
        &s.store_yaml("uploads"),
        "prefix: rec/\nclock: { tag: retain-from }",
    );
    for args in [
        &["plan", "--format", "json"][..],
        &["apply", "--yes", "--format", "json"][..],
    ] {
        let r = s.lethe(dir.path(), &cfg, args);
        assert_eq!(r.code, 1, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("GetObjectTagging: NotImplemented"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(s.keys("").await, vec!["rec/new.wav", "rec/old.wav"]);
    s.drop_store().await;
}
