//! Foreign keys read from the live schema: a due row that rows of other tables (or other rows
//! of its own table) still reference is kept, never a failed batch, and counted under
//! `referenced` with the referencing tables named. Once the rows that referenced it are gone,
//! the next run deletes it; a delete on a referencing table goes first in the same run.

use crate::on_every_backend;
use crate::support::{run, Backend, TestDb};

const AS_OF: &str = "2026-06-15T12:00:00Z";

const CUSTOMERS: &str = "kind: RetentionPolicy
name: old-customers
store: crm
table: customers
key: id
clock: { column: closed_at }
keep: 30d
action: delete
guard: { max_fraction: 1 }
";

const INVOICES: &str = "kind: RetentionPolicy
name: old-invoices
store: crm
table: invoices
key: id
clock: { column: issued_at }
keep: 30d
action: delete
guard: { max_fraction: 1 }
";

const FISCAL: &str = "kind: LegalHold
name: fiscal-retention
basis: Art. 52 AWR
store: crm
table: invoices
clock: { column: issued_at }
keep: 7y
";

/// Customers (each may name a parent customer), their contracts and their invoices. Contracts
/// cascade on delete: the rule does not matter, a referenced customer is kept all the same.
async fn schema(db: &TestDb) {
    let (pk, ts, int) = (db.ty("pk"), db.ty("ts"), db.ty("int"));
    db.exec(&format!(
        "CREATE TABLE customers (id {pk}, parent_id {int} NULL, closed_at {ts} NULL,
           FOREIGN KEY (parent_id) REFERENCES customers (id));
         CREATE TABLE contracts (id {pk}, customer_id {int} NOT NULL, ended_at {ts} NULL,
           FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE);
         CREATE TABLE invoices (id {pk}, customer_id {int} NOT NULL, issued_at {ts} NOT NULL,
           FOREIGN KEY (customer_id) REFERENCES customers (id));"
    ))
    .await;
}

fn plan(db: &TestDb, cfg: &std::path::Path) -> serde_json::Value {
    let r = run(db
        .lethe(cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.json()
}

fn apply(db: &TestDb, cfg: &std::path::Path) -> serde_json::Value {
    let r = run(db
        .lethe(cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.json()
}

/// Customers 1-6 closed long ago. 1 is referenced by a fiscally held invoice, 2 by a running
/// contract, 3 by both, 4 by customer 5 (its child); 5 and 6 by nothing. Customer 7 closed
/// last week. The plan foresees what apply does: 5 and 6 go, 1-4 stay, and say why; apply
/// exits 0. Once the rows that referenced them are gone, the next run deletes them.
async fn referenced_rows_are_kept_and_counted(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    schema(&db).await;
    let (old, recent) = (db.ts("2025-01-01 00:00:00"), db.ts("2026-06-10 00:00:00"));
    db.exec(&format!(
        "INSERT INTO customers (id, parent_id, closed_at) VALUES (1, NULL, {old}), (2, NULL, {old}),
           (3, NULL, {old}), (4, NULL, {old}), (6, NULL, {old}), (7, NULL, {recent});
         INSERT INTO customers (id, parent_id, closed_at) VALUES (5, 4, {old});
         INSERT INTO contracts (id, customer_id, ended_at) VALUES (20, 2, NULL), (21, 3, NULL);
         INSERT INTO invoices (id, customer_id, issued_at) VALUES (10, 1, {}), (11, 3, {});",
        db.ts("2024-01-01 00:00:00"),
        db.ts("2023-01-01 00:00:00"),
    ))
    .await;
    let cfg = db.policies("", &[("c.yaml", CUSTOMERS), ("h.yaml", FISCAL)]);

    let p = plan(&db, &cfg)["policies"][0].clone();
    assert_eq!(p["eligible"], 2, "{b:?}: {p}");
    assert_eq!(p["referenced"], 4, "{b:?}: {p}");
    assert_eq!(
        p["references"],
        serde_json::json!([
            {"table": "contracts", "referenced": 2},
            {"table": "invoices", "referenced": 2,
             "held": [{"hold": "fiscal-retention", "referenced": 2}]},
            {"table": "customers", "referenced": 1},
        ]),
        "{b:?}: {p}"
    );
    let text = run(db.lethe(&cfg).args(["plan", "--as-of", AS_OF]));
    assert!(
        text.stdout.contains(
            "kept 4: referenced by contracts (2), invoices (2, all held by fiscal-retention), customers (1)"
        ),
        "{b:?}: {}",
        text.stdout
    );
    // When the hold on invoice 11 (2023) has ended, that invoice still references customer 3
    // (no policy deletes it), but the hold no longer is what keeps it.
    let later = run(db.lethe(&cfg).args([
        "plan",
        "--format",
        "json",
        "--as-of",
        "2030-06-15T12:00:00Z",
    ]));
    assert_eq!(later.code, 0, "{}", later.stderr);
    assert_eq!(
        later.json()["policies"][0]["references"][1],
        serde_json::json!({"table": "invoices", "referenced": 2,
            "held": [{"hold": "fiscal-retention", "referenced": 1}]}),
        "{b:?}"
    );
    let md = run(db
        .lethe(&cfg)
        .args(["plan", "--format", "markdown", "--as-of", AS_OF]));
    assert!(
        md.stdout.contains("| referenced (kept) |")
            && md.stdout.contains(
                "- Kept 4 records: referenced by contracts (2), invoices (2, all held by fiscal-retention), customers (1)"
            ),
        "{b:?}: {}",
        md.stdout
    );

    let r = apply(&db, &cfg);
    assert_eq!(r["status"], "ok", "{b:?}: {r}");
    let out = &r["policies"][0];
    assert_eq!(out["deleted"], 2, "{b:?}: {r}");
    assert_eq!(out["failed"], 0, "{b:?}: {r}");
    // Counted again at the end: customer 4 is free now that 5 is gone, and due next run.
    assert_eq!(out["referenced"], 3, "{b:?}: {r}");
    assert_eq!(out["remaining"], 1, "{b:?}: {r}");
    assert_eq!(db.ids("customers").await, [1, 2, 3, 4, 7]);
    let audit = run(db.lethe(&cfg).args(["audit", "export"]));
    assert!(
        audit.stdout.contains("\"referenced\":3") || audit.stdout.contains("\"referenced\": 3"),
        "{b:?}: {}",
        audit.stdout
    );

    // The contracts end and are removed, the invoices leave the archive: nothing references
    // customers 1-4 any more, and the next run deletes them.
    db.exec("DELETE FROM contracts; DELETE FROM invoices;")
        .await;
    let r = apply(&db, &cfg);
    let out = &r["policies"][0];
    assert_eq!(out["deleted"], 4, "{b:?}: {r}");
    // Left out when 0, like every count a later version added.
    assert_eq!(out.get("referenced"), None, "{b:?}: {r}");
    assert_eq!(out["remaining"], 0, "{b:?}: {r}");
    assert_eq!(db.ids("customers").await, [7]);
    db.drop_db().await;
}

on_every_backend!(referenced_rows_are_kept_and_counted);

/// A delete on invoices and a delete on customers in one run, the customers' policy first in
/// the folder: the invoices go first, so customer 1, whose only invoice is due, goes in the
/// same run; customer 2 stays for its fiscally held invoice. A reviewed plan foresees it.
async fn children_go_first_in_the_same_run(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    schema(&db).await;
    let old = db.ts("2025-01-01 00:00:00");
    db.exec(&format!(
        "INSERT INTO customers (id, parent_id, closed_at) VALUES (1, NULL, {old}), (2, NULL, {old}),
           (3, NULL, {old});
         INSERT INTO invoices (id, customer_id, issued_at) VALUES (10, 1, {}), (11, 2, {});",
        db.ts("2010-01-01 00:00:00"),
        db.ts("2024-01-01 00:00:00"),
    ))
    .await;
    let cfg = db.policies(
        "",
        &[
            ("a.yaml", CUSTOMERS),
            ("b.yaml", INVOICES),
            ("h.yaml", FISCAL),
        ],
    );
    let file = db.dir.path().join("reviewed.json");
    let r = run(db.lethe(&cfg).args([
        "plan",
        "--format",
        "json",
        "--as-of",
        AS_OF,
        "--plan-file",
        file.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let p = r.json();
    let names: Vec<&str> = (p["policies"].as_array().unwrap().iter())
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["old-invoices", "old-customers"], "{b:?}: {p}");
    assert_eq!(p["policies"][0]["eligible"], 1, "{b:?}: {p}");
    assert_eq!(p["policies"][0]["held"], 1, "{b:?}: {p}");
    assert_eq!(p["policies"][1]["eligible"], 2, "{b:?}: {p}");
    assert_eq!(p["policies"][1]["referenced"], 1, "{b:?}: {p}");

    let r = run(db.lethe(&cfg).args([
        "apply",
        "--yes",
        "--format",
        "json",
        "--plan",
        file.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{b:?}: {}\n{}", r.stdout, r.stderr);
    let r = r.json();
    assert_eq!(r["policies"][0]["deleted"], 1, "{b:?}: {r}");
    assert_eq!(r["policies"][1]["deleted"], 2, "{b:?}: {r}");
    assert_eq!(r["policies"][1]["referenced"], 1, "{b:?}: {r}");
    assert_eq!(r["policies"][1]["remaining"], 0, "{b:?}: {r}");
    assert_eq!(db.ids("customers").await, [2]);
    assert_eq!(db.ids("invoices").await, [11]);
    db.drop_db().await;
}

on_every_backend!(children_go_first_in_the_same_run);

/// PostgreSQL keeps a foreign key into a partitioned table as one catalog row per referenced
/// partition: a policy on a leaf partition sees the references into it, from a referencing
/// table that is partitioned too. The referenced rows are kept, and once a hold covers the
/// referencing table, the cascading key into it is refused before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_into_a_leaf_partition_are_seen_postgres() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    db.exec(
        "CREATE TABLE customers (id BIGINT NOT NULL, closed_at TIMESTAMPTZ NULL, PRIMARY KEY (id))
           PARTITION BY RANGE (id);
         CREATE TABLE customers_low PARTITION OF customers FOR VALUES FROM (0) TO (100);
         CREATE TABLE customers_high PARTITION OF customers FOR VALUES FROM (100) TO (200);
         CREATE TABLE orders (id BIGINT NOT NULL, customer_id BIGINT NOT NULL, PRIMARY KEY (id),
           FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE)
           PARTITION BY RANGE (id);
         CREATE TABLE orders_a PARTITION OF orders FOR VALUES FROM (0) TO (1000);
         CREATE TABLE orders_b PARTITION OF orders FOR VALUES FROM (1000) TO (2000);
         INSERT INTO customers (id, closed_at) VALUES (1, '2025-01-01+00'), (2, '2025-01-01+00'),
           (3, '2025-01-01+00'), (150, '2025-01-01+00');
         INSERT INTO orders (id, customer_id) VALUES (10, 1), (1500, 2), (11, 150);",
    )
    .await;
    let policy = CUSTOMERS.replace("table: customers", "table: customers_low");
    let cfg = db.policies("", &[("c.yaml", &policy)]);
    let p = plan(&db, &cfg)["policies"][0].clone();
    assert_eq!(p["eligible"], 1, "{p}");
    assert_eq!(p["referenced"], 2, "{p}");
    let r = apply(&db, &cfg);
    assert_eq!(r["policies"][0]["deleted"], 1, "{r}");
    assert_eq!(db.ids("customers").await, [1, 2, 150]);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM orders").await,
        3,
        "no order cascaded"
    );

    let hold = "kind: LegalHold\nname: order-dispute\nbasis: case 9\nstore: crm\ntable: orders\n";
    std::fs::write(cfg.join("h.yaml"), hold).unwrap();
    let refused = run(db.lethe(&cfg).args(["plan", "--as-of", AS_OF]));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("`orders` references it with ON DELETE CASCADE"),
        "{}",
        refused.stderr
    );
    db.drop_db().await;
}
