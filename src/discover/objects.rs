//! Object stores: the key prefixes that hold objects, with their counts. Keys are grouped by
//! their first folder (`exports/`), or by their first two (`exports/invoices/`) where a policy
//! reaches only part of the first. A key itself is never named: files at the top, or directly
//! in a first folder that is split, count under that folder (the top is the empty prefix).

use crate::store::{ObjectStore, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The first folder of a key (`exports/`), or the empty prefix for a key at the top.
fn first(key: &str) -> &str {
    key.find('/').map_or("", |i| &key[..=i])
}

/// The first two folders of a key, when it lies that deep; else its first folder.
fn second(key: &str) -> &str {
    let head = first(key);
    match key[head.len()..].find('/') {
        Some(i) if !head.is_empty() => &key[..head.len() + i + 1],
        _ => head,
    }
}

/// Counts keys per prefix. `policy_prefixes` are the prefixes of the store's object
/// policies: a first folder that one of them reaches only in part is counted per second folder.
#[derive(Debug, Clone, Default)]
pub struct Prefixes {
    split: BTreeSet<String>,
    /// Objects per prefix.
    pub counts: BTreeMap<String, u64>,
}

impl Prefixes {
    /// An empty count for a store with these policy prefixes.
    pub fn new<'a>(policy_prefixes: impl IntoIterator<Item = &'a str>) -> Prefixes {
        let split = policy_prefixes
            .into_iter()
            .filter(|p| {
                let head = first(p);
                !head.is_empty() && p.len() > head.len()
            })
            .map(|p| first(p).to_string())
            .collect();
        Prefixes {
            split,
            counts: BTreeMap::new(),
        }
    }

    /// Counts one key.
    pub fn add(&mut self, key: &str) {
        let head = first(key);
        let prefix = if self.split.contains(head) {
            second(key)
        } else {
            head
        };
        *self.counts.entry(prefix.to_string()).or_default() += 1;
    }
}

/// Lists every key of an object store (the newest version of each; keys with only delete
/// markers hold no data and are left out) and counts them per prefix. The listing stops after
/// the page during which `bound` passes: the second value is false then, and keys beyond that
/// page are not counted.
pub async fn count(
    store: &ObjectStore,
    mut prefixes: Prefixes,
    bound: Duration,
) -> Result<(Prefixes, bool), StoreError> {
    let started = Instant::now();
    let mut lister = store.lister("", false);
    while let Some(page) = lister.next_page().await? {
        for entry in page.iter().filter(|e| !e.only_markers()) {
            prefixes.add(&entry.key);
        }
        if started.elapsed() > bound {
            return Ok((prefixes, false));
        }
    }
    Ok((prefixes, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_count_per_first_folder_or_second_where_a_policy_splits_it() {
        let mut p = Prefixes::new(["exports/invoices/", "logs/"]);
        for key in [
            "exports/invoices/2024/a.pdf",
            "exports/invoices/b.pdf",
            "exports/contracts/c.pdf",
            "exports/readme.txt",
            "logs/x.log",
            "logs/2024/y.log",
            "top.csv",
        ] {
            p.add(key);
        }
        let counts: Vec<(&str, u64)> = p.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            counts,
            [
                ("", 1),
                ("exports/", 1),
                ("exports/contracts/", 1),
                ("exports/invoices/", 2),
                ("logs/", 2)
            ]
        );
    }
}
