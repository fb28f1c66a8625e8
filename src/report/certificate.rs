//! A deletion certificate for people: a terminal summary, and a self-contained HTML page a
//! customer can read and print ("Verklaring van verwijdering"). The signed JSON file is the
//! certificate; these render it.

use super::{html_escape, page};
use crate::certificate::{Certificate, Finding, Signature, Status};
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write;

fn day(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The verdict in one sentence.
pub fn verdict(c: &Certificate) -> String {
    if !c.complete {
        return "not complete: records of this subject remain that are neither held nor anonymized"
            .into();
    }
    let mut except = Vec::new();
    if c.policies.iter().any(|p| p.status == Status::Held) {
        except.push("what a legal hold keeps");
    }
    if c.policies.iter().any(|p| p.status == Status::Anonymized) {
        except.push("anonymized records");
    }
    match except.is_empty() {
        true => "complete: nothing of this subject remains".into(),
        false => format!(
            "complete: nothing of this subject remains except {}",
            except.join(" and ")
        ),
    }
}

/// What a certificate covers, in one sentence.
pub const SCOPE: &str = "This certificate covers the policies listed, on the stores they name; personal data of this subject that no policy names is outside it.";

/// `go`/`goes`, `remain`/`remains` after a count.
fn verb(n: u64, plural: &'static str, singular: &'static str) -> &'static str {
    if n == 1 {
        singular
    } else {
        plural
    }
}

/// `1 row`, `2 rows`, `1 object`.
fn count(n: u64, unit: &str) -> String {
    match n {
        1 => format!("1 {}", unit.strip_suffix('s').unwrap_or(unit)),
        n => format!("{n} {unit}"),
    }
}

fn status_line(f: &Finding) -> String {
    let unit = &f.unit;
    match f.status {
        Status::Deleted => "deleted: none remain".into(),
        Status::Anonymized => format!(
            "anonymized: {} {}, masked",
            count(f.remaining, unit),
            verb(f.remaining, "remain", "remains")
        ),
        Status::Pseudonymized => format!(
            "pseudonymized: {} {}, still personal data (a keyed hash links them to the subject)",
            count(f.remaining, unit),
            verb(f.remaining, "remain", "remains")
        ),
        Status::Held => format!("kept by a legal hold: {}", count(f.held, unit)),
        Status::DueNow => format!(
            "due: {} {} in the next run{}",
            count(f.due_now, unit),
            verb(f.due_now, "go", "goes"),
            match f.mode {
                crate::model::Mode::DryRun => " (the policy runs in dry-run: not enforced)",
                crate::model::Mode::Enforce => "",
            }
        ),
        Status::Referenced => format!(
            "kept: {} still referenced by {}",
            count(f.referenced, unit),
            super::referencing(&f.references)
        ),
        Status::NotYetDue => format!("not yet due: {}{}", count(f.waiting, unit), due_words(f)),
    }
}

fn due_words(f: &Finding) -> String {
    match &f.contract {
        Some(c) if c.contracts == 0 => format!(", no related row in {}", c.column),
        Some(c) if c.ended < c.contracts => format!(
            ", {} of {} related rows in {} have no end date",
            c.contracts - c.ended,
            c.contracts,
            c.column
        ),
        Some(c) => match c.due_at {
            Some(d) => format!(", due on {}", day(&d)),
            None => String::new(),
        },
        None => String::new(),
    }
}

fn contract_line(f: &Finding, at: &DateTime<Utc>) -> Option<String> {
    let c = f.contract.as_ref()?;
    Some(match (c.ended_at, c.due_at) {
        (Some(e), Some(d)) => format!(
            "{}: {} of {} with an end date, the last {} {}; due {} later, on {}",
            c.column,
            c.ended,
            c.contracts,
            if e <= *at { "ended on" } else { "ends on" },
            day(&e),
            f.keep,
            day(&d)
        ),
        _ => format!(
            "{}: {} of {} with an end date",
            c.column, c.ended, c.contracts
        ),
    })
}

fn runs_line(f: &Finding) -> Option<String> {
    let first = f.runs.first()?;
    let more = f.runs_total.saturating_sub(1);
    Some(format!(
        "runs since due that changed records of this policy: {} on {}{}",
        first.run_id,
        day(&first.as_of),
        match more {
            0 => String::new(),
            1 => " and 1 later run".into(),
            n => format!(" and {n} later runs"),
        }
    ))
}

/// The terminal summary.
pub fn certificate_text(c: &Certificate, sig: &Signature) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Certificate of deletion (Verklaring van verwijdering) {}",
        c.certificate_id
    );
    let _ = writeln!(s, "subject:  {}", c.subject);
    let _ = writeln!(s, "scanned:  {}", instant(&c.issued_at));
    let _ = writeln!(s, "verdict:  {}", verdict(c));
    for f in &c.policies {
        let _ = writeln!(
            s,
            "  {} ({}, {}): {}",
            f.policy,
            f.target,
            f.action.as_str(),
            status_line(f)
        );
        for h in &f.holds {
            let _ = writeln!(
                s,
                "      {}: {} until {}; basis: {}",
                h.hold,
                count(h.held, &f.unit),
                h.until,
                h.basis
            );
        }
        if let Some(l) = contract_line(f, &c.issued_at) {
            let _ = writeln!(s, "      {l}");
        }
        if let Some(l) = runs_line(f) {
            let _ = writeln!(s, "      {l}");
        }
    }
    let _ = writeln!(s, "scope: {SCOPE}");
    let _ = writeln!(
        s,
        "audit trail: {} events verified, head {}",
        c.audit.events, c.audit.head
    );
    let _ = writeln!(
        s,
        "signed: {} key {}",
        sig.algorithm,
        crate::certificate::short_key(&sig.public_key)
    );
    s
}

/// The page a customer reads and prints.
pub fn certificate_html(c: &Certificate, sig: &Signature) -> String {
    let e = html_escape;
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>Verklaring van verwijdering<br><small>Certificate of deletion</small></h1>"
    );
    let _ = writeln!(
        b,
        "<p class=\"verdict {}\"><strong>{}</strong></p>",
        if c.complete { "complete" } else { "open" },
        e(&capitalized(&verdict(c)))
    );
    let _ = writeln!(b, "<h2>Betrokkene / Subject</h2>\n<table>");
    for (k, v) in [
        ("Subject", c.subject.to_string()),
        ("Scanned at", instant(&c.issued_at)),
        ("Certificate", c.certificate_id.clone()),
        ("Configuration", c.config_hash.clone()),
    ] {
        let _ = writeln!(b, "<tr><th>{k}</th><td><code>{}</code></td></tr>", e(&v));
    }
    let _ = writeln!(b, "</table>");
    let _ = writeln!(
        b,
        "<p>Every policy below was evaluated again against the live stores at the moment above; \
         the counts are what the stores held then, not what a log says. {}</p>",
        e(SCOPE)
    );
    let _ = writeln!(b, "<h2>Per beleid / Per policy</h2>");
    for f in &c.policies {
        let _ = writeln!(
            b,
            "<section class=\"policy\">\n<h3>{} <span class=\"status {}\">{}</span></h3>",
            e(&f.policy),
            if f.status.settled() {
                "settled"
            } else {
                "open"
            },
            e(f.status.words())
        );
        let _ = writeln!(b, "<table>");
        let mut row = |k: &str, v: String| {
            let _ = writeln!(b, "<tr><th>{k}</th><td>{v}</td></tr>");
        };
        row(
            "Data",
            format!("<code>{}</code> ({})", e(&f.target), e(&f.unit)),
        );
        row("Action", e(f.action.as_str()));
        if let Some(cl) = &f.clause {
            row("Clause", e(cl));
        }
        if let Some(p) = &f.purpose {
            row("Purpose", e(p));
        }
        row("Finding", e(&status_line(f)));
        if let Some(l) = contract_line(f, &c.issued_at) {
            row("Contract", e(&l));
        }
        for h in &f.holds {
            row(
                "Legal hold",
                format!(
                    "<strong>{}</strong>: {} until {}<br>Basis: {}",
                    e(&h.hold),
                    e(&count(h.held, &f.unit)),
                    e(&h.until),
                    e(&h.basis)
                ),
            );
        }
        if !f.runs.is_empty() {
            let list: Vec<String> = (f.runs.iter())
                .map(|r| {
                    format!(
                        "<code>{}</code> on {} ({} changed in all; event <code>{}</code>)",
                        e(&r.run_id),
                        day(&r.as_of),
                        r.changed,
                        e(crate::certificate::short_key(&r.event_hash).as_str())
                    )
                })
                .collect();
            let more = f.runs_total.saturating_sub(f.runs.len() as u64);
            row(
                "Runs",
                format!(
                    "{}{}",
                    list.join("<br>"),
                    if more > 0 {
                        format!("<br>and {more} more")
                    } else {
                        String::new()
                    }
                ),
            );
        }
        let _ = writeln!(b, "</table>\n</section>");
    }
    let _ = writeln!(b, "<h2>Audittrail / Audit trail</h2>");
    let _ = writeln!(
        b,
        "<p>{} events, every link verified at the moment of the scan. Chain head:</p>\n<pre>{}</pre>",
        c.audit.events,
        e(&c.audit.head)
    );
    let _ = writeln!(b, "<h2>Ondertekening / Signature</h2>");
    let _ = writeln!(
        b,
        "<p>Signed with {} over the certificate's canonical JSON. Check it with \
         <code>lethe certificate verify FILE.json --public-key KEY.pem</code>.</p>\n\
         <table><tr><th>Public key</th><td><code>{}</code></td></tr>\n\
         <tr><th>Signature</th><td><code class=\"wrap\">{}</code></td></tr></table>",
        e(&sig.algorithm),
        e(&sig.public_key),
        e(&sig.value)
    );
    let _ = writeln!(
        b,
        "<p class=\"note\">This certificate holds the subject's own key and value, counts, dates, policy names and legal bases: no other personal data.</p>"
    );
    page(
        &format!("Verklaring van verwijdering - {}", c.subject),
        &format!("<style>{CSS}</style>\n{b}"),
    )
}

const CSS: &str = "h1 small { font-size: .55em; color: #555; font-weight: normal; }\n\
.verdict { padding: .6rem 1rem; border-left: .4rem solid #0072B2; background: #eef5fb; }\n\
.verdict.open { border-color: #D55E00; background: #fcefe6; }\n\
.status { font-size: .8em; padding: .1rem .5rem; border-radius: .3rem; background: #e6f2ea; color: #00603a; }\n\
.status.open { background: #fcefe6; color: #8a3a00; }\n\
th { width: 11rem; vertical-align: top; }\n\
td:nth-child(n+2) { text-align: left; }\n\
.wrap { word-break: break-all; }\n\
.note { color: #555; font-size: .9em; }\n\
@media print { body { margin: 0; } section { break-inside: avoid; } }\n";

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
