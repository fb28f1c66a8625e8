//! The state database: an append-only, hash-chained audit trail of every run.
//!
//! Events carry names, hashes, counts and sanitized errors: never a personal value.

mod event;
mod holds;
mod lease;

use crate::db::{on_pool, Pool};
use crate::util::sha256_hex;
pub use event::{AuditEvent, HoldAdded, HoldReleased, SelectorTrace};
pub use holds::{NewHold, RuntimeHold};
pub use lease::{holder_id, Busy, Lease};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value as Json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Errors of the state database.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The URL names no supported database.
    #[error("unsupported state database URL; expected `sqlite://...` or `postgres://...`")]
    Url,
    /// A database error, in lethe's words with the server's code (never the server's text).
    #[error("state database: {0}")]
    Db(String),
    /// `apply` found no state database: a new one would hold none of the runtime holds.
    #[error("the state database {0} does not exist yet, and `lethe apply` and `lethe daemon` never create one: a new, empty one would hold none of the runtime legal holds. If this is a first installation, run `lethe check` once to create it; otherwise point `state` at the existing one (a relative sqlite path is read from the working directory)")]
    Missing(String),
    /// A request about a hold that cannot be met (unknown id, released twice).
    #[error("{0}")]
    Hold(String),
    /// Migrations failed.
    #[error("state database migration failed: {0}")]
    Migrate(String),
    /// An event could not be written as JSON.
    #[error("cannot encode the `{0}` event: {1}")]
    Encode(&'static str, String),
    /// An event could not be appended (a full disk, a lost connection): the trail lacks it.
    #[error("cannot write the `{kind}` event to the audit trail: {why}")]
    Append {
        /// The event's kind.
        kind: String,
        /// Why (shown in the message, so not a `source`).
        why: Box<AuditError>,
    },
}

impl From<sqlx::Error> for AuditError {
    fn from(e: sqlx::Error) -> Self {
        AuditError::Db(crate::db::describe_db_error(&e))
    }
}

/// One event of the trail.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// The run it belongs to.
    pub run_id: String,
    /// When it was written (RFC 3339, UTC).
    pub at: String,
    /// What happened: `run.started`, `policy.planned`, `batch.done`, `policy.applied`, `run.finished`, ...
    pub kind: String,
    /// Details (JSON): names, counts, hashes.
    pub payload: Json,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// Hash of this event, over all the fields above.
    pub hash: String,
}

fn chain_hash(prev: &str, seq: i64, run_id: &str, at: &str, kind: &str, payload: &str) -> String {
    sha256_hex(format!("{prev}\n{seq}\n{run_id}\n{at}\n{kind}\n{payload}").as_bytes())
}

/// An event as stored: seq, run id, at, kind, payload, previous hash, hash.
type EventRow = (i64, String, String, String, String, String, String);

/// An event exactly as stored, its payload the JSON text that was hashed: what an export
/// gives, so that a reader can recompute every hash on their own
/// (SHA-256 of `prev_hash`, `seq`, `run_id`, `at`, `kind` and `payload`, joined by newlines).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// The run it belongs to.
    pub run_id: String,
    /// When it was written (RFC 3339, UTC).
    pub at: String,
    /// What happened.
    pub kind: String,
    /// Details, as the JSON text that was hashed.
    pub payload: String,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// Hash of this event.
    pub hash: String,
}

impl From<EventRow> for StoredEvent {
    fn from((seq, run_id, at, kind, payload, prev_hash, hash): EventRow) -> Self {
        StoredEvent {
            seq,
            run_id,
            at,
            kind,
            payload,
            prev_hash,
            hash,
        }
    }
}

impl From<StoredEvent> for Event {
    /// A payload that is not JSON is kept as text.
    fn from(e: StoredEvent) -> Self {
        let payload = serde_json::from_str(&e.payload).unwrap_or(Json::String(e.payload));
        Event {
            seq: e.seq,
            run_id: e.run_id,
            at: e.at,
            kind: e.kind,
            payload,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// An event from its stored row.
fn event(row: EventRow) -> Event {
    StoredEvent::from(row).into()
}

/// The result of `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Events checked.
    pub events: u64,
    /// The first event that breaks the chain, if any, and why.
    pub broken: Option<(i64, String)>,
    /// Hash of the last event (the head to compare with an external copy).
    pub head: String,
}

/// A connection to the state database.
#[derive(Debug, Clone)]
pub struct StateDb {
    pool: Pool,
}

impl StateDb {
    /// Opens (creating a SQLite file and its folder if needed) and migrates the state database.
    pub async fn open(url: &str) -> Result<StateDb, AuditError> {
        StateDb::open_with(url, true).await
    }

    /// Opens the state database; with `create` false, one that does not exist yet (or, on
    /// PostgreSQL, has no lethe tables yet) is an error rather than created.
    pub async fn open_with(url: &str, create: bool) -> Result<StateDb, AuditError> {
        let pool = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(create)
                .busy_timeout(Duration::from_secs(30))
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
            if let Some(parent) = std::path::Path::new(opts.get_filename()).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        AuditError::Db(format!("cannot create folder `{}`: {e}", parent.display()))
                    })?;
                }
            }
            let path = opts.get_filename().to_path_buf();
            if !create && !path.exists() {
                return Err(AuditError::Missing(format!("`{}`", path.display())));
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&pool)
                .await
                .map_err(|e| AuditError::Migrate(crate::db::describe_migrate_error(&e)))?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)?.application_name("lethe");
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect_with(opts)
                .await?;
            if !create {
                let (exists,): (bool,) =
                    sqlx::query_as("SELECT to_regclass('lethe_audit') IS NOT NULL")
                        .fetch_one(&pool)
                        .await?;
                if !exists {
                    return Err(AuditError::Missing("on PostgreSQL".into()));
                }
            }
            sqlx::migrate!("./migrations/postgres")
                .run(&pool)
                .await
                .map_err(|e| AuditError::Migrate(crate::db::describe_migrate_error(&e)))?;
            Pool::Postgres(pool)
        } else {
            return Err(AuditError::Url);
        };
        Ok(StateDb { pool })
    }

    /// Appends one event to the chain, atomically with respect to other writers.
    pub async fn append(
        &self,
        run_id: &str,
        kind: &str,
        payload: &Json,
    ) -> Result<Event, AuditError> {
        self.write_event(run_id, kind, payload)
            .await
            .map_err(|e| AuditError::Append {
                kind: kind.to_string(),
                why: Box::new(e),
            })
    }

    async fn write_event(
        &self,
        run_id: &str,
        kind: &str,
        payload: &Json,
    ) -> Result<Event, AuditError> {
        let payload_text = payload.to_string();
        let at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let insert = "INSERT INTO lethe_audit (seq, run_id, at, kind, payload, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let last = "SELECT seq, hash FROM lethe_audit ORDER BY seq DESC LIMIT 1";
        macro_rules! write_event {
            ($conn:expr) => {{
                let row = sqlx::query(last).fetch_optional(&mut *$conn).await?;
                let (prev_seq, prev_hash): (i64, String) = match row {
                    Some(r) => (r.try_get(0)?, r.try_get(1)?),
                    None => (0, GENESIS.to_string()),
                };
                let seq = prev_seq + 1;
                let hash = chain_hash(&prev_hash, seq, run_id, &at, kind, &payload_text);
                sqlx::query(insert)
                    .bind(seq)
                    .bind(run_id)
                    .bind(&at)
                    .bind(kind)
                    .bind(&payload_text)
                    .bind(&prev_hash)
                    .bind(&hash)
                    .execute(&mut *$conn)
                    .await?;
                Event {
                    seq,
                    run_id: run_id.to_string(),
                    at: at.clone(),
                    kind: kind.to_string(),
                    payload: payload.clone(),
                    prev_hash,
                    hash,
                }
            }};
        }
        match &self.pool {
            // The state database is never opened on MySQL (`open_with` refuses the URL).
            Pool::MySql(_) => Err(AuditError::Url),
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
                let result: Result<Event, AuditError> = async { Ok(write_event!(conn)) }.await;
                match result {
                    Ok(ev) => {
                        sqlx::query("COMMIT").execute(&mut *conn).await?;
                        Ok(ev)
                    }
                    Err(e) => {
                        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                        Err(e)
                    }
                }
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("LOCK TABLE lethe_audit IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
                let ev = write_event!(tx);
                tx.commit().await?;
                Ok(ev)
            }
        }
    }

    /// Hands every event, exactly as stored and in chain order, to `f`, reading the trail in
    /// pages: memory does not grow with its length. Stops at the first error of `f`.
    pub async fn scan<E: From<AuditError>>(
        &self,
        mut f: impl FnMut(&StoredEvent) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut after = 0;
        loop {
            let page = self.raw_page(after, 1000).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.0;
            for row in page {
                f(&StoredEvent::from(row))?;
            }
        }
    }

    /// Run-level events (`run.*`), newest last, at most `limit` runs back.
    pub async fn run_events(&self, limit: i64) -> Result<Vec<Event>, AuditError> {
        let sql = "SELECT seq, run_id, at, kind, payload, prev_hash, hash FROM lethe_audit WHERE kind LIKE 'run.%' AND run_id IN (SELECT run_id FROM lethe_audit WHERE kind = 'run.started' ORDER BY seq DESC LIMIT $1) ORDER BY seq";
        let rows: Vec<EventRow> =
            on_pool!(&self.pool, pool => sqlx::query_as(sql).bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().map(event).collect())
    }

    /// Walks the whole chain in pages and checks every link and hash.
    pub async fn verify(&self) -> Result<Verification, AuditError> {
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        let mut count = 0;
        let mut after = 0;
        loop {
            let page = self.raw_page(after, 1000).await?;
            if page.is_empty() {
                break;
            }
            for (seq, run_id, at, kind, payload, prev_hash, hash) in page {
                after = seq;
                count += 1;
                let problem = if seq != expected_seq {
                    Some(format!(
                        "expected event {expected_seq}, found {seq}: events are missing"
                    ))
                } else if prev_hash != prev {
                    Some("its previous-hash does not match the event before it".to_string())
                } else if chain_hash(&prev_hash, seq, &run_id, &at, &kind, &payload) != hash {
                    Some("its content does not match its hash: it was altered".to_string())
                } else {
                    None
                };
                if let Some(p) = problem {
                    return Ok(Verification {
                        events: count,
                        broken: Some((seq, p)),
                        head: prev,
                    });
                }
                prev = hash;
                expected_seq += 1;
            }
        }
        Ok(Verification {
            events: count,
            broken: None,
            head: prev,
        })
    }

    async fn raw_page(&self, after: i64, limit: i64) -> Result<Vec<EventRow>, AuditError> {
        let sql = "SELECT seq, run_id, at, kind, payload, prev_hash, hash FROM lethe_audit WHERE seq > $1 ORDER BY seq LIMIT $2";
        Ok(
            on_pool!(&self.pool, pool => sqlx::query_as(sql).bind(after).bind(limit).fetch_all(pool).await?),
        )
    }
}

/// A dry run as the audit trail recorded it: what a plan file must match.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedPlan {
    /// The plan's instant, as recorded.
    pub as_of: String,
    /// The configuration hash, as recorded.
    pub config_hash: String,
    /// Eligible records per policy, as recorded.
    pub eligible: std::collections::BTreeMap<String, u64>,
}

impl StateDb {
    /// The dry run that produced plan `plan_id`, if this audit trail recorded it.
    pub async fn recorded_plan(&self, plan_id: &str) -> Result<Option<RecordedPlan>, AuditError> {
        // Only a well-formed id reaches the LIKE pattern, so it holds no wildcard.
        let Ok(id) = uuid::Uuid::parse_str(plan_id) else {
            return Ok(None);
        };
        let pattern = format!("%\"plan_id\":\"{id}\"%");
        let find = "SELECT run_id, payload FROM lethe_audit WHERE kind = 'run.started' AND payload LIKE $1 ORDER BY seq";
        let rows: Vec<(String, String)> = on_pool!(&self.pool, pool => sqlx::query_as(find).bind(&pattern).fetch_all(pool).await?);
        let Some((run_id, start)) = rows.into_iter().find_map(|(run, payload)| {
            let j: Json = serde_json::from_str(&payload).ok()?;
            (j["dry_run"] == Json::Bool(true) && j["plan_id"] == Json::String(id.to_string()))
                .then_some((run, j))
        }) else {
            return Ok(None);
        };
        let planned = "SELECT payload FROM lethe_audit WHERE run_id = $1 AND kind = 'policy.planned' ORDER BY seq";
        let rows: Vec<(String,)> = on_pool!(&self.pool, pool => sqlx::query_as(planned).bind(&run_id).fetch_all(pool).await?);
        let mut eligible = std::collections::BTreeMap::new();
        for (payload,) in rows {
            let j: Json = serde_json::from_str(&payload).unwrap_or(Json::Null);
            if let (Some(name), Some(n)) = (j["name"].as_str(), j["eligible"].as_u64()) {
                eligible.insert(name.to_string(), n);
            }
        }
        Ok(Some(RecordedPlan {
            as_of: start["as_of"].as_str().unwrap_or_default().to_string(),
            config_hash: start["config_hash"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            eligible,
        }))
    }
}

/// Writes the events of one run; the run id ties them together.
#[derive(Debug, Clone)]
pub struct RunLog {
    db: StateDb,
    /// The run's id.
    pub run_id: String,
}

impl RunLog {
    /// Starts a run: a new id, and its `run.started` event.
    pub async fn start<E: AuditEvent>(db: &StateDb, started: &E) -> Result<RunLog, AuditError> {
        let run_id = uuid::Uuid::new_v4().to_string();
        db.append(&run_id, E::KIND, &started.payload()?).await?;
        Ok(RunLog {
            db: db.clone(),
            run_id,
        })
    }

    /// Appends an event to this run.
    pub async fn record<E: AuditEvent>(&self, event: &E) -> Result<(), AuditError> {
        self.db
            .append(&self.run_id, E::KIND, &event.payload()?)
            .await
            .map(|_| ())
    }
}
