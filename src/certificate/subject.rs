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
        if value == "." || value == ".." {
            return Err(format!(
                "`{value}` is not a value of `{key}` (it names a folder); {expected}"
            ));
        }
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
    /// The subject as a file name part, one per subject: `customer_id-42`. Letters, digits and
    /// `_` of the value are kept; every other byte is written `-XX` (hex), so `acme.nl` and
    /// `acme_nl` get different files.
    pub fn file_part(&self) -> String {
        let mut v = String::new();
        for b in self.value.bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => v.push(char::from(b)),
                _ => v.push_str(&format!("-{b:02x}")),
            }
        }
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
                let Clock::Join { table: related, .. } = &t.policy.clock else {
                    continue;
                };
                let Some((own, rel)) = on.iter().find(|(_, r)| r.name() == subject.key) else {
                    continue;
                };
                let store = (stores.get(&t.policy.store))
                    .ok_or_else(|| StoreError::NotConnected(t.policy.store.clone()))?;
                let mine = family(store, &t.policy.table, own).await?;
                let theirs = family(store, related, rel).await?;
                if mine != theirs {
                    return Err(ReachError::Types {
                        table: format!("{}.{own}", t.policy.table),
                        family: mine,
                        related: format!("{related}.{rel}"),
                        related_family: theirs,
                    });
                }
                let value = bind_value(mine, &format!("{}.{own}", t.policy.table), subject)?;
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
                // With a contract clock the value must be written as the related column holds
                // it: a key `exports/042/` is not customer 42's.
                if let Some(link) = (t.link.as_ref()).filter(|_| linked(t, &subject.key)) {
                    let store = (stores.get(&link.store))
                        .ok_or_else(|| StoreError::NotConnected(link.store.clone()))?;
                    let f = family(store, &link.table, &link.on).await?;
                    bind_value(f, &format!("{}.{}", link.table, link.on), subject)?;
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

fn linked(t: &ObjectTarget, key: &str) -> bool {
    matches!(&t.policy.clock, crate::model::ObjectClock::Contract { on, .. } if on.0 == key)
}

/// The family of a column, as the live schema says.
pub(super) async fn family(
    store: &SqlStore,
    table: &Ident,
    column: &Ident,
) -> Result<Family, ReachError> {
    let cols = store.columns(table).await?.unwrap_or_default();
    Ok((cols.get(column.name())).map_or(Family::Other, |c| c.family))
}

/// The subject's value bound for a column of `family`: a whole number written as one for an
/// integer column (`42`, not `042` or `+42`, which the join would also take for 42), the text
/// as it is for a text column. Any other type is refused: a certificate that cannot narrow
/// exactly to the subject's records says so rather than miss some.
fn bind_value(family: Family, column: &str, subject: &Subject) -> Result<Value, ReachError> {
    match family {
        Family::Integer => match subject.value.parse::<i64>() {
            Ok(n) if n.to_string() == subject.value => Ok(Value::Int(n)),
            _ => Err(ReachError::NotANumber {
                key: subject.key.clone(),
                column: column.to_string(),
            }),
        },
        Family::Text => Ok(Value::Text(subject.value.clone())),
        other => Err(ReachError::Type {
            column: column.to_string(),
            family: other,
        }),
    }
}

/// Why the policies reaching a subject could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The subject's value is not a whole number written plainly, for an integer column.
    #[error("the value of `{key}` must be a whole number written plainly (`42`, not `042` or `+42`): `{column}` holds whole numbers")]
    NotANumber {
        /// The subject key.
        key: String,
        /// `table.column`.
        column: String,
    },
    /// The record's column and the related column have different types: the join compares
    /// them by the database's conversion rules, which the certificate cannot follow exactly.
    #[error("cannot narrow a certificate to one subject through `{table}` ({family:?}) = `{related}` ({related_family:?}): the contract clock compares the two with the database's conversion rules; give both columns the same type, integer or text")]
    Types {
        /// `table.column` of the policy's table.
        table: String,
        /// Its type family.
        family: Family,
        /// `table.column` of the related table.
        related: String,
        /// Its type family.
        related_family: Family,
    },
    /// A key column of a type a certificate does not narrow by.
    #[error("cannot narrow a certificate to one subject through `{column}` ({family:?}): a subject key must be an integer or text column")]
    Type {
        /// `table.column`.
        column: String,
        /// Its type family.
        family: Family,
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
        assert_eq!(odd.file_part(), "customer_ref-ab-2ec-20d");
        let part = |v: &str| format!("k={v}").parse::<Subject>().unwrap().file_part();
        assert_ne!(part("acme.nl"), part("acme_nl"));
        assert_ne!(part("+42"), part("-42"));
        assert_ne!(part("a-2eb"), part("a.b"));
        for bad in [
            "42",
            "=42",
            "customer_id=",
            "a b=1",
            "x=a/b",
            "x= 1",
            "t.c=1",
            "x=.",
            "x=..",
        ] {
            assert!(bad.parse::<Subject>().is_err(), "{bad}");
        }
    }
}
