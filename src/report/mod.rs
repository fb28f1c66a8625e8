//! Reports for people (text, Markdown) and machines (JSON). Keys and counts only, never values.

mod certificate;
mod chart;
mod discover;
mod guard;
mod period;
mod period_view;

pub use certificate::{certificate_html, certificate_text, verdict};
pub use discover::discovery;
pub use period::{PeriodBuilder, PeriodReport};
pub use period_view::period;

use crate::apply::ApplyReport;
use crate::plan::{HeldBy, Plan, ReferencedBy};
use chrono::SecondsFormat;
use std::fmt::Write;

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Readable text for a terminal.
    Text,
    /// JSON for machines.
    Json,
    /// Markdown for the DPO's records.
    Markdown,
    /// A self-contained HTML page for the DPO (the Markdown report, rendered).
    Html,
}

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The JSON form could not be written.
    #[error("cannot write the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}

/// The JSON form of a report: pretty, with a final newline.
fn json<T: serde::Serialize>(value: &T) -> Result<String, ReportError> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

fn ts(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Renders a plan.
pub fn plan(
    plan: &Plan,
    format: Format,
    plan_file: Option<&str>,
    show_sql: bool,
) -> Result<String, ReportError> {
    if format == Format::Html {
        let md = self::plan(plan, Format::Markdown, plan_file, show_sql)?;
        return Ok(html_page(&format!("Retention plan {}", plan.plan_id), &md));
    }
    let mut s = plan_body(plan, format, plan_file, show_sql)?;
    if let (Some(r), false) = (&plan.residency, format == Format::Json) {
        s.push_str(&residency_section(r, format));
    }
    Ok(s)
}

fn plan_body(
    plan: &Plan,
    format: Format,
    plan_file: Option<&str>,
    show_sql: bool,
) -> Result<String, ReportError> {
    Ok(match format {
        Format::Json => json(plan)?,
        Format::Text => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "lethe plan {} (dry run: nothing was changed)",
                plan.plan_id
            );
            let _ = writeln!(
                s,
                "as of {}   config {}",
                plan.as_of_text(),
                short(&plan.config_hash)
            );
            let _ = writeln!(s);
            for p in &plan.policies {
                let _ = writeln!(s, "{}  [{} on {}]", p.name, p.action, p.target);
                let _ = writeln!(s, "  keep {} -> cutoff {}", p.keep, ts(&p.cutoff));
                let _ = writeln!(
                    s,
                    "  eligible {:>8}   undated (kept) {:>6}   in scope {:>8} of {} {}",
                    p.eligible,
                    p.undated,
                    p.selected,
                    p.total,
                    p.unit()
                );
                held_lines(&mut s, p.held, &p.holds, "  ");
                referenced_line(&mut s, p.referenced, &p.references, "  ");
                guard::policy_text(&mut s, p);
                if let Some(f) = &p.forecast {
                    let _ = writeln!(s, "  {}", forecast_text(f));
                }
                for (col, c) in &p.columns {
                    let _ = writeln!(s, "  {col}: {} ({})", c.strategy, c.effect);
                }
                if show_sql {
                    let _ = writeln!(s, "  statement: {}", p.statement);
                }
                let _ = writeln!(s);
            }
            let _ = writeln!(s, "total eligible: {}", plan.total_eligible());
            guard::run_text(&mut s, plan);
            if !show_sql {
                let _ = writeln!(s, "(add `--sql` to see the statement each policy runs)");
            }
            if let Some(f) = plan_file {
                let _ = writeln!(
                    s,
                    "plan written to {f}; apply exactly this plan with: lethe apply --plan {f}"
                );
            }
            s
        }
        Format::Markdown | Format::Html => {
            let mut s = String::new();
            let _ = writeln!(s, "# Retention plan `{}`\n", plan.plan_id);
            let _ = writeln!(
                s,
                "Dry run evaluated at **{}**; configuration `{}`. Nothing was changed.\n",
                plan.as_of_text(),
                short(&plan.config_hash)
            );
            let _ = writeln!(s, "| policy | target | action | keep | cutoff | eligible | held | referenced (kept) | undated (kept) | in scope | total | guard |");
            let _ = writeln!(
                s,
                "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | :--- |"
            );
            for p in &plan.policies {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    md(&p.name),
                    md(&p.target),
                    p.action,
                    p.keep,
                    ts(&p.cutoff),
                    p.eligible,
                    p.held,
                    p.referenced,
                    p.undated,
                    p.selected,
                    p.total,
                    guard::cell(p)
                );
            }
            guard::run_markdown(&mut s, plan);
            for p in &plan.policies {
                let _ = writeln!(s, "\n## {}\n", md(&p.name));
                if let Some(purpose) = &p.purpose {
                    let _ = writeln!(s, "Purpose: {}\n", md(purpose));
                }
                if let Some(clause) = &p.clause {
                    let _ = writeln!(s, "Clause: {}\n", md(clause));
                }
                guard::policy_markdown(&mut s, p);
                held_md(&mut s, &p.holds, "Held by ");
                referenced_md(&mut s, p.referenced, &p.references);
                if let Some(f) = &p.forecast {
                    let _ = writeln!(s, "- {}", forecast_text(f));
                }
                for (col, c) in &p.columns {
                    let _ = writeln!(s, "- `{col}`: {} ({})", c.strategy, c.effect);
                }
                // Object policies describe their requests in words, not SQL.
                let lang = if p.unit() == crate::plan::Unit::Objects {
                    "text"
                } else {
                    "sql"
                };
                let _ = writeln!(
                    s,
                    "\n<details><summary>Statement</summary>\n\n```{lang}\n{}\n```\n</details>",
                    p.statement
                );
            }
            s
        }
    })
}

/// Renders the result of an apply.
pub fn apply(r: &ApplyReport, format: Format) -> Result<String, ReportError> {
    if format == Format::Html {
        let md = self::apply(r, Format::Markdown)?;
        return Ok(html_page(&format!("Retention run {}", r.run_id), &md));
    }
    let mut s = apply_body(r, format)?;
    if let (Some(res), false) = (&r.residency, format == Format::Json) {
        s.push_str(&residency_section(res, format));
    }
    Ok(s)
}

fn apply_body(r: &ApplyReport, format: Format) -> Result<String, ReportError> {
    Ok(match format {
        Format::Json => json(r)?,
        Format::Text => {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "lethe apply: {}   run {}   plan {}{}{}",
                r.status,
                r.run_id,
                r.plan_id,
                if r.pinned { " (pinned)" } else { "" },
                r.shard
                    .as_deref()
                    .map(|s| format!("   shard {s}"))
                    .unwrap_or_default()
            );
            let _ = writeln!(s, "as of {}   config {}", r.as_of, short(&r.config_hash));
            for f in &r.refusals {
                let _ = writeln!(
                    s,
                    "refused: {}{}",
                    f.policy
                        .as_deref()
                        .map(|p| format!("policy `{p}`: "))
                        .unwrap_or_default(),
                    f.reason
                );
            }
            if !r.dry_run.is_empty() {
                let _ = writeln!(s, "not enforced (mode: dry-run): {}", r.dry_run.join(", "));
            }
            let _ = writeln!(s);
            for p in &r.policies {
                let _ = writeln!(s, "{}  [{} on {}]", p.name, p.action, p.target);
                let _ = writeln!(
                    s,
                    "  eligible {}   deleted {}   anonymized {}   failed {}   undated (kept) {}   remaining {}",
                    p.eligible, p.deleted, p.anonymized, p.failed, p.undated, remaining(p.remaining)
                );
                if let Some(t) = &p.batch_times {
                    let _ = writeln!(s, "  {}", batch_times_text(p.batches, t));
                }
                if let Some(t) = &p.throttle {
                    let _ = writeln!(s, "  {}", throttle_text(t));
                }
                if p.versions > p.deleted {
                    let _ = writeln!(
                        s,
                        "  object versions and delete markers removed: {}",
                        p.versions
                    );
                }
                if p.cleared > 0 {
                    let _ = writeln!(
                        s,
                        "  note: {} values were not IP addresses and were cleared (set to NULL)",
                        p.cleared
                    );
                }
                held_lines(&mut s, p.held, &p.holds, "  ");
                referenced_line(&mut s, p.referenced, &p.references, "  ");
                for e in &p.errors {
                    let _ = writeln!(s, "  error: {e}");
                }
                if p.interrupted {
                    let _ = writeln!(s, "  interrupted: run `lethe apply` again to finish");
                }
            }
            s
        }
        Format::Markdown | Format::Html => {
            let mut s = String::new();
            let _ = writeln!(s, "# Retention run `{}`: {}\n", r.run_id, r.status);
            let _ = writeln!(
                s,
                "Evaluated at **{}**, plan `{}`{}, configuration `{}`.\n",
                r.as_of,
                r.plan_id,
                if r.pinned { " (reviewed plan)" } else { "" },
                short(&r.config_hash)
            );
            for f in &r.refusals {
                let _ = writeln!(
                    s,
                    "- **Refused**: {}{}",
                    f.policy
                        .as_deref()
                        .map(|p| format!("policy {}: ", md(p)))
                        .unwrap_or_default(),
                    md(&f.reason)
                );
            }
            let _ = writeln!(s, "| policy | target | action | eligible | held | referenced (kept) | deleted | anonymized | failed | undated (kept) | remaining |");
            let _ = writeln!(
                s,
                "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for p in &r.policies {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    md(&p.name),
                    md(&p.target),
                    p.action,
                    p.eligible,
                    p.held,
                    p.referenced,
                    p.deleted,
                    p.anonymized,
                    p.failed,
                    p.undated,
                    remaining(p.remaining)
                );
            }
            let timed: Vec<_> = (r.policies.iter())
                .filter_map(|p| p.batch_times.as_ref().map(|t| (p, t)))
                .collect();
            if !timed.is_empty() {
                let _ = writeln!(s, "\n**Batches** (time of each data-changing statement):\n");
                for (p, t) in timed {
                    let _ = writeln!(s, "- {}: {}", md(&p.name), batch_times_text(p.batches, t));
                }
            }
            let throttled: Vec<_> = (r.policies.iter())
                .filter_map(|p| p.throttle.as_ref().map(|t| (p, t)))
                .collect();
            if !throttled.is_empty() {
                let _ = writeln!(
                    s,
                    "\n**Throttling** (waits between batches for replicas and the row rate):\n"
                );
                for (p, t) in throttled {
                    let _ = writeln!(s, "- {}: {}", md(&p.name), md(&throttle_text(t)));
                }
            }
            for p in r.policies.iter().filter(|p| !p.holds.is_empty()) {
                let _ = writeln!(s, "\n**{}** kept by legal holds:\n", md(&p.name));
                held_md(&mut s, &p.holds, "");
            }
            for p in r.policies.iter().filter(|p| p.referenced > 0) {
                let _ = writeln!(s, "\n**{}** kept because still referenced:\n", md(&p.name));
                referenced_md(&mut s, p.referenced, &p.references);
            }
            for p in r.policies.iter().filter(|p| !p.errors.is_empty()) {
                let _ = writeln!(s, "\n**{}** failed:\n", md(&p.name));
                for e in &p.errors {
                    let _ = writeln!(s, "- {}", md(e));
                }
            }
            s
        }
    })
}

/// `batches 12: p50 180 ms, p99 240 ms, max 251 ms; last batch 1100 rows`.
fn batch_times_text(batches: u64, t: &crate::apply::BatchTimes) -> String {
    format!(
        "batches {batches}: p50 {} ms, p99 {} ms, max {} ms; last batch {} rows",
        t.p50_ms, t.p99_ms, t.max_ms, t.last_size
    )
}

/// `throttled: waited 600.0 s for replicas (highest lag 14.2 s); stopped before its next
/// batch (replica 1 (db2:5432) lags 14.2 s, more than 5 s): run `lethe apply` again to go on`.
fn throttle_text(t: &crate::apply::Throttled) -> String {
    let mut s = format!(
        "{}: waited {:.1} s for replicas",
        t.status,
        t.waited_ms as f64 / 1000.0
    );
    if let Some(lag) = t.max_lag_ms {
        let _ = write!(s, " (highest lag {:.1} s)", lag as f64 / 1000.0);
    }
    if t.rate_wait_ms > 0 {
        let _ = write!(
            s,
            ", {:.1} s for max_rows_per_second",
            t.rate_wait_ms as f64 / 1000.0
        );
    }
    match (t.status, &t.reason) {
        (crate::apply::ThrottleStatus::Throttled, Some(why)) => {
            let _ = write!(
                s,
                "; stopped before its next batch ({why}): run `lethe apply` again to go on"
            );
        }
        (crate::apply::ThrottleStatus::Throttled, None) => {
            s.push_str("; stopped before its next batch: run `lethe apply` again to go on");
        }
        (crate::apply::ThrottleStatus::Waited, _) => s.push_str(", then went on"),
    }
    s
}

/// `due next: 12 more within 7 days, 40 within 30 days, 95 within 90 days`.
fn forecast_text(f: &crate::plan::Forecast) -> String {
    let [d7, d30, d90] = crate::plan::FORECAST_DAYS;
    format!(
        "due next: {} more within {d7} days, {} within {d30} days, {} within {d90} days",
        f.days_7, f.days_30, f.days_90
    )
}

/// The records still due after a run, or `unknown` when the recount could not be made.
fn remaining(n: Option<u64>) -> String {
    n.map_or_else(|| "unknown".to_string(), |n| n.to_string())
}

/// `held N` and one line per hold with its basis.
fn held_lines(s: &mut String, held: u64, holds: &[HeldBy], indent: &str) {
    if holds.is_empty() {
        return;
    }
    let _ = writeln!(s, "{indent}held {held} (kept by legal holds):");
    for h in holds {
        let _ = writeln!(
            s,
            "{indent}  {:>8}  {} [{}] {}",
            h.held, h.hold, h.source, h.basis
        );
    }
}

/// `kept 8: referenced by invoices (7), contracts (1)`, when a foreign key kept some.
fn referenced_line(s: &mut String, referenced: u64, by: &[ReferencedBy], indent: &str) {
    if referenced > 0 {
        let _ = writeln!(s, "{indent}kept {referenced}: {}", referenced_by(by));
    }
}

/// The Markdown form of [`referenced_line`].
fn referenced_md(s: &mut String, referenced: u64, by: &[ReferencedBy]) {
    if referenced > 0 {
        let _ = writeln!(
            s,
            "- Kept {}: {}",
            records(referenced),
            md(&referenced_by(by))
        );
    }
}

/// `referenced by invoices (8, 7 held by fiscal-retention), contracts (1)`.
fn referenced_by(by: &[ReferencedBy]) -> String {
    format!("referenced by {}", referencing(by))
}

/// `invoices (8, 7 held by fiscal-retention), contracts (1)`: each referencing table with the
/// records its rows keep, and the holds there that keep those rows.
pub(super) fn referencing(by: &[ReferencedBy]) -> String {
    let tables: Vec<String> = by
        .iter()
        .map(|r| {
            let held: Vec<String> = (r.held.iter())
                .map(|h| match h.referenced == r.referenced {
                    true => format!(", all held by {}", h.hold),
                    false => format!(", {} held by {}", h.referenced, h.hold),
                })
                .collect();
            format!("{} ({}{})", r.table, r.referenced, held.concat())
        })
        .collect();
    tables.join(", ")
}

/// One Markdown line per hold: name, source, basis and the records it kept.
fn held_md(s: &mut String, holds: &[HeldBy], lead: &str) {
    for h in holds {
        let _ = writeln!(
            s,
            "- {lead}**{}** ({}; {}): {}",
            md(&h.hold),
            h.source,
            md(&h.basis),
            records(h.held)
        );
    }
}

/// `1 record`, `2 records`.
fn records(n: u64) -> String {
    format!("{n} record{}", if n == 1 { "" } else { "s" })
}

/// Free text made safe inside Markdown: one line, no table breaks, no HTML.
fn md(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' => ' '.to_string(),
            '|' => "\\|".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            // What makes emphasis, code, headings, links and images, and the backslash itself.
            '\\' | '*' | '_' | '`' | '#' | '[' | ']' | '~' => {
                format!("\\{c}")
            }
            c => c.to_string(),
        })
        .collect()
}

fn short(h: &str) -> &str {
    &h[..12.min(h.len())]
}

/// Renders a residency report on its own (`lethe residency`).
pub fn residency(r: &crate::residency::Report, format: Format) -> Result<String, ReportError> {
    Ok(match format {
        Format::Html => html_page(
            "Residency",
            residency_section(r, Format::Markdown).trim_start(),
        ),
        Format::Json => json(r)?,
        _ => residency_section(r, format).trim_start().to_string(),
    })
}

/// The residency section of a text or Markdown report.
fn residency_section(r: &crate::residency::Report, format: Format) -> String {
    let mut s = String::new();
    let verdict = if r.violations == 0 {
        "every store allowed".to_string()
    } else {
        format!("{} VIOLATION(S)", r.violations)
    };
    match format {
        Format::Markdown => {
            let _ = writeln!(s, "\n## Residency: {verdict}\n");
            let _ = writeln!(
                s,
                "Allowed: {}. Checked {} against the tables of {}.\n",
                r.allow.join(", "),
                r.checked_at,
                r.data_as_of
            );
            let _ = writeln!(s, "| store | region | country | verdict | why |");
            let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
            for st in &r.stores {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    md(&st.store),
                    md(st.region.as_deref().unwrap_or("-")),
                    md(st.country.as_deref().unwrap_or("-")),
                    st.verdict,
                    md(&st.reason)
                );
            }
        }
        _ => {
            let _ = writeln!(
                s,
                "\nresidency: {verdict} (allowed: {}; tables: {})",
                r.allow.join(", "),
                r.data_as_of
            );
            for st in &r.stores {
                let _ = writeln!(
                    s,
                    "  {:<9} {:<16} {:<3} {:<10} {}",
                    st.store,
                    st.region.as_deref().unwrap_or("-"),
                    st.country.as_deref().unwrap_or("-"),
                    st.verdict,
                    st.reason
                );
            }
        }
    }
    s
}

/// A self-contained HTML page from a Markdown report.
fn html_page(title: &str, markdown: &str) -> String {
    page(title, &markdown_html(markdown))
}

/// HTML from a Markdown report. Free text in the reports is escaped when the Markdown is
/// written; here, raw HTML is dropped except lethe's own `<details>` blocks.
fn markdown_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let ours = |h: &str| {
        [
            "<details>",
            "</details>",
            "<summary>",
            "</summary>",
            "Statement",
        ]
        .iter()
        .fold(h.to_string(), |acc, t| acc.replace(t, ""))
        .trim()
        .is_empty()
    };
    // No link or image from any text: their text stays, the address goes.
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).filter_map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) if !ours(&h) => Some(Event::Text(h)),
        Event::Start(Tag::Link { .. } | Tag::Image { .. })
        | Event::End(TagEnd::Link | TagEnd::Image) => None,
        other => Some(other),
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events);
    body
}

/// A self-contained HTML page (no script, no external asset) around `body`.
fn page(title: &str, body: &str) -> String {
    let title = html_escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\nbody {{ font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}\ntable {{ border-collapse: collapse; margin: 1rem 0; }}\nth, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }}\ntd:nth-child(n+6) {{ text-align: right; }}\ncode, pre {{ background: #f4f4f4; }}\npre {{ padding: .6rem; overflow-x: auto; }}\nfigure {{ margin: 1rem 0; }}\nsvg {{ max-width: 100%; height: auto; }}\n</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

/// `<`, `>`, `&` and quotes as entities.
fn html_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_page_carries_no_link_image_or_markup_from_its_text() {
        let page = html_page(
            "t <i>",
            "[x](javascript:alert(1)) ![i](https://evil.example/p.png) <javascript:alert(2)> <b>bold</b>\n\n<details><summary>Statement</summary>\n\nSELECT 1\n</details>",
        );
        for bad in ["<a ", "href", "<img", "<b>", "<i>"] {
            assert!(!page.contains(bad), "{bad} in {page}");
        }
        assert!(
            page.contains("<details><summary>Statement</summary>"),
            "{page}"
        );
    }

    /// An apply report with one policy whose verification recount ended as given.
    fn report_with_remaining(remaining: &str) -> ApplyReport {
        serde_json::from_str(&format!(
            r#"{{"run_id": "r1", "plan_id": "p1", "pinned": false, "as_of": "2026-06-15T12:00:00Z",
            "config_hash": "0123456789abcdef", "status": "failed", "policies": [{{
            "name": "old-leads", "store": "crm", "target": "crm.leads", "action": "delete",
            "eligible": 7, "held": 0, "holds": [], "undated": 0,
            "cutoff": "2026-05-16T12:00:00Z", "deleted": 3, "anonymized": 0, "failed": 0,
            "remaining": {remaining}, "batches": 1}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_recount_that_was_not_made_is_unknown_never_0() {
        let unknown = report_with_remaining("null");
        assert_eq!(unknown.policies[0].remaining, None);
        assert!(unknown.policies[0].failed());
        let json = apply(&unknown, Format::Json).unwrap();
        assert!(json.contains("\"remaining\": null"), "{json}");
        let text = apply(&unknown, Format::Text).unwrap();
        assert!(text.contains("remaining unknown"), "{text}");
        let md = apply(&unknown, Format::Markdown).unwrap();
        assert!(md.contains("| 0 | unknown |"), "{md}");
        let html = apply(&unknown, Format::Html).unwrap();
        assert!(html.contains("unknown"), "{html}");
        // A report written with a number reads back as that number.
        let known = report_with_remaining("4");
        assert_eq!(known.policies[0].remaining, Some(4));
        assert!(!known.policies[0].failed());
        assert!(apply(&known, Format::Text).unwrap().contains("remaining 4"));
    }
}
