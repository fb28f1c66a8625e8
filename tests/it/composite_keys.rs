//! Composite keys: `key: [customer_id, seq]` pages through a table whose primary key has two
//! columns, batches crossing from one customer to the next, on every database; a key that does
//! not identify the rows is refused at `lethe check`.

use crate::on_every_backend;
use crate::support::{run, Backend, TestDb};
use std::collections::BTreeSet;

const AS_OF: &str = "2026-06-15T12:00:00Z";

/// Customers 1-30 with orders 1-13 each (390 rows).
const CUSTOMERS: i64 = 30;
const ORDERS: i64 = 13;

/// The held customer.
const HELD: i64 = 5;

const DELETE_ORDERS: &str = "kind: RetentionPolicy
name: old-orders
store: crm
table: orders
key: [customer_id, seq]
clock: { column: created_at }
keep: 30d
action: delete
batch_size: 7
guard: { max_fraction: 1 }
";

const HOLD: &str = "kind: LegalHold
name: customer-5-dispute
basis: Rechtszaak 2026-117
store: crm
table: orders
match: { customer_id: 5 }
";

/// True when the test's model says an order was created long ago (due); the others were
/// created last week.
fn old(customer: i64, seq: i64) -> bool {
    (customer * 7 + seq) % 3 != 0
}

/// How many orders are due when no hold keeps any.
fn due_orders() -> usize {
    (1..=CUSTOMERS)
        .flat_map(|c| (1..=ORDERS).map(move |s| (c, s)))
        .filter(|(c, s)| old(*c, *s))
        .count()
}

/// `orders` with `PRIMARY KEY (customer_id, seq)`, every order of every customer, created long
/// ago or last week as `old` says. Inserted in one statement per customer.
async fn orders(db: &TestDb, second: &str) {
    let (ts, text, int) = (db.ty("ts"), db.ty("text"), db.ty("int"));
    db.exec(&format!(
        "CREATE TABLE orders (customer_id {int} NOT NULL, seq {second} NOT NULL,
           email {text} NULL, created_at {ts} NULL, PRIMARY KEY (customer_id, seq))"
    ))
    .await;
    let (long_ago, recent) = (db.ts("2025-01-01 00:00:00"), db.ts("2026-06-10 00:00:00"));
    for c in 1..=CUSTOMERS {
        let rows: Vec<String> = (1..=ORDERS)
            .map(|s| {
                let at = if old(c, s) { &long_ago } else { &recent };
                format!(
                    "({c}, {}, 'c{c}-{s}@example.nl', {at})",
                    seq_value(second, s)
                )
            })
            .collect();
        db.exec(&format!(
            "INSERT INTO orders (customer_id, seq, email, created_at) VALUES {}",
            rows.join(", ")
        ))
        .await;
    }
}

/// An order number as the `seq` column holds it: a number, or text that sorts differently
/// from the number (`s10` before `s2`).
fn seq_value(second: &str, s: i64) -> String {
    if second.contains("INT") {
        s.to_string()
    } else {
        format!("'s{s}'")
    }
}

/// The (customer, order) pairs left in `orders`, as text.
async fn left(db: &TestDb) -> BTreeSet<(String, String)> {
    db.dump(&format!(
        "SELECT {}, {} FROM orders",
        db.text("customer_id"),
        db.text("seq")
    ))
    .await
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
    .collect()
}

fn apply(db: &TestDb, cfg: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let r = run(db
        .lethe(cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF])
        .args(extra));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.json()
}

/// 390 orders under a two-column primary key, deleted in batches of 7 that cross from one
/// customer to the next: exactly the due orders of the customers that no hold covers are
/// gone, and the run says it left nothing due.
async fn due_rows_go_in_batches_across_customers(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    orders(&db, db.ty("int")).await;
    let cfg = db.policies("", &[("p.yaml", DELETE_ORDERS), ("h.yaml", HOLD)]);
    let check = run(db.lethe(&cfg).arg("check"));
    assert_eq!(check.code, 0, "{b:?}: {}\n{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains(
            "policy old-orders: ok (delete on crm.orders by key (customer_id, seq), keep 30d)"
        ),
        "{b:?}: {}",
        check.stdout
    );

    let mut expected = BTreeSet::new();
    let mut due = 0;
    for c in 1..=CUSTOMERS {
        for s in 1..=ORDERS {
            if old(c, s) && c != HELD {
                due += 1;
            } else {
                expected.insert((c.to_string(), s.to_string()));
            }
        }
    }
    let report = apply(&db, &cfg, &[]);
    let p = &report["policies"][0];
    assert_eq!(p["deleted"], due, "{b:?}: {p}");
    assert_eq!(p["remaining"], 0, "{b:?}: {p}");
    assert!(p["batches"].as_u64().unwrap() >= due / 7, "{b:?}: {p}");
    assert_eq!(left(&db).await, expected, "{b:?}");
    db.drop_db().await;
}

/// A policy without `key:` pages by the table's primary key, both of its columns: the due
/// orders go, the others stay.
async fn the_primary_key_is_the_default_key(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    orders(&db, db.ty("int")).await;
    let policy = DELETE_ORDERS.replace("key: [customer_id, seq]\n", "");
    let cfg = db.policies("", &[("p.yaml", &policy)]);
    let check = run(db.lethe(&cfg).arg("check"));
    assert!(
        check
            .stdout
            .contains("(delete on crm.orders by the primary key (customer_id, seq), keep 30d)"),
        "{b:?}: {}\n{}",
        check.stdout,
        check.stderr
    );
    let report = apply(&db, &cfg, &[]);
    let p = &report["policies"][0];
    let due = due_orders();
    assert_eq!(p["deleted"], due, "{b:?}: {p}");
    assert_eq!(p["remaining"], 0, "{b:?}: {p}");
    assert_eq!(left(&db).await.len(), (CUSTOMERS * ORDERS) as usize - due);
    db.drop_db().await;
}

/// Order lines reference their order through both key columns: a due order that a line still
/// references is kept (the DELETE's own `NOT EXISTS` on the pair) and counted under
/// `referenced`, the other due orders go.
async fn orders_referenced_by_both_columns_are_kept(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    orders(&db, db.ty("int")).await;
    let int = db.ty("int");
    db.exec(&format!(
        "CREATE TABLE order_lines (customer_id {int} NOT NULL, seq {int} NOT NULL, n {int} NOT NULL,
           PRIMARY KEY (customer_id, seq, n),
           FOREIGN KEY (customer_id, seq) REFERENCES orders (customer_id, seq));
         INSERT INTO order_lines (customer_id, seq, n) VALUES (1, 1, 1), (1, 1, 2), (1, 3, 1), (3, 1, 1), (2, 1, 1)"
    ))
    .await;
    // Orders (1, 1), (1, 3) and (3, 1) are due; (2, 1) is not.
    assert!(old(1, 1) && old(1, 3) && old(3, 1) && !old(2, 1));
    let cfg = db.policies("", &[("p.yaml", DELETE_ORDERS)]);
    let report = apply(&db, &cfg, &[]);
    let p = &report["policies"][0];
    assert_eq!(p["deleted"], due_orders() - 3, "{b:?}: {p}");
    assert_eq!(p["referenced"], 3, "{b:?}: {p}");
    assert_eq!(
        p["references"],
        serde_json::json!([{"table": "order_lines", "referenced": 3}]),
        "{b:?}: {p}"
    );
    let left = left(&db).await;
    for (c, s) in [(1, 1), (1, 3), (3, 1)] {
        assert!(
            left.contains(&(c.to_string(), s.to_string())),
            "{b:?}: ({c}, {s})"
        );
    }
    db.drop_db().await;
}

/// A composite key whose second column is text (`s10` sorts before `s2`) anonymized row by row
/// (`hmac`, computed in lethe): every due order is masked once, the others keep their values,
/// and a second run finds nothing to do; then in SQL (`redact`) over the same key.
async fn anonymize_under_a_composite_key(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    orders(&db, db.ty("text")).await;
    let policy = "kind: RetentionPolicy
name: mask-orders
store: crm
table: orders
key: [customer_id, seq]
clock: { column: created_at }
keep: 30d
action:
  anonymize: { email: hmac }
batch_size: 5
guard: { max_fraction: 1 }
";
    let cfg = db.policies("", &[("p.yaml", policy)]);
    let report = apply(&db, &cfg, &[]);
    let p = &report["policies"][0];
    let due = due_orders();
    assert_eq!(p["anonymized"], due, "{b:?}: {p}");
    assert_eq!(p["remaining"], 0, "{b:?}: {p}");
    let rows = db
        .dump(&format!(
            "SELECT {}, email FROM orders",
            db.text("customer_id")
        ))
        .await;
    let masked = rows
        .iter()
        .filter(|r| r[1].as_deref().unwrap().starts_with("hmac:"))
        .count();
    assert_eq!(masked, due, "{b:?}");
    let again = apply(&db, &cfg, &[]);
    assert_eq!(again["policies"][0]["anonymized"], 0, "{b:?}: {again}");
    // In SQL (`redact`): one UPDATE per page over the page's key range.
    std::fs::write(
        cfg.join("p.yaml"),
        policy.replace("email: hmac", "email: redact"),
    )
    .unwrap();
    let redacted = apply(&db, &cfg, &[]);
    assert_eq!(
        redacted["policies"][0]["anonymized"], due,
        "{b:?}: {redacted}"
    );
    let n = db
        .count("SELECT COUNT(*) FROM orders WHERE email = '[redacted]'")
        .await;
    assert_eq!(n as usize, due, "{b:?}");
    db.drop_db().await;
}

/// `--shard I/N` splits a composite key on its first column: two shards together delete every
/// due order, each only its own customers.
async fn shards_split_on_the_first_key_column(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    orders(&db, db.ty("int")).await;
    let cfg = db.policies("", &[("p.yaml", DELETE_ORDERS)]);
    let first = apply(&db, &cfg, &["--shard", "0/2"]);
    let even_left = left(&db)
        .await
        .iter()
        .filter(|(c, s)| {
            let (c, s): (i64, i64) = (c.parse().unwrap(), s.parse().unwrap());
            c % 2 == 0 && old(c, s)
        })
        .count();
    assert_eq!(
        even_left, 0,
        "{b:?}: shard 0 takes the even customers: {first}"
    );
    apply(&db, &cfg, &["--shard", "1/2"]);
    let due_left = left(&db)
        .await
        .iter()
        .filter(|(c, s)| old(c.parse().unwrap(), s.parse().unwrap()))
        .count();
    assert_eq!(due_left, 0, "{b:?}");
    db.drop_db().await;
}

/// A composite key that starts with a text column cannot be split by key class: `--shard`
/// refuses it (exit 2) and says what changes it, and nothing is deleted.
async fn shards_refuse_a_composite_key_that_starts_with_text(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    orders(&db, db.ty("text")).await;
    let policy = DELETE_ORDERS.replace("key: [customer_id, seq]", "key: [seq, customer_id]");
    let cfg = db.policies("", &[("p.yaml", &policy)]);
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--as-of", AS_OF, "--shard", "0/2"]));
    assert_eq!(r.code, 2, "{b:?}: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("policy `old-orders` (key (seq, customer_id))")
            && r.stderr.contains("put an integer column first in `key`"),
        "{b:?}: {}",
        r.stderr
    );
    assert_eq!(
        left(&db).await.len(),
        (CUSTOMERS * ORDERS) as usize,
        "{b:?}"
    );
    db.drop_db().await;
}

/// A deletion certificate narrows a composite-key policy to one customer: customer 1, whose
/// contract ended long ago, has every order deleted (complete); customer 2's orders wait for
/// their contract's end.
async fn certificates_narrow_a_composite_key_policy(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    orders(&db, db.ty("int")).await;
    let (pk, int, ts) = (db.ty("pk"), db.ty("int"), db.ty("ts"));
    let now = chrono::Utc::now();
    let day = |d: i64| {
        db.ts(&(now - chrono::Duration::days(d))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string())
    };
    db.exec(&format!(
        "CREATE TABLE contracts (id {pk}, customer_id {int} NOT NULL, terminated_at {ts} NULL);
         INSERT INTO contracts (id, customer_id, terminated_at) VALUES (1, 1, {}), (2, 2, {})",
        day(200),
        day(10)
    ))
    .await;
    let policy = "kind: RetentionPolicy
name: orders-after-contract
store: crm
table: orders
key: [customer_id, seq]
clock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }
keep: 30d
action: delete
batch_size: 4
guard: { max_fraction: 1 }
";
    let signing = crate::certificate::key_file(db.dir.path());
    let cfg = db.policies(
        &format!("signing_key_file: {}", signing.display()),
        &[("p.yaml", policy)],
    );
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(r.code, 0, "{b:?}: {}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.json()["policies"][0]["deleted"],
        ORDERS,
        "{b:?}: {}",
        r.stdout
    );
    let certificate = |subject: &str| {
        let (c, _) = crate::certificate::certificate(&db, &cfg, subject);
        let finding = c["policies"][0].clone();
        assert_eq!(finding["policy"], "orders-after-contract", "{b:?}: {c}");
        (c, finding)
    };
    let (c, f) = certificate("customer_id=1");
    assert_eq!(c["complete"], true, "{b:?}: {c}");
    assert_eq!(
        (f["status"].as_str(), f["remaining"].as_u64()),
        (Some("deleted"), Some(0)),
        "{b:?}: {f}"
    );
    let (c, f) = certificate("customer_id=2");
    assert_eq!(c["complete"], false, "{b:?}: {c}");
    assert_eq!(
        (f["status"].as_str(), f["waiting"].as_i64()),
        (Some("not_yet_due"), Some(ORDERS)),
        "{b:?}: {f}"
    );
    db.drop_db().await;
}

/// `lethe check` with the policy of `key` (none: no `key:` line) on `table`: exit 2, and the
/// message.
fn refused(db: &TestDb, table: &str, key: Option<&str>) -> String {
    let key = key.map(|k| format!("key: {k}\n")).unwrap_or_default();
    let policy = format!(
        "kind: RetentionPolicy
name: keyless
store: crm
table: {table}
{key}clock: {{ column: created_at }}
keep: 30d
action: delete
"
    );
    let cfg = db.policies("", &[("p.yaml", &policy)]);
    let r = run(db.lethe(&cfg).arg("check"));
    assert_eq!(r.code, 2, "{:?}: {}\n{}", db.backend, r.stdout, r.stderr);
    r.stderr
}

/// A table without a primary key or unique index is refused, and so is a key that leaves out a
/// column of the primary key, or a unique column that accepts NULL: batches ordered by such a
/// key would skip or repeat rows.
async fn keys_that_do_not_identify_rows_are_refused(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let (ts, int, text) = (db.ty("ts"), db.ty("int"), db.ty("text"));
    db.exec(&format!(
        "CREATE TABLE notes (customer_id {int} NOT NULL, seq {int} NOT NULL, created_at {ts} NULL);
         CREATE TABLE visits (customer_id {int} NOT NULL, seq {int} NOT NULL, created_at {ts} NULL,
           PRIMARY KEY (customer_id, seq));
         CREATE TABLE people (id {int} NOT NULL, email {text} NULL, created_at {ts} NULL);
         CREATE UNIQUE INDEX people_email ON people (email);"
    ))
    .await;
    let why = refused(&db, "notes", Some("[customer_id, seq]"));
    assert!(
        why.contains("policy `keyless`: key (customer_id, seq) does not identify the rows of `notes` (table `notes` has no primary key and no unique index)"),
        "{b:?}: {why}"
    );
    assert!(
        why.contains("must be the table's primary key, or include the columns of a unique index"),
        "{b:?}: {why}"
    );
    let why = refused(&db, "visits", Some("customer_id"));
    assert!(
        why.contains("key customer_id does not identify the rows of `visits` (table `visits` has primary key (customer_id, seq))"),
        "{b:?}: {why}"
    );
    let why = refused(&db, "notes", None);
    assert!(
        why.contains(
            "policy `keyless`: table `notes` has no primary key, so the policy needs `key:`"
        ),
        "{b:?}: {why}"
    );
    let why = refused(&db, "people", Some("email"));
    assert!(
        why.contains("key column(s) `email` of table `people` accept NULL"),
        "{b:?}: {why}"
    );
    match b {
        // SQLite keeps NULL in a primary key column unless it says NOT NULL (the rowid aside),
        // a column without a type sorts numbers apart from text, and an index under another
        // collation than its column's orders otherwise than the key's statements.
        Backend::Sqlite => {
            db.exec(
                "CREATE TABLE loose (customer_id INTEGER, seq INTEGER, created_at TEXT, PRIMARY KEY (customer_id, seq));
                 CREATE TABLE untyped (code NOT NULL PRIMARY KEY, created_at TEXT);
                 CREATE TABLE coded (code TEXT NOT NULL COLLATE NOCASE, created_at TEXT);
                 CREATE UNIQUE INDEX coded_code ON coded (code COLLATE BINARY);",
            )
            .await;
            let why = refused(&db, "loose", None);
            assert!(
                why.contains("`customer_id`, `seq` of table `loose` accept NULL"),
                "{why}"
            );
            let why = refused(&db, "untyped", None);
            assert!(
                why.contains("key column `code` has no declared type"),
                "{why}"
            );
            let why = refused(&db, "coded", Some("code"));
            assert!(why.contains("declares a COLLATE"), "{why}");
        }
        // An index under another collation than its column's covers nothing.
        Backend::Postgres => {
            db.exec(
                "CREATE TABLE coded (code TEXT NOT NULL COLLATE \"C\", created_at TIMESTAMPTZ);
                 CREATE UNIQUE INDEX coded_code ON coded (code COLLATE \"POSIX\");",
            )
            .await;
            let why = refused(&db, "coded", Some("code"));
            assert!(
                why.contains("key code does not identify the rows of `coded`"),
                "{why}"
            );
        }
        // ENUM orders by declared position, not by its text.
        Backend::MariaDb => {
            db.exec(
                "CREATE TABLE docs (kind ENUM('quote', 'invoice') NOT NULL PRIMARY KEY, created_at DATETIME);",
            )
            .await;
            let why = refused(&db, "docs", None);
            assert!(why.contains("key column `kind` is `enum"), "{why}");
        }
    }
    db.drop_db().await;
}

on_every_backend!(
    due_rows_go_in_batches_across_customers,
    the_primary_key_is_the_default_key,
    orders_referenced_by_both_columns_are_kept,
    anonymize_under_a_composite_key,
    shards_split_on_the_first_key_column,
    shards_refuse_a_composite_key_that_starts_with_text,
    certificates_narrow_a_composite_key_policy,
    keys_that_do_not_identify_rows_are_refused,
);
