//! Reading a database whole, for discovery: its tables (views left out), their primary keys,
//! and a deterministic sample of their rows (the first rows by key), every value read as text.

use super::schema::{Column, Family};
use super::sql::{Param, Query, SqlStore, StoreError};
use crate::model::{Dialect, Ident};
use std::time::Duration;

/// How much of each sampled value is read: validators need far less, and free text is scanned
/// in its first part only.
pub const SAMPLED_CHARS: u32 = 4096;

/// The tables of a database as discovery reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    /// The tables, sorted, schema-qualified outside the connection's own schema.
    pub tables: Vec<Ident>,
    /// Tables whose names lethe cannot quote, left unread (counted, never named).
    pub unreadable: u64,
}

/// True for the tables lethe keeps itself (the state database, the migrations record).
pub fn is_lethes_own(table: &str) -> bool {
    let name = table
        .rsplit('.')
        .next()
        .unwrap_or(table)
        .to_ascii_lowercase();
    name.starts_with("lethe_") || name == "_sqlx_migrations"
}

/// True for columns whose values are read as text poorly or not at all: binary and spatial
/// data. Their names are judged, their values not sampled.
pub fn is_binary(column: &Column) -> bool {
    let t = column.sql_type.to_ascii_lowercase();
    column.family == Family::Other
        && [
            "blob",
            "binary",
            "bytea",
            "geometry",
            "point",
            "polygon",
            "linestring",
            "bit",
        ]
        .iter()
        .any(|b| t.contains(b))
}

impl SqlStore {
    /// Every base table of the database (views, system tables and lethe's own tables left out),
    /// sorted. On PostgreSQL every schema the connection may read; tables outside the current
    /// schema are named `schema.table`.
    pub async fn tables(&self) -> Result<Tables, StoreError> {
        let mut q = Query::new(self.dialect);
        q.push(match self.dialect {
            Dialect::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            }
            Dialect::Postgres => {
                "SELECT CASE WHEN table_schema = current_schema() THEN table_name::text ELSE table_schema::text || '.' || table_name::text END FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'"
            }
            Dialect::MySql => {
                "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
            }
        });
        let mut out = Tables::default();
        for row in self.fetch_texts(&q).await? {
            let Some(Some(name)) = row.into_iter().next() else {
                continue;
            };
            if is_lethes_own(&name) {
                continue;
            }
            match Ident::parse_table(&name) {
                Ok(t) => out.tables.push(t),
                Err(_) => out.unreadable += 1,
            }
        }
        out.tables.sort();
        Ok(out)
    }

    /// The primary key columns of a table, in key order; empty when it has none.
    pub async fn key_columns(&self, table: &Ident) -> Result<Vec<String>, StoreError> {
        let mut q = Query::new(self.dialect);
        match self.dialect {
            Dialect::Sqlite => {
                return Ok(self
                    .primary_key(table)
                    .await?
                    .into_iter()
                    .map(|c| c.as_str().to_string())
                    .collect())
            }
            Dialect::Postgres => {
                q.push("SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND i.indrelid = to_regclass(")
                    .bind(Param::Text(self.dialect.quote(table)))
                    .push(") ORDER BY array_position(i.indkey::int2[], a.attnum)");
            }
            Dialect::MySql => {
                q.push("SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE WHERE CONSTRAINT_NAME = 'PRIMARY' AND TABLE_SCHEMA = ");
                match table.schema() {
                    Some(s) => q.bind(Param::Text(s.to_string())),
                    None => q.push("DATABASE()"),
                };
                q.push(" AND TABLE_NAME = ")
                    .bind(Param::Text(table.name().to_string()))
                    .push(" ORDER BY ORDINAL_POSITION");
            }
        }
        Ok(self
            .fetch_texts(&q)
            .await?
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect())
    }

    /// The first `limit` rows of a table by `key` (by every column read, when the table has
    /// no primary key), each of `columns` read as text; `None` for NULL and for the columns
    /// marked not to be read. The same data gives the same rows every time. `None` when the
    /// read took longer than `bound`.
    pub async fn sample(
        &self,
        table: &Ident,
        columns: &[(String, bool)],
        key: &[String],
        limit: u64,
        bound: Duration,
    ) -> Result<Option<Vec<Vec<Option<String>>>>, StoreError> {
        if columns.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let d = self.dialect;
        let exprs: Vec<String> = columns
            .iter()
            .map(|(name, read)| {
                let col = d.quote_part(name);
                match (read, d) {
                    (false, _) => "NULL".to_string(),
                    // A blob may not be valid text: it is left unread.
                    (true, Dialect::Sqlite) => format!(
                        "CASE WHEN typeof({col}) = 'blob' THEN NULL ELSE CAST({col} AS TEXT) END"
                    ),
                    (true, _) => d.as_text(&col),
                }
            })
            // Memory stays bounded whatever a column holds: the start of each value is enough.
            .map(|e| {
                if e == "NULL" {
                    e
                } else {
                    format!("SUBSTR({e}, 1, {SAMPLED_CHARS})")
                }
            })
            .collect();
        let order: Vec<String> = if key.is_empty() {
            (1..=exprs.len()).map(|i| i.to_string()).collect()
        } else {
            // Qualified: a bare name would be the text column of the same name on PostgreSQL.
            key.iter()
                .map(|k| format!("{}.{}", d.quote(table), d.quote_part(k)))
                .collect()
        };
        let mut q = Query::new(d);
        q.push(&format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT {limit}",
            exprs.join(", "),
            d.quote(table),
            order.join(", ")
        ));
        match tokio::time::timeout(bound, self.fetch_texts(&q)).await {
            Ok(rows) => rows
                .map(Some)
                .map_err(|e| e.during(format!("the sample of `{table}`"))),
            Err(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lethes_own_tables_are_left_out() {
        assert!(is_lethes_own("lethe_audit"));
        assert!(is_lethes_own("state.LETHE_HOLDS"));
        assert!(is_lethes_own("_sqlx_migrations"));
        assert!(!is_lethes_own("customers"));
        assert!(!is_lethes_own("lethes"));
    }
}
