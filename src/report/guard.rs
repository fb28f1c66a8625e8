//! The guards of a plan in the text and Markdown reports: each policy's verdict with its
//! limits and the figure compared, the run's verdict, and a refusal in apply's own words.
//! (Plan files made before plans judged the guards have no verdicts: nothing is shown.)

use super::md;
use crate::plan::{GuardVerdict, Plan, PolicyGuard, PolicyPlan};
use std::fmt::Write;

/// `444 of 800 rows (55.5%)`: the records the policy would change against all of them.
fn figure(p: &PolicyPlan, g: &PolicyGuard) -> String {
    let share = g
        .fraction
        .map(|f| format!(" ({:.1}%)", 100.0 * f))
        .unwrap_or_default();
    format!("{} of {} {}{share}", p.eligible, p.total, p.unit())
}

/// `max_rows none, max_fraction 0.5 (lethe.yaml)`.
fn limits(g: &PolicyGuard) -> String {
    let limit = |key: &str, value: Option<String>, set_in: Option<crate::model::SetIn>| match (
        value, set_in,
    ) {
        (Some(v), Some(at)) => format!("{key} {v} ({at})"),
        (Some(v), None) => format!("{key} {v}"),
        (None, _) => format!("{key} none"),
    };
    format!(
        "{}, {}",
        limit(
            "max_rows",
            g.max_rows.map(|v| v.to_string()),
            g.set_in.max_rows
        ),
        limit(
            "max_fraction",
            g.max_fraction.map(|v| v.to_string()),
            g.set_in.max_fraction
        )
    )
}

/// True when apply would refuse the plan's run on a guard.
pub(super) fn refused(plan: &Plan) -> bool {
    let policy = (plan.policies.iter()).any(|p| p.guard.as_ref().is_some_and(is_refused));
    policy || (plan.guard.as_ref()).is_some_and(|g| g.verdict == GuardVerdict::Refused)
}

fn is_refused(g: &PolicyGuard) -> bool {
    g.verdict == GuardVerdict::Refused
}

/// `  guard: ok   444 of 800 rows (55.5%); max_rows none, max_fraction 0.5 (lethe.yaml)`, or
/// one `  guard: REFUSED — ...` line per limit exceeded.
pub(super) fn policy_text(s: &mut String, p: &PolicyPlan) {
    let Some(g) = &p.guard else { return };
    if is_refused(g) {
        for r in &g.reasons {
            let _ = writeln!(s, "  guard: REFUSED — {r}");
        }
    } else {
        let _ = writeln!(s, "  guard: ok   {}; {}", figure(p, g), limits(g));
    }
}

/// The run's guard and, when a guard refuses, what apply would do.
pub(super) fn run_text(s: &mut String, plan: &Plan) {
    if let Some(g) = &plan.guard {
        match &g.reason {
            Some(r) => {
                let _ = writeln!(s, "run guard: REFUSED — {r}");
            }
            None => {
                let limit = g
                    .run_max_rows
                    .map_or_else(|| "none".to_string(), |n| n.to_string());
                let _ = writeln!(
                    s,
                    "run guard: ok   {} records; run_max_rows {limit}",
                    g.eligible
                );
            }
        }
    }
    if refused(plan) {
        let _ = writeln!(
            s,
            "lethe apply would refuse this plan (exit 4) and change nothing: raise the limit a REFUSED line names"
        );
    }
}

/// The guard cell of a policy's row in the Markdown table.
pub(super) fn cell(p: &PolicyPlan) -> &'static str {
    match &p.guard {
        Some(g) if is_refused(g) => "**refused**",
        Some(_) => "ok",
        None => "-",
    }
}

/// The guard lines of a policy's Markdown section.
pub(super) fn policy_markdown(s: &mut String, p: &PolicyPlan) {
    let Some(g) = &p.guard else { return };
    if is_refused(g) {
        for r in &g.reasons {
            let _ = writeln!(s, "- **Guard: refused**: {}", md(r));
        }
    } else {
        let _ = writeln!(s, "- Guard: ok, {}; {}", md(&figure(p, g)), md(&limits(g)));
    }
}

/// The run's guard under the Markdown table and, when a guard refuses, what apply would do.
pub(super) fn run_markdown(s: &mut String, plan: &Plan) {
    if let Some(g) = &plan.guard {
        let _ = match &g.reason {
            Some(r) => writeln!(s, "\n**Run guard: refused**: {}", md(r)),
            None => writeln!(
                s,
                "\nRun guard: ok, {} records; run\\_max\\_rows {}.",
                g.eligible,
                g.run_max_rows
                    .map_or_else(|| "none".to_string(), |n| n.to_string())
            ),
        };
    }
    if refused(plan) {
        let _ = writeln!(
            s,
            "\n**`lethe apply` would refuse this plan** and change nothing: raise the limit a refusal names."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{plan as render, Format};
    use crate::plan::Plan;

    /// A plan of one policy, 444 of 800 rows due, judged against `max_fraction`.
    fn judged(max_fraction: f64, run_max_rows: Option<u64>) -> Plan {
        let mut plan: Plan = serde_json::from_value(serde_json::json!({
            "version": 1, "plan_id": "p1", "as_of": "2026-06-15T12:00:00Z",
            "config_hash": "0123456789abcdef", "created_at": "2026-06-15T12:00:01Z",
            "policies": [{
                "name": "leads-after-contract-end", "store": "crm", "target": "crm.leads",
                "action": "delete", "keep": "30d", "cutoff": "2026-05-16T12:00:00Z",
                "eligible": 444, "undated": 0, "selected": 800, "total": 800,
                "policy_hash": "h", "statement": "DELETE ..."
            }]
        }))
        .unwrap();
        let guard = crate::model::Guard {
            max_rows: None,
            max_fraction: Some(max_fraction),
            set_in: crate::model::GuardSetIn {
                max_rows: crate::model::SetIn::Default,
                max_fraction: crate::model::SetIn::Policy,
            },
        };
        let file = std::path::Path::new("policies/leads.yaml");
        let p = &mut plan.policies[0];
        p.guard = Some(crate::plan::judge(p, &guard, file));
        plan.guard = Some(crate::plan::judge_run(&plan.policies, run_max_rows));
        plan
    }

    #[test]
    fn a_refusal_is_plain_in_every_format() {
        let plan = judged(0.5, Some(400));
        let text = render(&plan, Format::Text, None, false).unwrap();
        assert!(
            text.contains("\n  guard: REFUSED — would delete 444 of 800 rows (55.5%), more than `max_fraction` 0.5 (50.0%) allows; the limit is the policy's own: raise `guard: { max_fraction: ... }` in policy `leads-after-contract-end` (policies/leads.yaml)\n"),
            "{text}"
        );
        assert!(
            text.contains("\nrun guard: REFUSED — the run would change 444 records"),
            "{text}"
        );
        assert!(
            text.contains("\nlethe apply would refuse this plan"),
            "{text}"
        );
        let md = render(&plan, Format::Markdown, None, false).unwrap();
        // The guard column has its header, and every row as many cells as the header.
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        let cells = |l: &str| l.matches(" | ").count();
        assert!(table[0].ends_with("| guard |"), "{md}");
        assert!(table.iter().all(|l| cells(l) == cells(table[0])), "{md}");
        assert!(table[2].ends_with("| **refused** |"), "{md}");
        assert!(md.contains("\n**Run guard: refused**: the run would change 444 records"));
        assert!(md.contains("\n- **Guard: refused**: would delete 444 of 800 rows"));
        let html = render(&plan, Format::Html, None, false).unwrap();
        assert!(html.contains("<strong>Guard: refused</strong>"), "{html}");
        // Words, not a figure: the guard cell is not right-aligned like the counts before it.
        assert!(
            html.contains("<td style=\"text-align: left\"><strong>refused</strong></td>"),
            "{html}"
        );
        // The verdicts read back from the plan file as they were written.
        let json = render(&plan, Format::Json, None, false).unwrap();
        let again: Plan = serde_json::from_str(&json).unwrap();
        assert_eq!(again.policies[0].guard, plan.policies[0].guard);
        assert_eq!(again.guard, plan.guard);
    }

    #[test]
    fn within_the_limits_the_figure_and_the_limits_show() {
        let plan = judged(0.6, None);
        let text = render(&plan, Format::Text, None, false).unwrap();
        assert!(
            text.contains("\n  guard: ok   444 of 800 rows (55.5%); max_rows none, max_fraction 0.6 (policy)\n"),
            "{text}"
        );
        assert!(text.contains("\nrun guard: ok   444 records; run_max_rows none\n"));
        assert!(
            !text.contains("REFUSED") && !text.contains("would refuse"),
            "{text}"
        );
        let md = render(&plan, Format::Markdown, None, false).unwrap();
        assert!(
            md.contains("\n- Guard: ok, 444 of 800 rows (55.5%); max\\_rows none, max\\_fraction 0.6 (policy)\n"),
            "{md}"
        );
        assert!(!md.contains("would refuse"), "{md}");
    }
}
