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
