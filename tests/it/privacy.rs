//! Privacy probes: triggers and casts that put a row's values into the database's error text.
//! Whatever the server says, no seeded value may reach a report (JSON, text, Markdown, HTML),
//! a log line at any level, an error message, the audit trail or the state database; the
//! server's code (SQLSTATE, MySQL error number) must be there instead.

use crate::support::{run, Backend, Run, TestDb};

const AS_OF: &str = "2026-06-15T12:00:00Z";

/// The seeded values, and fragments of them, that must never appear.
const SEEDED: &[&str] = &[
    "lead-qx7w@example.test",
    "lead-qx7w",
    "example.test",
    "+31612345678",
    "31612345678",
    "612345678",
    "Marloes Qzwyk",
    "Qzwyk",
];

fn assert_no_values(what: &str, text: &str) {
    for v in SEEDED {
        assert!(
            !text.contains(v),
            "{what}: the seeded value {v:?} leaked:\n{text}"
        );
    }
}

fn assert_private(what: &str, r: &Run) {
    assert_no_values(&format!("{what} (stdout)"), &r.stdout);
    assert_no_values(&format!("{what} (stderr)"), &r.stderr);
}

fn policies() -> Vec<(&'static str, String)> {
    let policy = |name: &str, table: &str, action: &str| {
        format!("kind: RetentionPolicy\nname: {name}\nstore: crm\ntable: {table}\nkey: id\nclock: {{ column: created_at }}\nkeep: 30d\naction: {action}\nguard: {{ max_fraction: 1 }}\n")
    };
    vec![
        ("leads.yaml", policy("drop-leads", "leads", "delete")),
        (
            "contacts.yaml",
            policy(
                "mask-contacts",
                "contacts",
                "\n  anonymize: { email: hmac, phone: redact }",
            ),
        ),
        (
            "visitors.yaml",
            policy(
                "mask-visitors",
                "visitors",
                "\n  anonymize: { phone: redact, full_name: \"null\" }",
            ),
        ),
    ]
}

/// Three tables with the same recognizable row; each has a trigger that puts its values into
/// the error: on delete (`leads`), on the in-process update (`contacts`) and on the set-based
/// update (`visitors`).
async fn seed(db: &TestDb) {
    let (pk, ts, text) = (db.ty("pk"), db.ty("ts"), db.ty("text"));
    for t in ["leads", "contacts", "visitors"] {
        db.exec(&format!(
            "CREATE TABLE {t} (id {pk}, full_name {text} NULL, email {text} NULL, phone {text} NULL, created_at {ts} NULL);
             INSERT INTO {t} (id, full_name, email, phone, created_at) VALUES
               (1, 'Marloes Qzwyk', 'lead-qx7w@example.test', '+31612345678', {old});",
            old = db.ts("2026-01-01 08:00:00"),
        ))
        .await;
    }
    match db.backend {
        Backend::Postgres => {
            db.exec(
                "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'refusing to change the lead of %', OLD.email; END $$;
                 CREATE TRIGGER leads_refuse BEFORE DELETE ON leads
                   FOR EACH ROW EXECUTE FUNCTION refuse_delete();
                 CREATE FUNCTION cast_phone() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN PERFORM (OLD.phone || ' ' || OLD.email)::bigint; RETURN NEW; END $$;
                 CREATE TRIGGER contacts_cast BEFORE UPDATE ON contacts
                   FOR EACH ROW EXECUTE FUNCTION cast_phone();
                 CREATE FUNCTION fake_violation() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'duplicate %', OLD.full_name USING ERRCODE = '23505',
                   CONSTRAINT = OLD.email, TABLE = OLD.phone, COLUMN = OLD.full_name,
                   DETAIL = OLD.phone, HINT = OLD.email; END $$;
                 CREATE TRIGGER visitors_fake BEFORE UPDATE ON visitors
                   FOR EACH ROW EXECUTE FUNCTION fake_violation();",
            )
            .await;
        }
        Backend::MariaDb => {
            db.exec(
                "CREATE TABLE phone_numbers (n BIGINT NOT NULL);
                 CREATE TRIGGER visitors_cast BEFORE UPDATE ON visitors FOR EACH ROW
                   INSERT INTO phone_numbers (n) VALUES (CONCAT(OLD.email, OLD.phone));",
            )
            .await;
            // SIGNAL takes a variable, not an expression: each trigger is a compound statement.
            db.exec(
                "CREATE TRIGGER leads_refuse BEFORE DELETE ON leads FOR EACH ROW BEGIN
                   DECLARE msg VARCHAR(255) DEFAULT CONCAT('cannot delete ', OLD.email);
                   SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
                 END",
            )
            .await;
            db.exec(
                "CREATE TRIGGER contacts_refuse BEFORE UPDATE ON contacts FOR EACH ROW BEGIN
                   DECLARE msg VARCHAR(255) DEFAULT CONCAT('cannot change ', OLD.phone, ' of ', OLD.full_name);
                   SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg;
                 END",
            )
            .await;
        }
        Backend::Sqlite => unreachable!("the probes run on the servers"),
    }
}

/// Every line of every lethe table of a PostgreSQL state database, as text.
async fn postgres_state(db: &TestDb) -> String {
    let tables = db
        .dump("SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'lethe%'")
        .await;
    assert!(!tables.is_empty(), "no lethe tables in the state database");
    let mut out = String::new();
    for t in tables.into_iter().flatten().flatten() {
        for row in db.dump(&format!("SELECT CAST(t AS TEXT) FROM {t} t")).await {
            out.push_str(&format!("{t}: {row:?}\n"));
        }
    }
    out
}

/// The bytes of a SQLite state database and its journal files, as text.
fn sqlite_state(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("state.db") {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    assert!(out.len() > 1000, "no state database found");
    out
}

/// `(policy, code)`: the server's code each failing policy must report.
fn expected(b: Backend) -> [(&'static str, &'static str); 3] {
    match b {
        Backend::Postgres => [
            ("drop-leads", "SQLSTATE P0001"),
            ("mask-contacts", "SQLSTATE 22P02"),
            ("mask-visitors", "SQLSTATE 23505"),
        ],
        _ => [
            ("drop-leads", "MySQL error 1644"),
            ("mask-contacts", "MySQL error 1644"),
            ("mask-visitors", "MySQL error 1366"),
        ],
    }
}

async fn probe(b: Backend, state_on_postgres: bool) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    seed(&db).await;
    let files = policies();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let cfg = db.policies("", &files);
    if state_on_postgres {
        db.state_on_postgres(&cfg);
        let check = run(db.lethe(&cfg).arg("check"));
        assert_private("check", &check);
    }
    let apply = |args: &[&str]| {
        let r = run(db
            .lethe(&cfg)
            .args(["apply", "--yes", "--as-of", AS_OF])
            .args(args));
        assert_eq!(r.code, 1, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert_private(&format!("apply {args:?}"), &r);
        r
    };

    // JSON: each policy failed with the server's code and our words, nothing changed.
    let json = apply(&["--format", "json"]);
    let j = json.json();
    for (policy, code) in expected(b) {
        let p = j["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == policy)
            .unwrap_or_else(|| panic!("{policy} missing: {j}"));
        let errors = p["errors"].to_string();
        assert!(errors.contains(code), "{policy}: {code} missing in {p}");
        assert!(
            errors.contains("the database refused the "),
            "{policy}: {errors}"
        );
        assert_eq!(p["failed"], 1, "{policy}: {p}");
    }
    if b == Backend::Postgres {
        let errors = j["policies"].to_string();
        assert!(
            errors.contains("a trigger or function raised an exception"),
            "{errors}"
        );
        // A trigger can name any constraint: none is shown unless PostgreSQL's own check raised it.
        assert!(!errors.contains("constraint `"), "{errors}");
    }
    for t in ["leads", "contacts", "visitors"] {
        let row = db
            .dump(&format!(
                "SELECT {}, {} FROM {t}",
                db.text("email"),
                db.text("phone")
            ))
            .await;
        assert_eq!(
            row,
            [[
                Some("lead-qx7w@example.test".to_string()),
                Some("+31612345678".to_string())
            ]],
            "{t} changed"
        );
    }

    // The other formats and the logs at every level.
    for format in ["text", "markdown", "html"] {
        let r = apply(&["--format", format]);
        for (_, code) in expected(b) {
            assert!(r.stdout.contains(code), "{format}: {code}\n{}", r.stdout);
        }
    }
    for log in ["text", "json"] {
        let r = apply(&["-vv", "--log-format", log]);
        assert!(
            r.stderr.contains(expected(b)[0].1),
            "-vv {log}: {}",
            r.stderr
        );
        let r = apply(&["-v", "--log-format", log]);
        assert!(r.stderr.contains(expected(b)[0].1), "-v {log}");
    }
    let r = apply(&[]);
    assert!(r.stderr.contains(expected(b)[0].1) || r.stdout.contains(expected(b)[0].1));

    // The audit trail and the whole state database.
    let export = run(db.lethe(&cfg).args(["audit", "export"]));
    assert_eq!(export.code, 0, "{}", export.stderr);
    assert_private("audit export", &export);
    assert!(
        export.stdout.contains(expected(b)[0].1),
        "{}",
        export.stdout
    );
    let csv = run(db.lethe(&cfg).args(["audit", "export", "--csv"]));
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert_private("audit export --csv", &csv);
    let verify = run(db.lethe(&cfg).args(["audit", "verify"]));
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    let state = if state_on_postgres {
        postgres_state(&db).await
    } else {
        sqlite_state(db.dir.path())
    };
    assert_no_values("state database", &state);
    assert!(state.contains(expected(b)[0].1), "the code is not recorded");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_triggers_leak_nothing() {
    probe(Backend::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_triggers_leak_nothing_into_a_postgres_state() {
    probe(Backend::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_triggers_leak_nothing() {
    probe(Backend::MariaDb, false).await;
}
