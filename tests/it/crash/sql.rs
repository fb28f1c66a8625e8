//! `apply` on a table killed at seeded moments (delete and anonymize, PostgreSQL and MariaDB, a
//! legal hold in force), and the store's sessions ended mid-run. The helpers (policy, rows,
//! expectation, partial checks) serve the daemon's crash cases too.

use super::{kill, points, survived, Rng};
use crate::support::{run, set_state, Backend, PrivatePostgres, SmallDisk, TestDb, HMAC_KEY};
use hmac::{Hmac, Mac};
use lethe::store::{Query, SqlStore};
use sha2::Sha256;
use std::time::Duration;

pub const AS_OF: &str = "2026-06-15T12:00:00Z";
/// Due rows 1..=DUE; every tenth is held (customer 7); DUE+1..=DUE+50 are not due yet.
pub const DUE: i64 = 3000;
/// When the rows that are not yet due at `AS_OF` were created.
const NEW: &str = "2026-06-10 00:00:00";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Delete,
    Anonymize,
}

/// The pseudonym, computed without lethe: `hmac:` and the first 16 bytes of HMAC-SHA256 in hex.
fn pseudonym(value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_KEY.as_bytes()).unwrap();
    mac.update(value.as_bytes());
    format!("hmac:{}", hex::encode(&mac.finalize().into_bytes()[..16]))
}

fn email(id: i64) -> String {
    format!("crash-{id}@example.test")
}

pub fn policy(act: Act) -> String {
    let action = match act {
        Act::Delete => "action: delete".to_string(),
        Act::Anonymize => "action:\n  anonymize:\n    email: hmac\n    full_name: \"null\"".into(),
    };
    format!(
        "kind: RetentionPolicy\nname: crash\nstore: crm\ntable: leads\nkey: id\nclock: {{ column: created_at }}\nkeep: 30d\nbatch_size: 20\nguard: {{ max_fraction: 1 }}\n{action}\n---\nkind: LegalHold\nname: dispute-7\nbasis: litigation with customer 7\nstore: crm\ntable: leads\nmatch: {{ customer_id: 7 }}\n"
    )
}

/// `new`: when the rows that are not yet due were created (`YYYY-MM-DD HH:MM:SS` UTC).
pub async fn seed_rows(db: &TestDb, new: &str) {
    let old = db.ts("2026-01-01 00:00:00");
    let new = db.ts(new);
    let mut rows = Vec::new();
    for id in 1..=DUE + 50 {
        let customer = if id % 10 == 0 { 7 } else { 1 };
        let at = if id > DUE { &new } else { &old };
        rows.push(format!(
            "({id}, {customer}, 'Name {id}', '{}', 'new', {at})",
            email(id)
        ));
    }
    for chunk in rows.chunks(500) {
        db.exec(&format!(
            "INSERT INTO leads (id, customer_id, full_name, email, status, created_at) VALUES {}",
            chunk.join(", ")
        ))
        .await;
    }
}

/// Every row as (id, full_name, email).
pub async fn table(db: &TestDb) -> Vec<(i64, Option<String>, Option<String>)> {
    table_via(db, &db.store).await
}

/// Every row, read through `store` (a fresh connection after a fault).
async fn table_via(db: &TestDb, store: &SqlStore) -> Vec<(i64, Option<String>, Option<String>)> {
    let sql = format!(
        "SELECT {}, {}, {} FROM leads ORDER BY id",
        db.text("id"),
        db.text("full_name"),
        db.text("email")
    );
    let mut q = Query::new(db.backend.dialect());
    q.push(&sql);
    let mut rows: Vec<_> = store
        .fetch_texts(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let id = r[0].as_deref().unwrap_or_default().parse().unwrap();
            (id, r[1].clone(), r[2].clone())
        })
        .collect();
    rows.sort();
    rows
}

/// The first difference between two tables, for a short message.
pub fn first_difference(
    have: &[(i64, Option<String>, Option<String>)],
    want: &[(i64, Option<String>, Option<String>)],
) -> Option<String> {
    if have.len() != want.len() {
        return Some(format!("{} rows, expected {}", have.len(), want.len()));
    }
    have.iter()
        .zip(want)
        .find(|(h, w)| h != w)
        .map(|(h, w)| format!("{h:?}, expected {w:?}"))
}

/// What the table must hold once the work is done, computed from the seed alone.
pub fn expected(act: Act) -> Vec<(i64, Option<String>, Option<String>)> {
    (1..=DUE + 50)
        .filter_map(|id| {
            let due = id <= DUE && id % 10 != 0;
            let kept = (id, Some(format!("Name {id}")), Some(email(id)));
            match (act, due) {
                (_, false) => Some(kept),
                (Act::Delete, true) => None,
                (Act::Anonymize, true) => Some((id, None, Some(pseudonym(&email(id))))),
            }
        })
        .collect()
}

/// Checks the invariants after a kill: no row that is held or not yet due changed, and every
/// row is either untouched or exactly in its final form (no half-masked row).
pub fn check_partial(act: Act, rows: &[(i64, Option<String>, Option<String>)], what: &str) {
    let want = expected(act);
    let want_of = |id: i64| want.iter().find(|r| r.0 == id);
    for id in 1..=DUE + 50 {
        let have = rows.iter().find(|r| r.0 == id);
        let due = id <= DUE && id % 10 != 0;
        let original = (id, Some(format!("Name {id}")), Some(email(id)));
        if !due {
            assert_eq!(
                have,
                Some(&original),
                "{what}: held or undue row {id} changed"
            );
            continue;
        }
        let fine = have == Some(&original) || have == want_of(id);
        assert!(fine, "{what}: row {id} is half done: {have:?}");
    }
    // Batches are whole: the rows done are the first due rows in key order, a whole number of
    // batches (20) of them.
    let due: Vec<i64> = (1..=DUE).filter(|id| id % 10 != 0).collect();
    let done: Vec<i64> = due
        .iter()
        .copied()
        .filter(|id| {
            let original = (*id, Some(format!("Name {id}")), Some(email(*id)));
            rows.iter().find(|r| r.0 == *id) != Some(&original)
        })
        .collect();
    assert_eq!(
        done,
        due[..done.len()],
        "{what}: the rows done are not the first due rows"
    );
    assert_eq!(
        done.len() % 20,
        0,
        "{what}: a half-done batch ({} rows done)",
        done.len()
    );
}

/// Waits until the first batch of a run is in.
pub async fn first_batch(db: &TestDb, act: Act) {
    let changed = match act {
        Act::Delete => format!("SELECT {} FROM leads", db.text("COUNT(*)")),
        Act::Anonymize => format!(
            "SELECT {} FROM leads WHERE full_name IS NOT NULL",
            db.text("COUNT(*)")
        ),
    };
    let all = (DUE + 50).to_string();
    for _ in 0..1000 {
        let n = db.dump(&changed).await;
        if n[0][0].as_deref() != Some(all.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn campaign(b: Backend, act: Act) {
    let mut rng = Rng::for_case((b as u64) << 8 ^ act as u64);
    for point in 0..points() {
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        db.crm_schema().await;
        seed_rows(&db, NEW).await;
        let cfg = db.policies("", &[("p.yaml", &policy(act))]);
        let what = format!("{b:?} {act:?} kill point {point}");
        let mut child = db.spawn_apply(&cfg, AS_OF);
        // Once the first batch is in, a seeded moment up to 400 ms later.
        first_batch(&db, act).await;
        let wait = rng.next() % 400;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        kill(&mut child);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let at_kill = table(&db).await;
        check_partial(act, &at_kill, &what);
        let mid_run = first_difference(&at_kill, &expected(act)).is_some();
        let r = run(db
            .lethe(&cfg)
            .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
        assert_eq!(r.code, 0, "{what}: rerun\n{}\n{}", r.stdout, r.stderr);
        let diff = first_difference(&table(&db).await, &expected(act));
        assert_eq!(diff, None, "{what}: after the rerun");
        let again = run(db
            .lethe(&cfg)
            .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
        assert_eq!(again.code, 0, "{what}: third run");
        let p = &again.json()["policies"][0];
        assert_eq!(p["eligible"], 0, "{what}: {p}");
        let v = run(db.lethe(&cfg).args(["audit", "verify"]));
        assert_eq!(v.code, 0, "{what}: audit verify\n{}", v.stdout);
        survived(&what, wait, "the first batch", mid_run);
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_delete_postgres() {
    campaign(Backend::Postgres, Act::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_delete_mariadb() {
    campaign(Backend::MariaDb, Act::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_anonymize_postgres() {
    campaign(Backend::Postgres, Act::Anonymize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_anonymize_mariadb() {
    campaign(Backend::MariaDb, Act::Anonymize).await;
}

/// A fault: the store's sessions end mid-run (PostgreSQL `pg_terminate_backend`, MariaDB
/// `KILL`). The run ends with exit 0 (it reconnected) or 1 (a batch failed), never more; nothing
/// held, undue or half done changed; the next run finishes the work and the trail verifies.
async fn store_sessions_end(b: Backend, act: Act) {
    sessions_end(b, act, false).await;
}

/// With the state database on PostgreSQL too, every session of the run ends at once: store,
/// state and lease. The run stops before its next batch (exit 1) or had just finished.
async fn sessions_end(b: Backend, act: Act, state_on_postgres: bool) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_rows(&db, NEW).await;
    let cfg = db.policies("", &[("p.yaml", &policy(act))]);
    if state_on_postgres {
        db.state_on_postgres(&cfg);
        assert_eq!(run(db.lethe(&cfg).arg("check")).code, 0);
    }
    let what = format!("{b:?} {act:?} sessions ended (state on PostgreSQL: {state_on_postgres})");
    let child = db.spawn_apply(&cfg, AS_OF);
    first_batch(&db, act).await;
    let fault = SqlStore::connect("fault", &db.url).await.unwrap();
    match b {
        Backend::Postgres => fault
            .execute_script(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .await
            .unwrap(),
        _ => {
            let mut q = Query::new(b.dialect());
            q.push("SELECT CAST(id AS CHAR) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()");
            for row in fault.fetch_texts(&q).await.unwrap() {
                if let Some(id) = &row[0] {
                    let _ = fault.execute_script(&format!("KILL {id}")).await;
                }
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    let code = out.status.code();
    assert!(matches!(code, Some(0) | Some(1)), "{what}: exit {code:?}");
    check_partial(act, &table_via(&db, &fault).await, &what);
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{what}: rerun\n{}\n{}", r.stdout, r.stderr);
    let diff = first_difference(&table_via(&db, &fault).await, &expected(act));
    assert_eq!(diff, None, "{what}: after the rerun");
    let v = run(db.lethe(&cfg).args(["audit", "verify"]));
    assert_eq!(v.code, 0, "{what}: audit verify\n{}", v.stdout);
    eprintln!("fault: {what}, first run exit {code:?}: survived");
    fault.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_sessions_end_during_delete_postgres() {
    store_sessions_end(Backend::Postgres, Act::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_sessions_end_during_anonymize_postgres() {
    store_sessions_end(Backend::Postgres, Act::Anonymize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_sessions_end_during_delete_mariadb() {
    store_sessions_end(Backend::MariaDb, Act::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_sessions_end_during_anonymize_mariadb() {
    store_sessions_end(Backend::MariaDb, Act::Anonymize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_state_and_lease_sessions_end_postgres() {
    sessions_end(Backend::Postgres, Act::Delete, true).await;
}

/// Makes every batch statement on `leads` last 10 ms longer (a statement trigger that sleeps), so
/// that a fault after the first batch falls mid-run.
async fn slow_batches(db: &TestDb) {
    db.exec(
        "CREATE FUNCTION lethe_t_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN NULL; END $$;
         CREATE TRIGGER lethe_t_slow AFTER UPDATE OR DELETE ON leads FOR EACH STATEMENT EXECUTE FUNCTION lethe_t_slow();",
    )
    .await;
}

/// A finished background run: exit code, stdout, stderr, how long it took.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Waits for a background run, at most `limit`: a run still going then is killed and the test
/// fails (a hang).
fn ended_within(child: std::process::Child, limit: Duration, what: &str) -> Ended {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let out = out.unwrap();
            Ended {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("{what}: lethe apply did not end within {limit:?}: it hangs");
        }
    }
}

/// Due rows (not held) still untouched: what a true `remaining` says.
fn still_due(rows: &[(i64, Option<String>, Option<String>)]) -> u64 {
    rows.iter()
        .filter(|(id, name, mail)| {
            *id <= DUE
                && id % 10 != 0
                && name.as_deref() == Some(format!("Name {id}").as_str())
                && mail.as_deref() == Some(email(*id).as_str())
        })
        .count() as u64
}

/// No value of a row (an email address, a name) in what lethe printed.
fn no_values(text: &str, what: &str) {
    assert!(
        !text.contains("@example.test"),
        "{what}: an email address in the output:\n{text}"
    );
    assert!(
        !(1..=9).any(|d| text.contains(&format!("Name {d}"))),
        "{what}: a name in the output:\n{text}"
    );
}

/// The policy's `remaining` in a report is a true count of what the table still holds due, or
/// unknown (`null`, or no report at all): never a number that was not counted.
fn remaining_is_true(
    stdout: &str,
    rows: &[(i64, Option<String>, Option<String>)],
    what: &str,
) -> String {
    let Ok(report) = serde_json::from_str::<serde_json::Value>(stdout) else {
        return "no report".into();
    };
    let remaining = &report["policies"][0]["remaining"];
    if remaining.is_null() {
        return "remaining unknown".into();
    }
    assert_eq!(
        remaining.as_u64(),
        Some(still_due(rows)),
        "{what}: the report's remaining is not what the table holds: {report}"
    );
    format!("remaining {remaining}")
}

/// The end of every fault: the next run finishes the work, a run after it finds nothing due and
/// the audit trail verifies.
async fn rerun_finishes(
    db: &TestDb,
    store: &SqlStore,
    cfg: &std::path::Path,
    act: Act,
    what: &str,
) {
    let r = run(db
        .lethe(cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{what}: rerun\n{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.json()["policies"][0]["remaining"],
        0,
        "{what}: rerun\n{}",
        r.stdout
    );
    let diff = first_difference(&table_via(db, store).await, &expected(act));
    assert_eq!(diff, None, "{what}: after the rerun");
    let v = run(db.lethe(cfg).args(["audit", "verify"]));
    assert_eq!(v.code, 0, "{what}: audit verify\n{}", v.stdout);
}

/// A fault: the store's PostgreSQL server restarts (`fast`: it ends every session and shuts
/// down cleanly; `immediate`: it crashes and recovers) after the first batch. The server is a
/// cluster of the test's own, never the shared one. The run ends within 60 s with exit 0 (it
/// reconnected) or 1; nothing held, undue or half done changed; the report's `remaining` is the
/// table's true count or unknown; the next run finishes the work and the trail verifies.
async fn server_restarts(act: Act, mode: &str, state_on_server: bool) {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let Some(db) = TestDb::on_private(&pg).await else {
        return;
    };
    db.crm_schema().await;
    seed_rows(&db, NEW).await;
    slow_batches(&db).await;
    let cfg = db.policies("", &[("p.yaml", &policy(act))]);
    if state_on_server {
        db.state_on_postgres(&cfg);
        assert_eq!(run(db.lethe(&cfg).arg("check")).code, 0);
    }
    let what = format!("PostgreSQL {act:?} restart -m {mode} (state on it: {state_on_server})");
    let began = std::time::Instant::now();
    let child = db
        .apply_command(&cfg, AS_OF)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    first_batch(&db, act).await;
    let away = pg.restart(mode);
    let end = ended_within(child, Duration::from_secs(60), &what);
    let took = began.elapsed();
    assert!(
        matches!(end.code, Some(0) | Some(1)),
        "{what}: exit {:?}\n{}\n{}",
        end.code,
        end.stdout,
        end.stderr
    );
    no_values(&format!("{}{}", end.stdout, end.stderr), &what);
    let after = SqlStore::connect("after", &db.url).await.unwrap();
    let rows = table_via(&db, &after).await;
    check_partial(act, &rows, &what);
    let left = still_due(&rows);
    let remaining = remaining_is_true(&end.stdout, &rows, &what);
    rerun_finishes(&db, &after, &cfg, act, &what).await;
    eprintln!(
        "fault: {what}, server away {} ms, first run exit {:?} after {} ms with {left} due left ({remaining}): survived",
        away.as_millis(),
        end.code,
        took.as_millis()
    );
    after.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restarts_during_delete() {
    server_restarts(Act::Delete, "fast", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_crashes_during_anonymize() {
    server_restarts(Act::Anonymize, "immediate", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_of_store_and_state_restarts() {
    server_restarts(Act::Delete, "fast", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_of_store_and_state_crashes() {
    server_restarts(Act::Anonymize, "immediate", true).await;
}

/// Rows the audit trail records as changed (`batch.done`), and whether every enforcing run
/// has its end event.
fn recorded(db: &TestDb, cfg: &std::path::Path) -> (u64, bool) {
    let events = db.audit_events(cfg);
    let changed = (events.iter())
        .filter(|e| e["kind"] == "batch.done")
        .map(|e| e["payload"]["changed"].as_u64().unwrap())
        .sum();
    let started = events.iter().filter(|e| e["kind"] == "run.started").count();
    let ended = (events.iter())
        .filter(|e| e["kind"] == "run.finished" || e["kind"] == "run.refused")
        .count();
    (changed, started == ended)
}

/// A fault: the disk under a SQLite state database is full, before the run or after its first
/// batch. The run fails closed (exit 1) saying that the state database cannot be written, with
/// no value of a row in its output; no row changed that the audit trail does not record, but
/// for at most the one batch in flight, whose run then shows as unfinished. Once the space is
/// freed, the next run finishes the work and the trail verifies.
async fn disk_full(mid_run: bool) {
    let Some(disk) = SmallDisk::mount(16 * 1024) else {
        return;
    };
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let act = Act::Delete;
    db.crm_schema().await;
    seed_rows(&db, NEW).await;
    slow_batches(&db).await;
    let cfg = db.policies("", &[("p.yaml", &policy(act))]);
    set_state(
        &cfg,
        &format!("sqlite://{}", disk.path().join("state.db").display()),
    );
    let check = run(db.lethe(&cfg).arg("check"));
    assert_eq!(check.code, 0, "check\n{}\n{}", check.stdout, check.stderr);
    let what = format!(
        "full disk under the SQLite state database ({})",
        if mid_run {
            "after the first batch"
        } else {
            "before the run"
        }
    );
    let began = std::time::Instant::now();
    let end = if mid_run {
        let child = db
            .apply_command(&cfg, AS_OF)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        first_batch(&db, act).await;
        disk.fill();
        ended_within(child, Duration::from_secs(60), &what)
    } else {
        disk.fill();
        let r = run(db
            .lethe(&cfg)
            .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
        Ended {
            code: Some(r.code),
            stdout: r.stdout,
            stderr: r.stderr,
        }
    };
    let took = began.elapsed();
    assert_eq!(end.code, Some(1), "{what}\n{}\n{}", end.stdout, end.stderr);
    no_values(&format!("{}{}", end.stdout, end.stderr), &what);
    let error = end
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        error.contains("state database") && error.contains("disk is full"),
        "{what}: the error does not say the state database is full:\n{}",
        end.stderr
    );
    assert!(
        !mid_run || error.contains("cannot write the") && error.contains("audit trail"),
        "{what}: the error does not say the audit trail could not be written:\n{}",
        end.stderr
    );
    let rows = table(&db).await;
    check_partial(act, &rows, &what);
    let done = (DUE - DUE / 10) as u64 - still_due(&rows);
    disk.free();
    let (logged, all_ended) = recorded(&db, &cfg);
    assert!(
        done == logged || (done == logged + 20 && !all_ended),
        "{what}: {done} rows deleted, the audit trail records {logged} (every run ended: {all_ended})"
    );
    if !mid_run {
        assert_eq!(done, 0, "{what}: rows deleted");
    }
    rerun_finishes(&db, &db.store, &cfg, act, &what).await;
    eprintln!(
        "fault: {what}, exit {:?} after {} ms, {done} rows deleted and {logged} recorded, error `{error}`: survived",
        end.code,
        took.as_millis()
    );
    db.drop_db().await;
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_under_state_before_the_run() {
    disk_full(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_under_state_mid_run() {
    disk_full(true).await;
}
