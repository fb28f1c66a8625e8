//! The discovery report (`lethe discover`): findings with their coverage, object prefixes,
//! and what could not be read. Names and counts only.

use super::{html_page, json, md, Format, ReportError};
use crate::discover::{Coverage, Discovery, Finding, PrefixFinding, Status, StoreScan};
use crate::util::one_line;
use std::fmt::Write;

/// Renders a discovery report.
pub fn discovery(d: &Discovery, format: Format) -> Result<String, ReportError> {
    Ok(match format {
        Format::Json => json(d)?,
        Format::Text => text(d),
        Format::Markdown => markdown(d),
        Format::Html => html_page("Personal data discovery", &markdown(d)),
    })
}

/// `governed by delete-old-leads (delete), mask-ip (anonymize: truncate-ip)`, `exempt by
/// consent-proof: <reason>` or `UNGOVERNED`; dry-run policies named as such.
fn reach(c: &Coverage) -> String {
    let by: Vec<String> =
        c.by.iter()
            .map(|r| {
                let how = match r.strategy {
                    Some(s) => format!("{}: {s}", r.action),
                    None => r.action.to_string(),
                };
                let dry = if r.dry_run { ", dry-run" } else { "" };
                format!("{} ({how}{dry})", r.policy)
            })
            .collect();
    let named = if by.is_empty() {
        String::new()
    } else {
        format!(" by {}", by.join(", "))
    };
    match (c.status, &c.exempt) {
        (Status::Governed, _) => format!("governed{named}"),
        (Status::Exempt, Some(e)) => format!(
            "exempt by {}: {}{}",
            e.name,
            e.reason,
            if by.is_empty() {
                String::new()
            } else {
                format!("; planned only{named}")
            }
        ),
        _ if by.is_empty() => "UNGOVERNED".to_string(),
        _ => format!("UNGOVERNED: planned only{named}"),
    }
}

fn prefix_name(p: &PrefixFinding) -> String {
    if p.prefix.is_empty() {
        "(top level)".to_string()
    } else {
        p.prefix.clone()
    }
}

fn headline(d: &Discovery) -> String {
    let s = &d.summary;
    format!(
        "{} finding(s): {} governed, {} exempt, {} ungoverned; {} object prefix(es), {} exempt, {} ungoverned (sample: first {} rows per table by key)",
        s.findings,
        s.governed,
        s.exempt,
        s.ungoverned,
        s.prefixes,
        s.exempt_prefixes,
        s.ungoverned_prefixes,
        d.sample
    )
}

/// What could not be read of a store, as sentences.
fn gaps(st: &StoreScan) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = &st.error {
        out.push(format!("not read: {e}"));
    }
    for t in &st.timed_out {
        out.push(format!(
            "`{t}`: the sample took too long; judged on column names alone"
        ));
    }
    for f in &st.failed {
        out.push(format!("not read: {f}"));
    }
    if st.listing_cut {
        out.push(
            "the listing took longer than its bound (`--listing-timeout`): counted in part, prefixes beyond it not counted".to_string(),
        );
    }
    if st.unreadable > 0 {
        out.push(format!(
            "{} table(s) with names lethe cannot quote, not read",
            st.unreadable
        ));
    }
    out
}

fn evidence(f: &Finding) -> String {
    let e = &f.evidence;
    format!(
        "{}{} of {} sampled value(s) match ({} row(s))",
        if e.name { "name; " } else { "" },
        e.matched,
        e.values,
        e.sampled
    )
}

fn text(d: &Discovery) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "discover: {}", headline(d));
    for st in &d.stores {
        let _ = writeln!(
            s,
            "\nstore {}: {} table(s), {} column(s), {} object(s)",
            st.store, st.tables, st.columns, st.objects
        );
        for g in gaps(st) {
            let _ = writeln!(s, "  ! {g}");
        }
        for f in d.findings.iter().filter(|f| f.store == st.store) {
            let _ = writeln!(
                s,
                "  {}.{}  {} ({}) {:.2}  {}  [{}]",
                one_line(&f.table),
                one_line(&f.column),
                f.kind,
                f.category,
                f.confidence,
                reach(&f.coverage),
                evidence(f)
            );
        }
        for p in d.prefixes.iter().filter(|p| p.store == st.store) {
            let _ = writeln!(
                s,
                "  {}  {} object(s)  {}",
                one_line(&prefix_name(p)),
                p.objects,
                reach(&p.coverage)
            );
        }
    }
    s
}

fn markdown(d: &Discovery) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Personal data discovery\n\n{}\n", md(&headline(d)));
    for st in &d.stores {
        let _ = writeln!(
            s,
            "## Store {}\n\n{} table(s), {} column(s), {} object(s).\n",
            md(&st.store),
            st.tables,
            st.columns,
            st.objects
        );
        for g in gaps(st) {
            let _ = writeln!(s, "- {}", md(&g));
        }
        let found: Vec<&Finding> = d.findings.iter().filter(|f| f.store == st.store).collect();
        if !found.is_empty() {
            let _ = writeln!(
                s,
                "\n| table | column | kind | category | confidence | coverage | evidence |"
            );
            let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- |");
            for f in found {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.2} | {} | {} |",
                    md(&f.table),
                    md(&f.column),
                    f.kind,
                    f.category,
                    f.confidence,
                    md(&reach(&f.coverage)),
                    md(&evidence(f))
                );
            }
        }
        let prefixes: Vec<&PrefixFinding> =
            d.prefixes.iter().filter(|p| p.store == st.store).collect();
        if !prefixes.is_empty() {
            let _ = writeln!(s, "\n| prefix | objects | coverage |");
            let _ = writeln!(s, "| --- | --- | --- |");
            for p in prefixes {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    md(&prefix_name(p)),
                    p.objects,
                    md(&reach(&p.coverage))
                );
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{Category, Evidence, Kind, Reach, Status, Summary};
    use crate::model::ActionKind;

    fn report() -> Discovery {
        let ungoverned = Coverage {
            status: Status::Ungoverned,
            by: Vec::new(),
            exempt: None,
        };
        Discovery {
            sample: 1000,
            summary: Summary {
                findings: 3,
                governed: 1,
                exempt: 1,
                ungoverned: 1,
                prefixes: 1,
                exempt_prefixes: 0,
                ungoverned_prefixes: 1,
            },
            stores: vec![StoreScan {
                store: "crm".into(),
                tables: 2,
                columns: 9,
                timed_out: vec!["big".into()],
                ..StoreScan::default()
            }],
            findings: vec![
                Finding {
                    store: "crm".into(),
                    table: "leads".into(),
                    column: "e|mail<b>".into(),
                    kind: Kind::Email,
                    category: Category::Contact,
                    confidence: 0.96,
                    evidence: Evidence {
                        name: true,
                        sampled: 10,
                        values: 8,
                        matched: 8,
                    },
                    coverage: Coverage {
                        status: Status::Governed,
                        by: vec![Reach {
                            policy: "mask".into(),
                            action: ActionKind::Anonymize,
                            strategy: Some("hmac"),
                            dry_run: false,
                        }],
                        exempt: None,
                    },
                },
                Finding {
                    store: "crm".into(),
                    table: "signups".into(),
                    column: "email".into(),
                    kind: Kind::Email,
                    category: Category::Contact,
                    confidence: 0.9,
                    evidence: Evidence {
                        name: true,
                        sampled: 10,
                        values: 10,
                        matched: 10,
                    },
                    coverage: Coverage {
                        status: Status::Exempt,
                        by: vec![Reach {
                            policy: "draft-signups".into(),
                            action: ActionKind::Delete,
                            strategy: None,
                            dry_run: true,
                        }],
                        exempt: Some(crate::discover::ExemptBy {
                            name: "consent-proof".into(),
                            reason: "proof of consent, art. 7(1) GDPR".into(),
                        }),
                    },
                },
                Finding {
                    store: "crm".into(),
                    table: "signups".into(),
                    column: "ip".into(),
                    kind: Kind::IpAddress,
                    category: Category::Network,
                    confidence: 0.9,
                    evidence: Evidence {
                        name: false,
                        sampled: 10,
                        values: 10,
                        matched: 10,
                    },
                    coverage: ungoverned.clone(),
                },
            ],
            prefixes: vec![PrefixFinding {
                store: "crm".into(),
                prefix: String::new(),
                objects: 3,
                coverage: ungoverned,
            }],
        }
    }

    #[test]
    fn every_format_names_kind_coverage_and_evidence() {
        let d = report();
        let text = discovery(&d, Format::Text).unwrap();
        assert!(
            text.contains("leads.e|mail<b>  email (contact) 0.96  governed by mask (anonymize: hmac)  [name; 8 of 8 sampled value(s) match (10 row(s))]"),
            "{text}"
        );
        assert!(
            text.contains("signups.ip  ip_address (network) 0.90  UNGOVERNED"),
            "{text}"
        );
        assert!(
            text.contains("signups.email  email (contact) 0.90  exempt by consent-proof: proof of consent, art. 7(1) GDPR; planned only by draft-signups (delete, dry-run)"),
            "{text}"
        );
        assert!(
            text.contains("(top level)  3 object(s)  UNGOVERNED"),
            "{text}"
        );
        assert!(text.contains("`big`: the sample took too long"), "{text}");
        let md = discovery(&d, Format::Markdown).unwrap();
        assert!(
            md.contains("| leads | e\\|mail&lt;b&gt; | email | contact | 0.96 |"),
            "{md}"
        );
        let html = discovery(&d, Format::Html).unwrap();
        assert!(!html.contains("<b>"), "{html}");
        let json: serde_json::Value =
            serde_json::from_str(&discovery(&d, Format::Json).unwrap()).unwrap();
        assert_eq!(json["findings"][1]["coverage"]["status"], "exempt");
        assert_eq!(
            json["findings"][1]["coverage"]["exempt"]["name"],
            "consent-proof"
        );
        assert_eq!(json["findings"][2]["coverage"]["status"], "ungoverned");
        assert_eq!(json["prefixes"][0]["prefix"], "");
    }
}
