//! `lethe daemon` killed with SIGKILL at seeded moments of a scheduled run on a table (PostgreSQL
//! and MariaDB, the state database and its run lease on SQLite or on PostgreSQL), then started
//! again. After the kill nothing held, undue or half done has changed; the new daemon takes the
//! lease at once (it never finds it busy: the dead holder is recognised, or its session is gone),
//! catches the killed run up and finishes the work; a manual `apply` afterwards finds the lease
//! free and nothing due, and the audit trail verifies.

use super::sql::{check_partial, expected, first_batch, first_difference, policy, seed_rows};
use super::sql::{table, Act};
use super::{kill, points, survived, Rng};
use crate::daemon::{free_port, get, metric, set_last_fire, sigterm, spawn_daemon, state_url};
use crate::daemon::{scrape_until, wait_exit};
use crate::support::{run, Backend, TestDb};
use std::time::Duration;

/// Where the state database, and with it the run lease, lives.
#[derive(Clone, Copy, Debug)]
enum State {
    /// A row in `lethe_lease`; a holder that died on this machine is recognised at once.
    Sqlite,
    /// An advisory lock, released when the holder's session ends.
    Postgres,
}

const RUNS_OK: &str = "lethe_runs_total{policy=\"crash\",mode=\"enforce\",status=\"ok\"}";

async fn campaign(b: Backend, act: Act, state: State) {
    let mut rng = Rng::for_case(0xDAE << 16 ^ (state as u64) << 12 ^ (b as u64) << 8 ^ act as u64);
    for point in 0..points() {
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        db.crm_schema().await;
        // The daemon judges at the real time: the rows not yet due were created yesterday.
        let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
        seed_rows(&db, &yesterday.format("%Y-%m-%d %H:%M:%S").to_string()).await;
        // Once a year, last run in 2020: the missed instant is caught up at once, and nothing
        // else can start a run during the test.
        let cfg = db.policies("schedule: \"0 0 0 1 1 *\"", &[("p.yaml", &policy(act))]);
        let state_db = match state {
            State::Sqlite => state_url(&db),
            State::Postgres => {
                db.state_on_postgres(&cfg);
                assert_eq!(run(db.lethe(&cfg).arg("check")).code, 0);
                db.url.clone()
            }
        };
        set_last_fire(&state_db, "crash", "2020-01-01T00:00:00Z").await;
        let what = format!("daemon {b:?} {act:?} (state on {state:?}) kill point {point}");
        let port = free_port();
        let mut daemon = spawn_daemon(&db, &cfg, port);
        first_batch(&db, act).await;
        let wait = rng.next() % 400;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        kill(&mut daemon);
        let at_kill = table(&db).await;
        check_partial(act, &at_kill, &what);
        let mid_run = first_difference(&at_kill, &expected(act)).is_some();

        // Started again: the killed run's instant was never recorded, so it is caught up.
        let port = free_port();
        let daemon = spawn_daemon(&db, &cfg, port);
        let body = if mid_run {
            scrape_until(port, "the run caught up", |m| {
                metric(m, RUNS_OK) == Some(1.0)
            })
        } else {
            scrape_until(port, "the restarted daemon", |_| true)
        };
        assert_eq!(
            metric(&body, "lethe_lease_busy_total").unwrap_or(0.0),
            0.0,
            "{what}: the killed daemon's lease kept the new one waiting\n{body}"
        );
        let diff = first_difference(&table(&db).await, &expected(act));
        assert_eq!(diff, None, "{what}: after the restart");
        assert_eq!(get(port, "/readyz").map(|r| r.0), Some(200), "{what}");
        sigterm(&daemon);
        let (code, err) = wait_exit(daemon, Duration::from_secs(15));
        assert_eq!(code, 0, "{what}: {err}");

        let again = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
        assert_eq!(
            again.code, 0,
            "{what}: apply after the daemon\n{}",
            again.stderr
        );
        assert_eq!(again.json()["policies"][0]["eligible"], 0, "{what}");
        let list = run(db.lethe(&cfg).args(["audit", "list"]));
        assert!(
            !mid_run || list.stdout.contains("unfinished"),
            "{what}: the killed run is not shown as unfinished\n{}",
            list.stdout
        );
        let v = run(db.lethe(&cfg).args(["audit", "verify"]));
        assert_eq!(v.code, 0, "{what}: audit verify\n{}", v.stdout);
        survived(&what, wait, "the first batch", mid_run);
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_daemon_during_delete_postgres() {
    campaign(Backend::Postgres, Act::Delete, State::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_daemon_during_anonymize_postgres_state_on_postgres() {
    campaign(Backend::Postgres, Act::Anonymize, State::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_daemon_during_delete_mariadb() {
    campaign(Backend::MariaDb, Act::Delete, State::Sqlite).await;
}
