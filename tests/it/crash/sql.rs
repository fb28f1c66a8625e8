//! `apply` on a table killed at seeded moments (delete and anonymize, PostgreSQL and MariaDB, a
//! legal hold in force), and the store's sessions ended mid-run. The helpers (policy, rows,
//! expectation, partial checks) serve the daemon's crash cases too.

use super::{kill, points, survived, Rng};
use crate::support::{run, Backend, TestDb, HMAC_KEY};
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
