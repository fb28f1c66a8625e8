//! Checked SQL identifiers.

use serde::Serialize;
use std::fmt;

/// A table or column name from a policy: letters, digits, `_` and `$`, not starting with a
/// digit, optionally `schema.table`. It is also checked against the live schema before use
/// and always quoted per dialect, so nothing from a policy reaches SQL unquoted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Ident(String);

impl Ident {
    /// Parses a plain (unqualified) identifier.
    pub fn parse(s: &str) -> Result<Ident, String> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if ok {
            Ok(Ident(s.to_string()))
        } else {
            Err(format!(
                "invalid identifier `{}`; expected letters, digits and `_`, starting with a letter or `_`",
                crate::util::shorten(s)
            ))
        }
    }

    /// Parses a table name, optionally qualified by a schema (`schema.table`).
    pub fn parse_table(s: &str) -> Result<Ident, String> {
        match s.split_once('.') {
            Some((schema, table)) => {
                Ident::parse(schema)?;
                Ident::parse(table)?;
                Ok(Ident(s.to_string()))
            }
            None => Ident::parse(s),
        }
    }

    /// The identifier's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The schema part of a qualified name, if any.
    pub fn schema(&self) -> Option<&str> {
        self.0.split_once('.').map(|(s, _)| s)
    }

    /// The unqualified name.
    pub fn name(&self) -> &str {
        self.0.split_once('.').map_or(self.0.as_str(), |(_, n)| n)
    }

    /// True when both name the same table as far as a database could tell them apart: the
    /// same name in any case, in the same schema or with the schema left out on either side.
    pub fn same_table(&self, other: &Ident) -> bool {
        let schemas = match (self.schema(), other.schema()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        schemas && self.name().eq_ignore_ascii_case(other.name())
    }

    /// True when this configured table is the `discovered` one. Discovery names the tables of
    /// the connection's own schema bare and others with their schema; a bare configured name is
    /// in the connection's own schema, so it is not a table of another schema.
    pub fn is_discovered(&self, discovered: &Ident) -> bool {
        self.same_table(discovered) && (self.schema().is_some() || discovered.schema().is_none())
    }

    /// The alias under which a statement reads its own table a second time (`lethe_r`).
    pub fn alias() -> Ident {
        Ident("lethe_r".to_string())
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_qualified_names() {
        assert!(Ident::parse("created_at").is_ok());
        assert_eq!(Ident::parse_table("crm.leads").unwrap().name(), "leads");
        assert_eq!(
            Ident::parse_table("crm.leads").unwrap().schema(),
            Some("crm")
        );
    }

    #[test]
    fn rejects_injection_attempts() {
        for bad in [
            "leads; DROP TABLE x",
            "a\"b",
            "1abc",
            "",
            "a b",
            "x`y",
            "a.b.c",
            "a--",
        ] {
            assert!(Ident::parse_table(bad).is_err(), "{bad}");
        }
    }
}
