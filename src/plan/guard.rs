//! The guards, judged the one way plan and apply share: a plan shows each policy's verdict and
//! the run's, and apply refuses with exactly the reasons of its own fresh plan. A reason names
//! the key that changes the limit, and whether the policy's own `guard:` or lethe.yaml sets it.

use super::PolicyPlan;
use crate::model::{Guard, SetIn};
use serde::{Deserialize, Serialize};
use std::path::Path;

crate::util::named_enum! {
    /// What a guard says about a plan.
    pub enum GuardVerdict {
        /// Within every limit: apply goes on.
        Ok => "ok",
        /// Over a limit: apply refuses the run before it changes anything.
        Refused => "refused",
    }
}

/// One policy's guard as apply judges it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyGuard {
    /// `refused` when a limit is exceeded.
    pub verdict: GuardVerdict,
    /// The policy's `max_rows` (null: no limit).
    pub max_rows: Option<u64>,
    /// The policy's `max_fraction` (null: no limit).
    pub max_fraction: Option<f64>,
    /// Eligible records as a fraction of all records of the table or store (null when it holds
    /// none, which no fraction exceeds).
    pub fraction: Option<f64>,
    /// Where each limit is set.
    pub set_in: LimitsSetIn,
    /// One per limit exceeded, in the words apply refuses with; empty when `ok`.
    pub reasons: Vec<String>,
}

/// Where each limit of a policy's guard is set: `policy`, `lethe.yaml` or `default` (lethe's
/// own); null for a limit that is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsSetIn {
    /// Where `max_rows` is set.
    pub max_rows: Option<SetIn>,
    /// Where `max_fraction` is set.
    pub max_fraction: Option<SetIn>,
}

/// The run's guard (`guard.run_max_rows` in lethe.yaml) over every policy of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunGuard {
    /// `refused` when the policies together exceed the limit.
    pub verdict: GuardVerdict,
    /// The limit (null: none).
    pub run_max_rows: Option<u64>,
    /// The records every policy together would change.
    pub eligible: u64,
    /// Why apply would refuse, in its words; null when `ok`.
    pub reason: Option<String>,
}

/// Judges one policy's plan against its guard. `file` is the policy's file, named in reasons.
pub fn judge(p: &PolicyPlan, guard: &Guard, file: &Path) -> PolicyGuard {
    let mut reasons = Vec::new();
    if let Some(max) = guard.max_rows {
        if p.eligible > max {
            reasons.push(format!(
                "would {} {} {}, more than `max_rows` {max} allows; {}",
                p.action,
                p.eligible,
                p.unit(),
                change_it("max_rows", guard.set_in.max_rows, &p.name, file)
            ));
        }
    }
    if let Some(frac) = guard.max_fraction {
        if p.total > 0 && p.eligible as f64 > frac * p.total as f64 {
            reasons.push(format!(
                "would {} {} of {} {} ({:.1}%), more than `max_fraction` {frac} ({:.1}%) allows; {}",
                p.action,
                p.eligible,
                p.total,
                p.unit(),
                100.0 * p.eligible as f64 / p.total as f64,
                100.0 * frac,
                change_it("max_fraction", guard.set_in.max_fraction, &p.name, file)
            ));
        }
    }
    PolicyGuard {
        verdict: verdict(reasons.is_empty()),
        max_rows: guard.max_rows,
        max_fraction: guard.max_fraction,
        fraction: (p.total > 0).then(|| p.eligible as f64 / p.total as f64),
        set_in: LimitsSetIn {
            max_rows: guard.max_rows.map(|_| guard.set_in.max_rows),
            max_fraction: guard.max_fraction.map(|_| guard.set_in.max_fraction),
        },
        reasons,
    }
}

/// Judges every policy of a plan together against `guard.run_max_rows`.
pub fn judge_run(policies: &[PolicyPlan], run_max_rows: Option<u64>) -> RunGuard {
    let eligible = policies.iter().map(|p| p.eligible).sum();
    let reason = run_max_rows.filter(|max| eligible > *max).map(|max| {
        format!(
            "the run would change {eligible} records, more than `run_max_rows` {max} allows; the limit is set in lethe.yaml: raise `guard.run_max_rows` there, or apply fewer policies at once (`--policy`)"
        )
    });
    RunGuard {
        verdict: verdict(reason.is_none()),
        run_max_rows,
        eligible,
        reason,
    }
}

fn verdict(ok: bool) -> GuardVerdict {
    if ok {
        GuardVerdict::Ok
    } else {
        GuardVerdict::Refused
    }
}

/// Which key sets the limit `key` of policy `name`, and how to change it.
fn change_it(key: &str, set_in: SetIn, name: &str, file: &Path) -> String {
    let policy = format!("policy `{name}` ({})", file.display());
    match set_in {
        SetIn::Policy => format!(
            "the limit is the policy's own: raise `guard: {{ {key}: ... }}` in {policy}"
        ),
        SetIn::Settings => format!(
            "the limit is the default of lethe.yaml: raise `guard.{key}` in lethe.yaml, or set `guard: {{ {key}: ... }}` in {policy}"
        ),
        SetIn::Default => format!(
            "the limit is lethe's default: set `guard.{key}` in lethe.yaml, or `guard: {{ {key}: ... }}` in {policy}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionKind, GuardSetIn};

    fn planned(eligible: u64, total: u64) -> PolicyPlan {
        serde_json::from_value(serde_json::json!({
            "name": "leads-after-contract-end", "store": "crm", "target": "crm.leads",
            "action": "delete", "keep": "30d", "cutoff": "2026-05-16T12:00:00Z",
            "eligible": eligible, "undated": 0, "selected": total, "total": total,
            "policy_hash": "h", "statement": "DELETE ..."
        }))
        .unwrap()
    }

    fn guard(max_rows: Option<u64>, max_fraction: Option<f64>, set_in: SetIn) -> Guard {
        Guard {
            max_rows,
            max_fraction,
            set_in: GuardSetIn {
                max_rows: set_in,
                max_fraction: set_in,
            },
        }
    }

    #[test]
    fn a_refusal_names_the_key_that_changes_it() {
        let p = planned(444, 800);
        assert_eq!(p.action, ActionKind::Delete);
        let file = Path::new("policies/leads.yaml");
        let g = judge(&p, &guard(None, Some(0.5), SetIn::Default), file);
        assert_eq!(g.verdict, GuardVerdict::Refused);
        assert_eq!(g.fraction, Some(0.555));
        assert_eq!(
            g.reasons,
            ["would delete 444 of 800 rows (55.5%), more than `max_fraction` 0.5 (50.0%) allows; the limit is lethe's default: set `guard.max_fraction` in lethe.yaml, or `guard: { max_fraction: ... }` in policy `leads-after-contract-end` (policies/leads.yaml)"]
        );
        let g = judge(&p, &guard(None, Some(0.5), SetIn::Settings), file);
        assert!(
            g.reasons[0].ends_with("the limit is the default of lethe.yaml: raise `guard.max_fraction` in lethe.yaml, or set `guard: { max_fraction: ... }` in policy `leads-after-contract-end` (policies/leads.yaml)"),
            "{g:?}"
        );
        let g = judge(&p, &guard(Some(100), Some(0.4), SetIn::Policy), file);
        assert_eq!(
            g.reasons,
            [
                "would delete 444 rows, more than `max_rows` 100 allows; the limit is the policy's own: raise `guard: { max_rows: ... }` in policy `leads-after-contract-end` (policies/leads.yaml)",
                "would delete 444 of 800 rows (55.5%), more than `max_fraction` 0.4 (40.0%) allows; the limit is the policy's own: raise `guard: { max_fraction: ... }` in policy `leads-after-contract-end` (policies/leads.yaml)",
            ]
        );
        assert_eq!(g.set_in.max_rows, Some(SetIn::Policy));
    }

    #[test]
    fn within_the_limits_is_ok() {
        let file = Path::new("p.yaml");
        let g = judge(
            &planned(400, 800),
            &guard(None, Some(0.5), SetIn::Default),
            file,
        );
        assert_eq!(g.verdict, GuardVerdict::Ok);
        assert!(g.reasons.is_empty());
        assert_eq!(g.set_in.max_rows, None);
        // An empty table: no fraction, nothing to exceed.
        let g = judge(
            &planned(0, 0),
            &guard(Some(0), Some(0.0), SetIn::Policy),
            file,
        );
        assert_eq!((g.verdict, g.fraction), (GuardVerdict::Ok, None));
    }

    #[test]
    fn the_run_guard_counts_every_policy() {
        let ps = [planned(3, 10), planned(3, 10)];
        assert_eq!(judge_run(&ps, None).verdict, GuardVerdict::Ok);
        assert_eq!(judge_run(&ps, Some(6)).verdict, GuardVerdict::Ok);
        let r = judge_run(&ps, Some(5));
        assert_eq!(r.verdict, GuardVerdict::Refused);
        assert_eq!(
            r.reason.as_deref(),
            Some("the run would change 6 records, more than `run_max_rows` 5 allows; the limit is set in lethe.yaml: raise `guard.run_max_rows` there, or apply fewer policies at once (`--policy`)")
        );
    }
}
