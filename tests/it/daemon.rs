//! The nightly worker: `lethe daemon` on real schedules, its HTTP endpoints, SIGTERM and
//! resume, the run lease (SQLite and PostgreSQL), and `apply --shard`.

use crate::on_every_backend;
use crate::support::{run, Backend, TestDb};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn policy(extra: &str) -> String {
    format!(
        "kind: RetentionPolicy\nname: old-leads\nstore: crm\ntable: leads\nkey: id\nclock: {{ column: created_at }}\nkeep: 30d\naction: delete\nguard: {{ max_fraction: 1 }}\n{extra}"
    )
}

async fn seed_old(db: &TestDb, from: i64, to: i64) {
    let old = db.ts("2020-01-01 00:00:00");
    for chunk in (from..=to).collect::<Vec<_>>().chunks(1000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("({i}, 'new', {old})"))
            .collect();
        db.exec(&format!(
            "INSERT INTO leads (id, status, created_at) VALUES {}",
            values.join(", ")
        ))
        .await;
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET: status and body.
pub(crate) fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The value of one metric line (exact name and labels), if present.
pub(crate) fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

pub(crate) fn spawn_daemon(db: &TestDb, cfg: &Path, port: u16) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("lethe"))
        .current_dir(db.dir.path())
        .arg("--config")
        .arg(cfg)
        .args(["daemon", "--listen", &format!("127.0.0.1:{port}"), "-v"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lethe daemon")
}

pub(crate) fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}

/// Waits for the process to exit, at most `limit`; returns its code and stderr.
pub(crate) fn wait_exit(mut child: Child, limit: Duration) -> (i32, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("the daemon did not stop within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `/metrics` until `check` holds (at most 30 s); returns the last scrape.
pub(crate) fn scrape_until(port: u16, what: &str, check: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Some((200, body)) = get(port, "/metrics") {
            if check(&body) {
                return body;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("timed out waiting for {what}; last scrape:\n{body}");
            }
        } else if start.elapsed() > Duration::from_secs(30) {
            panic!("timed out waiting for {what}: /metrics does not answer");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) async fn set_last_fire(state: &str, policy: &str, at: &str) {
    let db = lethe::audit::StateDb::open(state).await.unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc();
    db.set_last_fire(policy, t).await.unwrap();
}

pub(crate) fn state_url(db: &TestDb) -> String {
    format!("sqlite://{}", db.dir.path().join("state.db").display())
}

/// Runs on its schedule, serves health, readiness and metrics, stops on SIGTERM with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_runs_on_schedule_and_serves_metrics() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    seed_old(&db, 1, 30).await;
    // Recognizable personal values: none may reach the logs or the metrics.
    db.exec("UPDATE leads SET full_name = 'Jantje Privacyvoorbeeld', email = 'jantje@privacy.example' WHERE id = 3")
        .await;
    let cfg = db.policies(
        "schedule: \"* * * * * *\"",
        &[(
            "p.yaml",
            &format!(
                "{}---\n{}",
                policy("batch_size: 7\n"),
                policy("mode: dry-run\n")
                    .replace("old-leads", "dry-leads")
                    .replace("keep: 30d", "keep: 1d")
            ),
        )],
    );
    let port = free_port();
    let daemon = spawn_daemon(&db, &cfg, port);
    let body = scrape_until(port, "30 deleted records", |m| {
        metric(
            m,
            "lethe_records_total{policy=\"old-leads\",outcome=\"deleted\"}",
        ) == Some(30.0)
    });
    assert!(
        metric(
            &body,
            "lethe_runs_total{policy=\"old-leads\",mode=\"enforce\",status=\"ok\"}"
        )
        .unwrap()
            >= 1.0,
        "{body}"
    );
    assert!(
        metric(
            &body,
            "lethe_last_success_timestamp_seconds{policy=\"old-leads\"}"
        )
        .unwrap()
            > 1.7e9
    );
    assert!(body.contains("lethe_batch_duration_seconds_count{policy=\"old-leads\"}"));
    assert_eq!(get(port, "/healthz").unwrap().0, 200);
    assert_eq!(get(port, "/readyz").unwrap().0, 200);
    // The dry-run policy reports and changes nothing.
    let body = scrape_until(port, "a dry run", |m| {
        metric(
            m,
            "lethe_runs_total{policy=\"dry-leads\",mode=\"dry-run\",status=\"ok\"}",
        )
        .is_some()
    });
    assert_eq!(
        metric(
            &body,
            "lethe_records_total{policy=\"dry-leads\",outcome=\"deleted\"}"
        ),
        None
    );
    sigterm(&daemon);
    let (code, err) = wait_exit(daemon, Duration::from_secs(15));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("daemon stopped"), "{err}");
    for secret in ["Privacyvoorbeeld", "jantje@privacy"] {
        assert!(
            !err.contains(secret) && !body.contains(secret),
            "{secret} leaked"
        );
    }
    assert!(db.ids("leads").await.is_empty());
    let list = run(db.lethe(&cfg).args(["audit", "list"]));
    assert!(
        list.stdout
            .lines()
            .any(|l| l.contains("daemon") && l.contains("deleted 30")),
        "{}",
        list.stdout
    );
    let audit = run(db.lethe(&cfg).args(["audit", "export"]));
    assert!(
        audit.stdout.contains("\"command\":\"daemon\""),
        "{}",
        audit.stdout
    );
    assert!(
        audit.stdout.contains("\"dry_run\":true"),
        "{}",
        audit.stdout
    );
    db.drop_db().await;
}

/// SIGTERM in the middle of a run: the current batch finishes, the run is recorded as
/// interrupted, exit 0; the next start catches the missed run up and finishes the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_then_resume() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    seed_old(&db, 1, 4000).await;
    // Once a year: only the catch-up of a missed instant can start a run in this test.
    let cfg = db.policies(
        "schedule: \"0 0 0 1 1 *\"",
        &[("p.yaml", &policy("batch_size: 10\n"))],
    );
    set_last_fire(&state_url(&db), "old-leads", "2020-01-01T00:00:00Z").await;
    let port = free_port();
    let daemon = spawn_daemon(&db, &cfg, port);
    let start = Instant::now();
    while db.ids("leads").await.len() > 3900 {
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sigterm(&daemon);
    let stopped = Instant::now();
    let (code, err) = wait_exit(daemon, Duration::from_secs(15));
    assert_eq!(code, 0, "{err}");
    assert!(stopped.elapsed() < Duration::from_secs(5), "{err}");
    let left = db.ids("leads").await.len();
    assert!(
        left > 0,
        "the run finished before SIGTERM; make the table larger"
    );
    assert_eq!((4000 - left) % 10, 0, "a half-done batch: {left} rows left");
    let list = run(db.lethe(&cfg).args(["audit", "list"]));
    assert!(list.stdout.contains("interrupted"), "{}", list.stdout);

    // Restarted: the interrupted instant was not accounted for, so it runs again, once.
    let daemon = spawn_daemon(&db, &cfg, port);
    let body = scrape_until(port, "the resumed run", |m| {
        metric(
            m,
            "lethe_runs_total{policy=\"old-leads\",mode=\"enforce\",status=\"ok\"}",
        ) == Some(1.0)
    });
    assert_eq!(
        metric(
            &body,
            "lethe_records_total{policy=\"old-leads\",outcome=\"deleted\"}"
        ),
        Some(left as f64)
    );
    assert!(db.ids("leads").await.is_empty());
    // Accounted for now: it does not run a second time.
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = get(port, "/metrics").unwrap();
    assert_eq!(
        metric(
            &body,
            "lethe_runs_total{policy=\"old-leads\",mode=\"enforce\",status=\"ok\"}"
        ),
        Some(1.0)
    );
    sigterm(&daemon);
    let (code, err) = wait_exit(daemon, Duration::from_secs(15));
    assert_eq!(code, 0, "{err}");
    assert_eq!(run(db.lethe(&cfg).args(["audit", "verify"])).code, 0);
    db.drop_db().await;
}

/// Two daemons on one PostgreSQL state database: their runs never overlap, and the work is
/// done once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_take_turns() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    db.crm_schema().await;
    seed_old(&db, 1, 600).await;
    let cfg = db.policies(
        "schedule: \"*/2 * * * * *\"",
        &[("p.yaml", &policy("batch_size: 5\n"))],
    );
    db.state_on_postgres(&cfg);
    assert_eq!(run(db.lethe(&cfg).arg("check")).code, 0);
    let (pa, pb) = (free_port(), free_port());
    let a = spawn_daemon(&db, &cfg, pa);
    let b = spawn_daemon(&db, &cfg, pb);
    let done = |m: &str| {
        metric(
            m,
            "lethe_records_total{policy=\"old-leads\",outcome=\"deleted\"}",
        )
        .unwrap_or(0.0)
    };
    let start = Instant::now();
    let (ma, mb) = loop {
        let ma = get(pa, "/metrics").map(|r| r.1).unwrap_or_default();
        let mb = get(pb, "/metrics").map(|r| r.1).unwrap_or_default();
        let busy = metric(&ma, "lethe_lease_busy_total").unwrap_or(0.0)
            + metric(&mb, "lethe_lease_busy_total").unwrap_or(0.0);
        let runs = |m: &str| {
            metric(
                m,
                "lethe_runs_total{policy=\"old-leads\",mode=\"enforce\",status=\"ok\"}",
            )
            .unwrap_or(0.0)
        };
        // Both have worked, and one of them found the other holding the lease.
        if done(&ma) + done(&mb) >= 600.0 && busy >= 1.0 && runs(&ma) >= 1.0 && runs(&mb) >= 1.0 {
            break (ma, mb);
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "a: {ma}\nb: {mb}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    sigterm(&a);
    sigterm(&b);
    let (ca, ea) = wait_exit(a, Duration::from_secs(15));
    let (cb, eb) = wait_exit(b, Duration::from_secs(15));
    assert_eq!((ca, cb), (0, 0), "{ea}\n{eb}");
    assert_eq!(done(&ma) + done(&mb), 600.0);
    assert!(db.ids("leads").await.is_empty());
    // The audit trail: every daemon run's events are contiguous, never interleaved with
    // another run's.
    let kinds: Vec<(String, String)> = sqlx_rows(&db).await;
    let mut finished = std::collections::BTreeSet::new();
    let mut current: Option<String> = None;
    for (run_id, kind) in &kinds {
        match kind.as_str() {
            "run.started" => {
                assert!(current.is_none(), "runs overlap: {kinds:?}");
                current = Some(run_id.clone());
            }
            "run.finished" | "run.refused" => {
                assert_eq!(current.as_ref(), Some(run_id), "{kinds:?}");
                finished.insert(run_id.clone());
                current = None;
            }
            _ => assert_eq!(current.as_ref(), Some(run_id), "{kinds:?}"),
        }
    }
    assert!(finished.len() >= 2, "{kinds:?}");
    db.drop_db().await;
}

async fn sqlx_rows(db: &TestDb) -> Vec<(String, String)> {
    db.dump("SELECT run_id, kind FROM lethe_audit ORDER BY seq")
        .await
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect()
}

/// A manual `apply` while another run holds the lease exits 1 with a clear message and
/// changes nothing; shards of one N run side by side, never beside a whole run.
async fn lease_refuses_a_second_run(b: Backend) {
    // The lease lives in the state database: SQLite, or PostgreSQL for the PostgreSQL case.
    let Some(db) = TestDb::new(if b == Backend::Postgres {
        Backend::Postgres
    } else {
        Backend::Sqlite
    })
    .await
    else {
        return;
    };
    db.crm_schema().await;
    seed_old(&db, 1, 20).await;
    let cfg = db.policies("", &[("p.yaml", &policy(""))]);
    let state = if b == Backend::Postgres {
        db.state_on_postgres(&cfg);
        assert_eq!(run(db.lethe(&cfg).arg("check")).code, 0);
        db.url.clone()
    } else {
        state_url(&db)
    };
    let holder = lethe::audit::StateDb::open(&state).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let shard = "0/2".parse().unwrap();
    let lease = holder
        .try_lease(Some(shard), stop.clone())
        .await
        .unwrap()
        .unwrap();
    let r = run(db.lethe(&cfg).args(["apply", "--yes"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("another lethe run holds the lease"),
        "{}",
        r.stderr
    );
    assert_eq!(db.ids("leads").await.len(), 20);
    let same = run(db.lethe(&cfg).args(["apply", "--yes", "--shard", "0/2"]));
    assert_eq!(same.code, 1, "{}", same.stderr);
    // The other shard of the same N is free to work: it takes the odd keys.
    let other = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--shard", "1/2", "--format", "json"]));
    assert_eq!(other.code, 0, "{}", other.stderr);
    assert_eq!(other.json()["policies"][0]["deleted"], 10);
    assert_eq!(other.json()["shard"], "1/2");
    assert!(db.ids("leads").await.iter().all(|id| id % 2 == 0));
    // Shards of another N would overlap this one's keys.
    let mixed = run(db.lethe(&cfg).args(["apply", "--yes", "--shard", "1/3"]));
    assert_eq!(mixed.code, 1, "{}", mixed.stderr);
    lease.release().await;
    let r = run(db.lethe(&cfg).args(["apply", "--yes"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(db.ids("leads").await.is_empty());
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_on_sqlite_state() {
    lease_refuses_a_second_run(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_on_postgres_state() {
    lease_refuses_a_second_run(Backend::Postgres).await
}

/// Three shards at once share the work without overlap: integer keys by class, a text-keyed
/// policy whole to one shard; together they do what one run would.
async fn shards_split_the_work(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_old(&db, 1, 900).await;
    let (ts, text) = (db.ty("ts"), db.ty("text"));
    let key = if b == Backend::MariaDb {
        "VARCHAR(40)"
    } else {
        text
    };
    db.exec(&format!(
        "CREATE TABLE notes (ref {key} NOT NULL PRIMARY KEY, created_at {ts} NULL)"
    ))
    .await;
    let old = db.ts("2020-01-01 00:00:00");
    let notes: Vec<String> = (1..=50).map(|i| format!("('n-{i}', {old})")).collect();
    db.exec(&format!(
        "INSERT INTO notes (ref, created_at) VALUES {}",
        notes.join(", ")
    ))
    .await;
    let notes_policy = "kind: RetentionPolicy\nname: old-notes\nstore: crm\ntable: notes\nkey: ref\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";
    let cfg = db.policies(
        "",
        &[
            ("p.yaml", &policy("batch_size: 25\n")),
            ("n.yaml", notes_policy),
        ],
    );
    let outs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let cfg = &cfg;
                let db = &db;
                s.spawn(move || {
                    run(db.lethe(cfg).args([
                        "apply",
                        "--yes",
                        "--format",
                        "json",
                        "--shard",
                        &format!("{i}/3"),
                    ]))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut leads = 0;
    let mut notes_runs = 0;
    for (i, r) in outs.iter().enumerate() {
        assert_eq!(r.code, 0, "shard {i}: {}\n{}", r.stdout, r.stderr);
        for p in r.json()["policies"].as_array().unwrap() {
            match p["name"].as_str().unwrap() {
                "old-leads" => {
                    // Keys 1..=900: exactly 300 in each class.
                    assert_eq!(p["deleted"], 300, "shard {i}");
                    leads += 1;
                }
                "old-notes" => {
                    assert_eq!(p["deleted"], 50, "shard {i}");
                    notes_runs += 1;
                }
                other => panic!("{other}"),
            }
        }
    }
    assert_eq!((leads, notes_runs), (3, 1));
    assert!(db.ids("leads").await.is_empty());
    assert_eq!(db.count("SELECT COUNT(*) FROM notes").await, 0);
    db.drop_db().await;
}

on_every_backend!(shards_split_the_work);

/// `lethe apply` leaves a policy in `mode: dry-run` alone, says so, and refuses to be told
/// to enforce it by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_leaves_dry_run_policies_alone() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    seed_old(&db, 1, 10).await;
    let cfg = db.policies("", &[("p.yaml", &policy("mode: dry-run\n"))]);
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["dry_run"][0], "old-leads");
    assert_eq!(r.json()["policies"].as_array().unwrap().len(), 0);
    let named = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--policy", "old-leads"]));
    assert_eq!(named.code, 2, "{}", named.stderr);
    assert!(named.stderr.contains("mode: dry-run"), "{}", named.stderr);
    // `plan` still shows what it would do.
    let plan = run(db.lethe(&cfg).args(["plan", "--format", "json"]));
    assert_eq!(plan.json()["policies"][0]["eligible"], 10);
    assert_eq!(db.ids("leads").await.len(), 10);
    db.drop_db().await;
}

/// A lost lease ends that run only: no spinning, not ready, and the rest of the daemon lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_the_run_without_spinning() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    // Long enough a run that the lease renewal (every 15 s) sees the loss before it ends.
    seed_old(&db, 1, 40000).await;
    let cfg = db.policies(
        "schedule: \"0 0 0 1 1 *\"",
        &[("p.yaml", &policy("batch_size: 1\n"))],
    );
    set_last_fire(&state_url(&db), "old-leads", "2020-01-01T00:00:00Z").await;
    let port = free_port();
    let daemon = spawn_daemon(&db, &cfg, port);
    let start = Instant::now();
    while db.ids("leads").await.len() > 39990 {
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Someone takes the lease away (as an expiry and takeover would).
    let conn = lethe::store::SqlStore::connect("state", &state_url(&db))
        .await
        .unwrap();
    conn.execute_script("DELETE FROM lethe_lease")
        .await
        .unwrap();
    // The renewal notices within 15 s; the run stops after its batch.
    let start = Instant::now();
    loop {
        let (code, _) = get(port, "/readyz").unwrap();
        if code == 503 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "still ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    let left = db.ids("leads").await.len();
    assert!(left > 0, "the run finished before the lease was lost");
    let runs = || async {
        let mut q = lethe::store::Query::new(lethe::model::Dialect::Sqlite);
        q.push("SELECT COUNT(*) FROM lethe_audit WHERE kind = 'run.started'");
        conn.fetch_counts(&q).await.unwrap()
    };
    let before = runs().await;
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs().await, before, "the daemon runs again and again");
    assert_eq!(db.ids("leads").await.len(), left);
    sigterm(&daemon);
    let (code, err) = wait_exit(daemon, Duration::from_secs(15));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("lease was lost"), "{err}");
    conn.close().await;
    db.drop_db().await;
}

/// While the daemon runs, a policy removed from the folder is skipped, and a switch to
/// `mode: dry-run` brakes at once; the other policies go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_follows_removed_policies_and_mode_switches() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    seed_old(&db, 1, 10).await;
    let other = policy("").replace("old-leads", "other-leads");
    let cfg = db.policies(
        "schedule: \"* * * * * *\"",
        &[("p.yaml", &policy("")), ("q.yaml", &other)],
    );
    let port = free_port();
    let daemon = spawn_daemon(&db, &cfg, port);
    scrape_until(port, "a first run", |m| {
        metric(
            m,
            "lethe_runs_total{policy=\"old-leads\",mode=\"enforce\",status=\"ok\"}",
        )
        .is_some()
    });
    std::fs::remove_file(cfg.join("q.yaml")).unwrap();
    seed_old(&db, 11, 20).await;
    scrape_until(port, "the new rows deleted", |m| {
        metric(
            m,
            "lethe_records_total{policy=\"old-leads\",outcome=\"deleted\"}",
        ) == Some(20.0)
    });
    // The brake: the policy switches to dry-run; new rows stay.
    std::fs::write(cfg.join("p.yaml"), policy("mode: dry-run\n")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    seed_old(&db, 21, 25).await;
    let body = scrape_until(port, "a dry run", |m| {
        metric(
            m,
            "lethe_runs_total{policy=\"old-leads\",mode=\"dry-run\",status=\"ok\"}",
        )
        .is_some_and(|n| n >= 2.0)
    });
    assert_eq!(db.ids("leads").await.len(), 5);
    assert_eq!(metric(&body, "lethe_run_errors_total"), Some(0.0), "{body}");
    sigterm(&daemon);
    let (code, err) = wait_exit(daemon, Duration::from_secs(15));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no longer in the policies folder"), "{err}");
    db.drop_db().await;
}

/// A reviewed plan's counts are for the whole run: pinning and sharding do not mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_plan_is_not_sharded() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    seed_old(&db, 1, 10).await;
    let cfg = db.policies("", &[("p.yaml", &policy(""))]);
    let plan_file = db.dir.path().join("plan.json");
    let p = run(db
        .lethe(&cfg)
        .args(["plan", "--plan-file", plan_file.to_str().unwrap()]));
    assert_eq!(p.code, 0, "{}", p.stderr);
    let r = run(db.lethe(&cfg).args([
        "apply",
        "--yes",
        "--shard",
        "0/2",
        "--plan",
        plan_file.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be combined"), "{}", r.stderr);
    assert_eq!(db.ids("leads").await.len(), 10);
    db.drop_db().await;
}
