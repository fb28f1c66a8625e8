//! Refusals before a run changes anything: the guards of the fresh plan, a pinned plan that no
//! longer matches what is due, and a plan file that differs from what the audit trail recorded.

use crate::plan::{Plan, PolicyPlan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a run was refused before it changed anything.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    /// The policy concerned, if one.
    pub policy: Option<String>,
    /// What was exceeded or changed.
    pub reason: String,
}

/// The guards' refusals of a fresh plan: the reasons its verdicts give (see [`crate::plan::judge`]),
/// so that apply refuses exactly what a plan made at the same instant shows. A verdict missing
/// (never, from [`crate::plan::make_plan`]) refuses too: a guard that was not judged never lets
/// a run through.
pub fn check_guards(plan: &Plan) -> Vec<Refusal> {
    let unjudged = || "the guards were not judged; nothing is changed".to_string();
    let mut out = Vec::new();
    for p in &plan.policies {
        let reasons = match &p.guard {
            Some(g) => g.reasons.clone(),
            None => vec![unjudged()],
        };
        out.extend(reasons.into_iter().map(|reason| Refusal {
            policy: Some(p.name.clone()),
            reason,
        }));
    }
    let run = match &plan.guard {
        Some(g) => g.reason.clone(),
        None => Some(unjudged()),
    };
    out.extend(run.map(|reason| Refusal {
        policy: None,
        reason,
    }));
    out
}

/// Compares a fresh plan with the reviewed one it is pinned to. Returns the per-policy upper
/// bounds (the reviewed counts) or the refusals.
pub fn check_pinned(
    pinned: &Plan,
    fresh: &Plan,
    config_hash: &str,
    tolerance: f64,
) -> Result<BTreeMap<String, u64>, Vec<Refusal>> {
    let mut refusals = Vec::new();
    if pinned.config_hash != config_hash {
        refusals.push(Refusal {
            policy: None,
            reason: format!(
                "the configuration changed since plan `{}` was made (hash {} then, {} now); make and review a new plan",
                pinned.plan_id,
                &pinned.config_hash[..12.min(pinned.config_hash.len())],
                &config_hash[..12.min(config_hash.len())]
            ),
        });
    }
    let reviewed: BTreeMap<&str, &PolicyPlan> = pinned
        .policies
        .iter()
        .map(|p| (p.name.as_str(), p))
        .collect();
    let mut bounds = BTreeMap::new();
    for p in &fresh.policies {
        match reviewed.get(p.name.as_str()) {
            None => refusals.push(Refusal {
                policy: Some(p.name.clone()),
                reason: format!("policy `{}` is not in the reviewed plan", p.name),
            }),
            Some(r) => {
                let allowed = r.eligible as f64 * (1.0 + tolerance);
                if p.eligible as f64 > allowed {
                    refusals.push(Refusal {
                        policy: Some(p.name.clone()),
                        reason: format!(
                            "{} records are eligible now, the reviewed plan said {}; make and review a new plan",
                            p.eligible, r.eligible
                        ),
                    });
                }
                bounds.insert(p.name.clone(), r.eligible);
            }
        }
    }
    if refusals.is_empty() {
        Ok(bounds)
    } else {
        Err(refusals)
    }
}

/// Checks that a plan file says what the audit trail recorded when the plan was made: a plan
/// file edited after review (a later instant, higher counts) is refused.
pub fn check_recorded(
    pinned: &Plan,
    recorded: Option<&crate::audit::RecordedPlan>,
) -> Vec<Refusal> {
    let Some(r) = recorded else {
        return vec![Refusal {
            policy: None,
            reason: format!(
                "plan `{}` is not in this audit trail; make the plan with the same state database",
                pinned.plan_id
            ),
        }];
    };
    let file: BTreeMap<String, u64> = pinned
        .policies
        .iter()
        .map(|p| (p.name.clone(), p.eligible))
        .collect();
    if r.as_of != pinned.as_of_text() || r.config_hash != pinned.config_hash || r.eligible != file {
        return vec![Refusal {
            policy: None,
            reason: format!(
                "plan file `{}` differs from the plan recorded in the audit trail: it was edited after it was made",
                pinned.plan_id
            ),
        }];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(guards: bool) -> Plan {
        let mut plan: Plan = serde_json::from_value(serde_json::json!({
            "version": 1, "plan_id": "p1", "as_of": "2026-06-15T12:00:00Z",
            "config_hash": "c", "created_at": "2026-06-15T12:00:01Z",
            "policies": [{
                "name": "p", "store": "crm", "target": "crm.leads", "action": "delete",
                "keep": "30d", "cutoff": "2026-05-16T12:00:00Z", "eligible": 6, "undated": 0,
                "selected": 10, "total": 10, "policy_hash": "h", "statement": "DELETE ..."
            }]
        }))
        .unwrap();
        if guards {
            let guard = crate::model::Guard {
                max_rows: Some(5),
                max_fraction: Some(0.5),
                set_in: Default::default(),
            };
            let p = &mut plan.policies[0];
            p.guard = Some(crate::plan::judge(
                p,
                &guard,
                std::path::Path::new("p.yaml"),
            ));
            plan.guard = Some(crate::plan::judge_run(&plan.policies, Some(5)));
        }
        plan
    }

    #[test]
    fn apply_refuses_with_the_reasons_of_the_plan() {
        let plan = plan(true);
        let refusals = check_guards(&plan);
        let mut reasons = plan.policies[0].guard.clone().unwrap().reasons;
        assert_eq!(reasons.len(), 2);
        reasons.extend(plan.guard.clone().unwrap().reason);
        let policies: Vec<Option<&str>> = refusals.iter().map(|r| r.policy.as_deref()).collect();
        assert_eq!(policies, [Some("p"), Some("p"), None]);
        let given: Vec<&String> = refusals.iter().map(|r| &r.reason).collect();
        assert_eq!(given, reasons.iter().collect::<Vec<_>>());
    }

    #[test]
    fn a_guard_not_judged_refuses() {
        let refusals = check_guards(&plan(false));
        assert_eq!(refusals.len(), 2);
        assert!(refusals.iter().all(|r| r.reason.contains("not judged")));
    }
}
