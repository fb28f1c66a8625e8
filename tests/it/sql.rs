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
