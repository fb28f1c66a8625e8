//! Coverage: whether a policy reaches what discovery found. A column is governed by a delete
//! policy on its table (the row goes, the column with it) and by an anonymize policy that
//! lists it; an object prefix by an object policy whose prefix covers it.

use crate::model::{Action, ActionKind, Ident, ObjectPolicy, RetentionPolicy};
use serde::Serialize;

crate::util::named_enum! {
    /// Whether personal data is reached by a policy.
    pub enum Status {
        /// A policy deletes or anonymizes it.
        Governed => "governed",
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
}

/// The coverage of one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Governed or not.
    pub status: Status,
    /// The policies that reach it, in policy order.
    pub by: Vec<Reach>,
}

impl Coverage {
    fn of(by: Vec<Reach>) -> Coverage {
        Coverage {
            status: if by.is_empty() {
                Status::Ungoverned
            } else {
                Status::Governed
            },
            by,
        }
    }
}

/// Which policies reach a column of a table in a SQL store.
pub fn column(policies: &[RetentionPolicy], store: &str, table: &Ident, col: &str) -> Coverage {
    let by = policies
        .iter()
        // A policy's bare table is in the connection's own schema, where discovery names
        // tables bare too: it does not reach a table of another schema.
        .filter(|p| {
            p.store == store
                && p.table.same_table(table)
                && (p.table.schema().is_some() || table.schema().is_none())
        })
        .filter_map(|p| match &p.action {
            Action::Delete => Some(Reach {
                policy: p.name.clone(),
                action: ActionKind::Delete,
                strategy: None,
            }),
            Action::Anonymize(columns) => columns
                .iter()
                .find(|(c, _)| c.as_str().eq_ignore_ascii_case(col))
                .map(|(_, s)| Reach {
                    policy: p.name.clone(),
                    action: ActionKind::Anonymize,
                    strategy: Some(s.name()),
                }),
        })
        .collect();
    Coverage::of(by)
}

/// Which object policies reach every key under a prefix of an object store: those whose
/// prefix the given one starts with.
pub fn prefix(policies: &[ObjectPolicy], store: &str, prefix: &str) -> Coverage {
    let by = policies
        .iter()
        .filter(|p| p.store == store && prefix.starts_with(&p.prefix))
        .map(|p| Reach {
            policy: p.name.clone(),
            action: ActionKind::Delete,
            strategy: None,
        })
        .collect();
    Coverage::of(by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Clock, Guard, Keep, Mode, Strategy};
    use std::collections::BTreeMap;

    fn policy(name: &str, table: &str, action: Action) -> RetentionPolicy {
        RetentionPolicy {
            name: name.into(),
            hash: String::new(),
            purpose: None,
            clause: None,
            store: "crm".into(),
            table: Ident::parse_table(table).unwrap(),
            key: Ident::parse("id").unwrap(),
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
        let leads = column(&policies, "crm", &t("LEADS"), "email");
        assert_eq!(leads.status, Status::Governed);
        assert_eq!(leads.by[0].action, ActionKind::Delete);
        let ip = column(&policies, "crm", &t("events"), "IP");
        assert_eq!(ip.by[0].strategy, Some("truncate-ip"));
        assert_eq!(
            column(&policies, "crm", &t("events"), "email").status,
            Status::Ungoverned
        );
        assert_eq!(
            column(&policies, "other", &t("leads"), "email").status,
            Status::Ungoverned
        );
        assert_eq!(
            column(&policies, "crm", &t("archive.leads"), "email").status,
            Status::Ungoverned,
            "a table of another schema"
        );
    }
}
