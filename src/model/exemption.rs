//! Exemptions: personal data that no policy deletes or anonymizes, on purpose and for a reason
//! a person wrote down.

use super::Ident;
use serde::Serialize;

/// A documented decision that some personal data stays: a whole table, some columns of it, or
/// the objects under a key prefix. Coverage reports it as `exempt`, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exemption {
    /// The document's name.
    pub name: String,
    /// The store.
    pub store: String,
    /// What it covers.
    pub scope: ExemptScope,
    /// Why the data stays, as the document gives it (no personal data).
    pub reason: String,
}

/// What an exemption covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemptScope {
    /// Columns of one table of a SQL store; every column when `columns` is empty.
    Table {
        /// The table.
        table: Ident,
        /// The columns (empty: all of them).
        columns: Vec<Ident>,
    },
    /// Every object whose key starts with this prefix (empty: all of them).
    Prefix(String),
}

impl Exemption {
    /// What it covers, for reports: `crm: signups (email, ip)` or `files: prefix `public/``.
    pub fn target(&self) -> String {
        match &self.scope {
            ExemptScope::Table { table, columns } if columns.is_empty() => {
                format!("{}: {table} (every column)", self.store)
            }
            ExemptScope::Table { table, columns } => {
                let cols: Vec<&str> = columns.iter().map(Ident::as_str).collect();
                format!("{}: {table} ({})", self.store, cols.join(", "))
            }
            ExemptScope::Prefix(p) => format!("{}: prefix `{p}`", self.store),
        }
    }

    /// True when it covers `column` of `table`, as discovery names them.
    pub fn covers_column(&self, store: &str, table: &Ident, column: &str) -> bool {
        match &self.scope {
            ExemptScope::Table { table: t, columns } => {
                self.store == store
                    && t.is_discovered(table)
                    && (columns.is_empty()
                        || columns
                            .iter()
                            .any(|c| c.as_str().eq_ignore_ascii_case(column)))
            }
            ExemptScope::Prefix(_) => false,
        }
    }

    /// True when it covers every key under `prefix` of an object store.
    pub fn covers_prefix(&self, store: &str, prefix: &str) -> bool {
        match &self.scope {
            ExemptScope::Prefix(p) => self.store == store && prefix.starts_with(p.as_str()),
            ExemptScope::Table { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_listed_columns_or_the_whole_table_and_prefixes_below_its_own() {
        let t = |s: &str| Ident::parse_table(s).unwrap();
        let some = Exemption {
            name: "consent-proof".into(),
            store: "crm".into(),
            scope: ExemptScope::Table {
                table: t("signups"),
                columns: vec![Ident::parse("email").unwrap()],
            },
            reason: "proof of consent".into(),
        };
        assert!(some.covers_column("crm", &t("SIGNUPS"), "Email"));
        assert!(!some.covers_column("crm", &t("signups"), "ip"));
        assert!(!some.covers_column("other", &t("signups"), "email"));
        assert!(!some.covers_column("crm", &t("archive.signups"), "email"));
        let all = Exemption {
            scope: ExemptScope::Table {
                table: t("signups"),
                columns: Vec::new(),
            },
            ..some.clone()
        };
        assert!(all.covers_column("crm", &t("signups"), "ip"));
        let files = Exemption {
            store: "files".into(),
            scope: ExemptScope::Prefix("public/".into()),
            ..some
        };
        assert!(files.covers_prefix("files", "public/logos/"));
        assert!(!files.covers_prefix("files", "private/"));
        assert!(!files.covers_column("files", &t("signups"), "email"));
    }
}
