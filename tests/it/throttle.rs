//! Replication-lag throttling: between batches lethe reads the lag of the store's replicas and
//! waits while it is above `max_replica_lag`; after `max_throttle_wait` the policy stops as
//! `throttled`, never inside a batch. A replica that cannot be read counts as lagging. Tested
//! against the real PostgreSQL streaming replica that scripts/test.sh starts
//! (`LETHE_TEST_PG_REPLICA_URL`), whose replay these tests pause; `max_rows_per_second` sleeps
//! between batches to keep a rate.

use crate::support::{run, server_missing, Backend, TestDb};
use lethe::store::SqlStore;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

const ROWS: i64 = 50;
const POLICY: &str = "kind: RetentionPolicy\nname: old-leads\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\nbatch_size: 10\n";

/// Tests that pause the replica's replay, or read `pg_stat_replication` on the primary, run one
/// at a time: the replica is shared.
static REPLICA: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

/// The test replica's URL, or `None` (loudly; a failure under `CI=true`).
fn replica_url() -> Option<String> {
    match std::env::var("LETHE_TEST_PG_REPLICA_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => server_missing(
            "a PostgreSQL streaming replica (LETHE_TEST_PG_REPLICA_URL)",
            "not set",
        ),
    }
}

/// The replica's replay paused until resumed or dropped.
struct Paused {
    url: String,
}

impl Paused {
    async fn start(url: &str) -> Paused {
        replay(url, "pause").await;
        Paused { url: url.into() }
    }

    async fn resume(&self) {
        replay(&self.url, "resume").await;
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // Never leave the shared replica paused, whatever the test did.
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(replay(&url, "resume"))
        })
        .join();
    }
}

async fn replay(url: &str, what: &str) {
    let replica = SqlStore::connect("replica", url)
        .await
        .expect("connect to the replica");
    replica
        .execute_script(&format!("SELECT pg_wal_replay_{what}()"))
        .await
        .expect("pause or resume replay");
    replica.close().await;
}

async fn leads(db: &TestDb) {
    let (pk, ts) = (db.ty("pk"), db.ty("ts"));
    db.exec(&format!("CREATE TABLE leads (id {pk}, created_at {ts})"))
        .await;
    let old = db.ts("2020-01-01 00:00:00");
    let values: Vec<String> = (1..=ROWS).map(|i| format!("({i}, {old})")).collect();
    db.exec(&format!(
        "INSERT INTO leads (id, created_at) VALUES {}",
        values.join(", ")
    ))
    .await;
}

/// Lists `urls` as the replicas of the store `crm`.
fn with_replicas(cfg: &Path, urls: &[&str]) {
    let file = cfg.join("lethe.yaml");
    let text = std::fs::read_to_string(&file).expect("read lethe.yaml");
    let list: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    let text = text.replacen(
        "country: NL }",
        &format!("country: NL, replicas: [{}] }}", list.join(", ")),
        1,
    );
    std::fs::write(file, text).expect("write lethe.yaml");
}

fn set_key(cfg: &Path, key: &str, value: &str) {
    let file = cfg.join("lethe.yaml");
    let text = std::fs::read_to_string(&file).expect("read lethe.yaml");
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key}:")) {
                format!("{key}: {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(file, text.join("\n")).expect("write lethe.yaml");
}

fn ms(v: &serde_json::Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not a number of ms: {v}"))
}

/// The last `policy.applied` event of the trail.
fn applied(db: &TestDb, cfg: &Path) -> serde_json::Value {
    let events = db.audit_events(cfg);
    let e = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "policy.applied")
        .unwrap_or_else(|| panic!("no policy.applied in {events:?}"));
    e["payload"].clone()
}

/// The test replica paused with WAL waiting (the table `leads` of a fresh test database) and
/// the last transaction it replayed older than 1 s; one such test at a time.
struct Lagging {
    replica: String,
    db: TestDb,
    paused: Paused,
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

impl Lagging {
    async fn start() -> Option<Lagging> {
        let replica = replica_url()?;
        let db = TestDb::new(Backend::Postgres).await?;
        let one_at_a_time = REPLICA.lock().await;
        let paused = Paused::start(&replica).await;
        leads(&db).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Some(Lagging {
            replica,
            db,
            paused,
            _one_at_a_time: one_at_a_time,
        })
    }
}

/// Stops as `throttled` before a batch: nothing half done, the status in the report and the
/// audit trail, exit 1.
fn assert_throttled(db: &TestDb, cfg: &Path, wait_ms: u64, reason: &str) -> serde_json::Value {
    let started = Instant::now();
    let r = run(db.lethe(cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    assert_eq!(report["status"], "throttled", "{report}");
    let p = &report["policies"][0];
    let t = &p["throttle"];
    assert_eq!(t["status"], "throttled", "{p}");
    assert!(ms(&t["waited_ms"]) >= wait_ms, "{p}");
    assert!(started.elapsed() >= Duration::from_millis(wait_ms));
    let why = t["reason"].as_str().unwrap_or_default();
    assert!(why.contains(reason), "{why}");
    // No half batch: what was deleted is whole batches of 10.
    assert_eq!(ms(&p["deleted"]) % 10, 0, "{p}");
    assert!(p["errors"].is_null(), "not an error: {p}");
    let trail = applied(db, cfg);
    assert_eq!(trail["throttle"]["status"], "throttled", "{trail}");
    assert_eq!(trail["throttle"]["reason"], t["reason"], "{trail}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_throttles_the_policy_and_a_caught_up_one_lets_it_finish() {
    let Some(Lagging {
        replica,
        db,
        paused,
        _one_at_a_time,
    }) = Lagging::start().await
    else {
        return;
    };
    let cfg = db.policies(
        "max_replica_lag: 1s\nmax_throttle_wait: 2s",
        &[("leads.yaml", POLICY)],
    );
    with_replicas(&cfg, &[&replica]);
    let report = assert_throttled(&db, &cfg, 2000, "replica 1 (127.0.0.1:");
    assert_eq!(report["policies"][0]["deleted"], 0, "{report}");
    assert_eq!(db.count("SELECT count(*) FROM leads").await, ROWS);
    // The text report says so, and how to go on.
    set_key(&cfg, "max_throttle_wait", "500ms");
    let text = run(db.lethe(&cfg).args(["apply", "--yes"]));
    assert_eq!(text.code, 1, "{}", text.stderr);
    assert!(
        text.stdout.contains("lethe apply: throttled")
            && text.stdout.contains("throttled: waited")
            && text.stdout.contains("run `lethe apply` again to go on"),
        "{}",
        text.stdout
    );
    let md = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "markdown"]));
    assert!(md.stdout.contains("**Throttling**"), "{}", md.stdout);
    // `lethe check` reads the replicas too, and says why one counts as lagging.
    let check = run(db.lethe(&cfg).arg("check"));
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stdout.contains("store crm: replica 1 (127.0.0.1:"),
        "{}",
        check.stdout
    );

    // An apply that waits goes on once replay resumes.
    set_key(&cfg, "max_throttle_wait", "60s");
    let started = Instant::now();
    let child = spawn_apply(&db, &cfg);
    tokio::time::sleep(Duration::from_secs(2)).await;
    paused.resume().await;
    let report = finished(child, 0).await;
    let took = started.elapsed();
    assert_eq!(report["status"], "ok", "{report}");
    let p = &report["policies"][0];
    assert_eq!(
        (p["deleted"].as_i64(), p["remaining"].as_i64()),
        (Some(ROWS), Some(0)),
        "{p}"
    );
    let t = &p["throttle"];
    assert_eq!(t["status"], "waited", "{p}");
    let waited = ms(&t["waited_ms"]);
    assert!((1500..60_000).contains(&waited), "{p}");
    eprintln!(
        "throttle: apply waited {waited} ms for the paused replica (highest lag {:?} ms), finished in {} ms",
        t["max_lag_ms"].as_u64(),
        took.as_millis()
    );
    assert_eq!(db.count("SELECT count(*) FROM leads").await, 0);
    drop(paused);
    db.drop_db().await;
}

/// `lethe apply --yes --format json` started in the background.
fn spawn_apply(db: &TestDb, cfg: &Path) -> std::process::Child {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lethe"));
    cmd.current_dir(db.dir.path())
        .arg("--config")
        .arg(cfg)
        .args(["apply", "--yes", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("LETHE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.spawn().expect("start lethe apply")
}

/// The JSON report of a background apply, which must exit with `code`.
async fn finished(child: std::process::Child, code: i32) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("lethe apply");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("JSON")
}

/// A replica that starts lagging while a policy runs: the batches done stay done and recorded,
/// the policy stops as throttled before its next batch, and the next run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_falls_behind_mid_run_stops_the_policy_between_batches() {
    let Some(replica) = replica_url() else {
        return;
    };
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let _one_at_a_time = REPLICA.lock().await;
    leads(&db).await;
    // Batches of 10 rows, one a second.
    let cfg = db.policies(
        "max_replica_lag: 1s\nmax_throttle_wait: 1s\nmax_rows_per_second: 10",
        &[("leads.yaml", POLICY)],
    );
    with_replicas(&cfg, &[&replica]);
    let child = spawn_apply(&db, &cfg);
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.count("SELECT count(*) FROM leads").await == ROWS {
        assert!(Instant::now() < deadline, "no batch within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paused = Paused::start(&replica).await;
    let report = finished(child, 1).await;
    assert_eq!(report["status"], "throttled", "{report}");
    let p = &report["policies"][0];
    let deleted = p["deleted"].as_i64().unwrap();
    assert!((10..ROWS).contains(&deleted) && deleted % 10 == 0, "{p}");
    assert_eq!(db.count("SELECT count(*) FROM leads").await, ROWS - deleted);
    assert_eq!(p["remaining"].as_i64(), Some(ROWS - deleted), "{p}");
    let events = db.audit_events(&cfg);
    let batches = events.iter().filter(|e| e["kind"] == "batch.done").count() as i64;
    assert_eq!(batches * 10, deleted, "every batch done is recorded");
    eprintln!(
        "throttle: mid-run, {deleted} of {ROWS} rows deleted before the policy stopped as throttled ({} ms waited)",
        p["throttle"]["waited_ms"]
    );
    // The period report counts the throttled run.
    let period = run(db.lethe(&cfg).args(["report", "--format", "json"]));
    assert_eq!(period.code, 0, "{}", period.stderr);
    let totals = &period.json()["policies"][0];
    assert_eq!(totals["throttled_runs"], 1, "{totals}");
    // Once the replica catches up, the next run finishes (the backlog the replica replays
    // first holds the WAL of every test running beside this one: give it time).
    paused.resume().await;
    set_key(&cfg, "max_throttle_wait", "60s");
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let p = &r.json()["policies"][0];
    assert_eq!(
        (p["deleted"].as_i64(), p["remaining"].as_i64()),
        (Some(ROWS - deleted), Some(0)),
        "{p}"
    );
    drop(paused);
    db.drop_db().await;
}

/// Without listed replicas, PostgreSQL reads the standbys of `pg_stat_replication` on the
/// store itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_stat_replication_on_the_primary_shows_a_lagging_standby() {
    let Some(Lagging {
        db,
        paused,
        _one_at_a_time,
        ..
    }) = Lagging::start().await
    else {
        return;
    };
    // The primary measures the standby's replay lag as its replies come: write again so that
    // one comes with the lag grown past 1 s.
    db.exec("CREATE TABLE more_wal (x int); INSERT INTO more_wal VALUES (1)")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cfg = db.policies(
        "max_replica_lag: 1s\nmax_throttle_wait: 1s",
        &[("leads.yaml", POLICY)],
    );
    assert_throttled(&db, &cfg, 1000, "standby `");
    assert_eq!(db.count("SELECT count(*) FROM leads").await, ROWS);
    paused.resume().await;
    drop(paused);
    db.drop_db().await;
}

/// A replica that cannot be reached counts as lagging: the policy stops as throttled, says
/// why, and changes nothing. So does a listed "replica" that is a primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_replica_stops_the_policy_cleanly() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    leads(&db).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let cfg = db.policies(
        "max_replica_lag: 1s\nmax_throttle_wait: 1s",
        &[("leads.yaml", POLICY)],
    );
    with_replicas(
        &cfg,
        &[&format!(
            "postgres://root:secret-pw@127.0.0.1:{closed}/postgres"
        )],
    );
    let report = assert_throttled(&db, &cfg, 1000, "cannot be read");
    assert_eq!(report["policies"][0]["deleted"], 0, "{report}");
    assert!(!report.to_string().contains("secret-pw"), "{report}");
    assert_eq!(db.count("SELECT count(*) FROM leads").await, ROWS);

    its_own_replica_is_throttled(&db, "0s", "is not a standby").await;
    db.drop_db().await;
}

/// The test database listed as its own replica: a primary, so it counts as lagging and the
/// policy changes nothing.
async fn its_own_replica_is_throttled(db: &TestDb, wait: &str, reason: &str) {
    let cfg = db.policies(
        &format!("max_replica_lag: 1s\nmax_throttle_wait: {wait}"),
        &[("leads.yaml", POLICY)],
    );
    with_replicas(&cfg, &[&db.url]);
    let wait_ms = if wait.ends_with("ms") { 500 } else { 0 };
    assert_throttled(db, &cfg, wait_ms, reason);
    assert_eq!(db.count("SELECT count(*) FROM leads").await, ROWS);
}

/// A stop signal ends a wait for replicas at once: the run is `interrupted`, nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_wait_for_replicas() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    leads(&db).await;
    let cfg = db.policies(
        "max_replica_lag: 1s\nmax_throttle_wait: 10m",
        &[("leads.yaml", POLICY)],
    );
    with_replicas(&cfg, &[&db.url]);
    let child = spawn_apply(&db, &cfg);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped = Instant::now();
    crate::daemon::sigterm(&child);
    let report = finished(child, 1).await;
    assert!(stopped.elapsed() < Duration::from_secs(5), "{report}");
    assert_eq!(report["status"], "interrupted", "{report}");
    let p = &report["policies"][0];
    assert_eq!(
        (p["deleted"].as_i64(), p["interrupted"].as_bool()),
        (Some(0), Some(true)),
        "{p}"
    );
    assert_eq!(db.count("SELECT count(*) FROM leads").await, ROWS);
    db.drop_db().await;
}

/// MariaDB: a listed replica that is not one (`SHOW REPLICA STATUS` returns no row) counts as
/// lagging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_server_that_is_no_replica_counts_as_lagging() {
    let Some(db) = TestDb::new(Backend::MariaDb).await else {
        return;
    };
    leads(&db).await;
    its_own_replica_is_throttled(&db, "500ms", "is not a replica").await;
    db.drop_db().await;
}

/// `max_rows_per_second` sleeps between batches: 50 rows at 25 per second take about 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rows_per_second_keeps_the_rate() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    leads(&db).await;
    let cfg = db.policies("max_rows_per_second: 25", &[("leads.yaml", POLICY)]);
    let started = Instant::now();
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let p = &r.json()["policies"][0];
    assert_eq!(p["deleted"], ROWS, "{p}");
    assert_eq!(p["throttle"]["status"], "waited", "{p}");
    assert_eq!(p["throttle"]["waited_ms"], 0, "{p}");
    let rate = ms(&p["throttle"]["rate_wait_ms"]);
    assert!((1200..4000).contains(&rate), "{p}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    db.drop_db().await;
}

#[tokio::test]
async fn throttle_keys_are_checked_at_their_place() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let check = |settings: &str, policy: &str| {
        let cfg = db.policies(settings, &[("leads.yaml", policy)]);
        let r = run(db.lethe(&cfg).args(["check"]));
        assert_eq!(r.code, 2, "{}", r.stderr);
        r.stderr
    };
    let err = check("max_replica_lag: 5", POLICY);
    assert!(
        err.contains("lethe.yaml:5:") && err.contains("invalid `max_replica_lag` `5`"),
        "{err}"
    );
    let err = check("", &format!("{POLICY}max_throttle_wait: 2d\n"));
    assert!(
        err.contains("leads.yaml:11:") && err.contains("invalid `max_throttle_wait`"),
        "{err}"
    );
    let err = check("", &format!("{POLICY}max_rows_per_second: 0\n"));
    assert!(
        err.contains("leads.yaml:11:") && err.contains("between 1 and 1000000"),
        "{err}"
    );
    let err = check(
        "",
        "kind: LegalHold\nname: h\nbasis: a case\nstore: crm\ntable: leads\nmax_replica_lag: 5s\n",
    );
    assert!(
        err.contains("`max_replica_lag` does not belong in a LegalHold"),
        "{err}"
    );
    let cfg = db.policies("", &[("leads.yaml", POLICY)]);
    let file = cfg.join("lethe.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replacen(
        "country: NL }\n",
        "country: NL }\n  files: { kind: dir, path: /tmp, country: NL, replicas: [\"postgres://x/y\"] }\n",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let r = run(db.lethe(&cfg).args(["check"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`replicas` does not belong"),
        "{}",
        r.stderr
    );
    // A MariaDB/MySQL primary does not show its replicas' lag: list them.
    let cfg = db.policies("max_replica_lag: 5s", &[("leads.yaml", POLICY)]);
    let file = cfg.join("lethe.yaml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(&db.url, "mysql://root@127.0.0.1:1/test");
    std::fs::write(&file, text).unwrap();
    let r = run(db.lethe(&cfg).args(["check"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("leads.yaml:3:")
            && r.stderr
                .contains("`max_replica_lag` of lethe.yaml applies to this policy")
            && r.stderr.contains("list them under the store's `replicas`"),
        "{}",
        r.stderr
    );
    // A SQLite store has no replicas.
    let cfg = db.policies("", &[("leads.yaml", POLICY)]);
    with_replicas(&cfg, &["postgres://127.0.0.1/x"]);
    let r = run(db.lethe(&cfg).args(["check"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("SQLite has no replicas"), "{}", r.stderr);
    db.drop_db().await;
}
