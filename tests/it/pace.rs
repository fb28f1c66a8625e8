//! Time-bounded batches: on a table where every row costs time (a trigger sleeps per deleted
//! row), the batch shrinks until each statement takes about `batch_target`; a `batch_size`
//! keeps the batch fixed; giving both is refused at its place.

use crate::support::{run, Backend, TestDb};

const POLICY: &str = "kind: RetentionPolicy\nname: slow-rows\nstore: crm\ntable: slow\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";
const ROWS: i64 = 3000;

async fn slow_table(db: &TestDb) {
    let (pk, ts) = (db.ty("pk"), db.ty("ts"));
    db.exec(&format!("CREATE TABLE slow (id {pk}, created_at {ts})"))
        .await;
    // About 1 ms per deleted row.
    match db.backend {
        Backend::Postgres => {
            db.exec(
                "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.001); RETURN OLD; END $$;
                 CREATE TRIGGER slow_delete BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION slow_row();",
            )
            .await
        }
        Backend::MariaDb => {
            db.exec("CREATE TRIGGER slow_delete BEFORE DELETE ON slow FOR EACH ROW SET @lethe_pace = SLEEP(0.001)")
                .await
        }
        Backend::Sqlite => unreachable!("SQLite has no sleep"),
    }
    let old = db.ts("2020-01-01 00:00:00");
    for chunk in (1..=ROWS).collect::<Vec<_>>().chunks(1000) {
        let values: Vec<String> = chunk.iter().map(|i| format!("({i}, {old})")).collect();
        db.exec(&format!(
            "INSERT INTO slow (id, created_at) VALUES {}",
            values.join(", ")
        ))
        .await;
    }
}

async fn batches_shrink_to_the_target_where_rows_cost_more(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    slow_table(&db).await;
    let cfg = db.policies("batch_target: 100ms", &[("slow.yaml", POLICY)]);
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(r.code, 0, "{b:?}: {}\n{}", r.stdout, r.stderr);
    let p = &r.json()["policies"][0];
    assert_eq!(p["deleted"], ROWS, "{b:?}: {p}");
    let t = &p["batch_times"];
    let (p50, last, batches) = (
        t["p50_ms"].as_u64().unwrap(),
        t["last_size"].as_u64().unwrap(),
        p["batches"].as_u64().unwrap(),
    );
    // The first batch of 1000 rows takes about a second; the rest near 100 ms.
    assert!((40..=250).contains(&p50), "{b:?}: p50 {p50} ms: {p}");
    assert!(
        (25..=250).contains(&last),
        "{b:?}: last batch {last} rows: {p}"
    );
    assert!(batches >= 10, "{b:?}: {batches} batches: {p}");
    assert!(
        t["max_ms"].as_u64().unwrap() >= 500,
        "{b:?}: the first batch: {p}"
    );
    let text = run(db.lethe(&cfg).args(["apply", "--yes"]));
    assert_eq!(text.code, 0, "{b:?}: {}", text.stderr);
    db.drop_db().await;
}

/// A fixed `batch_size` stays fixed however long a statement takes.
async fn a_batch_size_stays_fixed(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    slow_table(&db).await;
    let policy = format!("{POLICY}batch_size: 1500\n");
    let cfg = db.policies("", &[("slow.yaml", &policy)]);
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(r.code, 0, "{b:?}: {}\n{}", r.stdout, r.stderr);
    let p = &r.json()["policies"][0];
    assert_eq!(
        (
            p["batches"].as_u64(),
            p["batch_times"]["last_size"].as_u64()
        ),
        (Some(2), Some(1500)),
        "{b:?}: {p}"
    );
    db.drop_db().await;
}

mod batches_shrink_to_the_target_where_rows_cost_more {
    use crate::support::Backend;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::batches_shrink_to_the_target_where_rows_cost_more(Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mariadb() {
        super::batches_shrink_to_the_target_where_rows_cost_more(Backend::MariaDb).await
    }
}

mod a_batch_size_stays_fixed {
    use crate::support::Backend;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_batch_size_stays_fixed(Backend::Postgres).await
    }
}

#[tokio::test]
async fn batch_size_and_batch_target_together_are_refused_at_their_place() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let policy = format!("{POLICY}batch_size: 100\nbatch_target: 50ms\n");
    let cfg = db.policies("", &[("slow.yaml", &policy)]);
    let r = run(db.lethe(&cfg).args(["check"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("slow.yaml:11:")
            && r.stderr.contains("either `batch_size`")
            && r.stderr.contains("not both"),
        "{}",
        r.stderr
    );
    let cfg = db.policies("batch_target: 200", &[("slow.yaml", POLICY)]);
    let r = run(db.lethe(&cfg).args(["check"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("expected a duration such as `200ms`"),
        "{}",
        r.stderr
    );
    db.drop_db().await;
}
