//! `lethe audit export`: JSON Lines and CSV, each with the chain hashes a reader can check
//! without lethe, filtered by date, and the same events in both.

use crate::support::{run, Backend, TestDb};
use sha2::{Digest, Sha256};

const POLICY: &str = "kind: RetentionPolicy\nname: stale-leads\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";

/// An event's fields in chain order: seq, run_id, at, kind, payload (as hashed), prev, hash.
type Row = [String; 7];

/// Checks the chain from the rows alone, as a DPO's script would: every hash recomputed with
/// SHA-256 and every link followed.
fn check_chain(rows: &[Row], what: &str) {
    let mut prev = "0".repeat(64);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (i + 1).to_string(), "{what}: seq");
        assert_eq!(
            r[5], prev,
            "{what}: event {} links to its predecessor",
            r[0]
        );
        let text = format!("{}\n{}\n{}\n{}\n{}\n{}", r[5], r[0], r[1], r[2], r[3], r[4]);
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        assert_eq!(r[6], hash, "{what}: event {} recomputed", r[0]);
        prev = hash;
    }
}

#[tokio::test]
async fn exports_carry_checkable_hashes() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    db.exec(
        "INSERT INTO leads (id, email, status, created_at) VALUES
           (1, 'export-1@example.test', 'new', '2026-01-01 00:00:00'),
           (2, 'export-2@example.test', 'new', '2026-06-14 00:00:00')",
    )
    .await;
    let cfg = db.policies("", &[("p.yaml", POLICY)]);
    for as_of in ["2026-06-15T12:00:00Z", "2026-07-20T12:00:00Z"] {
        let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", as_of]));
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert_eq!(db.ids("leads").await, Vec::<i64>::new());

    let jsonl = run(db.lethe(&cfg).args(["audit", "export"]));
    assert_eq!(jsonl.code, 0, "{}", jsonl.stderr);
    let from_json: Vec<Row> = jsonl
        .stdout
        .lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            [
                e["seq"].to_string(),
                s("run_id"),
                s("at"),
                s("kind"),
                e["payload"].to_string(),
                s("prev_hash"),
                s("hash"),
            ]
        })
        .collect();
    assert!(from_json.len() > 6, "{}", jsonl.stdout);
    check_chain(&from_json, "JSON Lines");

    let out = db.dir.path().join("exports/trail.csv");
    let csv =
        run(db
            .lethe(&cfg)
            .args(["audit", "export", "--csv", "--out", out.to_str().unwrap()]));
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "seq",
            "run_id",
            "at",
            "kind",
            "payload",
            "prev_hash",
            "hash"
        ]
    );
    let from_csv: Vec<Row> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            std::array::from_fn(|i| r[i].to_string())
        })
        .collect();
    check_chain(&from_csv, "CSV");
    assert_eq!(from_csv, from_json, "the same events in both forms");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("export-1@example.test"), "{text}");

    // Filters by when events were written: all of them today, none tomorrow or yesterday.
    let today = chrono::Utc::now().date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let tomorrow = day(today.succ_opt().unwrap());
    let yesterday = day(today.pred_opt().unwrap());
    let lines = |args: &[&str]| {
        let r = run(db.lethe(&cfg).args(["audit", "export"]).args(args));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout.lines().count()
    };
    assert_eq!(lines(&["--since", &day(today)]), from_json.len());
    assert_eq!(lines(&["--until", &day(today)]), from_json.len());
    assert_eq!(lines(&["--since", &tomorrow]), 0);
    assert_eq!(lines(&["--until", &yesterday]), 0);
    let bad = run(db
        .lethe(&cfg)
        .args(["audit", "export", "--since", "last week"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("expected a date"), "{}", bad.stderr);
    db.drop_db().await;
}
