//! The policy's key in the statements: the order of keyset pages, their bounds, how key values
//! are read and bound. A composite key is compared as a row value, `(a, b) > (?, ?)`, on
//! PostgreSQL and SQLite (an index condition on PostgreSQL), and spelled out column by column on
//! MariaDB: its range optimizer reads `a > ? OR (a = ? AND b > ?)` from the primary key, while
//! it scans the whole index for the row value.

use super::super::schema::{KeyColumn, Target};
use super::super::sql::{KeyValue, Param, Query, RowKey};
use crate::model::Dialect;

/// Which side of a row key a keyset bound keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bound {
    /// The keys after it (`>`): where a page starts.
    After,
    /// The keys up to it, itself included (`<=`): where a page ends.
    UpTo,
}

impl Target {
    /// The key columns, quoted and qualified, in key order.
    pub(super) fn key_cols(&self) -> Vec<String> {
        self.key.iter().map(|k| self.col(&k.name)).collect()
    }

    /// The key columns as an `ORDER BY` list.
    pub(super) fn key_order(&self) -> String {
        self.key_cols().join(", ")
    }

    /// The key columns as read for a page: integers as 64-bit integers, the rest as text.
    pub(super) fn key_select(&self) -> Vec<String> {
        self.key
            .iter()
            .map(|k| {
                let c = self.col(&k.name);
                match (k.int, self.dialect) {
                    (true, Dialect::Postgres) => format!("CAST({c} AS BIGINT)"),
                    (true, Dialect::MySql) => format!("CAST({c} AS SIGNED)"),
                    (true, Dialect::Sqlite) => c,
                    (false, _) => self.dialect.as_text(&c),
                }
            })
            .collect()
    }

    /// Names for the key columns in a derived table: `lethe_k`, or `lethe_k0`, `lethe_k1`, ...
    pub(super) fn key_names(&self) -> Vec<String> {
        match self.key.len() {
            1 => vec!["lethe_k".to_string()],
            n => (0..n).map(|i| format!("lethe_k{i}")).collect(),
        }
    }

    /// The key columns equal to the columns `key_names` of the derived table `lethe_v`.
    pub(super) fn key_match(&self) -> String {
        (self.key.iter().zip(self.key_names()))
            .map(|(k, name)| {
                let v = format!("lethe_v.{name}");
                let v = match &k.cast {
                    Some(t) => format!("CAST({v} AS {t})"),
                    None => v,
                };
                format!("{} = {v}", self.col(&k.name))
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// A placeholder row key: shapes a statement's text, never bound to real values.
    pub(super) fn placeholder_key(&self) -> RowKey {
        RowKey(self.key.iter().map(|_| KeyValue::Int(0)).collect())
    }

    /// Appends the keyset bound `key > k` or `key <= k`, comparing the whole tuple.
    pub(super) fn push_bound(&self, q: &mut Query, bound: Bound, k: &RowKey) {
        let op = match bound {
            Bound::After => ">",
            Bound::UpTo => "<=",
        };
        let pairs: Vec<(&KeyColumn, &KeyValue)> = self.key.iter().zip(k.values()).collect();
        match (pairs.as_slice(), self.dialect) {
            ([(c, v)], _) => {
                q.push(&format!("{} {op} ", self.col(&c.name)));
                bind_key(q, c, v);
            }
            (_, Dialect::MySql) => {
                // a > ? OR (a = ? AND b > ?) ...; every column before the last is compared strictly.
                let strict = match bound {
                    Bound::After => ">",
                    Bound::UpTo => "<",
                };
                q.push("(");
                for i in 0..pairs.len() {
                    if i > 0 {
                        q.push(" OR ");
                    }
                    q.push("(");
                    for (c, v) in &pairs[..i] {
                        q.push(&format!("{} = ", self.col(&c.name)));
                        bind_key(q, c, v);
                        q.push(" AND ");
                    }
                    let (c, v) = pairs[i];
                    let this = if i + 1 == pairs.len() { op } else { strict };
                    q.push(&format!("{} {this} ", self.col(&c.name)));
                    bind_key(q, c, v);
                    q.push(")");
                }
                q.push(")");
            }
            _ => {
                q.push(&format!("({}) {op} (", self.key_order()));
                for (i, (c, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        q.push(", ");
                    }
                    bind_key(q, c, v);
                }
                q.push(")");
            }
        }
    }
}

/// Binds one key value, cast to the column's type where it is bound as text.
fn bind_key(q: &mut Query, c: &KeyColumn, v: &KeyValue) {
    match &c.cast {
        Some(t) => {
            q.push("CAST(")
                .bind(Param::from(v.clone()))
                .push(&format!(" AS {t})"));
        }
        None => {
            q.bind(Param::from(v.clone()));
        }
    }
}
