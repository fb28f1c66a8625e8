//! Coverage: whether a policy reaches what discovery found. A column is governed by a delete
//! policy on its table (the row goes, the column with it) and by an anonymize policy that
//! lists it; an object prefix by an object policy whose prefix covers it. Only a policy that
//! enforces governs: a `dry-run` policy is named, but the data stays. What no enforcing
//! policy reaches is exempt when an `Exemption` covers it, else ungoverned.

use crate::model::{Action, ActionKind, Exemption, Ident, Mode, ObjectPolicy, RetentionPolicy};
use serde::Serialize;

crate::util::named_enum! {
    /// Whether personal data is reached by a policy.
    pub enum Status {
        /// A policy deletes or anonymizes it.
        Governed => "governed",
        /// No policy reaches it, on purpose: an exemption says why.
        Exempt => "exempt",
        /// No policy reaches it.
        Ungoverned => "ungoverned",
    }
}

/// One policy that reaches a finding, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reach {
    /// The policy.
    pub policy: String,
    /// Delete (the row or object goes) or anonymize (the column is overwritten).
    pub action: ActionKind,
    /// The anonymize strategy for the column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<&'static str>,
    /// The policy only plans (`mode: dry-run`): it changes nothing yet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// The exemption that covers a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExemptBy {
    /// The exemption's name.
    pub name: String,
    /// Why the data stays.
    pub reason: String,
}

/// The coverage of one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Governed, exempt or ungoverned.
    pub status: Status,
    /// The policies that reach it, in policy order (dry-run ones too).
    pub by: Vec<Reach>,
    /// The first exemption that covers it, in file order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt: Option<ExemptBy>,
}

impl Coverage {
    fn of(by: Vec<Reach>, exemption: Option<&Exemption>) -> Coverage {
        let status = if by.iter().any(|r| !r.dry_run) {
            Status::Governed
        } else if exemption.is_some() {
            Status::Exempt
        } else {
            Status::Ungoverned
        };
        Coverage {
            status,
            by,
            exempt: exemption.map(|e| ExemptBy {
                name: e.name.clone(),
                reason: e.reason.clone(),
            }),
        }
    }
}

/// Which policies reach a column of a table in a SQL store, and which exemption covers it.
pub fn column(
    policies: &[RetentionPolicy],
    exemptions: &[Exemption],
    store: &str,
    table: &Ident,
    col: &str,
) -> Coverage {
    let by = policies
        .iter()
        .filter(|p| p.store == store && p.table.is_discovered(table))
        .filter_map(|p| {
            let (action, strategy) = match &p.action {
                Action::Delete => (ActionKind::Delete, None),
                Action::Anonymize(columns) => columns
                    .iter()
                    .find(|(c, _)| c.as_str().eq_ignore_ascii_case(col))
                    .map(|(_, s)| (ActionKind::Anonymize, Some(s.name())))?,
            };
            Some(Reach {
                policy: p.name.clone(),
                action,
                strategy,
                dry_run: p.mode == Mode::DryRun,
            })
        })
        .collect();
    let exemption = exemptions
        .iter()
        .find(|e| e.covers_column(store, table, col));
    Coverage::of(by, exemption)
}

/// Which object policies reach every key under a prefix of an object store (those whose
/// prefix the given one starts with), and which exemption covers it.
pub fn prefix(
    policies: &[ObjectPolicy],
    exemptions: &[Exemption],
    store: &str,
    prefix: &str,
) -> Coverage {
    let by = policies
        .iter()
        .filter(|p| p.store == store && prefix.starts_with(&p.prefix))
        .map(|p| Reach {
            policy: p.name.clone(),
            action: ActionKind::Delete,
            strategy: None,
            dry_run: p.mode == Mode::DryRun,
        })
        .collect();
    let exemption = exemptions.iter().find(|e| e.covers_prefix(store, prefix));
    Coverage::of(by, exemption)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Clock, ExemptScope, Guard, Keep, Strategy};
    use std::collections::BTreeMap;

    fn policy(name: &str, table: &str, action: Action) -> RetentionPolicy {
        RetentionPolicy {
            name: name.into(),
            hash: String::new(),
            purpose: None,
            clause: None,
            store: "crm".into(),
            table: Ident::parse_table(table).unwrap(),
            key: Some(crate::model::Key::single(Ident::parse("id").unwrap())),
            clock: Clock::Column(Ident::parse("created_at").unwrap()),
            keep: Keep::parse("30d").unwrap(),
            selector: Vec::new(),
            action,
            schedule: None,
            mode: Mode::Enforce,
            guard: Guard {
                max_rows: None,
                max_fraction: None,
                set_in: Default::default(),
            },
            batch_size: 100,
            batch_target_ms: None,
            throttle: Default::default(),
            file: Default::default(),
        }
    }

    #[test]
    fn a_delete_reaches_every_column_an_anonymize_only_those_it_lists() {
        let mask = BTreeMap::from([(Ident::parse("ip").unwrap(), Strategy::TruncateIp)]);
        let policies = [
            policy("old-leads", "leads", Action::Delete),
            policy("mask-ip", "events", Action::Anonymize(mask)),
        ];
        let t = |s: &str| Ident::parse_table(s).unwrap();
        let leads = column(&policies, &[], "crm", &t("LEADS"), "email");
        assert_eq!(leads.status, Status::Governed);
        assert_eq!(leads.by[0].action, ActionKind::Delete);
        let ip = column(&policies, &[], "crm", &t("events"), "IP");
        assert_eq!(ip.by[0].strategy, Some("truncate-ip"));
        assert_eq!(
            column(&policies, &[], "crm", &t("events"), "email").status,
            Status::Ungoverned
        );
        assert_eq!(
            column(&policies, &[], "other", &t("leads"), "email").status,
            Status::Ungoverned
        );
        assert_eq!(
            column(&policies, &[], "crm", &t("archive.leads"), "email").status,
            Status::Ungoverned,
            "a table of another schema"
        );
    }

    #[test]
    fn a_dry_run_policy_does_not_govern_and_an_exemption_makes_the_rest_exempt() {
        let mut draft = policy("draft-signups", "signups", Action::Delete);
        draft.mode = Mode::DryRun;
        let t = |s: &str| Ident::parse_table(s).unwrap();
        let alone = column(&[draft.clone()], &[], "crm", &t("signups"), "email");
        assert_eq!(alone.status, Status::Ungoverned);
        assert!(alone.by[0].dry_run);
        let exemption = Exemption {
            name: "consent-proof".into(),
            store: "crm".into(),
            scope: ExemptScope::Table {
                table: t("signups"),
                columns: vec![Ident::parse("email").unwrap()],
            },
            reason: "proof of consent".into(),
        };
        let exempt = column(
            &[draft],
            std::slice::from_ref(&exemption),
            "crm",
            &t("signups"),
            "email",
        );
        assert_eq!(exempt.status, Status::Exempt);
        assert_eq!(
            exempt.exempt.as_ref().map(|e| e.name.as_str()),
            Some("consent-proof")
        );
        let enforced = policy("signups", "signups", Action::Delete);
        let both = column(&[enforced], &[exemption], "crm", &t("signups"), "email");
        assert_eq!(both.status, Status::Governed, "a policy that enforces wins");
    }
}
