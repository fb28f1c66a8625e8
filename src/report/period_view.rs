//! The period report as text, JSON, Markdown and a self-contained HTML page with charts.

use super::chart::{self, Series};
use super::period::PeriodReport;
use super::{json, markdown_html, md, page, remaining, short, Format, ReportError};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Renders a period report.
pub fn period(r: &PeriodReport, format: Format) -> Result<String, ReportError> {
    Ok(match format {
        Format::Json => json(r)?,
        Format::Text => text(r),
        Format::Markdown => {
            let (head, rest) = markdown(r);
            head + &rest
        }
        Format::Html => {
            let (head, rest) = markdown(r);
            let body = markdown_html(&head) + &figures(r) + &markdown_html(&rest);
            page(&title(r), &body)
        }
    })
}

/// `2026-05-01 to 2026-05-07` for whole days (UTC), else the instants.
fn span(r: &PeriodReport) -> String {
    let midnight = |t: &chrono::DateTime<chrono::Utc>| t.time() == chrono::NaiveTime::MIN;
    if midnight(&r.since) && midnight(&r.until) {
        let last = r.until - chrono::Duration::days(1);
        format!(
            "{} to {} (UTC)",
            r.since.format("%Y-%m-%d"),
            last.format("%Y-%m-%d")
        )
    } else {
        format!(
            "{} to {} (UTC, the end excluded)",
            r.since.format("%Y-%m-%d %H:%M"),
            r.until.format("%Y-%m-%d %H:%M")
        )
    }
}

fn title(r: &PeriodReport) -> String {
    format!("Retention report {}", span(r))
}

/// `7 (fiscal-retention 5, hold-3 2)`, or `0`.
fn held(holds: &BTreeMap<String, u64>) -> String {
    let total: u64 = holds.values().sum();
    let each: Vec<String> = holds
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(h, n)| format!("{h} {n}"))
        .collect();
    if each.is_empty() {
        return total.to_string();
    }
    format!("{total} ({})", each.join(", "))
}

fn chain_line(r: &PeriodReport) -> String {
    match &r.chain.broken {
        None => format!(
            "audit trail intact: {} events, head {}",
            r.chain.events, r.chain.head
        ),
        Some(why) => format!("audit trail BROKEN at {why}"),
    }
}

fn runs_line(r: &PeriodReport) -> String {
    if r.runs.is_empty() {
        return "no enforcing run in this period".into();
    }
    let each: Vec<String> = r.runs.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!("enforcing runs: {}", each.join(", "))
}

fn text(r: &PeriodReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "lethe report: {}", span(r));
    let _ = writeln!(s, "{}", chain_line(r));
    let _ = writeln!(s, "{}\n", runs_line(r));
    for p in &r.policies {
        let _ = writeln!(s, "{}  [{}]  {} runs", p.name, p.target, p.runs);
        let _ = writeln!(
            s,
            "  deleted {}   anonymized {}   failed {}   held {}   undated {}   referenced {}   remaining {}",
            p.deleted,
            p.anonymized,
            p.failed,
            held(&p.held),
            p.undated,
            p.referenced,
            remaining(p.remaining)
        );
        if p.throttled_ms > 0 || p.throttled_runs > 0 {
            let _ = writeln!(s, "  {}", throttled(p));
        }
    }
    if !r.nights.is_empty() {
        let _ = writeln!(s, "\nper night (deleted / anonymized / failed):");
        for (date, deleted, anonymized) in r.changed_per_night() {
            let failed: u64 = r
                .nights
                .iter()
                .filter(|n| n.date == date)
                .flat_map(|n| n.policies.values().map(|f| f.failed))
                .sum();
            let _ = writeln!(s, "  {date}  {deleted:>8}  {anonymized:>8}  {failed:>6}");
        }
    }
    for x in &r.refusals {
        for f in &x.refusals {
            let _ = writeln!(
                s,
                "refused (as of {}): {}{}",
                x.as_of,
                f.policy
                    .as_ref()
                    .map(|p| format!("{p}: "))
                    .unwrap_or_default(),
                f.reason
            );
        }
    }
    for h in &r.holds_added {
        let _ = writeln!(
            s,
            "hold added {} {} on {}: {}",
            h.at,
            h.hold,
            h.scope.as_deref().unwrap_or(""),
            h.reason
        );
    }
    for h in &r.holds_released {
        let _ = writeln!(s, "hold released {} {}: {}", h.at, h.hold, h.reason);
    }
    for f in &r.forecast {
        let _ = writeln!(
            s,
            "forecast {}: due now {}; {}",
            f.name,
            f.eligible,
            super::forecast_text(&f.next)
        );
    }
    if let Some(why) = &r.forecast_unavailable {
        let _ = writeln!(s, "forecast unavailable: {why}");
    }
    for l in &r.residency {
        let _ = writeln!(
            s,
            "residency {}: {} in {} ({} runs)",
            l.store,
            l.verdict,
            l.country.as_deref().unwrap_or("an unknown country"),
            l.runs
        );
    }
    s
}

/// The Markdown report in two parts: the summary, and the tables (the HTML page puts its
/// charts between them).
fn markdown(r: &PeriodReport) -> (String, String) {
    let mut head = String::new();
    let _ = writeln!(head, "# {}\n", title(r));
    let _ = writeln!(
        head,
        "Runs belong to the period by their evaluation instant; holds by when they were added or released. Counts only: no record value appears here.\n"
    );
    let _ = writeln!(head, "- {}", md(&chain_line(r)));
    let _ = writeln!(head, "- {}\n", md(&runs_line(r)));

    let mut s = String::new();
    let _ = writeln!(s, "## Per policy\n");
    let _ = writeln!(s, "| policy | target | runs | deleted | anonymized | failed | held at the last run | undated (kept) | referenced (kept) | remaining |");
    let _ = writeln!(
        s,
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
    );
    for p in &r.policies {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&p.name),
            md(&p.target),
            p.runs,
            p.deleted,
            p.anonymized,
            p.failed,
            md(&held(&p.held)),
            p.undated,
            p.referenced,
            remaining(p.remaining)
        );
    }
    let waits: Vec<_> = (r.policies.iter())
        .filter(|p| p.throttled_ms > 0 || p.throttled_runs > 0)
        .collect();
    if !waits.is_empty() {
        let _ = writeln!(
            s,
            "\n**Throttling** (waits between batches for replicas and the row rate):\n"
        );
        for p in waits {
            let _ = writeln!(s, "- {}: {}", md(&p.name), md(&throttled(p)));
        }
    }
    let _ = writeln!(s, "\n## Per night\n");
    let _ = writeln!(
        s,
        "| night | policy | deleted | anonymized | failed | held | undated (kept) | referenced (kept) |"
    );
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |");
    for n in &r.nights {
        for (name, f) in &n.policies {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                n.date,
                md(name),
                f.deleted,
                f.anonymized,
                f.failed,
                md(&held(&f.held)),
                f.undated,
                f.referenced
            );
        }
    }
    let _ = writeln!(s, "\n## Refused runs\n");
    if r.refusals.is_empty() {
        let _ = writeln!(s, "None.");
    }
    for x in &r.refusals {
        for f in &x.refusals {
            let _ = writeln!(
                s,
                "- as of {}: {}{}",
                md(&x.as_of),
                f.policy
                    .as_ref()
                    .map(|p| format!("**{}**: ", md(p)))
                    .unwrap_or_default(),
                md(&f.reason)
            );
        }
    }
    let _ = writeln!(s, "\n## Runtime legal holds\n");
    if r.holds_added.is_empty() && r.holds_released.is_empty() {
        let _ = writeln!(s, "None added or released.");
    } else {
        let _ = writeln!(s, "| when | hold | change | on | reason | until |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
        for (h, change) in r
            .holds_added
            .iter()
            .map(|h| (h, "added"))
            .chain(r.holds_released.iter().map(|h| (h, "released")))
        {
            let _ = writeln!(
                s,
                "| {} | {} | {change} | {} | {} | {} |",
                md(&h.at),
                md(&h.hold),
                md(h.scope.as_deref().unwrap_or("")),
                md(&h.reason),
                md(h.until.as_deref().unwrap_or(""))
            );
        }
    }
    let _ = writeln!(s, "\n## Due next\n");
    let [d7, d30, d90] = crate::plan::FORECAST_DAYS;
    match &r.forecast_unavailable {
        Some(why) => {
            let _ = writeln!(s, "Forecast unavailable: {}", md(why));
        }
        None if r.forecast.is_empty() => {
            let _ = writeln!(s, "No policy to forecast.");
        }
        None => {
            let _ = writeln!(
                s,
                "Counted on the live stores when this report was made, with holds as they will stand then.\n"
            );
            let _ = writeln!(
                s,
                "| policy | target | due now | within {d7} days | within {d30} days | within {d90} days |"
            );
            let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: |");
            for f in &r.forecast {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | +{} | +{} | +{} |",
                    md(&f.name),
                    md(&f.target),
                    f.eligible,
                    f.next.days_7,
                    f.next.days_30,
                    f.next.days_90
                );
            }
        }
    }
    let _ = writeln!(s, "\n## Residency\n");
    if r.residency.is_empty() {
        let _ = writeln!(s, "No run recorded a residency check in this period.");
    } else {
        let _ = writeln!(s, "| store | country | verdict | runs |");
        let _ = writeln!(s, "| --- | --- | --- | ---: |");
        for l in &r.residency {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                md(&l.store),
                md(l.country.as_deref().unwrap_or("unknown")),
                l.verdict,
                l.runs
            );
        }
    }
    let _ = writeln!(
        s,
        "\nAudit trail head: `{}` (compare it with the copy kept elsewhere).",
        short(&r.chain.head)
    );
    (head, s)
}

/// The charts: records changed per night, held records per hold per night.
fn figures(r: &PeriodReport) -> String {
    if r.nights.is_empty() {
        return String::new();
    }
    let changed = r.changed_per_night();
    let labels: Vec<String> = changed.iter().map(|(d, _, _)| d.to_string()).collect();
    let mut out = String::from("<figure>\n");
    out.push_str(&chart::stacked_bars(
        "Records changed per night",
        &labels,
        &[
            Series {
                name: "deleted",
                values: changed.iter().map(|c| c.1).collect(),
            },
            Series {
                name: "anonymized",
                values: changed.iter().map(|c| c.2).collect(),
            },
        ],
    ));
    out.push_str("</figure>\n");
    let held = r.held_per_night();
    if !held.is_empty() {
        let series: Vec<Series> = held
            .iter()
            .map(|(hold, values)| Series {
                name: hold,
                values: values.iter().map(|v| v.1).collect(),
            })
            .collect();
        out.push_str("<figure>\n");
        out.push_str(&chart::lines(
            "Records kept by each legal hold, per night",
            &labels,
            &series,
        ));
        out.push_str("</figure>\n");
    }
    out
}

/// `throttled: 2 runs stopped, 612.4 s waited`.
fn throttled(p: &super::period::PolicyTotals) -> String {
    format!(
        "throttled: {} runs stopped, {:.1} s waited",
        p.throttled_runs,
        p.throttled_ms as f64 / 1000.0
    )
}
