//! Replication lag: how far behind its primary each replica of a SQL store is, read between
//! batches. A replica that cannot be read, or is not replicating, has an unknown lag, which
//! counts as lagging (fail closed).

use super::sql::SqlStore;
use crate::db::{describe_db_error, Pool};
use crate::model::{Dialect, Secret};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

/// How long connecting to a replica and reading its lag may take before it counts as
/// unreadable.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How far one replica is behind.
#[derive(Debug, Clone, PartialEq)]
pub enum Lag {
    /// Behind by this long (zero: caught up).
    Behind(Duration),
    /// The lag could not be read or the replica is not replicating; why, in lethe's words.
    /// Counts as lagging.
    Unknown(String),
}

/// The lag of one replica, named without its URL (`replica 1 (db2:5432)`, `standby
/// `walreceiver``).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaLag {
    /// The replica, for logs and reports.
    pub replica: String,
    /// Its lag.
    pub lag: Lag,
}

/// The replicas listed for a store, each with its own lazily connected pool.
#[derive(Debug, Clone, Default)]
pub struct Replicas {
    listed: Vec<Replica>,
}

#[derive(Debug, Clone)]
struct Replica {
    label: String,
    /// The pool, or why it could not be made (an unreadable URL).
    pool: Result<Pool, String>,
}

impl Replicas {
    /// Pools for the listed replica URLs. Nothing connects until the lag is read, so a
    /// replica that is down shows as unreadable then, not as a failed run.
    pub fn new(urls: &[Secret]) -> Replicas {
        let listed = (urls.iter().enumerate())
            .map(|(i, url)| Replica {
                label: format!("replica {} ({})", i + 1, host_of(url.expose())),
                pool: lazy_pool(url.expose()),
            })
            .collect();
        Replicas { listed }
    }

    /// True when no replica is listed.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Closes the replicas' pools.
    pub async fn close(&self) {
        for r in &self.listed {
            if let Ok(p) = &r.pool {
                p.close().await;
            }
        }
    }
}

/// `host:port` of a URL, without user or password: what follows the last `@` (a password
/// may hold `/`, `?` or `@` unescaped; a host holds none), up to the path.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let after_user = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = after_user.split(['/', '?']).next().unwrap_or("");
    crate::util::shorten(host)
}

fn lazy_pool(url: &str) -> Result<Pool, String> {
    let unreadable = |e: sqlx::Error| format!("its URL cannot be used: {}", describe_db_error(&e));
    match Dialect::from_url(url)? {
        Dialect::Postgres => {
            let opts = PgConnectOptions::from_str(url)
                .map_err(unreadable)?
                .application_name("lethe-lag");
            Ok(Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(READ_TIMEOUT)
                    .connect_lazy_with(opts),
            ))
        }
        Dialect::MySql => {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let opts = MySqlConnectOptions::from_str(&url).map_err(unreadable)?;
            Ok(Pool::MySql(
                MySqlPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(READ_TIMEOUT)
                    .connect_lazy_with(opts),
            ))
        }
        Dialect::Sqlite => Err("SQLite has no replicas".into()),
    }
}

/// On a PostgreSQL standby: is it one, is WAL waiting to be replayed, does a WAL receiver run,
/// and how old is the last replayed transaction. A paused replay with nothing waiting (an idle
/// primary) is not behind; with WAL waiting it is behind by the age of what it last replayed.
const PG_STANDBY: &str = "SELECT pg_is_in_recovery(), \
     COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > 0, false), \
     EXISTS (SELECT 1 FROM pg_stat_wal_receiver), \
     EXTRACT(EPOCH FROM (clock_timestamp() - pg_last_xact_replay_timestamp()))::float8";

/// On a PostgreSQL primary: every standby's measured replay lag, and whether its replay
/// position is behind the primary's WAL (unknown positions count as behind).
const PG_PRIMARY: &str = "SELECT COALESCE(application_name, ''), \
     EXTRACT(EPOCH FROM replay_lag)::float8, \
     COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) > 0, true) \
     FROM pg_stat_replication";

impl SqlStore {
    /// The lag of every replica of the store: the listed ones, or on PostgreSQL without a
    /// list every standby in `pg_stat_replication` of the store itself (none there counts as
    /// lagging: a standby that is down is not shown). Empty on SQLite.
    pub async fn replica_lags(&self) -> Vec<ReplicaLag> {
        if !self.replicas.is_empty() {
            let mut out = Vec::with_capacity(self.replicas.listed.len());
            for r in &self.replicas.listed {
                let lag = match &r.pool {
                    Ok(pool) => timed(read_replica(pool)).await,
                    Err(e) => Lag::Unknown(e.clone()),
                };
                out.push(ReplicaLag {
                    replica: r.label.clone(),
                    lag,
                });
            }
            return out;
        }
        match self.dialect {
            Dialect::Postgres => match timed_rows(self.standbys()).await {
                // A standby that is down, restarting or catching up from the archive leaves
                // the view: none at all is no proof that none lags.
                Ok(rows) if rows.is_empty() => vec![ReplicaLag {
                    replica: "pg_stat_replication".into(),
                    lag: Lag::Unknown(
                        "no standby is connected to the primary (one that is down or catching up from the archive is not shown); list the replicas under the store's `replicas`, or remove `max_replica_lag`".into(),
                    ),
                }],
                Ok(rows) => rows,
                Err(reason) => vec![ReplicaLag {
                    replica: "pg_stat_replication".into(),
                    lag: Lag::Unknown(reason),
                }],
            },
            Dialect::MySql => vec![ReplicaLag {
                replica: "replicas".into(),
                lag: Lag::Unknown(
                    "a MariaDB/MySQL primary does not show its replicas' lag: list them under the store's `replicas`".into(),
                ),
            }],
            Dialect::Sqlite => Vec::new(),
        }
    }

    /// The standbys in `pg_stat_replication`.
    async fn standbys(&self) -> Result<Vec<ReplicaLag>, String> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(PG_PRIMARY)
            .fetch_all(pool)
            .await
            .map_err(|e| format!("cannot read pg_stat_replication: {}", describe_db_error(&e)))?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get(0).map_err(|e| describe_db_error(&e))?;
                let lag: Option<f64> = row.try_get(1).map_err(|e| describe_db_error(&e))?;
                let behind: bool = row.try_get(2).map_err(|e| describe_db_error(&e))?;
                let lag = match (behind, lag) {
                    (false, _) => Lag::Behind(Duration::ZERO),
                    (true, Some(s)) => Lag::Behind(seconds(s)),
                    (true, None) => Lag::Unknown(
                        "its replay position is behind the primary (or not visible: the role needs pg_monitor) and no replay lag is measured yet".into(),
                    ),
                };
                Ok(ReplicaLag {
                    replica: format!("standby `{}`", crate::util::shorten(&name)),
                    lag,
                })
            })
            .collect()
    }
}

async fn timed(read: impl std::future::Future<Output = Lag>) -> Lag {
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| Lag::Unknown(format!("no answer within {} s", READ_TIMEOUT.as_secs())))
}

async fn timed_rows(
    read: impl std::future::Future<Output = Result<Vec<ReplicaLag>, String>>,
) -> Result<Vec<ReplicaLag>, String> {
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", READ_TIMEOUT.as_secs())))
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

async fn read_replica(pool: &Pool) -> Lag {
    let cannot =
        |e: sqlx::Error| Lag::Unknown(format!("cannot be read: {}", describe_db_error(&e)));
    match pool {
        Pool::Postgres(pool) => {
            let row = match sqlx::query(PG_STANDBY).fetch_one(pool).await {
                Ok(r) => r,
                Err(e) => return cannot(e),
            };
            let read = || -> Result<(bool, bool, bool, Option<f64>), sqlx::Error> {
                Ok((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                ))
            };
            match read() {
                Err(e) => cannot(e),
                Ok((false, ..)) => Lag::Unknown("is not a standby (not in recovery)".into()),
                Ok((true, true, _, Some(age))) => Lag::Behind(seconds(age)),
                Ok((true, true, _, None)) => Lag::Unknown(
                    "WAL is waiting to be replayed and no transaction has been replayed yet".into(),
                ),
                Ok((true, false, false, _)) => {
                    Lag::Unknown("receives no WAL from the primary (no WAL receiver runs)".into())
                }
                Ok((true, false, true, _)) => Lag::Behind(Duration::ZERO),
            }
        }
        Pool::MySql(pool) => {
            // MySQL 8.0.22+ and MariaDB 10.5+ know the first; older servers the second.
            let rows = match sqlx::raw_sql("SHOW REPLICA STATUS").fetch_all(pool).await {
                Ok(rows) => rows,
                Err(_) => match sqlx::raw_sql("SHOW SLAVE STATUS").fetch_all(pool).await {
                    Ok(rows) => rows,
                    Err(e) => return cannot(e),
                },
            };
            if rows.is_empty() {
                return Lag::Unknown(
                    "is not a replica (SHOW REPLICA STATUS returns no row)".into(),
                );
            }
            let mut worst = Duration::ZERO;
            for row in &rows {
                match behind_seconds(row) {
                    Ok(Some(s)) => worst = worst.max(Duration::from_secs(s)),
                    Ok(None) => {
                        return Lag::Unknown(
                            "is not replicating (Seconds_Behind_Master is NULL: a replication thread is stopped)".into(),
                        )
                    }
                    Err(e) => return cannot(e),
                }
            }
            Lag::Behind(worst)
        }
        Pool::Sqlite(_) => Lag::Unknown("SQLite has no replicas".into()),
    }
}

/// `Seconds_Behind_Master` (MariaDB, MySQL before 8.0.22) or `Seconds_Behind_Source`, read as
/// whatever integer or text type the server gives it.
fn behind_seconds(row: &sqlx::mysql::MySqlRow) -> Result<Option<u64>, sqlx::Error> {
    let column = ["Seconds_Behind_Master", "Seconds_Behind_Source"]
        .into_iter()
        .find(|c| row.try_column(*c).is_ok())
        .ok_or_else(|| sqlx::Error::ColumnNotFound("Seconds_Behind_Master".into()))?;
    if let Ok(v) = row.try_get::<Option<u64>, _>(column) {
        return Ok(v);
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(column) {
        return Ok(v.map(|s| s.max(0) as u64));
    }
    let text: Option<String> = row.try_get(column)?;
    Ok(text.and_then(|t| t.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_named_by_its_host_never_its_password() {
        assert_eq!(host_of("postgres://u:secret@db2:5433/app?x=1"), "db2:5433");
        assert_eq!(host_of("mysql://db3/app"), "db3");
        // A password with `/`, `?` or `@` in it, unescaped.
        assert_eq!(host_of("postgres://lethe:pa/ss@db2/app"), "db2");
        assert_eq!(host_of("postgres://lethe:p?a@s@db2:5432/app"), "db2:5432");
    }
}
