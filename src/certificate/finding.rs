//! One policy's finding for a subject: the counts of the narrowed plan, the subject's
//! contract end, and until when each hold keeps its records.

use super::{CertificateError, ContractEnd, Finding, HeldFor, Status, Subject};
use crate::model::{ActionKind, Clock, Effect, Hold, Ident, Keep, ObjectClock, Window};
use crate::plan::{Item, PolicyPlan, Work};
use crate::store::{Family, Latest, Param, SqlStore};

pub(super) async fn finding(
    work: &Work<'_>,
    item: &Item,
    own: Option<&Ident>,
    p: &PolicyPlan,
    subject: &Subject,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Finding, CertificateError> {
    let (keep, mode, holds_of, contract) = match item {
        Item::Table(t) => {
            let contract = match &t.policy.clock {
                Clock::Join { table, on, column } => {
                    let related = on.iter().find(|(_, r)| r.name() == subject.key);
                    match related {
                        Some((_, r)) => {
                            let store = work.sql(&t.policy.store)?;
                            let l = subject_latest(store, table, r, column, subject).await?;
                            Some(contract_end(format!("{table}.{column}"), l, t.policy.keep))
                        }
                        None => None,
                    }
                }
                Clock::Column(_) => None,
            };
            (t.policy.keep, t.policy.mode, &t.holds, contract)
        }
        Item::Objects(t) => {
            let contract = match (&t.policy.clock, &t.link) {
                (ObjectClock::Contract { .. }, Some(link)) => {
                    let store = work.sql(&link.store)?;
                    let l =
                        subject_latest(store, &link.table, &link.on, &link.column, subject).await?;
                    Some(contract_end(
                        format!("{}.{}", link.table, link.column),
                        l,
                        t.policy.keep,
                    ))
                }
                _ => None,
            };
            (t.policy.keep, t.policy.mode, &t.holds, contract)
        }
    };
    let mut holds = Vec::new();
    // Only the holds that keep something of this subject: another subject's hold is not its
    // business.
    for h in p.holds.iter().filter(|h| h.held > 0) {
        let until = match holds_of.iter().find(|x| x.name == h.hold) {
            Some(hold) => until(work, item, own, hold, subject).await?,
            None => "while the object's lock lasts".into(),
        };
        holds.push(HeldFor {
            hold: h.hold.clone(),
            basis: h.basis.clone(),
            held: h.held,
            until,
        });
    }
    let remaining = p.selected;
    let waiting = remaining
        .saturating_sub(p.eligible)
        .saturating_sub(p.held)
        .saturating_sub(p.referenced);
    // The subject's records are not due yet while its contract runs, has no related row, or
    // ended less than `keep` ago: whatever was counted, nothing is settled then.
    let contract_due = contract
        .as_ref()
        .is_none_or(|c| c.due_at.is_some_and(|d| d <= now));
    let pseudonymized = (p.columns.values()).any(|c| c.effect == Effect::Pseudonymizing);
    let status = if remaining == 0 {
        Status::Deleted
    } else if p.eligible > 0 {
        Status::DueNow
    } else if !contract_due || (waiting > 0 && p.action == ActionKind::Delete) {
        Status::NotYetDue
    } else if p.referenced > 0 {
        Status::Referenced
    } else if p.action == ActionKind::Anonymize && p.held < remaining {
        match pseudonymized {
            true => Status::Pseudonymized,
            false => Status::Anonymized,
        }
    } else {
        Status::Held
    };
    Ok(Finding {
        policy: p.name.clone(),
        target: p.target.clone(),
        unit: p.unit().to_string(),
        action: p.action,
        mode,
        clause: p.clause.clone(),
        purpose: p.purpose.clone(),
        keep: keep.to_string(),
        status,
        remaining,
        due_now: p.eligible,
        held: p.held,
        holds,
        referenced: p.referenced,
        references: p.references.clone(),
        waiting,
        contract,
        runs: Vec::new(),
        runs_total: 0,
    })
}

fn contract_end(column: String, l: Latest, keep: Keep) -> ContractEnd {
    let all_ended = l.rows > 0 && l.dated == l.rows;
    let ended_at = l.latest.filter(|_| all_ended);
    ContractEnd {
        column,
        contracts: l.rows,
        ended: l.dated,
        ended_at,
        due_at: ended_at.map(|e| keep.after(e)),
    }
}

/// The subject's rows of `table` (where `column` holds its value): how many, how many with a
/// known `time`, and the latest. None at all when the value cannot be in the column (not a
/// number, for a column of whole numbers).
async fn subject_latest(
    store: &SqlStore,
    table: &Ident,
    column: &Ident,
    time: &Ident,
    subject: &Subject,
) -> Result<Latest, CertificateError> {
    let integer = super::subject::family(store, table, column).await? == Family::Integer;
    let value = match integer {
        true => subject.value.parse::<i64>().ok().map(Param::Int),
        false => Some(Param::Text(subject.value.clone())),
    };
    Ok(match value {
        Some(v) => store.latest(table, column, v, time).await?,
        None => Latest::default(),
    })
}

/// Until when a hold keeps the subject's records, in words or as a date.
async fn until(
    work: &Work<'_>,
    item: &Item,
    own: Option<&Ident>,
    hold: &Hold,
    subject: &Subject,
) -> Result<String, CertificateError> {
    Ok(match &hold.window {
        Window::Always => "released".into(),
        Window::Until(t) => t.format("%Y-%m-%d").to_string(),
        Window::Clock { clock, keep } => {
            let words = format!("{keep} after {}", clock_words(clock));
            // On a table: the date the last held record is released.
            let (Item::Table(t), Some(own), Clock::Column(c)) = (item, own, clock) else {
                return Ok(words);
            };
            let store = work.sql(&t.policy.store)?;
            let l = subject_latest(store, &t.policy.table, own, c, subject).await?;
            match l.latest {
                Some(last) if l.dated == l.rows => {
                    format!("{} ({words})", keep.after(last).format("%Y-%m-%d"))
                }
                _ => words,
            }
        }
    })
}

fn clock_words(clock: &Clock) -> String {
    match clock {
        Clock::Column(c) => c.to_string(),
        Clock::Join { table, column, .. } => format!("{table}.{column}"),
    }
}
