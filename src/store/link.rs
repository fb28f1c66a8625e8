//! The link from objects to SQL records: the contract-end clock of an object policy, read for a
//! page of template values at once.

use super::sql::{Param, Query, SqlStore, StoreError};
use crate::model::Ident;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What the related rows of one template value say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ends {
    /// Related rows.
    pub related: u64,
    /// Related rows whose end is known and before the cutoff.
    pub ended: u64,
}

impl Ends {
    /// Due: there is a related row, and every one has ended before the cutoff.
    pub fn due(&self) -> bool {
        self.related > 0 && self.ended == self.related
    }
}

/// The related table of an object policy's contract clock, checked against the live schema.
#[derive(Debug, Clone)]
pub struct Link {
    /// The SQL store's name.
    pub store: String,
    /// The related table.
    pub table: Ident,
    /// Its end-date column.
    pub column: Ident,
    /// The column a template value must equal.
    pub on: Ident,
    /// True when `on` holds integers (a value that is not a number has no related row).
    pub integer: bool,
}

impl SqlStore {
    /// Checks a link's table and columns; returns whether `on` holds integers.
    pub async fn check_link(
        &self,
        table: &Ident,
        column: &Ident,
        on: &Ident,
    ) -> Result<bool, String> {
        let cols = match self.columns(table).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(format!(
                    "table `{table}` not found in store `{}`",
                    self.name
                ))
            }
            Err(e) => return Err(e.to_string()),
        };
        let family = |c: &Ident| cols.get(c.as_str()).map(|c| c.family);
        use super::Family;
        // As for table policies: text holds dates only in SQLite (read as ISO-8601 there);
        // elsewhere a text end column would compare any text with the cutoff.
        let sqlite = self.dialect == crate::model::Dialect::Sqlite;
        match family(column) {
            Some(Family::Timestamp | Family::Date) => {}
            Some(Family::Untyped | Family::Text) if sqlite => {}
            Some(_) => {
                let found = cols
                    .get(column.as_str())
                    .map_or("", |c| c.sql_type.as_str());
                return Err(format!(
                    "clock column `{column}` of `{table}` is `{found}`, not a date or timestamp{}",
                    if sqlite {
                        ""
                    } else {
                        " (text holds dates only in SQLite)"
                    }
                ));
            }
            None => return Err(format!("column `{column}` not found in `{table}`")),
        }
        match family(on) {
            Some(f) => Ok(f == Family::Integer),
            None => Err(format!("column `{on}` not found in `{table}`")),
        }
    }

    /// For each distinct value: how many related rows there are and how many ended before
    /// `cutoff`. Values without a related row are absent from the result.
    pub async fn ends(
        &self,
        link: &Link,
        values: &[&str],
        cutoff: DateTime<Utc>,
    ) -> Result<HashMap<String, Ends>, StoreError> {
        let d = self.dialect;
        let params: Vec<Param> = values
            .iter()
            .filter_map(|v| match link.integer {
                true => v.parse::<i64>().ok().map(Param::Int),
                false => Some(Param::Text(v.to_string())),
            })
            .collect();
        let mut out = HashMap::new();
        if params.is_empty() {
            return Ok(out);
        }
        let t = d.quote(&link.table);
        let on = d.col(&link.table, &link.on);
        let end = d.col(&link.table, &link.column);
        for chunk in params.chunks(500) {
            let mut q = Query::new(d);
            q.push(&format!(
                "SELECT {}, CAST(COUNT(*) AS {}), CAST(SUM(CASE WHEN NOT {} AND {} < ",
                d.as_text(&on),
                text_type(d),
                d.unknown_time(&end),
                d.time_expr(&end)
            ));
            q.bind(d.time_param(cutoff));
            q.push(&format!(
                " THEN 1 ELSE 0 END) AS {}) FROM {t} WHERE {on} IN (",
                text_type(d)
            ));
            for (i, p) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.bind(p.clone());
            }
            q.push(&format!(") GROUP BY {on}"));
            for row in self.fetch_texts(&q).await? {
                let n = |i: usize| {
                    row.get(i)
                        .cloned()
                        .flatten()
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                if let Some(Some(v)) = row.first() {
                    out.insert(
                        v.clone(),
                        Ends {
                            related: n(1),
                            ended: n(2),
                        },
                    );
                }
            }
        }
        Ok(out)
    }
}

/// The dated rows of one subject: how many rows a value has, how many carry a readable time,
/// and the latest of those times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latest {
    /// Rows with the value.
    pub rows: u64,
    /// Of those, rows whose time is known.
    pub dated: u64,
    /// The latest known time, when there is one.
    pub latest: Option<DateTime<Utc>>,
}

impl SqlStore {
    /// For the rows of `table` whose `column` equals `value`: how many there are, how many have
    /// a known `time`, and the latest of those (to the second).
    pub async fn latest(
        &self,
        table: &Ident,
        column: &Ident,
        value: Param,
        time: &Ident,
    ) -> Result<Latest, StoreError> {
        let d = self.dialect;
        let t = d.col(table, time);
        // Only known times count: NULL, unreadable text and MariaDB's zero dates do not.
        let known = format!(
            "MAX(CASE WHEN {} THEN NULL ELSE {} END)",
            d.unknown_time(&t),
            d.time_expr(&t)
        );
        let epoch = match d {
            crate::model::Dialect::Postgres => {
                format!("CAST(EXTRACT(EPOCH FROM {known}) AS BIGINT)")
            }
            crate::model::Dialect::MySql => format!("CAST(UNIX_TIMESTAMP({known}) AS SIGNED)"),
            crate::model::Dialect::Sqlite => format!("CAST({known} AS INTEGER)"),
        };
        let mut q = Query::new(d);
        q.push(&format!(
            "SELECT COUNT(*), COUNT(CASE WHEN {} THEN NULL ELSE 1 END), {epoch} FROM {} WHERE {} = ",
            d.unknown_time(&t),
            d.quote(table),
            d.col(table, column)
        ));
        q.bind(value);
        Ok(latest(&self.fetch_counts(&q).await?))
    }
}

fn latest(c: &[i64]) -> Latest {
    let n = |i: usize| c.get(i).copied().unwrap_or(0).max(0) as u64;
    let dated = n(1);
    Latest {
        rows: n(0),
        dated,
        latest: (dated > 0)
            .then(|| c.get(2).and_then(|s| DateTime::from_timestamp(*s, 0)))
            .flatten(),
    }
}

fn text_type(d: crate::model::Dialect) -> &'static str {
    match d {
        crate::model::Dialect::MySql => "CHAR",
        _ => "TEXT",
    }
}
