//! Object stores end to end with the real binary.
//!
//! - `contract`: the behaviours every object store must have, written once against `Store`
//!   and run on a folder, on moto and on Garage (`objects::contract::<behaviour>::<kind>`).
//! - `versioned`: versions, delete markers and Object Lock, which only moto has.
//! - `garage`: what Garage lacks (object tagging): a tag clock fails and deletes nothing.
//! - `faults`: S3 answers that go wrong (throttling, dropped connections, per-key errors),
//!   injected by a proxy in front of moto and Garage.
//! - `dir`: what only a folder has: names that are not UTF-8, links, emptied folders, prefixes
//!   that try to leave the folder, clocks a folder cannot have.
//!
//! `stores` is the `Store` the contract is written against; `s3` and `proxy` are the buckets
//! and the fault-injecting proxy underneath.

use crate::support::Run;
use chrono::{Duration, Utc};
use std::path::{Path, PathBuf};

/// One `#[tokio::test]` per store kind named, for an `async fn(Kind)` of the same name:
/// `on_stores!(behaviour: dir, moto, garage;)` makes `behaviour::dir`, `behaviour::moto` and
/// `behaviour::garage`. The module that calls it has `Kind` in scope.
macro_rules! on_stores {
    (@kind dir) => { super::Kind::Dir };
    (@kind moto) => { super::Kind::Moto };
    (@kind garage) => { super::Kind::Garage };
    ($($name:ident: $($kind:ident),+;)*) => {
        $(
            mod $name {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $kind() {
                        super::$name(on_stores!(@kind $kind)).await
                    }
                )+
            }
        )*
    };
}

pub mod proxy;
pub mod s3;
pub mod stores;

mod contract;
mod dir;
mod faults;
mod garage;
mod versioned;

/// A recognizable personal value inside a key: it must never appear in lethe's output.
pub const PERSONAL: &str = "jan.jansen@example.nl";

/// Writes a policies folder with the given stores (YAML lines under `stores:`) and files, and
/// creates its state database (as `lethe check` does once per installation).
pub fn folder(dir: &Path, stores: &str, files: &[(&str, &str)]) -> PathBuf {
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

/// A policies folder with `stores` and one policy `cvs` on the store `uploads` with `body`.
pub fn cvs_policy(dir: &Path, stores: &str, body: &str) -> PathBuf {
    folder(
        dir,
        stores,
        &[("cvs.yaml", &policy("cvs", "uploads", body))],
    )
}

/// A `RetentionPolicy` document: keep 90 days, delete, any fraction; `body` names the objects
/// and the clock.
pub fn policy(name: &str, store: &str, body: &str) -> String {
    format!(
        "kind: RetentionPolicy\nname: {name}\nstore: {store}\nkeep: 90d\naction: delete\nguard: {{ max_fraction: 1 }}\n{body}\n"
    )
}

/// The date `days_ago` days back, `YYYY-MM-DD`.
pub fn day(days_ago: i64) -> String {
    (Utc::now() - Duration::days(days_ago))
        .format("%Y-%m-%d")
        .to_string()
}

/// A year from now, as `--as-of` takes it: every object written today is due then.
pub fn next_year() -> String {
    (Utc::now() + Duration::days(365)).to_rfc3339()
}

/// Fails when a run printed the personal value of a key.
pub fn assert_private(r: &Run) {
    assert!(
        !r.stdout.contains(PERSONAL) && !r.stderr.contains(PERSONAL),
        "a key with a personal value leaked:\n{}\n{}",
        r.stdout,
        r.stderr
    );
}
