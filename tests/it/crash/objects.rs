//! `apply` on object stores killed with SIGKILL at seeded moments after its first deletion: a
//! folder, and a versioned bucket on moto whose keys have several versions, some a delete marker
//! on top. A `LegalHold` holds one prefix, and some objects are not due yet. After each kill no
//! held or undue object has changed (a file's modification time; a key's versions and delete
//! markers), and a due key is whole or has lost versions, never gained any (lethe deletes by
//! version id and never writes a delete marker). After the rerun exactly the due keys are gone,
//! every version and delete marker of them as the docs say, a third run finds nothing due, and
//! the audit trail verifies.

use super::{kill, points, survived, Rng};
use crate::objects::stores::{Kind, Store};
use crate::objects::{folder, policy};
use futures_util::stream::{self, StreamExt};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What each key holds now (see `Store::snapshot`).
type Snapshot = BTreeMap<String, Vec<String>>;

/// The prefix the `LegalHold` holds: group 7.
const HELD: &str = "files/07/";

/// What an object is, from its number alone.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Class {
    Due,
    Held,
    /// Its newest version (or the file) is 3 days old; the policy keeps 90 days.
    Undue,
}

/// Object `i` of a case: its key and class. Twenty groups; group 7 is held; in a folder every
/// 13th file is recent, in a bucket every 4th key has a recent newest version over an old one.
fn object(kind: Kind, i: usize) -> (String, Class) {
    let key = format!("files/{:02}/{i:05}.dat", i % 20);
    let recent = match kind {
        Kind::Dir => i.is_multiple_of(13),
        _ => i % 4 == 3,
    };
    let class = match (key.starts_with(HELD), recent) {
        (true, _) => Class::Held,
        (false, true) => Class::Undue,
        (false, false) => Class::Due,
    };
    (key, class)
}

/// Objects per case, versions per DeleteObjects request, and the window (ms after the first
/// deletion) the kill lands in: the deletions take a few hundred ms (moto's requests are slower
/// than a folder's; one version a request splits every key with several).
fn sizes(kind: Kind) -> (usize, usize, u64) {
    match kind {
        Kind::Dir => (2000, 5, 300),
        _ => (80, 1, 400),
    }
}

/// Fills the store. In a bucket, by the key's number: 3 old versions; 2 old versions and a
/// delete marker on top (deleted already, the data still there); 1 old version; an old and a
/// recent version.
async fn fill(s: &Store, kind: Kind) {
    let puts = (0..sizes(kind).0).map(|i| async move {
        let (key, class) = object(kind, i);
        if kind == Kind::Dir {
            let age = if class == Class::Undue { 3 } else { 400 };
            return s.put_aged(&key, age).await;
        }
        let old = [3, 2, 1, 1][i % 4];
        for _ in 0..old {
            s.put_aged(&key, 400).await;
        }
        match i % 4 {
            1 => s.remove(&key).await,
            3 => s.put_aged(&key, 3).await,
            _ => {}
        }
    });
    stream::iter(puts)
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
}

/// The store once the work is done, computed from the numbers alone: what was there, without
/// the due keys.
fn expected(kind: Kind, before: &Snapshot) -> Snapshot {
    let mut want = before.clone();
    for i in 0..sizes(kind).0 {
        if let (key, Class::Due) = object(kind, i) {
            want.remove(&key);
        }
    }
    want
}

/// The invariants after a kill: nothing new, every held or undue key exactly as it was, every
/// due key whole or with some of its versions gone.
fn check_partial(kind: Kind, before: &Snapshot, now: &Snapshot, what: &str) {
    let new: Vec<&String> = now.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(new.is_empty(), "{what}: keys that were not there: {new:?}");
    for i in 0..sizes(kind).0 {
        let (key, class) = object(kind, i);
        let (was, is) = (&before[&key], now.get(&key));
        if class != Class::Due {
            assert_eq!(is, Some(was), "{what}: {class:?} {key} changed");
            continue;
        }
        let gained: Vec<&String> = is
            .into_iter()
            .flatten()
            .filter(|v| !was.contains(v))
            .collect();
        assert!(gained.is_empty(), "{what}: due {key} gained {gained:?}");
    }
}

/// Waits (at most 30 s) for the first deletion.
async fn first_deletion(s: &Store, kind: Kind, before: &Snapshot, what: &str) {
    // A bucket is listed in key order: its first due key goes first.
    let first = (0..sizes(kind).0)
        .map(|i| object(kind, i))
        .filter(|(_, class)| *class == Class::Due)
        .map(|(key, _)| key)
        .min()
        .unwrap();
    let start = Instant::now();
    loop {
        let deleted = match kind {
            // A folder is walked in its own order: any file gone.
            Kind::Dir => s.keys("").await.len() < before.len(),
            _ => s.snapshot(&first).await.get(&first) != before.get(&first),
        };
        if deleted {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: nothing deleted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn campaign(kind: Kind) {
    let mut rng = Rng::for_case(0x0B << 8 ^ kind as u64);
    for point in 0..points() {
        let store = match kind {
            Kind::Dir => Store::new(kind).await,
            _ => Store::versioned_moto(false).await,
        };
        let Some(s) = store else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        fill(&s, kind).await;
        let before = s.snapshot("").await;
        let body = format!(
            "prefix: files/\nclock: {}\nbatch_size: {}",
            s.clock(),
            sizes(kind).1
        );
        let hold = format!(
            "kind: LegalHold\nname: case-7\nstore: files\nprefix: {HELD}\nbasis: dispute 7\n"
        );
        let cfg = folder(
            dir.path(),
            &s.store_yaml("files"),
            &[
                ("p.yaml", &policy("crash", "files", &body)),
                ("hold.yaml", &hold),
            ],
        );
        let what = format!("{kind:?} objects kill point {point}");
        let mut child = s.spawn(dir.path(), &cfg, &["apply", "--yes", "--format", "json"]);
        first_deletion(&s, kind, &before, &what).await;
        let wait = rng.next() % sizes(kind).2;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        kill(&mut child);
        let at_kill = s.snapshot("").await;
        check_partial(kind, &before, &at_kill, &what);
        let want = expected(kind, &before);
        let mid_run = at_kill != want;

        let (_, a) = s.apply_ok(dir.path(), &cfg);
        assert_eq!(
            (a["failed"].as_u64(), a["remaining"].as_u64()),
            (Some(0), Some(0)),
            "{what}: {a}"
        );
        let after = s.snapshot("").await;
        let left: Vec<&String> = after.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(
            left.is_empty(),
            "{what}: due keys left after the rerun: {left:?}"
        );
        assert_eq!(after, want, "{what}: after the rerun");
        let (_, again) = s.apply_ok(dir.path(), &cfg);
        assert_eq!(again["eligible"], 0, "{what}: third run: {again}");
        let v = s.lethe(dir.path(), &cfg, &["audit", "verify"]);
        assert_eq!(v.code, 0, "{what}: audit verify\n{}", v.stdout);
        survived(&what, wait, "the first deletion", mid_run);
        s.drop_store().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_delete_folder() {
    campaign(Kind::Dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_delete_versioned_moto() {
    campaign(Kind::Moto).await;
}
