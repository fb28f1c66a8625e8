//! The plan foresees the guards: every format of `lethe plan` shows each policy's verdict and
//! the run's, a refusal names the key that changes it, and the pinned apply that follows is
//! refused with the same words, or goes on once the plan says ok.

use crate::on_every_backend;
use crate::support::{run, Backend, TestDb};
use serde_json::Value;
use std::path::Path;

const AS_OF: &str = "2026-06-15T12:00:00Z";

fn leads_policy(extra: &str) -> String {
    format!(
        "kind: RetentionPolicy\nname: leads-after-contract-end\nstore: crm\ntable: leads\nkey: id\nclock: {{ column: created_at }}\nkeep: 30d\naction: delete\n{extra}"
    )
}

/// 800 leads, 444 of them due at `AS_OF` (55.5%: above the default `max_fraction` 0.5).
async fn seed_800_leads(db: &TestDb) {
    let old = db.ts("2026-01-01 00:00:00");
    let recent = db.ts("2026-06-10 00:00:00");
    let values: Vec<String> = (1..=800)
        .map(|i| format!("({i}, 'new', {})", if i <= 444 { &old } else { &recent }))
        .collect();
    db.exec(&format!(
        "INSERT INTO leads (id, status, created_at) VALUES {}",
        values.join(", ")
    ))
    .await;
}

/// `lethe plan` in text, writing the plan file to `file`; the plan file as JSON.
fn plan(db: &TestDb, cfg: &Path, file: &Path) -> (String, Value) {
    let r = run(db
        .lethe(cfg)
        .args(["plan", "--as-of", AS_OF, "--plan-file"])
        .arg(file));
    // A plan never refuses: its exit code says nothing of the guards.
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let json = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    (r.stdout, json)
}

async fn plan_foresees_the_guards(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    seed_800_leads(&db).await;
    let cfg = db.policies("", &[("leads.yaml", &leads_policy(""))]);
    let file = db.dir.path().join("reviewed.json");
    let (text, json) = plan(&db, &cfg, &file);
    let shown = cfg.join("leads.yaml").display().to_string();
    let reason = format!(
        "would delete 444 of 800 rows (55.5%), more than `max_fraction` 0.5 (50.0%) allows; the limit is lethe's default: set `guard.max_fraction` in lethe.yaml, or `guard: {{ max_fraction: ... }}` in policy `leads-after-contract-end` ({shown})"
    );
    assert!(
        text.contains(&format!("  guard: REFUSED — {reason}\n")),
        "{text}"
    );
    assert!(
        text.contains("run guard: ok   444 records; run_max_rows none"),
        "{text}"
    );
    assert!(
        text.contains("lethe apply would refuse this plan"),
        "{text}"
    );
    let guard = &json["policies"][0]["guard"];
    assert_eq!(guard["verdict"], "refused", "{json}");
    assert_eq!(guard["max_fraction"], 0.5);
    assert_eq!(guard["max_rows"], Value::Null);
    assert_eq!(guard["fraction"], 0.555);
    assert_eq!(guard["set_in"]["max_fraction"], "default");
    assert_eq!(guard["reasons"][0], reason.as_str());
    assert_eq!(json["guard"]["verdict"], "ok");
    assert_eq!(json["guard"]["eligible"], 444);
    // The reports for people say the same.
    for (format, cell) in [
        ("markdown", "| **refused** |"),
        ("html", "<strong>refused</strong>"),
    ] {
        let r = run(db
            .lethe(&cfg)
            .args(["plan", "--as-of", AS_OF, "--format", format]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout.contains("Guard: refused"),
            "{format}: {}",
            r.stdout
        );
        assert!(r.stdout.contains(cell), "{format}: {}", r.stdout);
        assert!(
            r.stdout.contains("would refuse this plan"),
            "{format}: {}",
            r.stdout
        );
    }

    // The pinned apply is refused with the plan's words; nothing is deleted.
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--plan"])
        .arg(&file));
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["status"], "refused");
    assert_eq!(
        r.json()["refusals"][0]["policy"],
        "leads-after-contract-end"
    );
    assert_eq!(r.json()["refusals"][0]["reason"], reason.as_str());
    assert_eq!(
        db.ids("leads").await.len(),
        800,
        "a refused run deleted rows"
    );
    // The audit trail: the dry run recorded the verdicts, the refused run the same reason.
    let events = db.audit_events(&cfg);
    let of = |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["kind"] == kind).collect() };
    let refused = of("run.refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0]["payload"]["refusals"][0]["reason"],
        reason.as_str()
    );
    let planned = of("policy.planned");
    assert_eq!(planned[0]["payload"]["guard"]["verdict"], "refused");
    assert_eq!(
        planned[0]["payload"]["guard"]["reasons"][0],
        reason.as_str()
    );
    let finished = of("run.finished");
    assert_eq!(finished[0]["payload"]["dry_run"], true);
    assert_eq!(finished[0]["payload"]["guard"]["verdict"], "ok");

    // A limit of lethe.yaml is named as such; so is the run's.
    let cfg = db.policies(
        "guard: { max_fraction: 0.4, run_max_rows: 400 }",
        &[("leads.yaml", &leads_policy(""))],
    );
    let (text, json) = plan(&db, &cfg, &file);
    assert!(
        text.contains("allows; the limit is the default of lethe.yaml: raise `guard.max_fraction` in lethe.yaml, or set `guard: { max_fraction: ... }` in policy `leads-after-contract-end`"),
        "{text}"
    );
    assert!(
        text.contains("run guard: REFUSED — the run would change 444 records, more than `run_max_rows` 400 allows; the limit is set in lethe.yaml: raise `guard.run_max_rows` there"),
        "{text}"
    );
    assert_eq!(
        json["policies"][0]["guard"]["set_in"]["max_fraction"],
        "lethe.yaml"
    );
    assert_eq!(json["guard"]["verdict"], "refused");

    // Raised in the policy: the plan says ok, and the pinned apply deletes.
    let cfg = db.policies(
        "",
        &[(
            "leads.yaml",
            &leads_policy("guard: { max_fraction: 0.6 }\n"),
        )],
    );
    let (text, json) = plan(&db, &cfg, &file);
    assert!(
        text.contains(
            "  guard: ok   444 of 800 rows (55.5%); max_rows none, max_fraction 0.6 (policy)\n"
        ),
        "{text}"
    );
    assert!(!text.contains("REFUSED"), "{text}");
    assert!(!text.contains("would refuse"), "{text}");
    let guard = &json["policies"][0]["guard"];
    assert_eq!(guard["verdict"], "ok", "{json}");
    assert_eq!(guard["set_in"]["max_fraction"], "policy");
    assert_eq!(guard["reasons"], serde_json::json!([]));
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--format", "json", "--plan"])
        .arg(&file));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["policies"][0]["deleted"], 444);
    assert_eq!(db.ids("leads").await.len(), 356);
    db.drop_db().await;
}

on_every_backend!(plan_foresees_the_guards);
