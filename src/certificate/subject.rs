//! The subject of a certificate: `customer_id=42`, the join key that contract-end policies use,
//! and which policies reach it.

use crate::model::{Clock, Condition, Ident, Test, Value};
use crate::plan::{Item, ObjectTarget};
use crate::store::{Family, SqlStore, StoreError};
use std::collections::BTreeMap;

/// Longest subject value accepted.
const MAX_VALUE: usize = 128;

/// Whose records a certificate covers: a join key and its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Subject {
    /// The join key, e.g. `customer_id`: the related table's column of a contract clock, or a
    /// key template variable.
    pub key: String,
    /// Its value, e.g. `42`.
    pub value: String,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

impl std::str::FromStr for Subject {
    type Err = String;

    /// Parses `KEY=VALUE`: an identifier, `=`, and a value of 1 to 128 printable characters
    /// without `/` (a key template variable never holds one).
    fn from_str(s: &str) -> Result<Subject, String> {
        let expected = "expected KEY=VALUE, the join key of the contract-end policies and its value, e.g. `customer_id=42`";
        let Some((key, value)) = s.split_once('=') else {
            return Err(format!("`{}`: {expected}", crate::util::shorten(s)));
        };
        let key = key.trim();
        if Ident::parse(key).is_err() || key.contains('.') {
            return Err(format!(
                "`{}` is not a column name; {expected}",
                crate::util::shorten(key)
            ));
        }
        let bad = |c: char| c.is_control() || c == '/';
        if value.is_empty()
            || value.chars().count() > MAX_VALUE
            || value.chars().any(bad)
            || value.trim() != value
        {
            return Err(format!(
                "the value of `{key}` must be 1 to {MAX_VALUE} printable characters without `/` or surrounding spaces; {expected}"
            ));
        }
        Ok(Subject {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

impl Subject {
    /// The value as a file name part: letters, digits, `-` and `_` kept, anything else as `_`.
    pub fn file_part(&self) -> String {
        let v: String = (self.value.chars())
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                _ => '_',
            })
            .collect();
        format!("{}-{v}", self.key)
    }
}

/// A policy that reaches the subject, narrowed to the subject's records.
pub struct Reached {
    /// The narrowed policy.
    pub item: Item,
    /// Table policies: the record's column that holds the subject's value, and the related
    /// table, its column and end column (the contract clock).
    pub column: Option<Ident>,
}

/// The join keys the policies in `items` offer, for a message naming what a subject may be.
pub fn subject_keys(items: &[Item]) -> Vec<String> {
    let mut keys: Vec<String> = items.iter().flat_map(keys_of).collect();
    keys.sort();
    keys.dedup();
    keys
}

fn keys_of(item: &Item) -> Vec<String> {
    match item {
        Item::Table(t) => match &t.policy.clock {
            Clock::Join { on, .. } => on.iter().map(|(_, r)| r.name().to_string()).collect(),
            Clock::Column(_) => Vec::new(),
        },
        Item::Objects(t) => match &t.policy.template {
            Some(tpl) => tpl.variables().iter().map(|v| v.to_string()).collect(),
            None => Vec::new(),
        },
    }
}

/// Every policy of `items` that reaches `subject`, narrowed to its records: a table policy
/// whose contract clock joins on a related column named like the subject's key gets a
/// selector condition on its own column; an object policy whose key template has the
/// subject's key as a variable is listed under the template's head with that value and judges
/// only keys that carry it.
pub async fn reach(
    items: &[Item],
    stores: &BTreeMap<String, SqlStore>,
    subject: &Subject,
) -> Result<Vec<Reached>, ReachError> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Table(t) => {
                let Clock::Join { on, .. } = &t.policy.clock else {
                    continue;
                };
                let Some((own, _)) = on.iter().find(|(_, r)| r.name() == subject.key) else {
                    continue;
                };
                let store = (stores.get(&t.policy.store))
                    .ok_or_else(|| StoreError::NotConnected(t.policy.store.clone()))?;
                let value = bind_value(store, &t.policy.table, own, subject).await?;
                let mut narrowed = t.clone();
                narrowed.policy.selector.push(Condition {
                    column: own.clone(),
                    test: Test::Eq(value),
                });
                out.push(Reached {
                    item: Item::Table(narrowed),
                    column: Some(own.clone()),
                });
            }
            Item::Objects(t) => {
                let Some(tpl) = &t.policy.template else {
                    continue;
                };
                if !tpl.variables().contains(&subject.key.as_str()) {
                    continue;
                }
                let mut narrowed: ObjectTarget = t.clone();
                narrowed.policy.prefix = tpl.head_with(&subject.key, &subject.value);
                narrowed.only = Some((subject.key.clone(), subject.value.clone()));
                out.push(Reached {
                    item: Item::Objects(narrowed),
                    column: None,
                });
            }
        }
    }
    Ok(out)
}

/// The subject's value bound as the column holds it: an integer column takes a number only.
async fn bind_value(
    store: &SqlStore,
    table: &Ident,
    column: &Ident,
    subject: &Subject,
) -> Result<Value, ReachError> {
    let cols = store.columns(table).await?.unwrap_or_default();
    let integer = cols
        .get(column.name())
        .is_some_and(|c| c.family == Family::Integer);
    if !integer {
        return Ok(Value::Text(subject.value.clone()));
    }
    subject
        .value
        .parse::<i64>()
        .map(Value::Int)
        .map_err(|_| ReachError::NotANumber {
            key: subject.key.clone(),
            table: table.to_string(),
            column: column.to_string(),
        })
}

/// Why the policies reaching a subject could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The subject's value cannot be in an integer column.
    #[error(
        "the value of `{key}` is not a whole number, but `{table}`.`{column}` holds whole numbers"
    )]
    NotANumber {
        /// The subject key.
        key: String,
        /// The table.
        table: String,
        /// Its column.
        column: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_subjects() {
        let s: Subject = "customer_id=42".parse().unwrap();
        assert_eq!((s.key.as_str(), s.value.as_str()), ("customer_id", "42"));
        assert_eq!(s.file_part(), "customer_id-42");
        let odd: Subject = "customer_ref=ab.c d".parse().unwrap();
        assert_eq!(odd.file_part(), "customer_ref-ab_c_d");
        for bad in [
            "42",
            "=42",
            "customer_id=",
            "a b=1",
            "x=a/b",
            "x= 1",
            "t.c=1",
        ] {
            assert!(bad.parse::<Subject>().is_err(), "{bad}");
        }
    }
}
