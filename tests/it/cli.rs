//! The command line end to end: the demo, the audit trail, and the privacy of the tool itself.

use crate::on_every_backend;
use crate::support::{lethe_in, run, Backend, TestDb};
use std::path::{Path, PathBuf};

fn repo_policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// A newcomer's path: demo, check, apply, apply again, audit, verify.
#[test]
fn demo_then_apply_then_audit() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = repo_policies();
    let demo = run(lethe_in(dir.path(), &cfg).arg("demo"));
    assert_eq!(demo.code, 0, "{}\n{}", demo.stdout, demo.stderr);
    assert!(demo.stdout.contains("total eligible:"), "{}", demo.stdout);
    assert!(demo.stdout.contains("What to try next"), "{}", demo.stdout);
    assert!(dir.path().join("var/demo/crm.db").exists());
    assert!(dir.path().join("var/demo/hmac.key").exists());

    let check = run(lethe_in(dir.path(), &cfg).arg("check"));
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);

    let apply = run(lethe_in(dir.path(), &cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let first = apply.json();
    let total = |j: &serde_json::Value, k: &str| {
        j["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[k].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(
        total(&first, "deleted") > 0 && total(&first, "anonymized") > 0,
        "{first}"
    );
    assert_eq!(total(&first, "remaining"), 0, "{first}");

    let again = run(lethe_in(dir.path(), &cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(again.code, 0);
    let again = again.json();
    assert_eq!(
        total(&again, "deleted") + total(&again, "anonymized"),
        0,
        "not idempotent: {again}"
    );

    let audit = run(lethe_in(dir.path(), &cfg).arg("audit"));
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    assert_eq!(
        audit.stdout.matches(" apply ").count(),
        2,
        "{}",
        audit.stdout
    );
    assert_eq!(
        audit.stdout.matches(" plan ").count(),
        1,
        "{}",
        audit.stdout
    );
    let verify = run(lethe_in(dir.path(), &cfg).args(["audit", "verify"]));
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    assert!(verify.stdout.contains("audit trail intact"));
}

/// The audit trail is append-only, and `audit verify` notices when someone works around that.
#[tokio::test]
async fn audit_tampering_is_detected() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    db.crm_schema().await;
    let old = db.ts("2026-01-01 00:00:00");
    db.exec(&format!(
        "INSERT INTO leads (id, status, created_at) VALUES (1, 'new', {old}), (2, 'new', {old})"
    ))
    .await;
    let policy = "kind: RetentionPolicy\nname: p\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";
    let cfg = db.policies("", &[("p.yaml", policy)]);
    assert_eq!(run(db.lethe(&cfg).args(["apply", "--yes"])).code, 0);
    assert_eq!(run(db.lethe(&cfg).args(["audit", "verify"])).code, 0);

    let state = lethe::store::SqlStore::connect(
        "state",
        &format!("sqlite://{}", db.dir.path().join("state.db").display()),
    )
    .await
    .unwrap();
    let blocked = state
        .execute_script("UPDATE lethe_audit SET payload = '{}' WHERE seq = 2")
        .await;
    assert!(blocked.is_err(), "the audit table accepted an UPDATE");
    assert!(state
        .execute_script("DELETE FROM lethe_audit WHERE seq = 2")
        .await
        .is_err());
    // Someone with enough rights drops the guard and edits a count.
    state
        .execute_script(
            "DROP TRIGGER lethe_audit_no_update; UPDATE lethe_audit SET payload = replace(payload, '\"deleted\":2', '\"deleted\":1') WHERE kind = 'policy.applied'",
        )
        .await
        .unwrap();
    let v = run(db.lethe(&cfg).args(["audit", "verify"]));
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(
        v.stdout.contains("BROKEN") && v.stdout.contains("altered"),
        "{}",
        v.stdout
    );
    state.close().await;
    db.drop_db().await;
}

/// Recognizable personal values seeded in the data never appear in anything lethe writes.
async fn privacy(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    let secrets = [
        "Zwaantje Privacytest",
        "zwaantje.privacytest@lethe-test.example",
        "+31 6 99887766",
        "203.0.113.77",
        "not-an-ip Kwartelkoning",
    ];
    let old = db.ts("2026-01-01 00:00:00");
    db.exec(&format!(
        "INSERT INTO contracts (id, customer_id, terminated_at) VALUES (1, 7, {old});
         INSERT INTO leads (id, customer_id, full_name, email, phone, ip, status, created_at) VALUES
          (1, 8, '{}', '{}', '{}', '{}', 'delivered', {old}),
          (2, 8, 'Kwartelkoning Jansen', 'kwartel@lethe-test.example', '+31 6 55443322', '{}', 'delivered', {old}),
          (3, 7, 'Zwaantje Tweede', 'zwaantje2@lethe-test.example', '+31 6 99887766', '203.0.113.77', 'new', {old})",
        secrets[0], secrets[1], secrets[2], secrets[3], secrets[4]
    ))
    .await;
    let policies = "kind: RetentionPolicy\nname: gone-after-contract\nstore: crm\ntable: leads\nkey: id\nclock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n---\nkind: RetentionPolicy\nname: contact-details\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 90d\naction:\n  anonymize: { email: hmac, phone: redact, full_name: \"null\", ip: truncate-ip }\nguard: { max_fraction: 1 }\n";
    let cfg = db.policies("", &[("p.yaml", policies)]);
    let out = db.dir.path().join("reports");
    let mut outputs = Vec::new();
    let runs: Vec<Vec<String>> = vec![
        vec!["-vv".into(), "check".into()],
        vec![
            "-vv".into(),
            "plan".into(),
            "--format".into(),
            "json".into(),
        ],
        vec![
            "plan".into(),
            "--format".into(),
            "markdown".into(),
            "--plan-file".into(),
            out.join("plan.json").display().to_string(),
        ],
        vec![
            "-vv".into(),
            "--log-format".into(),
            "json".into(),
            "apply".into(),
            "--yes".into(),
            "--format".into(),
            "json".into(),
        ],
        vec![
            "apply".into(),
            "--yes".into(),
            "--format".into(),
            "markdown".into(),
            "--out".into(),
            out.join("apply.md").display().to_string(),
        ],
        vec!["audit".into()],
        vec!["audit".into(), "export".into()],
        vec!["audit".into(), "verify".into()],
    ];
    for args in &runs {
        let r = run(db.lethe(&cfg).args(args));
        assert!(
            r.code == 0 || r.code == 1,
            "{args:?}: {}\n{}",
            r.stdout,
            r.stderr
        );
        outputs.push((format!("{args:?} stdout"), r.stdout));
        outputs.push((format!("{args:?} stderr"), r.stderr));
    }
    // The unreadable IP was cleared and reported: that note must not carry the value.
    assert!(
        outputs.iter().any(|(_, o)| o.contains("\"cleared\": 1")),
        "expected the masking failure to be reported"
    );
    for entry in std::fs::read_dir(&out)
        .unwrap()
        .chain(std::fs::read_dir(db.dir.path()).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with("crm.db") {
            outputs.push((
                path.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
            ));
        }
    }
    for (what, text) in &outputs {
        for s in secrets.iter().chain(
            [
                "Zwaantje",
                "Kwartelkoning",
                "lethe-test.example",
                "99887766",
            ]
            .iter(),
        ) {
            assert!(
                !text.contains(s),
                "{b:?}: personal value {s:?} leaked into {what}:\n{text}"
            );
        }
    }
    // And the data really was processed.
    assert_eq!(db.ids("leads").await, [1, 2]);
    db.drop_db().await;
}

on_every_backend!(privacy);

/// The state database on PostgreSQL: migrations, the chain under concurrent writers, verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_on_postgres() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    db.crm_schema().await;
    let old = db.ts("2026-01-01 00:00:00");
    let values: Vec<String> = (1..=40).map(|i| format!("({i}, 'new', {old})")).collect();
    db.exec(&format!(
        "INSERT INTO leads (id, status, created_at) VALUES {}",
        values.join(", ")
    ))
    .await;
    let policy = "kind: RetentionPolicy\nname: p\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nbatch_size: 2\nguard: { max_fraction: 1 }\n";
    let cfg = db.policies("", &[("p.yaml", policy)]);
    db.state_on_postgres(&cfg);
    // `apply` never creates a state database: on a fresh one it refuses, `check` creates it.
    let r = run(db.lethe(&cfg).args(["apply", "--yes"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("never create one"), "{}", r.stderr);
    assert_eq!(db.ids("leads").await.len(), 40);
    assert_eq!(run(db.lethe(&cfg).arg("check")).code, 0);
    // Two writers at once: a plan and an apply append to the same chain.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            run(db
                .lethe(&cfg)
                .args(["apply", "--yes", "--as-of", "2026-06-15T12:00:00Z"]))
        });
        let b = s.spawn(|| {
            run(db
                .lethe(&cfg)
                .args(["plan", "--as-of", "2026-06-15T12:00:00Z"]))
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        a.code == 0 && b.code == 0,
        "apply: {}\n{}\nplan: {}\n{}",
        a.stdout,
        a.stderr,
        b.stdout,
        b.stderr
    );
    assert!(db.ids("leads").await.is_empty());
    let v = run(db.lethe(&cfg).args(["audit", "verify", "--format", "json"]));
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(v.json()["events"].as_u64().unwrap() > 20, "{}", v.stdout);
    assert!(
        db.count("SELECT COUNT(*) FROM lethe_audit WHERE kind = 'batch.done'")
            .await
            == 20
    );
    assert!(
        db.store
            .execute_script("DELETE FROM lethe_audit")
            .await
            .is_err(),
        "append-only on PostgreSQL"
    );
    db.drop_db().await;
}

/// `apply` from the wrong folder finds no state database: it refuses instead of starting an
/// empty one without the runtime holds.
#[tokio::test]
async fn apply_never_creates_a_state_database() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    db.crm_schema().await;
    let cfg = db.policies("", &[]);
    std::fs::write(
        cfg.join("lethe.yaml"),
        format!(
            "state: sqlite://var/state.db\nstores:\n  crm: {{ kind: sql, url: \"{}\" }}\n",
            db.url
        ),
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let r = run(crate::support::lethe_in(elsewhere.path(), &cfg).args(["apply", "--yes"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("never create one") && r.stderr.contains("lethe check"),
        "{}",
        r.stderr
    );
    assert!(!elsewhere.path().join("var/state.db").exists());
    db.drop_db().await;
}

/// HTML reports for the DPO: a whole page, every table, and free text (a hold's basis) escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_reports_escape_free_text() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    let old = db.ts("2026-01-01 00:00:00");
    db.exec(&format!(
        "INSERT INTO leads (id, status, created_at) VALUES (1, 'new', {old}), (2, 'kept', {old})"
    ))
    .await;
    let policy = "kind: RetentionPolicy\nname: p\npurpose: \"[x](javascript:alert(1)) ![i](https://evil.example/p.png)\"\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n---\nkind: LegalHold\nname: h\nbasis: '<script>alert(1)</script> | case <b>7</b> \\[b\\](javascript:alert(3))'\nstore: crm\ntable: leads\nmatch: { status: kept }\n";
    let cfg = db.policies("", &[("p.yaml", policy)]);
    for args in [
        vec![
            "plan",
            "--format",
            "html",
            "--as-of",
            "2026-06-15T12:00:00Z",
        ],
        vec![
            "apply",
            "--yes",
            "--format",
            "html",
            "--as-of",
            "2026-06-15T12:00:00Z",
        ],
        vec!["residency", "--format", "html"],
    ] {
        let r = run(db.lethe(&cfg).args(&args));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let page = &r.stdout;
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.trim_end().ends_with("</html>"), "{page}");
        assert!(page.contains("<table>"), "{args:?}: {page}");
        assert!(
            !page.contains("<a ") && !page.contains("<img") && !page.contains("href"),
            "{args:?}: {page}"
        );
        assert!(
            !page.contains("<script>") && !page.contains("<b>"),
            "{page}"
        );
        if args[0] != "residency" {
            assert!(page.contains("&lt;script&gt;"), "{page}");
        }
    }
    assert_eq!(db.ids("leads").await, [2]);
    db.drop_db().await;
}
