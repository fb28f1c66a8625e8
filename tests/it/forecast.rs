//! The plan's forecast: how many more records become due within 7, 30 and 90 days, with holds
//! as they will stand then (a hold that ends frees its records; one that stays keeps them).

use crate::objects::folder;
use crate::objects::stores::{Kind, Store};
use crate::on_every_backend;
use crate::support::{run, Backend, TestDb};

const AS_OF: &str = "2026-06-15T12:00:00Z";
const POLICY: &str = "kind: RetentionPolicy\nname: stale-leads\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\n";
const UNTIL_JULY: &str = "kind: LegalHold\nname: audit-9\nbasis: tax audit of customer 9\nstore: crm\ntable: leads\nmatch: { customer_id: 9 }\nuntil: 2026-07-01\n";
const DISPUTE: &str = "kind: LegalHold\nname: dispute-7\nbasis: litigation with customer 7\nstore: crm\ntable: leads\nmatch: { customer_id: 7 }\n";

async fn forecast_counts_with_holds_as_they_will_stand(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    db.crm_schema().await;
    // (created, customers): due now; due within 7 days; within 30; within 90.
    let groups: [(&str, &[i64]); 5] = [
        ("2026-05-01 00:00:00", &[1, 1, 1, 9, 9]),
        ("2026-05-20 00:00:00", &[1, 1, 7]),
        ("2026-06-01 00:00:00", &[1, 1, 1, 1]),
        ("2026-06-14 00:00:00", &[1, 1]),
        ("2026-07-01 00:00:00", &[1, 1]),
    ];
    let mut id = 0;
    for (created, customers) in groups {
        for customer in customers {
            id += 1;
            db.exec(&format!(
                "INSERT INTO leads (id, customer_id, status, created_at) VALUES ({id}, {customer}, 'new', {})",
                db.ts(created)
            ))
            .await;
        }
    }
    let cfg = db.policies(
        "",
        &[
            ("p.yaml", POLICY),
            ("a.yaml", UNTIL_JULY),
            ("d.yaml", DISPUTE),
        ],
    );
    let r = run(db
        .lethe(&cfg)
        .args(["plan", "--format", "json", "--as-of", AS_OF]));
    assert_eq!(r.code, 0, "{b:?}: {}", r.stderr);
    let p = &r.json()["policies"][0];
    // Now: 5 due, 2 held by audit-9. In 7 days: the 3 of 20 May are due too, 1 held by
    // dispute-7. By 30 days audit-9 has ended: its 2 and the leads of June are due. By 90: July.
    assert_eq!(p["eligible"], 3, "{b:?}: {p}");
    assert_eq!(
        p["forecast"],
        serde_json::json!({"days_7": 2, "days_30": 10, "days_90": 12}),
        "{b:?}: {p}"
    );
    let text = run(db.lethe(&cfg).args(["plan", "--as-of", AS_OF]));
    assert!(
        text.stdout
            .contains("due next: 2 more within 7 days, 10 within 30 days, 12 within 90 days"),
        "{b:?}: {}",
        text.stdout
    );
    // A pinned apply reads the plan file with its forecast.
    let file = db.dir.path().join("reviewed.json");
    let r = run(db.lethe(&cfg).args([
        "plan",
        "--as-of",
        AS_OF,
        "--plan-file",
        file.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{b:?}: {}", r.stderr);
    let r = run(db
        .lethe(&cfg)
        .args(["apply", "--yes", "--plan", file.to_str().unwrap()]));
    assert_eq!(r.code, 0, "{b:?}: {}\n{}", r.stdout, r.stderr);
    assert_eq!(db.count("SELECT COUNT(*) FROM leads").await, 16 - 3);
    db.drop_db().await;
}

on_every_backend!(forecast_counts_with_holds_as_they_will_stand);

/// An object policy's forecast: one more listing, each key judged at every horizon, with a
/// prefix hold that ends within 30 days freeing its key there.
async fn objects_forecast_with_holds_as_they_will_stand(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // keep 30d: a is due now; b (and held/d, held until 15 days from now) in about 5 days;
    // c in about 20; e in about 29.
    for (key, age) in [
        ("cvs/a.pdf", 40),
        ("cvs/b.pdf", 25),
        ("cvs/held/d.pdf", 25),
        ("cvs/c.pdf", 10),
        ("cvs/e.pdf", 1),
    ] {
        s.put_aged(key, age).await;
    }
    let until = (chrono::Utc::now() + chrono::Duration::days(15))
        .format("%Y-%m-%d")
        .to_string();
    let cfg = folder(
        tmp.path(),
        &s.store_yaml("uploads"),
        &[
            (
                "cvs.yaml",
                &format!("kind: RetentionPolicy\nname: cvs\nstore: uploads\nprefix: cvs/\nclock: {}\nkeep: 30d\naction: delete\n", s.clock()),
            ),
            (
                "hold.yaml",
                &format!("kind: LegalHold\nname: audit-held\nbasis: tax audit\nstore: uploads\nprefix: cvs/held/\nuntil: {until}\n"),
            ),
        ],
    );
    let r = s.lethe(tmp.path(), &cfg, &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{kind:?}: {}\n{}", r.stdout, r.stderr);
    let p = &r.json()["policies"][0];
    assert_eq!(p["eligible"], 1, "{kind:?}: {p}");
    assert_eq!(
        p["forecast"],
        serde_json::json!({"days_7": 1, "days_30": 4, "days_90": 4}),
        "{kind:?}: {p}"
    );
    let text = s.lethe(tmp.path(), &cfg, &["plan"]);
    assert!(
        text.stdout
            .contains("due next: 1 more within 7 days, 4 within 30 days, 4 within 90 days"),
        "{kind:?}: {}",
        text.stdout
    );
    s.drop_store().await;
}

mod objects_forecast_with_holds_as_they_will_stand {
    use super::Kind;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dir() {
        super::objects_forecast_with_holds_as_they_will_stand(Kind::Dir).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moto() {
        super::objects_forecast_with_holds_as_they_will_stand(Kind::Moto).await
    }
}
