//! How an anonymize policy tells a row still to be masked from one already masked, per
//! column and dialect: what keeps a pseudonym from being pseudonymized again.

use super::super::schema::Target;
use super::super::sql::{Param, Query};
use crate::model::{Action, Dialect, Ident, Strategy};

impl Target {
    /// For anonymize: rows where at least one column is not yet in its anonymized form.
    pub fn pending(&self) -> Option<Query> {
        let Action::Anonymize(strategies) = &self.policy.action else {
            return None;
        };
        let mut q = self.q();
        q.push("(");
        for (i, (name, strategy)) in strategies.iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.append(&self.column_pending(name, strategy));
        }
        q.push(")");
        Some(q)
    }

    /// One column is not yet in its masked form: it holds a value, and that value is not what
    /// the strategy leaves (see [`crate::anonymize::is_masked`], which says the same in
    /// process). Masked is per column: a column already masked is never masked again.
    pub(super) fn column_pending(&self, name: &Ident, strategy: &Strategy) -> Query {
        let mut q = self.q();
        let c = self.col(name);
        match strategy {
            Strategy::Null => {
                q.push(&format!("{c} IS NOT NULL"));
            }
            Strategy::Redact(text) => {
                q.push(&format!("({c} IS NOT NULL AND {c} <> "))
                    .bind(Param::Text(text.clone()))
                    .push(")");
            }
            Strategy::Hmac => {
                // A pseudonym: `hmac:` and 32 hex digits.
                let len = match self.dialect {
                    Dialect::MySql => "CHAR_LENGTH",
                    _ => "LENGTH",
                };
                q.push(&format!(
                    "({c} IS NOT NULL AND NOT ({c} LIKE 'hmac:%' AND {len}({c}) = {}))",
                    crate::anonymize::HMAC_LEN
                ));
            }
            Strategy::TruncateIp => {
                let t = self.ip_text(name);
                // Truncated forms: IPv4 ending in `.0`; IPv6 `a:b:c::` (ends in `::`, at most four colons).
                q.push(&format!(
                    "({c} IS NOT NULL AND NOT ({t} LIKE '%.0' OR ({t} LIKE '%::' AND {t} NOT LIKE '%:%:%:%:%:%')))"
                ));
            }
            Strategy::Year | Strategy::Month => {
                let tr = self.truncate_date(&c, strategy == &Strategy::Year);
                q.push(&format!(
                    "({c} IS NOT NULL AND ({tr} IS NULL OR {c} <> {tr}))"
                ));
            }
        }
        q
    }

    pub(super) fn ip_text(&self, name: &Ident) -> String {
        let c = self.col(name);
        if self.inet_columns.contains(name) {
            format!("host({c})")
        } else {
            c
        }
    }

    pub(super) fn truncate_date(&self, c: &str, year: bool) -> String {
        match (self.dialect, year) {
            (Dialect::Postgres, true) => format!("date_trunc('year', {c})"),
            (Dialect::Postgres, false) => format!("date_trunc('month', {c})"),
            (Dialect::MySql, true) => format!("MAKEDATE(YEAR({c}), 1)"),
            (Dialect::MySql, false) => {
                format!("DATE_SUB(DATE({c}), INTERVAL DAYOFMONTH({c}) - 1 DAY)")
            }
            (Dialect::Sqlite, y) => {
                let m = if y { "start of year" } else { "start of month" };
                format!("CASE WHEN length({c}) = 10 THEN date({c}, '{m}') ELSE datetime({c}, '{m}') END")
            }
        }
    }
}
