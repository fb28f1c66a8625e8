//! `lethe report`: a week of nightly runs (evaluated with `--as-of`), a runtime hold added and
//! released, a refused run, then the period report in every format, checked against figures
//! this test computes on its own.

use crate::support::{run, Backend, TestDb};
use chrono::{Days, Utc};

const POLICY: &str = "kind: RetentionPolicy\nname: stale-leads\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\n";
const DISPUTE: &str = "kind: LegalHold\nname: dispute-7\nbasis: litigation with customer 7\nstore: crm\ntable: leads\nmatch: { customer_id: 7 }\n";

fn email(id: u64) -> String {
    format!("period-{id}@example.test")
}

#[tokio::test]
async fn a_week_of_runs_in_every_format() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    // The week ends today, so that holds added now fall inside it.
    let today = Utc::now().date_naive();
    let base = today - Days::new(6);
    let night = |k: u64| base + Days::new(k);
    // Ten leads per creation day d = 0..6, created 31 days before night d (03:00): night k
    // finds days 0..=k due. Customer 7 (every fifth lead) is held by dispute-7; customer 8
    // (the lead after it) by a runtime hold from night 3 until it is released before night 5.
    for id in 1..=70u64 {
        let d = (id - 1) / 10;
        let created = night(d) - Days::new(31);
        let customer = match id % 5 {
            0 => 7,
            1 => 8,
            _ => 1,
        };
        db.exec(&format!(
            "INSERT INTO leads (id, customer_id, email, status, created_at) VALUES ({id}, {customer}, '{}', 'new', '{created} 03:00:00')",
            email(id)
        ))
        .await;
    }
    let cfg = db.policies("", &[("leads.yaml", POLICY), ("dispute.yaml", DISPUTE)]);
    let apply = |k: u64| {
        let as_of = format!("{}T02:00:00Z", night(k));
        let r = run(db.lethe(&cfg).args(["apply", "--yes", "--as-of", &as_of]));
        (r.code, r.stderr)
    };
    let mut outputs = Vec::new();
    for k in 0..7 {
        if k == 1 {
            // A guard refuses one run that night; the next one goes through.
            let strict = format!("{POLICY}guard: {{ max_rows: 1 }}\n");
            std::fs::write(cfg.join("leads.yaml"), strict).unwrap();
            assert_eq!(apply(k).0, 4, "night 1: refused");
            std::fs::write(cfg.join("leads.yaml"), POLICY).unwrap();
        }
        if k == 3 {
            let r = run(db.lethe(&cfg).args([
                "holds",
                "add",
                "--store",
                "crm",
                "--table",
                "leads",
                "--match",
                "customer_id=8",
                "--reason",
                "case 12",
            ]));
            assert_eq!(r.code, 0, "{}", r.stderr);
        }
        if k == 5 {
            let r =
                run(db
                    .lethe(&cfg)
                    .args(["holds", "release", "1", "--reason", "case 12 closed"]));
            assert_eq!(r.code, 0, "{}", r.stderr);
        }
        let (code, err) = apply(k);
        assert_eq!(code, 0, "night {k}: {err}");
        // A dry run in the period changes nothing and counts for nothing.
        let plan =
            run(db
                .lethe(&cfg)
                .args(["plan", "--as-of", &format!("{}T03:00:00Z", night(k))]));
        assert_eq!(plan.code, 0);
    }
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads").await,
        14,
        "dispute-7's leads stay"
    );

    let report = |args: &[&str]| {
        let r = run(db.lethe(&cfg).arg("report").args(args));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout
    };
    let since = night(0).to_string();
    let until = today.to_string();
    let week = ["--since", since.as_str(), "--until", until.as_str()];
    let j: serde_json::Value =
        serde_json::from_str(&report(&[&week[..], &["--format", "json"]].concat())).unwrap();
    assert_eq!(j["chain"]["intact"], true, "{j}");
    assert_eq!(j["runs"]["ok"], 7, "{j}");
    assert_eq!(j["runs"]["refused"], 1, "{j}");
    assert_eq!(j["refusals"].as_array().unwrap().len(), 1, "{j}");
    // Per night: 8 deleted (2 held by dispute-7); 6 while case 12 holds customer 8 too; 12 on
    // the night after its release (the 4 it kept go with the night's 8).
    let deleted = [8, 8, 8, 6, 6, 12, 8];
    let nights = j["nights"].as_array().unwrap();
    assert_eq!(nights.len(), 7, "{j}");
    for (k, n) in nights.iter().enumerate() {
        assert_eq!(n["date"], night(k as u64).to_string(), "{n}");
        let p = &n["policies"]["stale-leads"];
        assert_eq!(p["deleted"], deleted[k], "night {k}: {p}");
        assert_eq!(p["held"]["dispute-7"], 2 * (k as u64 + 1), "night {k}: {p}");
        let case_12 = match k {
            3 => Some(2),
            4 => Some(4),
            _ => None,
        };
        assert_eq!(p["held"]["hold-1"].as_u64(), case_12, "night {k}: {p}");
    }
    let p = &j["policies"][0];
    assert_eq!(p["deleted"], 56, "{p}");
    assert_eq!(p["runs"], 7, "{p}");
    assert_eq!(p["remaining"], 0, "{p}");
    assert_eq!(p["referenced"], 0, "{p}");
    assert_eq!(j["holds_added"][0]["reason"], "case 12", "{j}");
    assert_eq!(j["holds_released"][0]["hold"], "hold-1", "{j}");
    assert_eq!(j["residency"][0]["store"], "crm", "{j}");
    assert_eq!(j["residency"][0]["runs"], 8, "{j}");
    // Counted on the live table now: what is left is held by dispute-7, so nothing comes due.
    assert_eq!(j["forecast"][0]["name"], "stale-leads", "{j}");
    assert_eq!(j["forecast"][0]["eligible"], 0, "{j}");
    assert_eq!(
        j["forecast"][0]["next"],
        serde_json::json!({"days_7": 0, "days_30": 0, "days_90": 0}),
        "{j}"
    );
    assert!(j.get("forecast_unavailable").is_none(), "{j}");

    // A shorter period: nights 3 and 4 only.
    let (from, to) = (night(3).to_string(), night(4).to_string());
    let two: serde_json::Value = serde_json::from_str(&report(&[
        "--since", &from, "--until", &to, "--format", "json",
    ]))
    .unwrap();
    assert_eq!(two["nights"].as_array().unwrap().len(), 2, "{two}");
    assert_eq!(two["policies"][0]["deleted"], 12, "{two}");

    let text = report(&week);
    assert!(text.contains("audit trail intact"), "{text}");
    assert!(text.contains("deleted 56"), "{text}");
    let md = report(&[&week[..], &["--format", "markdown"]].concat());
    assert!(md.contains("## Per night"), "{md}");
    assert!(md.contains("## Due next"), "{md}");
    assert!(
        md.contains("| stale-leads | crm.leads | 0 | +0 | +0 | +0 |"),
        "{md}"
    );
    assert!(md.contains("| stale-leads | crm.leads | 7 | 56 |"), "{md}");
    // Every row has as many cells as its header.
    for table in md.split("\n\n").filter(|t| t.starts_with('|')) {
        let cells = |line: &str| line.matches(" | ").count();
        let mut lines = table.lines();
        let header = cells(lines.next().unwrap());
        for line in lines {
            assert_eq!(cells(line), header, "{line} under a header of {header}");
        }
    }
    let html = report(&[&week[..], &["--format", "html"]].concat());
    assert_eq!(html.matches("<svg").count(), 2, "two charts");
    assert!(html.contains("Records changed per night"));
    assert!(html.contains("dispute-7") && html.contains("hold-1"));
    for external in ["<script", "src=", "href="] {
        assert!(!html.contains(external), "{external} in the page");
    }
    outputs.extend([text, md, html, j.to_string()]);
    for out in &outputs {
        for id in 1..=70 {
            assert!(!out.contains(&email(id)), "a value in the report");
        }
    }

    let bad = run(db
        .lethe(&cfg)
        .args(["report", "--since", &until, "--until", &since]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("must lie before"), "{}", bad.stderr);
    db.drop_db().await;
}
