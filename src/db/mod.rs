//! Database plumbing shared by the stores and the state database: the connection pool of each
//! dialect, the macro that runs one body on whichever pool is open, and error sanitising.

use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

/// A connection pool of one of the dialects lethe speaks.
#[derive(Debug, Clone)]
pub enum Pool {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
    /// MySQL or MariaDB.
    MySql(MySqlPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$pool_expr` (a [`Pool`]) holds. The body
/// is compiled once per dialect, so it must be written with sqlx's generic API.
macro_rules! on_pool {
    ($pool_expr:expr, $pool:ident => $body:expr) => {
        match $pool_expr {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
            $crate::db::Pool::MySql($pool) => $body,
        }
    };
}

pub(crate) use on_pool;

impl Pool {
    /// Closes every connection of the pool.
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
}
