//! The audit events of a run: started, refused, planned per policy, finished. (Batches and
//! per-policy outcomes are recorded by `apply`, holds by `audit`.)

use crate::apply::{Refusal, RunStatus};
use crate::audit::AuditEvent;
use crate::model::ActionKind;
use crate::plan::{HeldBy, ReferencedBy};
use crate::residency::Summary;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `run.started` of an enforcing run (`apply`, or a scheduled run of the daemon).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunStarted {
    /// `apply` or `daemon`.
    pub command: String,
    /// Always false: this run changes data.
    pub dry_run: bool,
    /// The evaluation instant.
    pub as_of: String,
    /// The configuration's hash.
    pub config_hash: String,
    /// The plan the run follows (its fresh plan, or the pinned one).
    pub plan_id: String,
    /// True when pinned to a reviewed plan.
    pub pinned: bool,
    /// `I/N` with `--shard`.
    pub shard: Option<String>,
    /// Where every store is.
    pub residency: Summary,
    /// Per policy: what the fresh plan found.
    pub policies: Vec<StartedPolicy>,
}

/// One policy of [`RunStarted`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartedPolicy {
    /// Policy name.
    pub name: String,
    /// Policy hash.
    pub policy_hash: String,
    /// Records due now.
    pub eligible: u64,
    /// Due records kept by holds.
    pub held: u64,
    /// The holds that keep some.
    pub holds: Vec<String>,
    /// Due records kept because rows still reference them; left out when 0.
    #[serde(default, skip_serializing_if = "crate::util::is_zero")]
    pub referenced: u64,
}

impl AuditEvent for RunStarted {
    const KIND: &'static str = "run.started";
}

/// `run.started` of a dry run (`plan`, or a `mode: dry-run` policy in the daemon).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanStarted {
    /// `plan` or `daemon`.
    pub command: String,
    /// Always true: nothing changes.
    pub dry_run: bool,
    /// The evaluation instant.
    pub as_of: String,
    /// The configuration's hash.
    pub config_hash: String,
    /// The plan's id.
    pub plan_id: String,
    /// Where every store is, when checked.
    pub residency: Option<Summary>,
    /// The policies planned.
    pub policies: Vec<PlannedPolicy>,
}

/// One policy of [`PlanStarted`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlannedPolicy {
    /// Policy name.
    pub name: String,
    /// Policy hash.
    pub policy_hash: String,
    /// The holds that keep some of its records.
    pub holds: Vec<String>,
}

impl AuditEvent for PlanStarted {
    const KIND: &'static str = "run.started";
}

/// `policy.planned`: what a dry run found for one policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyPlanned {
    /// Policy name.
    pub name: String,
    /// `store.table` or `store:prefix`.
    pub target: String,
    /// What the policy does.
    pub action: ActionKind,
    /// Records due now.
    pub eligible: u64,
    /// Due records kept by holds.
    pub held: u64,
    /// Per hold, how many it keeps.
    pub holds: Vec<HeldBy>,
    /// Records kept because their clock is unknown.
    pub undated: u64,
    /// Due records kept because rows still reference them; left out when 0.
    #[serde(default, skip_serializing_if = "crate::util::is_zero")]
    pub referenced: u64,
    /// Per referencing table, how many it keeps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferencedBy>,
    /// Records before this instant are due.
    pub cutoff: DateTime<Utc>,
    /// Policy hash.
    pub policy_hash: String,
    /// The policy's guard as apply would judge it (events written before plans judged guards
    /// have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::plan::PolicyGuard>,
}

impl AuditEvent for PolicyPlanned {
    const KIND: &'static str = "policy.planned";
}

/// `run.refused`: a guard or plan drift refused the run before anything changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRefused {
    /// Always `refused`.
    pub status: RunStatus,
    /// Why.
    pub refusals: Vec<Refusal>,
}

impl AuditEvent for RunRefused {
    const KIND: &'static str = "run.refused";
}

/// `run.finished`: how a run ended, with its totals.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunFinished {
    /// How the run ended.
    pub status: RunStatus,
    /// True for a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// A dry run: records due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible: Option<u64>,
    /// Records deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<u64>,
    /// Records anonymized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymized: Option<u64>,
    /// Records that failed (kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
    /// Due records left after the run: absent where nothing was verified (a dry run, a
    /// cancelled run), `null` when some policy's recount could not be made (unknown, never 0).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub remaining: Option<Option<u64>>,
    /// A dry run: the run's guard (`run_max_rows`) as apply would judge it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<crate::plan::RunGuard>,
}

/// A field that is present, its value a number or `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

impl RunFinished {
    /// A run that ended so, with no totals.
    pub fn ended(status: RunStatus) -> RunFinished {
        RunFinished {
            status,
            dry_run: None,
            eligible: None,
            deleted: None,
            anonymized: None,
            failed: None,
            remaining: None,
            guard: None,
        }
    }
}

impl AuditEvent for RunFinished {
    const KIND: &'static str = "run.finished";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_is_absent_unknown_or_a_number() {
        let of = |r: Option<Option<u64>>| {
            serde_json::to_string(&RunFinished {
                remaining: r,
                ..RunFinished::ended(RunStatus::Ok)
            })
            .unwrap()
        };
        assert!(!of(None).contains("remaining"));
        assert!(of(Some(None)).contains("\"remaining\":null"));
        assert!(of(Some(Some(3))).contains("\"remaining\":3"));
        for (text, want) in [
            (r#"{"status":"ok"}"#, None),
            (r#"{"status":"failed","remaining":null}"#, Some(None)),
            (r#"{"status":"ok","remaining":0}"#, Some(Some(0))),
        ] {
            let e: RunFinished = serde_json::from_str(text).unwrap();
            assert_eq!(e.remaining, want, "{text}");
        }
    }
}
