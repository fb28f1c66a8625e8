//! One prepared policy, whatever it acts on: a table of a SQL store or the objects of an
//! object store. Each list of a run (prepared, planned, enforced) exists once, as items.

use super::ObjectTarget;
use crate::model::{Guard, Mode};
use crate::store::Target;
use std::path::Path;

/// A policy ready to run.
#[derive(Debug, Clone)]
pub enum Item {
    /// A policy over a SQL table, checked against the live schema.
    Table(Target),
    /// A policy over a bucket or folder, checked against the store.
    Objects(ObjectTarget),
}

impl Item {
    /// The policy's name.
    pub fn name(&self) -> &str {
        match self {
            Item::Table(t) => &t.policy.name,
            Item::Objects(t) => &t.policy.name,
        }
    }

    /// The store the policy acts on.
    pub fn store(&self) -> &str {
        match self {
            Item::Table(t) => &t.policy.store,
            Item::Objects(t) => &t.policy.store,
        }
    }

    /// Whether the policy changes data or only reports.
    pub fn mode(&self) -> Mode {
        match self {
            Item::Table(t) => t.policy.mode,
            Item::Objects(t) => t.policy.mode,
        }
    }

    /// The policy's guard.
    pub fn guard(&self) -> Guard {
        match self {
            Item::Table(t) => t.policy.guard,
            Item::Objects(t) => t.policy.guard,
        }
    }

    /// The policy file the policy was read from.
    pub fn file(&self) -> &Path {
        match self {
            Item::Table(t) => &t.policy.file,
            Item::Objects(t) => &t.policy.file,
        }
    }
}
