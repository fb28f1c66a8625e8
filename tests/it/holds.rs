//! Legal holds always win: declared and runtime holds, on SQLite, PostgreSQL and MariaDB.

use crate::on_every_backend;
use crate::support::{run, Backend, TestDb};

const AS_OF: &str = "2026-06-15T12:00:00Z";

const DELETE_OLD: &str = "kind: RetentionPolicy
name: old-leads
store: crm
table: leads
key: id
clock: { column: created_at }
keep: 30d
action: delete
guard: { max_fraction: 1 }
";

/// Leads 1..=20, all old, customers 1..=5 (lead i belongs to customer 1 + i % 5), status
/// `disputed` for leads 1-4; lead 20 has no `created_at` under the hold's own clock column.
async fn seed(db: &TestDb) {
    db.crm_schema().await;
    let old = db.ts("2026-01-01 00:00:00");
    let values: Vec<String> = (1..=20)
        .map(|i| {
            let status = if i <= 4 { "disputed" } else { "new" };
            format!("({i}, {}, '{status}', {old})", 1 + i % 5)
        })
        .collect();
    db.exec(&format!(
        "INSERT INTO leads (id, customer_id, status, created_at) VALUES {}",
        values.join(", ")
    ))
    .await;
}

/// `lethe holds add --store crm --table TABLE --match MATCH --reason REASON`.
fn add_hold(
    db: &TestDb,
    cfg: &std::path::Path,
    table: &str,
    matches: &str,
    reason: &str,
) -> crate::support::Run {
    run(db.lethe(cfg).args([
        "holds", "add", "--store", "crm", "--table", table, "--match", matches, "--reason", reason,
    ]))
}

fn plan_json(db: &TestDb, cfg: &std::path::Path) -> serde_json::Value {
    let r = run(db
        .lethe(cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.json()["policies"][0].clone()
}

/// Overlapping and expired declared holds, reported by name and basis, enforced by apply.
async fn declared_holds(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    let holds = "kind: LegalHold
name: dispute-2026-117
basis: Rechtszaak 2026-117 (litigation)
store: crm
table: leads
match: { status: disputed }
---
kind: LegalHold
name: customer-3-audit
basis: Belastingdienst audit of customer 3
store: crm
table: leads
match: { customer_id: 3 }
until: 2026-12-31
---
kind: LegalHold
name: expired-inquiry
basis: Inquiry closed 2026-03-01
store: crm
table: leads
until: 2026-03-01
";
    let cfg = db.policies("", &[("p.yaml", DELETE_OLD), ("holds.yaml", holds)]);
    let p = plan_json(&db, &cfg);
    // Disputed: 1-4. Customer 3: leads 2, 7, 12, 17 (lead 2 is under both holds).
    assert_eq!(p["held"], 7, "{p}");
    assert_eq!(p["eligible"], 13, "{p}");
    let by: Vec<(String, u64, String)> = p["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hold"].as_str().unwrap().to_string(),
                h["held"].as_u64().unwrap(),
                h["basis"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            (
                "dispute-2026-117".to_string(),
                4,
                "Rechtszaak 2026-117 (litigation)".to_string()
            ),
            (
                "customer-3-audit".to_string(),
                4,
                "Belastingdienst audit of customer 3".to_string()
            ),
        ],
        "the expired hold must not appear"
    );
    let text = run(db.lethe(&cfg).args(["plan", "--as-of", AS_OF]));
    assert!(
        text.stdout.contains("held 7 (kept by legal holds)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("Rechtszaak 2026-117"),
        "{}",
        text.stdout
    );

    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["policies"][0]["deleted"], 13);
    assert_eq!(db.ids("leads").await, [1, 2, 3, 4, 7, 12, 17]);
    // The audit trail records which holds applied.
    let export = run(db.lethe(&cfg).args(["audit", "export"]));
    assert!(
        export.stdout.contains("customer-3-audit"),
        "{}",
        export.stdout
    );
    // After the customer-3 hold ends, its leads go; the dispute still holds.
    let r = run(db.lethe(&cfg).args([
        "apply",
        "--yes",
        "--format",
        "json",
        "--as-of",
        "2027-01-01T00:00:00Z",
    ]));
    // (An instant after "now" is refused for apply.)
    assert_eq!(r.code, 2, "{}", r.stderr);
    let p = plan_json(&db, &cfg);
    assert_eq!(p["eligible"], 0, "{p}");
    db.drop_db().await;
}

/// A hold with a clock: records are held for `keep` after their clock; an unknown clock holds.
async fn hold_window_and_unknown_clock(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    // The hold's clock is birth_date: lead 5 recent (held), lead 6 old (not held), others NULL
    // (held: an unknown clock under a hold means keep).
    db.exec("UPDATE leads SET birth_date = '2025-01-01' WHERE id = 5")
        .await;
    db.exec("UPDATE leads SET birth_date = '2010-01-01' WHERE id = 6")
        .await;
    let hold = "kind: LegalHold
name: minors
basis: Keep records of minors 20 years (example)
store: crm
table: leads
match: { status: new }
clock: { column: birth_date }
keep: 10y
";
    let cfg = db.policies("", &[("p.yaml", DELETE_OLD), ("h.yaml", hold)]);
    let p = plan_json(&db, &cfg);
    // Status new: leads 5..=20 (16). Held: all but lead 6 (15). Eligible: 1-4 and 6.
    assert_eq!(p["held"], 15, "{p}");
    assert_eq!(p["eligible"], 5, "{p}");
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        db.ids("leads").await,
        (5..=20).filter(|i| *i != 6).collect::<Vec<_>>()
    );
    db.drop_db().await;
}

/// A runtime hold on one customer among many; added after the plan, honoured by apply --plan;
/// released, and the next run deletes.
async fn runtime_hold(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    let cfg = db.policies("", &[("p.yaml", DELETE_OLD)]);
    let plan_file = db.dir.path().join("plan.json");
    let r = run(db
        .lethe(&cfg)
        .args(["plan", "--as-of", AS_OF, "--plan-file"])
        .arg(&plan_file));
    assert_eq!(r.code, 0, "{}", r.stderr);

    let add = run(db.lethe(&cfg).args([
        "holds",
        "add",
        "--store",
        "crm",
        "--table",
        "leads",
        "--match",
        "customer_id=4",
        "--reason",
        "dispute 2026-117",
        "--by",
        "mr. de Jong",
    ]));
    assert_eq!(add.code, 0, "{}\n{}", add.stdout, add.stderr);
    assert!(add.stdout.contains("hold-1"), "{}", add.stdout);
    let list = run(db.lethe(&cfg).args(["holds", "list"]));
    assert!(
        list.stdout.contains("hold-1") && list.stdout.contains("customer_id=4"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("mr. de Jong") && list.stdout.contains("dispute 2026-117"),
        "{}",
        list.stdout
    );

    // The reviewed plan said 20; the hold added since keeps customer 4's leads (3, 8, 13, 18).
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--plan"])
        .arg(&plan_file));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let p = &r.json()["policies"][0];
    assert_eq!(p["deleted"], 16, "{p}");
    assert_eq!(p["held"], 4, "{p}");
    assert_eq!(p["holds"][0]["hold"], "hold-1");
    assert_eq!(p["holds"][0]["basis"], "dispute 2026-117");
    assert_eq!(db.ids("leads").await, [3, 8, 13, 18]);

    // Releasing is recorded, never a delete of the hold.
    let rel = run(db.lethe(&cfg).args([
        "holds",
        "release",
        "hold-1",
        "--reason",
        "settled",
        "--by",
        "mr. de Jong",
    ]));
    assert_eq!(rel.code, 0, "{}", rel.stderr);
    let again = run(db
        .lethe(&cfg)
        .args(["holds", "release", "1", "--reason", "twice"]));
    assert_eq!(again.code, 2, "{}", again.stderr);
    let list = run(db
        .lethe(&cfg)
        .args(["holds", "list", "--all", "--format", "json"]));
    assert_eq!(
        list.json()["runtime"][0]["status"],
        "released",
        "{}",
        list.stdout
    );
    // Holds are append-only in the state database.
    let state = lethe::store::SqlStore::connect(
        "state",
        &format!("sqlite://{}", db.dir.path().join("state.db").display()),
    )
    .await
    .unwrap();
    assert!(state
        .execute_script("DELETE FROM lethe_holds")
        .await
        .is_err());
    assert!(state
        .execute_script("DELETE FROM lethe_hold_releases")
        .await
        .is_err());
    state.close().await;
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.json()["policies"][0]["deleted"], 4, "{}", r.stdout);
    assert!(db.ids("leads").await.is_empty());
    let export = run(db.lethe(&cfg).args(["audit", "export"]));
    assert!(export.stdout.contains("hold.added") && export.stdout.contains("hold.released"));
    // The selector's value is in the audit trail as a hash only (it could name a person).
    assert!(export.stdout.contains("value_hmac") && !export.stdout.contains("\"value\":4"));
    assert_eq!(run(db.lethe(&cfg).args(["audit", "verify"])).code, 0);
    db.drop_db().await;
}

/// A hold that cannot be evaluated (its column is gone): nothing is deleted, exit 2.
async fn broken_hold_keeps_everything(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    let cfg = db.policies("", &[("p.yaml", DELETE_OLD)]);
    let add = add_hold(&db, &cfg, "leads", "status=disputed", "case 9");
    assert_eq!(add.code, 0, "{}", add.stderr);
    // A hold on a column that does not exist is refused when added.
    let bad = add_hold(&db, &cfg, "leads", "colour=red", "x");
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("column `colour` not found"),
        "{}",
        bad.stderr
    );
    // The schema changes under an existing hold.
    db.exec("ALTER TABLE leads RENAME COLUMN status TO state")
        .await;
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("hold `hold-1`: column `status` not found"),
        "{}",
        r.stderr
    );
    assert_eq!(
        db.ids("leads").await.len(),
        20,
        "a hold that cannot be evaluated must keep everything"
    );
    db.drop_db().await;
}

/// Holds win over anonymization too, and a delete supersedes an anonymization.
async fn holds_and_anonymize(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    db.exec("UPDATE leads SET email = 'x@example.nl', full_name = 'X'")
        .await;
    let anonymize = "kind: RetentionPolicy
name: contact-details
store: crm
table: leads
key: id
clock: { column: created_at }
keep: 7d
action:
  anonymize: { email: hmac, full_name: \"null\" }
guard: { max_fraction: 1 }
";
    let delete_new = "kind: RetentionPolicy
name: new-leads-go
store: crm
table: leads
key: id
match: { status: new }
clock: { column: created_at }
keep: 30d
action: delete
guard: { max_fraction: 1 }
";
    let hold = "kind: LegalHold
name: dispute
basis: Rechtszaak 2026-117
store: crm
table: leads
match: { customer_id: 2 }
";
    let cfg = db.policies(
        "",
        &[
            ("a.yaml", anonymize),
            ("d.yaml", delete_new),
            ("h.yaml", hold),
        ],
    );
    let r = run(db
        .lethe(&cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    let plans = r.json()["policies"].as_array().unwrap().clone();
    let by_name = |n: &str| plans.iter().find(|p| p["name"] == n).unwrap().clone();
    // Customer 2: leads 1, 6, 11, 16 held from both policies.
    // Delete (status new, 5-20, not customer 2): 16 - 3 = 13. Anonymize: disputed 1-4 minus
    // lead 1 (held) = 3; the new ones are left to the delete.
    assert_eq!(by_name("new-leads-go")["eligible"], 13);
    assert_eq!(by_name("new-leads-go")["held"], 3);
    assert_eq!(by_name("contact-details")["eligible"], 3, "{}", r.stdout);
    // Held leads count under the policy that would act on them: 6, 11 and 16 under the delete.
    assert_eq!(by_name("contact-details")["held"], 1);
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(db.ids("leads").await, [1, 2, 3, 4, 6, 11, 16]);
    let rows = db
        .dump(&format!(
            "SELECT {}, {} FROM leads ORDER BY id",
            db.text("id"),
            db.text("email")
        ))
        .await;
    for row in rows {
        let (id, email) = (row[0].clone().unwrap(), row[1].clone().unwrap());
        let held = ["1", "6", "11", "16"].contains(&id.as_str());
        assert_eq!(email == "x@example.nl", held, "lead {id}: {email}");
    }
    db.drop_db().await;
}

on_every_backend!(
    declared_holds,
    hold_window_and_unknown_clock,
    runtime_hold,
    broken_hold_keeps_everything,
    holds_and_anonymize
);

/// A runtime hold added while apply runs protects its records from the next batch on.
async fn hold_added_during_apply(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    let old = db.ts("2026-01-01 00:00:00");
    let values: Vec<String> = (1..=3000)
        .map(|i| format!("({i}, {}, 'new', {old})", 1 + i % 5))
        .collect();
    db.exec(&format!(
        "INSERT INTO leads (id, customer_id, status, created_at) VALUES {}",
        values.join(", ")
    ))
    .await;
    let policy = DELETE_OLD.replace(
        "guard: { max_fraction: 1 }",
        "guard: { max_fraction: 1 }\nbatch_size: 10",
    );
    let cfg = db.policies("", &[("p.yaml", &policy)]);
    let child = db.spawn_apply(&cfg, AS_OF);
    // Once deletion is under way, a lawyer holds customer 3.
    for _ in 0..500 {
        if db.ids("leads").await.len() < 2900 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let add = add_hold(&db, &cfg, "leads", "customer_id=3", "urgent dispute");
    assert_eq!(add.code, 0, "{}", add.stderr);
    let at_hold = db
        .count("SELECT COUNT(*) FROM leads WHERE customer_id = 3")
        .await;
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let after = db
        .count("SELECT COUNT(*) FROM leads WHERE customer_id = 3")
        .await;
    assert!(
        at_hold > 0,
        "{b:?}: apply finished before the hold was added"
    );
    // At most the batch in flight when the hold was added (10 rows, 2 of customer 3) may go.
    assert!(
        after >= at_hold - 2,
        "{b:?}: {at_hold} held rows at hold time, {after} after"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads WHERE customer_id <> 3")
            .await,
        0
    );
    // The report shows the hold added during the run, with the records it kept.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &report["policies"][0];
    assert_eq!(p["held"].as_i64().unwrap(), after, "{p}");
    assert_eq!(p["holds"][0]["hold"], "hold-1", "{p}");
    assert_eq!(p["remaining"], 0, "{p}");
    db.drop_db().await;
}

on_every_backend!(hold_added_during_apply);

/// A hold names its table as the operator spells it (`public.leads`, `main.leads`,
/// `<database>.leads`) and matches digit-only text (`0612345678`) as text: it still holds.
async fn hold_spellings_and_text_numbers(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    db.exec("UPDATE leads SET phone = '0612345678' WHERE id = 9")
        .await;
    let cfg = db.policies("", &[("p.yaml", DELETE_OLD)]);
    let qualified = match b {
        Backend::Sqlite => "main.leads".to_string(),
        Backend::Postgres => "public.leads".to_string(),
        Backend::MariaDb => format!("{}.leads", db.url.rsplit('/').next().unwrap()),
    };
    let add = add_hold(&db, &cfg, &qualified, "customer_id=2", "case 1");
    assert_eq!(add.code, 0, "{}", add.stderr);
    let add = add_hold(&db, &cfg, "leads", "phone=0612345678", "case 2");
    assert_eq!(add.code, 0, "{}", add.stderr);
    let p = plan_json(&db, &cfg);
    // Customer 2: leads 1, 6, 11, 16; phone: lead 9.
    assert_eq!(p["held"], 5, "{b:?}: {p}");
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        db.ids("leads").await,
        [1, 6, 9, 11, 16],
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    db.drop_db().await;
}

on_every_backend!(hold_spellings_and_text_numbers);

/// `holds add --table LEADS --match CUSTOMER_ID=2` finds `leads.customer_id`: table and column
/// names match regardless of case, as holds match their tables everywhere else, and the hold
/// holds.
async fn hold_table_in_other_case(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    let cfg = db.policies("", &[("p.yaml", DELETE_OLD)]);
    let add = add_hold(&db, &cfg, "LEADS", "CUSTOMER_ID=2", "case 1");
    assert_eq!(add.code, 0, "{b:?}: {}", add.stderr);
    let p = plan_json(&db, &cfg);
    // Customer 2: leads 1, 6, 11, 16.
    assert_eq!(p["held"], 4, "{b:?}: {p}");
    db.drop_db().await;
}

on_every_backend!(hold_table_in_other_case);

/// A delete that would cascade through a foreign key into a held table is refused.
async fn cascades_into_held_tables_are_refused(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let (pk, ts, int) = (db.ty("pk"), db.ty("ts"), db.ty("int"));
    db.exec(&format!(
        "CREATE TABLE customers (id {pk}, created_at {ts} NULL);
         CREATE TABLE invoices (id {pk}, customer_id {int} NOT NULL, issued_at {ts} NULL,
           FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE);"
    ))
    .await;
    let old = db.ts("2026-01-01 00:00:00");
    db.exec(&format!(
        "INSERT INTO customers (id, created_at) VALUES (1, {old}), (2, {old})"
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO invoices (id, customer_id, issued_at) VALUES (10, 1, {old}), (11, 2, {old})"
    ))
    .await;
    let policy = "kind: RetentionPolicy\nname: old-customers\nstore: crm\ntable: customers\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";
    let hold = "kind: LegalHold\nname: fiscal\nbasis: Art. 52 AWR\nstore: crm\ntable: invoices\nclock: { column: issued_at }\nkeep: 7y\n";
    let cfg = db.policies("", &[("p.yaml", policy), ("h.yaml", hold)]);
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 2, "{b:?}: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("ON DELETE CASCADE") && r.stderr.contains("hold `fiscal`"),
        "{}",
        r.stderr
    );
    assert_eq!(db.ids("invoices").await, [10, 11]);
    assert_eq!(db.ids("customers").await, [1, 2]);
    // Without the hold the policy runs, and a customer its invoices still reference is kept
    // whatever the rule: lethe never lets a delete cascade.
    let cfg = db.policies("", &[("p.yaml", policy), ("h.yaml", "")]);
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{b:?}: {}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["policies"][0]["referenced"], 2, "{}", r.stdout);
    assert_eq!(db.ids("customers").await, [1, 2]);
    assert_eq!(db.ids("invoices").await, [10, 11]);
    db.drop_db().await;
}

on_every_backend!(cascades_into_held_tables_are_refused);

/// SQLite columns without a declared type keep 42 and '42' apart: holds match both.
#[tokio::test]
async fn sqlite_untyped_columns_are_held_loosely() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    db.exec(
        "CREATE TABLE leads (id INTEGER PRIMARY KEY, customer_id, status TEXT NOT NULL, created_at DATETIME);
         INSERT INTO leads VALUES (1, 42, 'new', '2026-01-01 00:00:00'), (2, '43', 'new', '2026-01-01 00:00:00'),
                                  (3, 44, 'new', '2026-01-01 00:00:00');",
    )
    .await;
    let hold = "kind: LegalHold\nname: c43\nbasis: case 43\nstore: crm\ntable: leads\nmatch: { customer_id: 43 }\n";
    let cfg = db.policies("", &[("p.yaml", DELETE_OLD), ("h.yaml", hold)]);
    let add = add_hold(&db, &cfg, "leads", "customer_id=42", "case 42");
    assert_eq!(add.code, 0, "{}", add.stderr);
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(db.ids("leads").await, [1, 2]);
    db.drop_db().await;
}
