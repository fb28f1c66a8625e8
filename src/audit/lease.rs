//! One run at a time across machines: the run lease, and the daemon's schedule bookkeeping.
//!
//! A run that changes data (`apply`, or a scheduled run of the daemon) first takes the lease.
//! A whole run takes it exclusively; shard `I/N` takes it shared with the other shards of the
//! same N, plus its own shard exclusively, so the N shards of one night run side by side but
//! never beside a whole run or a second copy of themselves.
//!
//! - On SQLite the lease is a row per name in `lethe_lease`, taken in one write transaction and
//!   renewed while the run works; a holder that dies stops renewing, and its rows expire.
//! - On PostgreSQL it is an advisory lock held by a dedicated session: the server releases it
//!   the moment that session ends, whatever killed it.
//!
//! If the lease is lost while a run works (renewal fails), the run's stop flag is raised: it
//! finishes the current batch and stops.

use super::{AuditError, StateDb};
use crate::db::{on_pool, Pool};
use crate::model::Shard;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tracing::error;

/// How long a SQLite lease row lives without renewal.
const TTL: Duration = Duration::from_secs(60);
/// How often a held lease is renewed (SQLite) or its session checked (PostgreSQL).
const RENEW: Duration = Duration::from_secs(15);

/// Who holds a lease: host name, process id and a tag of this lease, for the messages of
/// the other runs.
pub fn holder_id() -> String {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}:{}:{}",
        crate::util::host_name(),
        std::process::id(),
        &tag[..8]
    )
}

/// This boot of this machine and this process namespace: `<boot id>/<pid namespace>`, or
/// `None` where they cannot be read (then no holder is ever taken for dead).
fn machine_id() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

/// True when `holder` ran in this very boot and process namespace, and its process no longer
/// exists: it was killed without releasing. A holder anywhere else is never taken for dead.
fn died_here(holder: &str, machine: &str, mine: Option<&str>) -> bool {
    let Some(mine) = mine else {
        return false;
    };
    let Some(pid) = holder.rsplit(':').nth(1) else {
        return false;
    };
    machine == mine
        && pid.parse::<u32>().is_ok_and(|p| p != std::process::id())
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Another run holds the lease.
#[derive(Debug, Clone)]
pub struct Busy {
    /// Who holds it, as far as the state database tells.
    pub holder: String,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "another lethe run holds the lease ({}); nothing was changed; it ends when that run finishes (a holder that died is taken over at once on PostgreSQL and in the same machine and process namespace, after {} s otherwise)",
            self.holder,
            TTL.as_secs()
        )
    }
}

/// A held lease. Release it with [`Lease::release`]; if the process dies instead, it expires
/// (SQLite) or is released by the server (PostgreSQL).
pub struct Lease {
    keeper: JoinHandle<()>,
    held: Held,
}

enum Held {
    Sqlite {
        db: StateDb,
        holder: String,
        /// How many lease rows the run holds.
        claims: u64,
    },
    Postgres {
        conn: Arc<Mutex<PgConnection>>,
        /// How many advisory locks the lease holds.
        claims: i64,
    },
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The advisory lock key of a lease name.
fn lock_key(name: &str) -> i64 {
    let d = crate::util::sha256_hex(format!("lethe lease {name}").as_bytes());
    i64::from_str_radix(&d[..15], 16).unwrap_or(0)
}

/// The lease names a run takes: `(name, mode)`.
fn claims(shard: Option<Shard>) -> Vec<(String, String)> {
    match shard {
        None => vec![("run".into(), "exclusive".into())],
        Some(s) => vec![
            ("run".into(), format!("shared:{}", s.count)),
            (format!("shard {s}"), "exclusive".into()),
        ],
    }
}

impl StateDb {
    /// Tries to take the run lease without waiting. `stop` is raised if the lease is lost
    /// later, so the run stops after its current batch.
    pub async fn try_lease(
        &self,
        shard: Option<Shard>,
        stop: Arc<AtomicBool>,
    ) -> Result<Result<Lease, Busy>, AuditError> {
        let holder = holder_id();
        let here = machine_id();
        match &self.pool {
            // The state database is never opened on MySQL (`open_with` refuses the URL).
            Pool::MySql(_) => Err(AuditError::Url),
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
                let result: Result<Result<(), Busy>, AuditError> = async {
                    let now = Utc::now();
                    sqlx::query("DELETE FROM lethe_lease WHERE expires_at < $1")
                        .bind(stamp(now))
                        .execute(&mut *conn)
                        .await?;
                    let others = sqlx::query(
                        "SELECT name, holder, mode, acquired_at, machine FROM lethe_lease WHERE holder <> $1",
                    )
                    .bind(&holder)
                    .fetch_all(&mut *conn)
                    .await?;
                    let wanted = claims(shard);
                    for row in &others {
                        let (name, who, mode, since, machine): (String, String, String, String, String) =
                            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
                        let conflict = wanted.iter().any(|(n, m)| {
                            n == &name && (m == "exclusive" || mode == "exclusive" || &mode != m)
                        });
                        if conflict && died_here(&who, &machine, here.as_deref()) {
                            // A process of this machine that no longer exists: killed
                            // without releasing. Its lease is taken over at once.
                            sqlx::query("DELETE FROM lethe_lease WHERE holder = $1")
                                .bind(&who)
                                .execute(&mut *conn)
                                .await?;
                            continue;
                        }
                        if conflict {
                            return Ok(Err(Busy {
                                holder: format!("`{who}`, {mode} `{name}` since {since}"),
                            }));
                        }
                    }
                    for (name, mode) in wanted {
                        sqlx::query(
                            "INSERT INTO lethe_lease (name, holder, machine, mode, acquired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(name)
                        .bind(&holder)
                        .bind(here.as_deref().unwrap_or("unknown"))
                        .bind(mode)
                        .bind(stamp(now))
                        .bind(stamp(now + TTL))
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(Ok(()))
                }
                .await;
                let end = if matches!(result, Ok(Ok(()))) {
                    "COMMIT"
                } else {
                    "ROLLBACK"
                };
                sqlx::query(end).execute(&mut *conn).await?;
                if let Err(busy) = result? {
                    return Ok(Err(busy));
                }
                let db = self.clone();
                let who = holder.clone();
                let keeper = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(RENEW).await;
                        let renewed = db.renew_sqlite(&who).await;
                        if !matches!(renewed, Ok(n) if n > 0) {
                            error!("the run lease was lost; stopping after the current batch");
                            stop.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                });
                Ok(Ok(Lease {
                    keeper,
                    held: Held::Sqlite {
                        db: self.clone(),
                        holder,
                        claims: claims(shard).len() as u64,
                    },
                }))
            }
            Pool::Postgres(pool) => {
                // The application name carries the shard count first (names are cut at 63
                // bytes), so that shards of another N can be told apart.
                let tag = match shard {
                    Some(s) => format!("lethe lease n={} {holder}", s.count),
                    None => format!("lethe lease {holder}"),
                };
                let opts = pool
                    .connect_options()
                    .as_ref()
                    .clone()
                    .application_name(&tag);
                let mut conn = PgConnection::connect_with(&opts).await?;
                // Admissions one at a time (held for a moment): a shard sees every lease taken
                // before it.
                let admission = lock_key("admission");
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(admission)
                    .execute(&mut conn)
                    .await?;
                let mut busy = None;
                if let Some(s) = shard {
                    let other: Option<String> = sqlx::query_scalar(
                        "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'lethe lease n=%' AND application_name NOT LIKE $1 AND pid <> pg_backend_pid() LIMIT 1",
                    )
                    .bind(format!("lethe lease n={} %", s.count))
                    .fetch_optional(&mut conn)
                    .await?;
                    if other.is_some() {
                        busy = Some(format!("shards of another count than {}", s.count));
                    }
                }
                for (name, mode) in claims(shard) {
                    if busy.is_some() {
                        break;
                    }
                    let shared = mode != "exclusive";
                    let sql = if shared {
                        "SELECT pg_try_advisory_lock_shared($1)"
                    } else {
                        "SELECT pg_try_advisory_lock($1)"
                    };
                    let key = lock_key(&name);
                    let (ok,): (bool,) = sqlx::query_as(sql).bind(key).fetch_one(&mut conn).await?;
                    if !ok {
                        busy = Some(name);
                        break;
                    }
                }
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(admission)
                    .execute(&mut conn)
                    .await?;
                if let Some(name) = busy {
                    let who: Vec<String> = sqlx::query_scalar(
                        "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'lethe lease %' AND pid <> pg_backend_pid()",
                    )
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_default();
                    let _ = conn.close().await;
                    let who: Vec<String> = who
                        .iter()
                        .map(|w| format!("`{}`", w.trim_start_matches("lethe lease ")))
                        .collect();
                    return Ok(Err(Busy {
                        holder: format!(
                            "advisory lock `{name}`, held by {}",
                            if who.is_empty() {
                                "a session lethe cannot see".to_string()
                            } else {
                                who.join(", ")
                            }
                        ),
                    }));
                }
                let conn = Arc::new(Mutex::new(conn));
                let watched = conn.clone();
                let keeper = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(RENEW).await;
                        let alive = watched.lock().await.ping().await;
                        if alive.is_err() {
                            error!("the session holding the run lease ended; stopping after the current batch");
                            stop.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                });
                Ok(Ok(Lease {
                    keeper,
                    held: Held::Postgres {
                        conn,
                        claims: claims(shard).len() as i64,
                    },
                }))
            }
        }
    }

    async fn renew_sqlite(&self, holder: &str) -> Result<u64, AuditError> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Ok(0);
        };
        let now = Utc::now();
        Ok(sqlx::query(
            "UPDATE lethe_lease SET expires_at = $1 WHERE holder = $2 AND expires_at >= $3",
        )
        .bind(stamp(now + TTL))
        .bind(holder)
        .bind(stamp(now))
        .execute(pool)
        .await?
        .rows_affected())
    }

    /// Per policy, the latest scheduled instant the daemon has accounted for.
    pub async fn last_fires(&self) -> Result<BTreeMap<String, DateTime<Utc>>, AuditError> {
        let rows: Vec<(String, String)> = on_pool!(&self.pool, pool => {
            sqlx::query_as("SELECT policy, last_fire FROM lethe_schedule")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(p, t)| {
                DateTime::parse_from_rfc3339(&t)
                    .ok()
                    .map(|t| (p, t.with_timezone(&Utc)))
            })
            .collect())
    }

    /// Records that the scheduled instant `fire` of `policy` is accounted for.
    pub async fn set_last_fire(&self, policy: &str, fire: DateTime<Utc>) -> Result<(), AuditError> {
        let sql = "INSERT INTO lethe_schedule (policy, last_fire, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (policy) DO UPDATE SET last_fire = excluded.last_fire, updated_at = excluded.updated_at";
        on_pool!(&self.pool, pool => {
            sqlx::query(sql)
                .bind(policy)
                .bind(stamp(fire))
                .bind(stamp(Utc::now()))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}

impl Lease {
    /// True when the lease is held at this moment: on PostgreSQL the lease session answers and
    /// still holds its advisory locks; on SQLite the lease row is still this run's and
    /// unexpired (and is renewed). Anything else, an error included, is not held.
    pub async fn confirm(&self) -> bool {
        match &self.held {
            Held::Sqlite { db, holder, claims } => {
                db.renew_sqlite(holder).await.is_ok_and(|n| n == *claims)
            }
            Held::Postgres { conn, claims } => {
                let mut conn = conn.lock().await;
                let held: Result<i64, _> = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()",
                )
                .fetch_one(&mut *conn)
                .await;
                held.is_ok_and(|n| n >= *claims)
            }
        }
    }

    /// Gives the lease back.
    pub async fn release(self) {
        self.keeper.abort();
        match self.held {
            Held::Sqlite { db, holder, .. } => {
                if let Pool::Sqlite(pool) = &db.pool {
                    let r = sqlx::query("DELETE FROM lethe_lease WHERE holder = $1")
                        .bind(&holder)
                        .execute(pool)
                        .await;
                    if let Err(e) = r {
                        error!(error = %crate::db::describe_db_error(&e), "cannot release the run lease; it expires on its own");
                    }
                }
            }
            Held::Postgres { conn, .. } => {
                let mut conn = conn.lock().await;
                let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
                    .execute(&mut *conn)
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_process_is_recognized_only_in_this_boot_and_namespace() {
        let me = holder_id();
        let here = machine_id();
        let h = here.as_deref();
        assert!(!died_here(&me, h.unwrap(), h));
        assert!(died_here("host:4294967290:abcd1234", h.unwrap(), h));
        // Another machine, or another process namespace of this one: never taken for dead.
        assert!(!died_here(
            "host:4294967290:abcd1234",
            "other-boot/pid:[1]",
            h
        ));
        assert!(!died_here("host:4294967290:abcd1234", "unknown", h));
        assert!(!died_here("host:4294967290:abcd1234", h.unwrap(), None));
    }

    #[test]
    fn lock_keys_differ_per_name() {
        assert_ne!(lock_key("run"), lock_key("shard 0/2"));
        assert_eq!(lock_key("run"), lock_key("run"));
    }
}
