//! SQL connections per dialect, parameters and execution.

use crate::db::{describe_db_error, on_pool, Pool};
use crate::model::{Dialect, Ident};
use chrono::{DateTime, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

/// Errors talking to a store. Messages never carry data values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration names a store that cannot be used this way.
    #[error("{0}")]
    Config(String),
    /// A policy names a store that this run did not connect.
    #[error("store `{0}` is not connected")]
    NotConnected(String),
    /// An object store request failed (S3 or a folder); the message names the request.
    #[error("{0}")]
    Objects(String),
    /// The holds could not be read again, so nothing more is changed.
    #[error("{0}")]
    Holds(String),
    /// The audit trail could not be written, so nothing more is changed.
    #[error("{0}")]
    Trail(String),
    /// Work lethe refuses to do as asked: a cutoff out of range, a key that does not advance.
    #[error("{0}")]
    Refused(String),
    /// A foreign key into a table has a table or column name lethe cannot quote, so a delete
    /// from that table could not tell which of its rows are still referenced.
    #[error("`{table}` is referenced through `{name}`, a name lethe cannot quote; rename it (letters, digits and `_`) so that lethe can tell which rows of `{table}` are still referenced")]
    UnreadableReference {
        /// The referenced table.
        table: String,
        /// The name, shortened.
        name: String,
    },
    /// The store could not be reached.
    #[error("cannot connect to store `{store}`: {message}")]
    Connect {
        /// Store name.
        store: String,
        /// Sanitized reason.
        message: String,
    },
    /// A statement failed.
    #[error("store `{store}`: {}", query_failure(.during.as_deref(), *.refused, .message))]
    Query {
        /// Store name.
        store: String,
        /// What lethe was doing, in its own words (`the delete of a batch from `leads``).
        during: Option<String>,
        /// True when the database refused the statement (a constraint, a trigger, a
        /// permission), false when the connection failed.
        refused: bool,
        /// The reason in lethe's words with the server's code: never the server's text.
        message: String,
    },
}

fn query_failure(during: Option<&str>, refused: bool, message: &str) -> String {
    match (during, refused) {
        (Some(what), true) => format!("the database refused {what}: {message}"),
        (Some(what), false) => format!("{what} failed: {message}"),
        (None, true) => format!("the database refused the statement: {message}"),
        (None, false) => message.to_string(),
    }
}

impl StoreError {
    /// Says what lethe was doing when a statement failed (`the update of a batch of `leads``).
    pub fn during(self, what: impl Into<String>) -> StoreError {
        match self {
            StoreError::Query {
                store,
                refused,
                message,
                ..
            } => StoreError::Query {
                store,
                during: Some(what.into()),
                refused,
                message,
            },
            other => other,
        }
    }
}

impl Dialect {
    /// Quotes an identifier (possibly `schema.table`) for this dialect.
    pub fn quote(&self, id: &Ident) -> String {
        id.as_str()
            .split('.')
            .map(|p| self.quote_part(p))
            .collect::<Vec<_>>()
            .join(".")
    }

    pub(super) fn quote_part(&self, p: &str) -> String {
        match self {
            Dialect::MySql => format!("`{}`", p.replace('`', "``")),
            _ => format!("\"{}\"", p.replace('"', "\"\"")),
        }
    }

    /// `table.column`, quoted.
    pub fn col(&self, table: &Ident, column: &Ident) -> String {
        format!("{}.{}", self.quote(table), self.quote_part(column.as_str()))
    }

    /// An expression that turns a clock column into something comparable with a time parameter.
    pub fn time_expr(&self, col: &str) -> String {
        match self {
            // Only ISO-8601 text is a readable time; a number would be taken for a Julian day.
            Dialect::Sqlite => {
                format!("(CASE WHEN typeof({col}) = 'text' THEN unixepoch({col}, 'subsec') END)")
            }
            _ => col.to_string(),
        }
    }

    /// SQL for "this time value is missing or unreadable".
    pub fn unknown_time(&self, col: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{} IS NULL", self.time_expr(col)),
            Dialect::Postgres => format!("{col} IS NULL"),
            // MariaDB/MySQL may hold zero dates (`0000-00-00`) in non-strict mode.
            Dialect::MySql => format!("({col} IS NULL OR {col} < '0001-01-01')"),
        }
    }

    /// An expression reading any column as text.
    pub fn as_text(&self, col: &str) -> String {
        match self {
            Dialect::MySql => format!("CAST({col} AS CHAR)"),
            _ => format!("CAST({col} AS TEXT)"),
        }
    }

    /// The parameter a time is bound as, matching `time_expr`.
    pub fn time_param(&self, t: DateTime<Utc>) -> Param {
        match self {
            Dialect::Sqlite => Param::Float(t.timestamp_millis() as f64 / 1000.0),
            _ => Param::Time(t),
        }
    }
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// Integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Boolean.
    Bool(bool),
    /// Float (SQLite epoch seconds).
    Float(f64),
    /// A UTC instant.
    Time(DateTime<Utc>),
    /// A NULL text.
    Null,
}

/// SQL text plus its parameters, in placeholder order.
#[derive(Debug, Clone)]
pub struct Query {
    dialect: Dialect,
    /// The SQL text with placeholders.
    pub sql: String,
    /// The parameters.
    pub params: Vec<Param>,
}

impl Query {
    /// An empty query for a dialect.
    pub fn new(dialect: Dialect) -> Query {
        Query {
            dialect,
            sql: String::new(),
            params: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }

    /// Appends a placeholder bound to `p`.
    pub fn bind(&mut self, p: Param) -> &mut Self {
        self.params.push(p);
        match self.dialect {
            Dialect::Postgres => {
                let n = self.params.len();
                self.sql.push_str(&format!("${n}"));
            }
            _ => self.sql.push('?'),
        }
        self
    }

    /// Appends another query's text and parameters (renumbering for PostgreSQL).
    pub fn append(&mut self, other: &Query) -> &mut Self {
        if self.dialect != Dialect::Postgres {
            self.sql.push_str(&other.sql);
            self.params.extend(other.params.iter().cloned());
            return self;
        }
        // Rewrite $n placeholders of `other` with an offset.
        let offset = self.params.len();
        let mut chars = other.sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                let n: usize = n.parse().unwrap_or(0);
                self.sql.push_str(&format!("${}", n + offset));
            } else {
                self.sql.push(c);
            }
        }
        self.params.extend(other.params.iter().cloned());
        self
    }
}

/// A key value read back from a table (for keyset pagination of in-process anonymization).
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    /// Integer key.
    Int(i64),
    /// Text (or uuid, read as text) key.
    Text(String),
}

impl From<KeyValue> for Param {
    fn from(k: KeyValue) -> Param {
        match k {
            KeyValue::Int(i) => Param::Int(i),
            KeyValue::Text(s) => Param::Text(s),
        }
    }
}

/// The key of one row: a value per key column, in key order (one for a single-column key).
#[derive(Debug, Clone, PartialEq)]
pub struct RowKey(pub Vec<KeyValue>);

impl RowKey {
    /// The key of a single-column key.
    pub fn single(value: KeyValue) -> RowKey {
        RowKey(vec![value])
    }

    /// The values, in key order.
    pub fn values(&self) -> &[KeyValue] {
        &self.0
    }
}

/// A row read for in-process anonymization: its key and the text of the columns to compute.
pub type FetchedRow = (RowKey, Vec<Option<String>>);

/// A connected SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    /// The store's name in `lethe.yaml`.
    pub name: String,
    /// Its dialect.
    pub dialect: Dialect,
    pub(super) pool: Pool,
    /// The replicas whose lag is read between batches.
    pub(super) replicas: super::lag::Replicas,
}

macro_rules! bind_params {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                Param::Int(v) => q.bind(*v),
                Param::Text(v) => q.bind(v.clone()),
                Param::Bool(v) => q.bind(*v),
                Param::Float(v) => q.bind(*v),
                Param::Time(v) => q.bind(*v),
                Param::Null => q.bind(Option::<String>::None),
            };
        }
        q
    }};
}

impl SqlStore {
    /// Connects to a store. SQLite files must exist: lethe never creates a target database.
    pub async fn connect(name: &str, url: &str) -> Result<SqlStore, StoreError> {
        let dialect = Dialect::from_url(url).map_err(StoreError::Config)?;
        let err = |e: sqlx::Error| StoreError::Connect {
            store: name.to_string(),
            message: describe_db_error(&e),
        };
        let timeout = Duration::from_secs(10);
        let pool = match dialect {
            Dialect::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(err)?
                    .create_if_missing(false)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(timeout)
                        .connect_with(opts)
                        .await
                        .map_err(err)?,
                )
            }
            Dialect::Postgres => {
                let opts = PgConnectOptions::from_str(url)
                    .map_err(err)?
                    .application_name("lethe")
                    .options([("TimeZone", "UTC")]);
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(timeout)
                        .connect_with(opts)
                        .await
                        .map_err(err)?,
                )
            }
            Dialect::MySql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                let opts = MySqlConnectOptions::from_str(&url)
                    .map_err(err)?
                    .timezone(Some("+00:00".into()));
                Pool::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(timeout)
                        .connect_with(opts)
                        .await
                        .map_err(err)?,
                )
            }
        };
        Ok(SqlStore {
            name: name.to_string(),
            dialect,
            pool,
            replicas: Default::default(),
        })
    }

    /// True when replicas are listed for the store.
    pub fn lists_replicas(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// The store with the replicas listed for it (connected when their lag is first read).
    pub fn with_replicas(mut self, urls: &[crate::model::Secret]) -> SqlStore {
        self.replicas = super::lag::Replicas::new(urls);
        self
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        StoreError::Query {
            store: self.name.clone(),
            during: None,
            refused: matches!(e, sqlx::Error::Database(_)),
            message: describe_db_error(&e),
        }
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&self, q: &Query) -> Result<u64, StoreError> {
        on_pool!(&self.pool, pool => bind_params!(sqlx::query(&q.sql), &q.params)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| self.err(e)))
    }

    /// Runs statements in one transaction; returns rows changed per statement.
    pub async fn execute_in_tx(&self, qs: &[Query]) -> Result<Vec<u64>, StoreError> {
        on_pool!(&self.pool, pool => {
            let mut tx = pool.begin().await.map_err(|e| self.err(e))?;
            let mut out = Vec::with_capacity(qs.len());
            for q in qs {
                let r = bind_params!(sqlx::query(&q.sql), &q.params)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                out.push(r.rows_affected());
            }
            tx.commit().await.map_err(|e| self.err(e))?;
            Ok(out)
        })
    }

    /// Runs a query returning one row of integer columns.
    pub async fn fetch_counts(&self, q: &Query) -> Result<Vec<i64>, StoreError> {
        on_pool!(&self.pool, pool => {
            let row = bind_params!(sqlx::query(&q.sql), &q.params)
                .fetch_one(pool)
                .await
                .map_err(|e| self.err(e))?;
            (0..row.len())
                .map(|i| row.try_get::<Option<i64>, _>(i).map(|v| v.unwrap_or(0)).map_err(|e| self.err(e)))
                .collect()
        })
    }

    /// Runs a query returning rows of text columns (NULL as `None`).
    pub async fn fetch_texts(&self, q: &Query) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        on_pool!(&self.pool, pool => {
            let rows = bind_params!(sqlx::query(&q.sql), &q.params)
                .fetch_all(pool)
                .await
                .map_err(|e| self.err(e))?;
            rows.iter()
                .map(|row| (0..row.len()).map(|i| row.try_get::<Option<String>, _>(i).map_err(|e| self.err(e))).collect())
                .collect()
        })
    }

    /// Runs a query returning the key columns (integer where `int_key` says so, else text)
    /// followed by text columns.
    pub async fn fetch_keyed(
        &self,
        q: &Query,
        int_key: &[bool],
    ) -> Result<Vec<FetchedRow>, StoreError> {
        on_pool!(&self.pool, pool => {
            let rows = bind_params!(sqlx::query(&q.sql), &q.params)
                .fetch_all(pool)
                .await
                .map_err(|e| self.err(e))?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut key = Vec::with_capacity(int_key.len());
                // A NULL key would be read as 0 or "" and page, or join, onto another row.
                let null = || {
                    StoreError::Refused(
                        "a key column holds NULL, so its rows cannot be told apart; nothing more is changed (declare the key columns NOT NULL)".to_string(),
                    )
                };
                for (i, int) in int_key.iter().enumerate() {
                    key.push(if *int {
                        let v = row.try_get::<Option<i64>, _>(i).map_err(|e| self.err(e))?;
                        KeyValue::Int(v.ok_or_else(null)?)
                    } else {
                        let v = row.try_get::<Option<String>, _>(i).map_err(|e| self.err(e))?;
                        KeyValue::Text(v.ok_or_else(null)?)
                    });
                }
                let cols = (int_key.len()..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i).map_err(|e| self.err(e)))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push((RowKey(key), cols));
            }
            Ok(out)
        })
    }

    /// Runs a script of several statements without parameters (setup, fixtures).
    pub async fn execute_script(&self, sql: &str) -> Result<(), StoreError> {
        on_pool!(&self.pool, pool => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()).map_err(|e| self.err(e)))
    }

    /// Closes the pool and the replicas' pools.
    pub async fn close(&self) {
        on_pool!(&self.pool, pool => pool.close().await);
        self.replicas.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_per_dialect() {
        let t = Ident::parse_table("crm.leads").unwrap();
        assert_eq!(Dialect::Postgres.quote(&t), "\"crm\".\"leads\"");
        assert_eq!(Dialect::MySql.quote(&t), "`crm`.`leads`");
    }

    #[test]
    fn appends_with_renumbering() {
        let mut a = Query::new(Dialect::Postgres);
        a.push("a = ").bind(Param::Int(1));
        let mut b = Query::new(Dialect::Postgres);
        b.push(" AND b = ").bind(Param::Int(2));
        a.append(&b);
        assert_eq!(a.sql, "a = $1 AND b = $2");
    }
}
