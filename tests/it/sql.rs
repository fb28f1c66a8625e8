//! The behavioural suite of plan and apply, run against SQLite, PostgreSQL and MariaDB.

use crate::on_every_backend;
use crate::support::{run, Backend, TestDb};

const AS_OF: &str = "2026-06-15T12:00:00Z";

fn delete_policy(extra: &str) -> String {
    format!(
        "kind: RetentionPolicy\nname: old-leads\nstore: crm\ntable: leads\nkey: id\nclock: {{ column: created_at }}\nkeep: 30d\naction: delete\n{extra}"
    )
}

/// Exactly at the cutoff, one second on each side, and NULL.
async fn boundaries(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    // as_of 2026-06-15 12:00:00Z minus 30 days = cutoff 2026-05-16 12:00:00Z.
    db.exec(&format!(
        "INSERT INTO leads (id, status, created_at) VALUES
           (1, 'new', {}), (2, 'new', {}), (3, 'new', {}), (4, 'new', NULL), (5, 'new', {})",
        db.ts("2026-05-16 11:59:59"),
        db.ts("2026-05-16 12:00:00"),
        db.ts("2026-05-16 12:00:01"),
        db.ts("2020-02-29 00:00:00"),
    ))
    .await;
    let cfg = db.policies("", &[("p.yaml", &delete_policy(""))]);
    let before = db.ids("leads").await;
    let plan = run(db
        .lethe(&cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p = &plan.json()["policies"][0];
    assert_eq!(p["eligible"], 2, "{p}");
    assert_eq!(p["undated"], 1, "{p}");
    assert_eq!(p["cutoff"], "2026-05-16T12:00:00Z");
    assert_eq!(db.ids("leads").await, before, "plan changed data");

    let apply = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(apply.json()["policies"][0]["deleted"], 2);
    assert_eq!(apply.json()["policies"][0]["remaining"], 0);
    assert_eq!(db.ids("leads").await, [2, 3, 4]);

    let again = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(again.code, 0);
    assert_eq!(
        again.json()["policies"][0]["deleted"],
        0,
        "second apply must delete nothing"
    );
    db.drop_db().await;
}

on_every_backend!(boundaries);

/// Time zones: a timestamp written with an offset is compared as the instant it denotes.
async fn time_zones(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let (pk, text) = (db.ty("pk"), db.ty("text"));
    // PostgreSQL: timestamptz and timestamp; MariaDB: TIMESTAMP and DATETIME (both read in UTC);
    // SQLite: ISO-8601 text with offsets.
    let (zoned, naive) = match b {
        Backend::Postgres => ("TIMESTAMPTZ", "TIMESTAMP"),
        Backend::MariaDb => ("TIMESTAMP NULL", "DATETIME"),
        Backend::Sqlite => ("TEXT", "DATETIME"),
    };
    db.exec(&format!("CREATE TABLE events (id {pk}, kind {text} NOT NULL, at_zoned {zoned}, at_naive {naive} NULL)")).await;
    // Cutoff: 2026-05-16 12:00:00Z. 13:30+02:00 is 11:30Z (due); 11:30-02:00 is 13:30Z (not due).
    let (due, not_due) = match b {
        Backend::Postgres | Backend::Sqlite => {
            ("'2026-05-16T13:30:00+02:00'", "'2026-05-16T11:30:00-02:00'")
        }
        // MariaDB TIMESTAMP literals are read in the session zone (UTC): give the UTC instant.
        Backend::MariaDb => ("'2026-05-16 11:30:00'", "'2026-05-16 13:30:00'"),
    };
    db.exec(&format!(
        "INSERT INTO events (id, kind, at_zoned, at_naive) VALUES (1, 'a', {due}, '2026-05-16 11:59:59'), (2, 'a', {not_due}, '2026-05-16 12:00:00')"
    ))
    .await;
    let policy = |name: &str, col: &str| {
        format!("kind: RetentionPolicy\nname: {name}\nstore: crm\ntable: events\nkey: id\nclock: {{ column: {col} }}\nkeep: 30d\naction: delete\nguard: {{ max_fraction: 1 }}\n")
    };
    let cfg = db.policies(
        "",
        &[
            ("z.yaml", &policy("zoned", "at_zoned")),
            ("n.yaml", &policy("naive", "at_naive")),
        ],
    );
    let plan = run(db
        .lethe(&cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    for p in plan.json()["policies"].as_array().unwrap() {
        assert_eq!(p["eligible"], 1, "{b:?}: {p}");
    }
    db.drop_db().await;
}

/// Contract end through a join: every contract must have ended, counted from the latest end.
async fn contract_end(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    let ts = |s: &str| db.ts(s);
    db.exec(&format!(
        "INSERT INTO contracts (id, customer_id, terminated_at) VALUES
           (1, 1, {old}),            -- customer 1: ended long ago -> leads due
           (2, 2, {old}), (3, 2, NULL), -- customer 2: one contract still running -> kept
           (4, 3, {old}), (5, 3, {recent}), -- customer 3: latest end is recent -> kept
           (6, 4, {edge});           -- customer 4: ended exactly at the cutoff -> kept
         INSERT INTO leads (id, customer_id, status, created_at) VALUES
           (1, 1, 'new', NULL), (2, 1, 'new', NULL), (3, 2, 'new', NULL), (4, 3, 'new', NULL),
           (5, 4, 'new', NULL), (6, 5, 'new', NULL), (7, NULL, 'new', NULL);",
        old = ts("2025-01-01 00:00:00"),
        recent = ts("2026-06-01 00:00:00"),
        edge = ts("2026-05-16 12:00:00"),
    ))
    .await;
    let policy = "kind: RetentionPolicy\nname: after-contract\nstore: crm\ntable: leads\nkey: id\nclock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction: delete\n";
    let cfg = db.policies("", &[("p.yaml", policy)]);
    let plan = run(db
        .lethe(&cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p = &plan.json()["policies"][0];
    assert_eq!(p["eligible"], 2, "{p}");
    // Customer 5 has no contract and lead 7 has no customer: unknown, kept.
    assert_eq!(p["undated"], 2, "{p}");
    let apply = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(db.ids("leads").await, [3, 4, 5, 6, 7]);
    db.drop_db().await;
}

fn anonymize_policy() -> &'static str {
    "kind: RetentionPolicy
name: contact-details
store: crm
table: leads
key: id
clock: { column: created_at }
keep: 90d
match: { status: { in: [delivered, rejected] } }
action:
  anonymize:
    email: hmac
    phone: redact
    full_name: \"null\"
    ip: truncate-ip
    birth_date: year
guard: { max_fraction: 1 }
"
}

/// Anonymization: every strategy, the selector, idempotence, and unmaskable values reported.
async fn anonymize(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    let old = db.ts("2026-01-01 08:00:00");
    let new = db.ts("2026-06-01 08:00:00");
    db.exec(&format!(
        "INSERT INTO leads (id, full_name, email, phone, ip, birth_date, status, created_at) VALUES
          (1, 'Jan de Vries', 'jan@example.nl', '+31 6 12345678', '192.0.2.77', '1980-07-14', 'delivered', {old}),
          (2, 'Sanne Bakker', 'sanne@example.nl', '+31 6 87654321', '2001:db8:abcd:12:1:2:3:4', '1975-03-02', 'rejected', {old}),
          (3, 'Daan Visser', 'daan@example.nl', NULL, NULL, NULL, 'new', {old}),
          (4, 'Emma Smit', 'emma@example.nl', '+31 6 11112222', '198.51.100.9', '1990-12-31', 'delivered', {new}),
          (5, 'Luuk Jansen', NULL, '+31 6 33334444', 'garbage', '1985-05-05', 'delivered', {old})"
    ))
    .await;
    let cfg = db.policies("", &[("p.yaml", anonymize_policy())]);
    let whole_table = format!(
        "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {} FROM leads ORDER BY id",
        db.text("id"),
        db.text("customer_id"),
        db.text("full_name"),
        db.text("email"),
        db.text("phone"),
        db.text("ip"),
        db.text("birth_date"),
        db.text("status"),
        db.text("created_at")
    );
    let before = db.dump(&whole_table).await;
    let plan = run(db
        .lethe(&cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(db.dump(&whole_table).await, before, "plan changed data");
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p = &plan.json()["policies"][0];
    assert_eq!(p["eligible"], 3, "{p}");
    assert_eq!(p["columns"]["email"]["effect"], "pseudonymizing");
    assert_eq!(p["columns"]["ip"]["effect"], "anonymizing");

    let apply = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    // Row 5's ip is not an address: it is cleared (the column accepts NULL), the rest masked.
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let r = &apply.json()["policies"][0];
    assert_eq!(r["anonymized"], 3, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(r["cleared"], 1, "{r}");
    assert!(!apply.stdout.contains("garbage"));

    let rows = db
        .dump(&format!(
            "SELECT {}, {}, {}, {}, {} FROM leads ORDER BY id",
            db.text("full_name"),
            db.text("email"),
            db.text("phone"),
            db.text("ip"),
            db.text("birth_date")
        ))
        .await;
    let s = |r: usize, c: usize| rows[r][c].clone();
    assert_eq!(s(0, 0), None);
    let hmac = s(0, 1).unwrap();
    assert!(hmac.starts_with("hmac:") && hmac.len() == 37, "{hmac}");
    assert_eq!(s(0, 2).as_deref(), Some("[redacted]"));
    assert_eq!(s(0, 3).as_deref(), Some("192.0.2.0"));
    assert!(s(0, 4).unwrap().starts_with("1980-01-01"), "{:?}", s(0, 4));
    assert_eq!(s(1, 3).as_deref(), Some("2001:db8:abcd::"));
    assert_eq!(
        (s(4, 0), s(4, 2).as_deref(), s(4, 3)),
        (None, Some("[redacted]"), None)
    );
    // Not selected (status new) and not due (recent): untouched.
    assert_eq!(s(2, 1).as_deref(), Some("daan@example.nl"));
    assert_eq!(s(3, 1).as_deref(), Some("emma@example.nl"));
    // The same input and key give the same pseudonym (joinable), and it is not the input.
    assert_eq!(
        hmac,
        lethe::anonymize::hmac(crate::support::HMAC_KEY.as_bytes(), "jan@example.nl")
    );

    // Idempotent: a second run changes nothing that was already masked.
    let again = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    let r = &again.json()["policies"][0];
    assert_eq!(r["anonymized"], 0, "{r}");
    let rows2 = db
        .dump(&format!(
            "SELECT {}, {}, {}, {}, {} FROM leads ORDER BY id",
            db.text("full_name"),
            db.text("email"),
            db.text("phone"),
            db.text("ip"),
            db.text("birth_date")
        ))
        .await;
    assert_eq!(rows2[..2], rows[..2]);
    db.drop_db().await;
}

/// An anonymize policy on `leads` with the given strategies.
fn mask_policy(strategies: &str) -> String {
    format!(
        "kind: RetentionPolicy\nname: contact-details\nstore: crm\ntable: leads\nkey: id\nclock: {{ column: created_at }}\nkeep: 90d\naction: {{ anonymize: {{ {strategies} }} }}\nguard: {{ max_fraction: 1 }}\n"
    )
}

/// A pseudonym is never pseudonymized again: when a new strategy or a value the application
/// wrote makes a masked row due again, only the columns that need it are masked, and the
/// pseudonym stays HMAC(key, original), computed here independently of the run.
async fn masked_once(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    let old = db.ts("2026-01-01 08:00:00");
    db.exec(&format!(
        "INSERT INTO leads (id, full_name, email, ip, status, created_at) VALUES
          (1, 'Jan de Vries', 'jan@example.nl', '192.0.2.77', 'delivered', {old}),
          (2, 'Sanne Bakker', 'sanne@example.nl', NULL, 'delivered', {old})"
    ))
    .await;
    let pseudonym = |v: &str| lethe::anonymize::hmac(crate::support::HMAC_KEY.as_bytes(), v);
    let cols = format!(
        "SELECT {}, {}, {} FROM leads ORDER BY id",
        db.text("email"),
        db.text("full_name"),
        db.text("ip")
    );
    let apply = |expect_eligible: u64, expect_anonymized: u64| {
        let plan = run(db
            .lethe(&cfg_of(&db))
            .args(["plan", "--format", "json", "--as-of", AS_OF]));
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        assert_eq!(
            plan.json()["policies"][0]["eligible"],
            expect_eligible,
            "{}",
            plan.stdout
        );
        let r = run(db
            .lethe(&cfg_of(&db))
            .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let p = &r.json()["policies"][0];
        assert_eq!(p["anonymized"], expect_anonymized, "{p}");
        assert_eq!(p["remaining"], 0, "{p}");
    };

    // 1. email: hmac, ip: truncate-ip.
    db.policies(
        "",
        &[("p.yaml", &mask_policy("email: hmac, ip: truncate-ip"))],
    );
    apply(2, 2);
    let rows = db.dump(&cols).await;
    assert_eq!(rows[0][0], Some(pseudonym("jan@example.nl")));
    assert_eq!(rows[0][2].as_deref(), Some("192.0.2.0"));
    assert_eq!(rows[1][0], Some(pseudonym("sanne@example.nl")));

    // 2. The application writes a new address into row 1: only the address is masked.
    db.exec("UPDATE leads SET ip = '203.0.113.45' WHERE id = 1")
        .await;
    apply(1, 1);
    let rows = db.dump(&cols).await;
    assert_eq!(
        rows[0][0],
        Some(pseudonym("jan@example.nl")),
        "{b:?}: the pseudonym was pseudonymized again"
    );
    assert_eq!(rows[0][2].as_deref(), Some("203.0.113.0"));
    assert_eq!(rows[1][0], Some(pseudonym("sanne@example.nl")));

    // 3. The policy gains `full_name: null`: names go, pseudonyms stay.
    std::fs::write(
        cfg_of(&db).join("p.yaml"),
        mask_policy("email: hmac, ip: truncate-ip, full_name: \"null\""),
    )
    .unwrap();
    apply(2, 2);
    let rows = db.dump(&cols).await;
    for (i, email) in ["jan@example.nl", "sanne@example.nl"].iter().enumerate() {
        assert_eq!(
            rows[i][0],
            Some(pseudonym(email)),
            "{b:?}: the pseudonym was pseudonymized again"
        );
        assert_eq!(rows[i][1], None);
    }
    assert_eq!(rows[0][2].as_deref(), Some("203.0.113.0"));
    assert_eq!(rows[1][2], None);

    // 4. Nothing left to mask.
    apply(0, 0);
    assert_eq!(db.dump(&cols).await, rows);
    db.drop_db().await;
}

fn cfg_of(db: &TestDb) -> std::path::PathBuf {
    db.dir.path().join("policies")
}

async fn seed_old_leads(db: &TestDb, from: i64, to: i64, status: &str) {
    let old = db.ts("2026-01-01 00:00:00");
    let values: Vec<String> = (from..=to)
        .map(|i| format!("({i}, '{status}', {old})"))
        .collect();
    db.exec(&format!(
        "INSERT INTO leads (id, status, created_at) VALUES {}",
        values.join(", ")
    ))
    .await;
}

async fn seed_recent_lead(db: &TestDb, id: i64) {
    let recent = db.ts("2026-06-10 00:00:00");
    db.exec(&format!(
        "INSERT INTO leads (id, status, created_at) VALUES ({id}, 'new', {recent})"
    ))
    .await;
}

/// Guards refuse before anything is deleted; exit 4.
async fn guards(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 10, "new").await;
    seed_recent_lead(&db, 11).await;
    // 10 of 11 rows due: above the default max_fraction (0.5).
    let cfg = db.policies("", &[("p.yaml", &delete_policy(""))]);
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["status"], "refused");
    assert!(r.json()["refusals"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("max_fraction"));
    assert_eq!(
        db.ids("leads").await.len(),
        11,
        "a refused run deleted rows"
    );
    // max_rows per policy.
    let cfg = db.policies(
        "",
        &[(
            "p.yaml",
            &delete_policy("guard: { max_fraction: 1, max_rows: 9 }\n"),
        )],
    );
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert!(r.stdout.contains("max_rows"), "{}", r.stdout);
    // Per run.
    let cfg = db.policies(
        "guard: { run_max_rows: 5 }",
        &[("p.yaml", &delete_policy("guard: { max_fraction: 1 }\n"))],
    );
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert_eq!(db.ids("leads").await.len(), 11);
    // Within limits it works, in several batches.
    let cfg = db.policies(
        "",
        &[(
            "p.yaml",
            &delete_policy("guard: { max_fraction: 1, max_rows: 10 }\nbatch_size: 3\n"),
        )],
    );
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["policies"][0]["deleted"], 10);
    assert_eq!(r.json()["policies"][0]["batches"], 4);
    assert_eq!(db.ids("leads").await, [11]);
    db.drop_db().await;
}

/// `apply --plan`: the reviewed plan is the upper bound; a changed row is not touched.
async fn pinned_plan(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 6, "new").await;
    let cfg = db.policies(
        "",
        &[("p.yaml", &delete_policy("guard: { max_fraction: 1 }\n"))],
    );
    let plan_file = db.dir.path().join("reviewed.json");
    let plan = run(db
        .lethe(&cfg)
        .args(["plan", "--as-of", AS_OF, "--plan-file"])
        .arg(&plan_file));
    assert_eq!(plan.code, 0, "{}", plan.stderr);

    // After review, one row is updated to a recent date: it must not be deleted.
    let recent = db.ts("2026-06-14 00:00:00");
    db.exec(&format!(
        "UPDATE leads SET created_at = {recent} WHERE id = 2"
    ))
    .await;
    // And more old rows arrive: eligible grows beyond the plan -> refused, nothing deleted.
    seed_old_leads(&db, 7, 9, "new").await;
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--plan"])
        .arg(&plan_file));
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.json()["refusals"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("reviewed plan said 6"),
        "{}",
        r.stdout
    );
    assert_eq!(db.ids("leads").await.len(), 9);

    // Back within the plan: applies at the plan's as_of, skips the updated row.
    db.exec("DELETE FROM leads WHERE id >= 7").await;
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--plan"])
        .arg(&plan_file));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["as_of"], "2026-06-15T12:00:00Z");
    assert_eq!(r.json()["pinned"], true);
    assert_eq!(r.json()["policies"][0]["deleted"], 5);
    assert_eq!(db.ids("leads").await, [2]);

    // A plan file edited after review (a later instant) is refused.
    let edited = db.dir.path().join("edited.json");
    let text = std::fs::read_to_string(&plan_file).unwrap();
    std::fs::write(
        &edited,
        text.replace("2026-06-15T12:00:00Z", "2026-06-16T12:00:00Z"),
    )
    .unwrap();
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--plan"])
        .arg(&edited));
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert!(
        r.stdout.contains("edited after it was made"),
        "{}",
        r.stdout
    );

    // A changed configuration invalidates the plan.
    let cfg = db.policies(
        "",
        &[("p.yaml", &delete_policy("guard: { max_fraction: 0.9 }\n"))],
    );
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--plan"])
        .arg(&plan_file));
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert!(r.stdout.contains("configuration changed"), "{}", r.stdout);
    // `--as-of` with `--plan` is a usage error.
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--as-of", AS_OF, "--plan"])
        .arg(&plan_file));
    assert_eq!(r.code, 2, "{}", r.stderr);
    db.drop_db().await;
}

/// Selector values are bound parameters: an injection attempt matches nothing and changes nothing.
async fn injection(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 4, "new").await;
    let policy = delete_policy("match: { status: \"x' OR '1'='1\" }\nguard: { max_fraction: 1 }\n");
    let cfg = db.policies("", &[("p.yaml", &policy)]);
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["policies"][0]["deleted"], 0);
    let policy = delete_policy("match: { status: { in: [\"new'); DROP TABLE leads; --\"] } }\n");
    let cfg = db.policies("", &[("p.yaml", &policy)]);
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(db.ids("leads").await, [1, 2, 3, 4]);
    db.drop_db().await;
}

/// Policies that do not fit the live schema: exit 2, nothing touched, every problem listed.
async fn schema_mismatch(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 2, "new").await;
    let bad = "kind: RetentionPolicy\nname: bad\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_on }\nkeep: 1d\naction:\n  anonymize: { status_x: \"null\", birth_date: hmac, status: \"null\" }\nguard: { max_fraction: 1 }\n";
    let missing = "kind: RetentionPolicy\nname: missing\nstore: crm\ntable: prospects\nkey: id\nclock: { column: created_at }\nkeep: 1d\naction: delete\n";
    let cfg = db.policies("", &[("bad.yaml", bad), ("missing.yaml", missing)]);
    for cmd in ["check", "plan", "apply"] {
        let r = run(db
            .lethe(&cfg)
            .args(
                [cmd, "--yes"]
                    .iter()
                    .take(if cmd == "apply" { 2 } else { 1 }),
            ));
        assert_eq!(r.code, 2, "{cmd}: {}\n{}", r.stdout, r.stderr);
        for needle in [
            "column `created_on` not found",
            "column `status_x` not found",
            "strategy `hmac` needs a text column",
            "strategy `null` needs a column that accepts NULL",
            "table `prospects` not found",
        ] {
            assert!(
                r.stderr.contains(needle),
                "{cmd}: missing {needle:?} in\n{}",
                r.stderr
            );
        }
    }
    assert_eq!(db.ids("leads").await, [1, 2]);
    db.drop_db().await;
}

on_every_backend!(
    time_zones,
    contract_end,
    anonymize,
    masked_once,
    guards,
    pinned_plan,
    injection,
    schema_mismatch
);

/// Rows updated or inserted while apply runs: a row made recent is never deleted.
async fn concurrent_updates(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 3000, "new").await;
    let cfg = db.policies(
        "",
        &[(
            "p.yaml",
            &delete_policy("guard: { max_fraction: 1 }\nbatch_size: 20\n"),
        )],
    );
    let child = db.spawn_apply(&cfg, AS_OF);
    let recent = db.ts("2026-06-14 00:00:00");
    let mut rescued = Vec::new();
    // From the top down, make rows recent one by one while deletion proceeds from the bottom up.
    for id in (1000..=3000).rev().step_by(7) {
        let mut q = lethe::store::Query::new(b.dialect());
        q.push(&format!(
            "UPDATE leads SET created_at = {recent} WHERE id = {id}"
        ));
        if db.store.execute(&q).await.unwrap() == 1 {
            rescued.push(id);
        }
        let mut q = lethe::store::Query::new(b.dialect());
        q.push(&format!(
            "INSERT INTO leads (id, status, created_at) VALUES ({}, 'new', {recent})",
            10_000 + id
        ));
        db.store.execute(&q).await.unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let ids = db.ids("leads").await;
    assert!(!rescued.is_empty(), "the test did not race with apply");
    for id in &rescued {
        assert!(
            ids.contains(id),
            "{b:?}: row {id} was made recent during apply but deleted"
        );
    }
    assert_eq!(
        ids.iter().filter(|i| **i >= 10_000).count(),
        (1000..=3000).rev().step_by(7).count()
    );
    assert_eq!(
        ids.len(),
        rescued.len() + (1000..=3000).rev().step_by(7).count(),
        "old rows remain: {}",
        ids.len()
    );
    db.drop_db().await;
}

/// `kill -9` in the middle of apply, then run again: every eligible row handled exactly once,
/// no half-done batch, the audit chain intact and the killed run visible as unfinished.
async fn crash_and_resume(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 4000, "new").await;
    seed_recent_lead(&db, 5000).await;
    let cfg = db.policies(
        "",
        &[(
            "p.yaml",
            &delete_policy("guard: { max_fraction: 1 }\nbatch_size: 10\n"),
        )],
    );
    let mut child = db.spawn_apply(&cfg, AS_OF);
    // Wait until some batches are done, then kill without warning.
    for _ in 0..200 {
        if db.ids("leads").await.len() < 3900 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A statement already sent completes (or aborts) on the server as one unit: let it settle.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after_kill = db.ids("leads").await.len();
    assert!(
        after_kill < 4001 && after_kill > 1,
        "{b:?}: kill came too late or too early ({after_kill} rows)"
    );
    // Batches are whole: deleted rows come in multiples of the batch size (10), counting from id 1.
    let deleted = 4001 - after_kill;
    assert_eq!(
        deleted % 10,
        0,
        "{b:?}: a half-done batch ({deleted} rows deleted)"
    );

    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.json()["policies"][0]["deleted"].as_u64().unwrap() as usize,
        after_kill - 1
    );
    assert_eq!(db.ids("leads").await, [5000]);
    let v = run(db.lethe(&cfg).args(["audit", "verify"]));
    assert_eq!(v.code, 0, "{}", v.stdout);
    let list = run(db.lethe(&cfg).arg("audit"));
    assert!(list.stdout.contains("unfinished"), "{}", list.stdout);
    db.drop_db().await;
}

on_every_backend!(concurrent_updates, crash_and_resume);

/// A lost lease stops the run before its next batch. The PostgreSQL session that holds the
/// advisory lock is terminated mid-run: no batch starts after that (another run could take the
/// lease at once), the run does not end `ok`, and a rerun finishes the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_before_the_next_batch() {
    lost_lease(true).await;
}

/// The same with the state database on SQLite: the lease row is taken away mid-run (as when it
/// expired and another run took it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_stops_before_the_next_batch_sqlite_state() {
    lost_lease(false).await;
}

async fn lost_lease(state_on_postgres: bool) {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 4000, "new").await;
    seed_recent_lead(&db, 5000).await;
    let cfg = db.policies(
        "",
        &[(
            "p.yaml",
            &delete_policy("guard: { max_fraction: 1 }\nbatch_size: 10\n"),
        )],
    );
    if state_on_postgres {
        db.state_on_postgres(&cfg);
    }
    assert_eq!(run(db.lethe(&cfg).arg("check")).code, 0);
    let child = db.spawn_apply(&cfg, AS_OF);
    for _ in 0..500 {
        if db.ids("leads").await.len() < 3900 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    if state_on_postgres {
        db.exec(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lethe lease %' AND datname = current_database()",
        )
        .await;
    } else {
        let url = format!("sqlite://{}", db.dir.path().join("state.db").display());
        let state = lethe::store::SqlStore::connect("state", &url)
            .await
            .unwrap();
        state
            .execute_script("DELETE FROM lethe_lease")
            .await
            .unwrap();
        state.close().await;
    }
    let at_loss = db.ids("leads").await.len();
    let out = child.wait_with_output().unwrap();
    let after = db.ids("leads").await.len();
    assert!(
        at_loss > 1,
        "the run ended before the lease was taken away ({at_loss} rows left)"
    );
    // At most the batch in flight when the session ended (10 rows) is committed after it.
    assert!(
        at_loss - after <= 10,
        "batches went on after the lease was lost: {at_loss} rows at the loss, {after} at the end"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(report["status"], "ok", "{report}");
    assert_ne!(out.status.code(), Some(0));
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(db.ids("leads").await, [5000]);
    db.drop_db().await;
}

/// MariaDB `BIGINT UNSIGNED` keys up to 2^64 - 1: every batch moves forward, and every row
/// masked in process is matched by its exact key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_bigint_keys() {
    let Some(db) = TestDb::new(Backend::MariaDb).await else {
        return;
    };
    db.exec("CREATE TABLE big (id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(100) NULL, created_at DATETIME NULL)")
        .await;
    let ids = [
        "1",
        "2",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551613",
        "18446744073709551614",
        "18446744073709551615",
    ];
    let values: Vec<String> = ids
        .iter()
        .map(|i| {
            let when = if *i == "18446744073709551613" {
                "2026-06-14 00:00:00"
            } else {
                "2020-01-01 00:00:00"
            };
            format!("({i}, 'person{i}@example.org', '{when}')")
        })
        .collect();
    db.exec(&format!(
        "INSERT INTO big (id, email, created_at) VALUES {}",
        values.join(", ")
    ))
    .await;
    let anonymize = "kind: RetentionPolicy\nname: big-mask\nstore: crm\ntable: big\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: { anonymize: { email: hmac } }\nbatch_size: 2\nguard: { max_fraction: 1 }\n";
    let cfg = db.policies("", &[("p.yaml", anonymize)]);
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["policies"][0]["anonymized"], 6);
    let rows = db
        .dump("SELECT CAST(id AS CHAR), email FROM big ORDER BY id")
        .await;
    for row in &rows {
        let (id, email) = (row[0].clone().unwrap(), row[1].clone().unwrap());
        if id == "18446744073709551613" {
            assert_eq!(email, format!("person{id}@example.org"), "not due");
        } else {
            assert!(email.starts_with("hmac:"), "{id}: {email}");
        }
    }
    // Two neighbours near 2^64 got different masks: each row was matched by its own key.
    assert_ne!(rows[5][1], rows[6][1]);
    let delete = anonymize
        .replace("big-mask", "big-delete")
        .replace("action: { anonymize: { email: hmac } }", "action: delete");
    std::fs::write(cfg.join("p.yaml"), delete).unwrap();
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["policies"][0]["deleted"], 6);
    assert_eq!(db.count("SELECT COUNT(*) FROM big").await, 1);
    db.drop_db().await;
}

/// Asserts that an apply whose recount failed after its batches says so: exit 1, status
/// `failed`, `remaining: null` with a `verification failed` error, the due rows it did delete, and
/// `null` (not 0) in the `policy.applied` and `run.finished` events of the audit trail.
fn assert_remaining_unknown(
    db: &TestDb,
    cfg: &std::path::Path,
    r: &crate::support::Run,
    deleted: u64,
) {
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "failed", "{j}");
    let p = &j["policies"][0];
    assert_eq!(p["deleted"], deleted, "{p}");
    assert!(p["remaining"].is_null(), "{p}");
    assert!(
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("verification failed")),
        "{p}"
    );
    let events = db.audit_events(cfg);
    let last = |kind: &str| {
        events
            .iter()
            .rev()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
            .clone()
    };
    let finished = last("run.finished");
    assert_eq!(finished["payload"]["status"], "failed", "{finished}");
    assert!(
        finished["payload"]
            .as_object()
            .unwrap()
            .get("remaining")
            .is_some_and(serde_json::Value::is_null),
        "{finished}"
    );
    let applied = last("policy.applied");
    assert!(applied["payload"]["remaining"].is_null(), "{applied}");
    assert_eq!(run(db.lethe(cfg).args(["audit", "verify"])).code, 0);
}

/// PostgreSQL: the store stops answering for `leads` after the batches (the batch's own commit
/// renames the table away, through a deferred trigger), so the verification cannot count what
/// remains. A count that was not made is unknown: `null` in JSON and in the audit trail,
/// "unknown" in text, never 0; the run failed (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_recount_is_unknown_postgres() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 5, "new").await;
    seed_recent_lead(&db, 6).await;
    db.exec(
        "CREATE TABLE tripwire (n INT);
         CREATE FUNCTION trip() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO tripwire VALUES (1); RETURN OLD; END $$;
         CREATE TRIGGER leads_trip AFTER DELETE ON leads FOR EACH ROW EXECUTE FUNCTION trip();
         CREATE FUNCTION hide() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN ALTER TABLE IF EXISTS leads RENAME TO leads_gone; RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER tripwire_hide AFTER INSERT ON tripwire
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hide();",
    )
    .await;
    let cfg = db.policies(
        "",
        &[("p.yaml", &delete_policy("guard: { max_fraction: 1 }\n"))],
    );

    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
    assert_remaining_unknown(&db, &cfg, &r, 5);
    // The batch did commit: the rows are gone from the renamed table.
    assert_eq!(db.count("SELECT COUNT(*) FROM leads_gone").await, 1);

    // Once more in text: the table back, more due rows, the same failure.
    db.exec("ALTER TABLE leads_gone RENAME TO leads").await;
    seed_old_leads(&db, 10, 12, "new").await;
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", AS_OF]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("remaining unknown"), "{}", r.stdout);
    assert!(!r.stdout.contains("remaining 0"), "{}", r.stdout);
    db.drop_db().await;
}

/// MariaDB: the test queues `LOCK TABLES leads WRITE` behind lethe's DELETE (a trigger makes the
/// DELETE sleep, so the order is certain), takes the table when the batch commits and keeps it
/// past lethe's lock wait timeout, so the recount after the batch fails. The server's global
/// `lock_wait_timeout` is 1 s for the few seconds of the run (only sessions opened meanwhile get
/// it, and other tests lock only tables of their own databases); it is put back before asserting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_recount_is_unknown_mariadb() {
    let Some(db) = TestDb::new(Backend::MariaDb).await else {
        return;
    };
    db.crm_schema().await;
    seed_old_leads(&db, 1, 1, "new").await;
    seed_recent_lead(&db, 6).await;
    db.exec("CREATE TRIGGER leads_slow BEFORE DELETE ON leads FOR EACH ROW DO SLEEP(2)")
        .await;
    let cfg = db.policies(
        "",
        &[("p.yaml", &delete_policy("guard: { max_fraction: 1 }\n"))],
    );
    // lethe's sessions wait 1 s for a table lock; the test's own session waits long.
    let was = db
        .count("SELECT CAST(@@GLOBAL.lock_wait_timeout AS SIGNED)")
        .await;
    db.exec("SET GLOBAL lock_wait_timeout = 1").await;
    let child = db.spawn_apply(&cfg, AS_OF);
    let mut sleeping = false;
    for _ in 0..500 {
        let n = db
            .count(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST
                 WHERE DB = DATABASE() AND STATE = 'User sleep'",
            )
            .await;
        if n > 0 {
            sleeping = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let locker = lethe::store::SqlStore::connect("lock", &db.url)
        .await
        .unwrap();
    let lock = tokio::spawn(async move {
        locker
            .execute_script(
                "SET SESSION lock_wait_timeout = 60; LOCK TABLES leads WRITE; DO SLEEP(4); UNLOCK TABLES",
            )
            .await
    });
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    db.exec(&format!("SET GLOBAL lock_wait_timeout = {was}"))
        .await;
    lock.await.unwrap().unwrap();
    let r = crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        sleeping,
        "lethe's DELETE was never seen: {}\n{}",
        r.stdout, r.stderr
    );
    assert_remaining_unknown(&db, &cfg, &r, 1);
    assert_eq!(db.ids("leads").await, [6]);
    db.drop_db().await;
}

/// PostgreSQL's own types under per-column masking: an `inet` address written anew is truncated
/// while the pseudonym beside it and a `date` already cut to its month keep their values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masked_once_on_native_types_postgres() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    db.exec(
        "CREATE TABLE visits (id BIGINT PRIMARY KEY, email TEXT NULL, ip INET NULL,
           seen_on DATE NULL, created_at TIMESTAMPTZ NULL);
         INSERT INTO visits VALUES
           (1, 'jan@example.nl', '192.0.2.77', '2025-07-14', '2026-01-01 08:00:00+00'),
           (2, 'sanne@example.nl', '2001:db8:abcd:12::1', '2025-03-01', '2026-01-01 08:00:00+00')",
    )
    .await;
    let policy = "kind: RetentionPolicy\nname: visits\nstore: crm\ntable: visits\nkey: id\nclock: { column: created_at }\nkeep: 90d\naction: { anonymize: { email: hmac, ip: truncate-ip, seen_on: month } }\nguard: { max_fraction: 1 }\n";
    let cfg = db.policies("", &[("p.yaml", policy)]);
    let rows = "SELECT email, host(ip), CAST(seen_on AS TEXT) FROM visits ORDER BY id";
    let apply = |anonymized: u64| {
        let r = run(db
            .lethe(&cfg)
            .args(["apply", "--yes", "--format", "json", "--as-of", AS_OF]));
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert_eq!(
            r.json()["policies"][0]["anonymized"],
            anonymized,
            "{}",
            r.stdout
        );
        assert_eq!(r.json()["policies"][0]["remaining"], 0, "{}", r.stdout);
    };
    let pseudonym = |v: &str| {
        Some(lethe::anonymize::hmac(
            crate::support::HMAC_KEY.as_bytes(),
            v,
        ))
    };
    apply(2);
    let first = db.dump(rows).await;
    assert_eq!(first[0][0], pseudonym("jan@example.nl"));
    assert_eq!(first[0][1].as_deref(), Some("192.0.2.0"));
    assert_eq!(first[0][2].as_deref(), Some("2025-07-01"));
    assert_eq!(first[1][1].as_deref(), Some("2001:db8:abcd::"));
    // Row 2's month was already cut: it kept its day.
    assert_eq!(first[1][2].as_deref(), Some("2025-03-01"));

    db.exec("UPDATE visits SET ip = '203.0.113.9' WHERE id = 1")
        .await;
    apply(1);
    let second = db.dump(rows).await;
    assert_eq!(second[0][0], pseudonym("jan@example.nl"));
    assert_eq!(second[0][1].as_deref(), Some("203.0.113.0"));
    assert_eq!(second[0][2].as_deref(), Some("2025-07-01"));
    assert_eq!(second[1], first[1]);
    apply(0);
    db.drop_db().await;
}
