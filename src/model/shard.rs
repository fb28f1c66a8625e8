//! `--shard I/N`: one of N workers that share one night's work without overlap.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (0-based, like a Kubernetes Indexed Job's completion index).
///
/// A policy whose key is an integer is split by key class: this shard takes the records whose
/// `ABS(key % count)` is `index`, so every record belongs to exactly one shard whatever the
/// data. A policy with a text key is not split: exactly one shard, chosen from a hash of the
/// policy name, runs all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    /// This worker's index, `0..count`.
    pub index: u32,
    /// How many workers share the work.
    pub count: u32,
}

impl Shard {
    /// The shard that runs the whole of a policy that cannot be split by key.
    pub fn owner_of(policy: &str, count: u32) -> u32 {
        let digest = Sha256::digest(policy.as_bytes());
        let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        n % count.max(1)
    }

    /// True when this shard runs a policy with a text key.
    pub fn owns(&self, policy: &str) -> bool {
        Shard::owner_of(policy, self.count) == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad =
            || format!("invalid shard `{s}`; expected I/N with 0 <= I < N <= 1024, e.g. `0/4`");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > 1024 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "0/0", "x/2", "1", "-1/2", "0/2000"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_policy_has_exactly_one_owner() {
        for name in ["leads", "invoices", "a", "b", "c"] {
            let owners = (0..3)
                .filter(|i| {
                    Shard {
                        index: *i,
                        count: 3,
                    }
                    .owns(name)
                })
                .count();
            assert_eq!(owners, 1, "{name}");
        }
    }
}
