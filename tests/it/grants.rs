//! Least privilege: lethe runs with only the GRANTs that docs/operate/databases.md documents.
//!
//! The store user gets `SELECT, DELETE, UPDATE` on the policy tables and `SELECT` on the table a
//! join clock reads, nothing else; on PostgreSQL the state database belongs to a second role
//! that owns only that database. `check`, `plan`, `holds add`, `apply` and `audit verify` all
//! work, and the store user is shown to lack anything more (DDL, other tables).

use crate::support::{run, Backend, TestDb};
use lethe::store::SqlStore;

const AS_OF: &str = "2026-06-15T12:00:00Z";

fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

const POLICIES: &[(&str, &str)] = &[
    (
        "leads.yaml",
        "kind: RetentionPolicy\nname: stale-leads\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n",
    ),
    (
        "invoices.yaml",
        "kind: RetentionPolicy\nname: invoice-contacts\nstore: crm\ntable: invoices\nkey: id\nclock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction:\n  anonymize:\n    email: hmac\nguard: { max_fraction: 1 }\n",
    ),
    (
        "hold.yaml",
        "kind: LegalHold\nname: dispute-7\nbasis: litigation with customer 7\nstore: crm\ntable: leads\nmatch: { customer_id: 7 }\n",
    ),
];

/// The shared CRM schema plus `invoices` and a table no grant covers; leads 1-6 are due (3 and 6
/// held by customer 7), 7-8 are new; invoices of customer 1 (contract ended) and 2 (running).
async fn seed(db: &TestDb) {
    db.crm_schema().await;
    let (pk, ts, text, int) = (db.ty("pk"), db.ty("ts"), db.ty("text"), db.ty("int"));
    db.exec(&format!(
        "CREATE TABLE invoices (id {pk}, customer_id {int} NOT NULL, email {text} NULL, issued_at {ts} NULL);
         CREATE TABLE payroll (id {pk}, salary {int} NULL);"
    ))
    .await;
    let (old, new) = (db.ts("2026-01-01 00:00:00"), db.ts("2026-06-14 00:00:00"));
    for id in 1..=8 {
        let customer = if id % 3 == 0 { 7 } else { 1 };
        let at = if id <= 6 { &old } else { &new };
        db.exec(&format!(
            "INSERT INTO leads (id, customer_id, email, status, created_at) VALUES ({id}, {customer}, 'lead{id}@example.test', 'new', {at})"
        ))
        .await;
    }
    db.exec(&format!(
        "INSERT INTO contracts (id, customer_id, terminated_at) VALUES (1, 1, {old}), (2, 2, NULL);
         INSERT INTO invoices (id, customer_id, email, issued_at) VALUES
           (1, 1, 'inv1@example.test', {old}), (2, 1, 'inv2@example.test', {old}), (3, 2, 'inv3@example.test', {old});"
    ))
    .await;
}

/// Creates the store user with exactly the documented grants; returns its URL and the
/// statements that remove it again.
async fn worker(db: &TestDb, admin: &SqlStore, name: &str) -> (String, Vec<String>) {
    let database = db.url.rsplit('/').next().unwrap().to_string();
    match db.backend {
        Backend::Postgres => {
            admin
                .execute_script(&format!(
                    "CREATE ROLE {name} LOGIN PASSWORD 'pw';
                     GRANT CONNECT ON DATABASE {database} TO {name};"
                ))
                .await
                .unwrap();
            db.exec(&format!(
                "GRANT USAGE ON SCHEMA public TO {name};
                 GRANT SELECT, DELETE, UPDATE ON leads, invoices TO {name};
                 GRANT SELECT ON contracts TO {name};"
            ))
            .await;
            (
                format!("postgres://{name}:pw@127.0.0.1:5432/{database}"),
                vec![format!("DROP ROLE IF EXISTS {name}")],
            )
        }
        _ => {
            let mut drops = Vec::new();
            for host in ["127.0.0.1", "localhost"] {
                let user = format!("'{name}'@'{host}'");
                admin
                    .execute_script(&format!(
                        "CREATE USER {user} IDENTIFIED BY 'pw';
                         GRANT SELECT, DELETE, UPDATE ON {database}.leads TO {user};
                         GRANT SELECT, DELETE, UPDATE ON {database}.invoices TO {user};
                         GRANT SELECT ON {database}.contracts TO {user};"
                    ))
                    .await
                    .unwrap();
                drops.push(format!("DROP USER IF EXISTS {user}"));
            }
            let port = db.url.split(':').nth(2).unwrap().split('/').next().unwrap();
            (
                format!("mysql://{name}:pw@127.0.0.1:{port}/{database}"),
                drops,
            )
        }
    }
}

fn admin_url(db: &TestDb) -> String {
    let (var, default) = match db.backend {
        Backend::Postgres => (
            "LETHE_TEST_POSTGRES_URL",
            "postgres://root@127.0.0.1:5432/postgres",
        ),
        _ => ("LETHE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
    };
    std::env::var(var).unwrap_or_else(|_| default.into())
}

async fn least_privilege(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    let admin = SqlStore::connect("admin", &admin_url(&db)).await.unwrap();
    let sfx = suffix();
    let (store_url, mut drops) = worker(&db, &admin, &format!("lethe_w_{sfx}")).await;

    // The store user can do no more than the grants say.
    let as_worker = SqlStore::connect("worker", &store_url).await.unwrap();
    for sql in [
        "CREATE TABLE intruder (id INTEGER)",
        "SELECT COUNT(*) FROM payroll",
        "INSERT INTO leads (id, status) VALUES (99, 'x')",
    ] {
        assert!(
            as_worker.execute_script(sql).await.is_err(),
            "{b:?}: the store user may run {sql}"
        );
    }
    as_worker.close().await;

    let cfg = db.policies("", POLICIES);
    let mut settings = std::fs::read_to_string(cfg.join("lethe.yaml"))
        .unwrap()
        .replace(&db.url, &store_url);
    // On PostgreSQL the state database is owned by its own role, as documented.
    if b == Backend::Postgres {
        let owner = format!("lethe_s_{sfx}");
        let state_db = format!("lethe_t_s_{sfx}");
        for sql in [
            format!("CREATE ROLE {owner} LOGIN PASSWORD 'pw'"),
            format!("CREATE DATABASE {state_db} OWNER {owner}"),
        ] {
            admin.execute_script(&sql).await.unwrap();
        }
        drops.insert(
            0,
            format!("DROP DATABASE IF EXISTS {state_db} WITH (FORCE)"),
        );
        drops.push(format!("DROP ROLE IF EXISTS {owner}"));
        let state_url = format!("postgres://{owner}:pw@127.0.0.1:5432/{state_db}");
        settings = settings
            .lines()
            .map(|l| {
                if l.starts_with("state:") {
                    format!("state: {state_url}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    std::fs::write(cfg.join("lethe.yaml"), settings).unwrap();

    let check = run(db.lethe(&cfg).arg("check"));
    assert_eq!(
        check.code, 0,
        "{b:?}: check\n{}\n{}",
        check.stdout, check.stderr
    );
    let plan = run(db
        .lethe(&cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(
        plan.code, 0,
        "{b:?}: plan\n{}\n{}",
        plan.stdout, plan.stderr
    );
    let hold = run(db.lethe(&cfg).args([
        "holds", "add", "--store", "crm", "--table", "leads", "--match", "id=1", "--reason",
        "case 12",
    ]));
    assert_eq!(
        hold.code, 0,
        "{b:?}: holds add\n{}\n{}",
        hold.stdout, hold.stderr
    );
    let apply = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(
        apply.code, 0,
        "{b:?}: apply\n{}\n{}",
        apply.stdout, apply.stderr
    );
    // Due leads 1-6 less the held ones (1 by the runtime hold, 3 and 6 by dispute-7) are gone.
    assert_eq!(db.ids("leads").await, vec![1, 3, 6, 7, 8], "{b:?}");
    let masked = db
        .count("SELECT COUNT(*) FROM invoices WHERE email LIKE 'hmac:%'")
        .await;
    assert_eq!(masked, 2, "{b:?}: invoices of the ended contract");
    let verify = run(db.lethe(&cfg).args(["audit", "verify"]));
    assert_eq!(verify.code, 0, "{b:?}: audit verify\n{}", verify.stdout);

    db.drop_db().await;
    for sql in drops {
        admin.execute_script(&sql).await.unwrap();
    }
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_grants_suffice_postgres() {
    least_privilege(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_grants_suffice_mariadb() {
    least_privilege(Backend::MariaDb).await;
}
