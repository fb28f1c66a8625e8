//! SQL connections per dialect, parameters and execution.

use crate::policy::Ident;
use chrono::{DateTime, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

/// Errors talking to a store. Messages never carry data values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is misconfigured.
    #[error("{0}")]
    Config(String),
    /// The store could not be reached.
    #[error("cannot connect to store `{store}`: {message}")]
    Connect {
        /// Store name.
        store: String,
        /// Sanitized reason.
        message: String,
    },
    /// A statement failed.
    #[error("store `{store}`: {message}")]
    Query {
        /// Store name.
        store: String,
        /// Sanitized reason.
        message: String,
    },
}

/// The SQL dialect of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Dialect {
    /// The dialect of a connection URL.
    pub fn from_url(url: &str) -> Result<Dialect, String> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::MySql),
            _ => Err("unsupported database URL; expected one starting with `postgres://`, `mysql://`, `mariadb://` or `sqlite://`".into()),
        }
    }

    /// The dialect's name for people.
    pub fn name(&self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
            Dialect::MySql => "MySQL/MariaDB",
        }
    }

    /// Quotes an identifier (possibly `schema.table`) for this dialect.
    pub fn quote(&self, id: &Ident) -> String {
        id.as_str()
            .split('.')
            .map(|p| self.quote_part(p))
            .collect::<Vec<_>>()
            .join(".")
    }

    fn quote_part(&self, p: &str) -> String {
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

/// A row read for in-process anonymization: its key and the text of the columns to compute.
pub type FetchedRow = (KeyValue, Vec<Option<String>>);

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// A connected SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    /// The store's name in `lethe.yaml`.
    pub name: String,
    /// Its dialect.
    pub dialect: Dialect,
    pool: Pool,
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

macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
            Pool::MySql($pool) => $body,
        }
    };
}

impl SqlStore {
    /// Connects to a store. SQLite files must exist: lethe never creates a target database.
    pub async fn connect(name: &str, url: &str) -> Result<SqlStore, StoreError> {
        let dialect = Dialect::from_url(url).map_err(StoreError::Config)?;
        let err = |e: sqlx::Error| StoreError::Connect {
            store: name.to_string(),
            message: sanitize_db_error(&e),
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
        })
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        StoreError::Query {
            store: self.name.clone(),
            message: sanitize_db_error(&e),
        }
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&self, q: &Query) -> Result<u64, StoreError> {
        on_pool!(self, pool => bind_params!(sqlx::query(&q.sql), &q.params)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| self.err(e)))
    }

    /// Runs statements in one transaction; returns rows changed per statement.
    pub async fn execute_in_tx(&self, qs: &[Query]) -> Result<Vec<u64>, StoreError> {
        on_pool!(self, pool => {
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
        on_pool!(self, pool => {
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
        on_pool!(self, pool => {
            let rows = bind_params!(sqlx::query(&q.sql), &q.params)
                .fetch_all(pool)
                .await
                .map_err(|e| self.err(e))?;
            rows.iter()
                .map(|row| (0..row.len()).map(|i| row.try_get::<Option<String>, _>(i).map_err(|e| self.err(e))).collect())
                .collect()
        })
    }

    /// Runs a query returning a key (integer or text) followed by text columns.
    pub async fn fetch_keyed(
        &self,
        q: &Query,
        int_key: bool,
    ) -> Result<Vec<FetchedRow>, StoreError> {
        on_pool!(self, pool => {
            let rows = bind_params!(sqlx::query(&q.sql), &q.params)
                .fetch_all(pool)
                .await
                .map_err(|e| self.err(e))?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let key = if int_key {
                    KeyValue::Int(row.try_get::<i64, _>(0).map_err(|e| self.err(e))?)
                } else {
                    KeyValue::Text(row.try_get::<String, _>(0).map_err(|e| self.err(e))?)
                };
                let cols = (1..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i).map_err(|e| self.err(e)))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push((key, cols));
            }
            Ok(out)
        })
    }

    /// Runs a script of several statements without parameters (setup, fixtures).
    pub async fn execute_script(&self, sql: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()).map_err(|e| self.err(e)))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// A database error as it may be shown: the kind of failure and the server's code, with every
/// quoted literal masked, since servers quote offending values (`Duplicate entry '...'`).
pub fn sanitize_db_error(e: &sqlx::Error) -> String {
    let raw = match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| format!(" [{c}]")).unwrap_or_default();
            format!("{}{code}", db.message())
        }
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".into(),
        sqlx::Error::Io(io) => format!("network error: {io}"),
        sqlx::Error::Tls(_) => "TLS error".into(),
        sqlx::Error::Configuration(c) => format!("invalid connection settings: {c}"),
        other => other.to_string(),
    };
    mask_quoted(&raw)
}

fn mask_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut inside = false;
    for c in s.chars() {
        if c == '\'' {
            if inside {
                out.push_str("...'");
            } else {
                out.push('\'');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    if inside {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_literals_in_error_messages() {
        assert_eq!(
            mask_quoted("Duplicate entry 'jan@example.nl' for key 'email'"),
            "Duplicate entry '...' for key '...'"
        );
        assert_eq!(
            mask_quoted("relation \"leads\" does not exist"),
            "relation \"leads\" does not exist"
        );
    }

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
