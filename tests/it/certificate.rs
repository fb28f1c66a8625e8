//! Deletion certificates: per subject a fresh scan, the runs that deleted, the chain head, an
//! Ed25519 signature; verification that fails on a changed file and on a head the trail does
//! not hold; the daemon issuing once per subject; no personal value in any output.

use crate::daemon::{free_port, scrape_until, sigterm, spawn_daemon, wait_exit};
use crate::on_every_backend;
use crate::support::{run, Backend, TestDb};
use chrono::{Duration, Utc};
use serde_json::Value;
use std::path::Path;

const LEADS: &str = "kind: RetentionPolicy\nname: leads-after-contract-end\nclause: DPA art. 18\nstore: crm\ntable: leads\nkey: id\nclock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";
const INVOICES: &str = "kind: RetentionPolicy\nname: invoices-after-contract-end\nstore: crm\ntable: invoices\nkey: id\nclock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";
const FISCAL: &str = "kind: LegalHold\nname: fiscal-retention\nbasis: Fiscale bewaarplicht art. 52 AWR (7 jaar)\nstore: crm\ntable: invoices\nclock: { column: issued_on }\nkeep: 7y\n";
const DISPUTE: &str = "kind: LegalHold\nname: dispute-3\nbasis: litigation with customer 3\nstore: crm\ntable: leads\nmatch: { customer_id: 3 }\n";
const EXPORTS: &str = "kind: RetentionPolicy\nname: exports-after-contract-end\nstore: files\nkey_template: \"exports/{customer_id}/\"\nclock: { store: crm, join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";

/// Values seeded into the records; none may appear in any output.
const PROBES: [&str; 3] = ["probe-anna@example.org", "Anna Probemaker", "+31612345678"];

fn day(d: chrono::DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Customers 1 and 2 ended 200 days ago (due), 3 ended 10 days ago (due in 20 days), 4 runs.
/// Customer 2 has invoices under the 7-year fiscal hold; 1 and 3 have exported files.
async fn seed(db: &TestDb) -> std::path::PathBuf {
    db.crm_schema().await;
    let (pk, int, date) = (db.ty("pk"), db.ty("int"), db.ty("date"));
    db.exec(&format!(
        "CREATE TABLE invoices (id {pk}, customer_id {int} NOT NULL, issued_on {date} NOT NULL)"
    ))
    .await;
    let now = Utc::now();
    let long_ago = day(now - Duration::days(200));
    let recently = day(now - Duration::days(10));
    for (id, customer, end) in [
        (1, 1, Some(&long_ago)),
        (2, 2, Some(&long_ago)),
        (3, 3, Some(&recently)),
        (4, 4, None),
    ] {
        let end = end.map_or("NULL".to_string(), |e| db.ts(e));
        db.exec(&format!(
            "INSERT INTO contracts (id, customer_id, terminated_at) VALUES ({id}, {customer}, {end})"
        ))
        .await;
    }
    let mut id = 0;
    for (customer, n) in [(1, 3), (2, 2), (3, 2), (4, 1)] {
        for _ in 0..n {
            id += 1;
            db.exec(&format!(
                "INSERT INTO leads (id, customer_id, full_name, email, phone, status, created_at) VALUES ({id}, {customer}, '{}', '{}', '{}', 'delivered', {})",
                PROBES[1], PROBES[0], PROBES[2], db.ts(&long_ago)
            ))
            .await;
        }
    }
    db.exec("INSERT INTO invoices (id, customer_id, issued_on) VALUES (1, 2, '2025-12-01'), (2, 2, '2025-12-15')")
        .await;
    let files = db.dir.path().join("files");
    for (customer, name) in [(1, "a.csv"), (1, "b.csv"), (3, "a.csv"), (12, "x.csv")] {
        let dir = files.join(format!("exports/{customer}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), PROBES[0]).unwrap();
    }
    files
}

pub(crate) fn key_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("signing.pem");
    let signer = lethe::certificate::Signer::generate().unwrap();
    std::fs::write(&path, signer.private_pem().unwrap()).unwrap();
    path
}

fn config(db: &TestDb, files: &Path, extra: &str) -> std::path::PathBuf {
    let key = key_file(db.dir.path());
    let cfg = db.policies(
        &format!("signing_key_file: {}\n{extra}", key.display()),
        &[
            ("leads.yaml", LEADS),
            ("invoices.yaml", INVOICES),
            ("fiscal.yaml", FISCAL),
            ("dispute.yaml", DISPUTE),
            ("exports.yaml", EXPORTS),
        ],
    );
    let settings = cfg.join("lethe.yaml");
    let text = std::fs::read_to_string(&settings).unwrap().replacen(
        "stores:\n",
        &format!(
            "stores:\n  files: {{ kind: dir, path: \"{}\", country: NL }}\n",
            files.display()
        ),
        1,
    );
    std::fs::write(&settings, text).unwrap();
    cfg
}

pub(crate) fn certificate(db: &TestDb, cfg: &Path, subject: &str) -> (Value, std::path::PathBuf) {
    let dir = db.dir.path().join("certificates");
    let r = run(db.lethe(cfg).args([
        "certificate",
        "--subject",
        subject,
        "--dir",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(r.code, 0, "{subject}: {}\n{}", r.stdout, r.stderr);
    let file = dir.join(format!("certificate-{}.json", subject.replace('=', "-")));
    let signed: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(r.json(), signed, "--format json prints the file");
    (signed["certificate"].clone(), file)
}

fn finding<'a>(c: &'a Value, policy: &str) -> &'a Value {
    c["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policy"] == policy)
        .unwrap_or_else(|| panic!("no finding for {policy}: {c}"))
}

fn no_probe(what: &str, text: &str) {
    for p in PROBES {
        assert!(!text.contains(p), "{what} leaks `{p}`:\n{text}");
    }
}

async fn certificates_prove_deletion_and_say_what_stays(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let files = seed(&db).await;
    let cfg = config(&db, &files, "");
    let r = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(r.code, 0, "{b:?}: {}\n{}", r.stdout, r.stderr);
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();

    // Customer 1: every lead and file gone; no invoice ever. Complete, named run.
    let (c, file1) = certificate(&db, &cfg, "customer_id=1");
    assert_eq!(c["complete"], true, "{b:?}: {c}");
    let leads = finding(&c, "leads-after-contract-end");
    assert_eq!(leads["status"], "deleted", "{b:?}: {leads}");
    assert_eq!(leads["remaining"], 0);
    assert_eq!(
        leads["runs"][0]["run_id"],
        run_id.as_str(),
        "{b:?}: {leads}"
    );
    assert_eq!(leads["runs_total"], 1);
    assert_eq!(leads["contract"]["contracts"], 1);
    assert!(leads["contract"]["due_at"].is_string(), "{leads}");
    let exports = finding(&c, "exports-after-contract-end");
    assert_eq!(exports["status"], "deleted", "{b:?}: {exports}");
    assert_eq!(exports["unit"], "objects");
    assert_eq!(exports["runs"][0]["run_id"], run_id.as_str(), "{exports}");
    assert!(!files.join("exports/1").join("a.csv").exists());
    assert!(
        files.join("exports/12/x.csv").exists(),
        "another customer's file stays"
    );
    // Another customer's hold is not this customer's business.
    assert!(!c.to_string().contains("dispute-3"), "{b:?}: {c}");

    // Customer 2: leads gone, invoices kept by the fiscal hold until 7 years after issue.
    let (c, _) = certificate(&db, &cfg, "customer_id=2");
    assert_eq!(c["complete"], true, "{b:?}: {c}");
    let inv = finding(&c, "invoices-after-contract-end");
    assert_eq!(inv["status"], "held", "{b:?}: {inv}");
    assert_eq!(
        (inv["remaining"].as_u64(), inv["held"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(inv["holds"][0]["hold"], "fiscal-retention");
    assert_eq!(
        inv["holds"][0]["basis"],
        "Fiscale bewaarplicht art. 52 AWR (7 jaar)"
    );
    assert_eq!(
        inv["holds"][0]["until"], "2032-12-15 (7y after issued_on)",
        "{b:?}: {inv}"
    );

    // Customer 3: ended 10 days ago, due 20 days from now: not complete, the date said.
    let (c, _) = certificate(&db, &cfg, "customer_id=3");
    assert_eq!(c["complete"], false, "{b:?}: {c}");
    let leads = finding(&c, "leads-after-contract-end");
    assert_eq!(leads["status"], "not_yet_due", "{b:?}: {leads}");
    assert_eq!(leads["waiting"], 2);
    let due = (Utc::now() + Duration::days(20))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        leads["contract"]["due_at"]
            .as_str()
            .unwrap()
            .starts_with(&due[..8]),
        "{b:?}: {leads}"
    );
    assert_eq!(finding(&c, "exports-after-contract-end")["remaining"], 1);

    // Customer 4: the contract runs.
    let dir = db.dir.path().join("certificates");
    let r = run(db.lethe(&cfg).args([
        "certificate",
        "--subject",
        "customer_id=4",
        "--dir",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{b:?}: {}", r.stderr);
    assert!(
        r.stdout.contains("not complete") && r.stdout.contains("have no end date"),
        "{b:?}: {}",
        r.stdout
    );

    // Verification: valid as written.
    let v = run(db
        .lethe(&cfg)
        .args(["certificate", "verify", file1.to_str().unwrap()]));
    assert_eq!(v.code, 0, "{b:?}: {}\n{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("valid") && v.stdout.contains("in the intact trail"),
        "{}",
        v.stdout
    );
    // With the public key a customer receives, and the signature only.
    let public = db.dir.path().join("public.pem");
    let r = run(db.lethe(&cfg).args(["certificate", "public-key"]));
    std::fs::write(&public, &r.stdout).unwrap();
    let v = run(db.lethe(&cfg).args([
        "certificate",
        "verify",
        file1.to_str().unwrap(),
        "--public-key",
        public.to_str().unwrap(),
        "--signature-only",
    ]));
    assert_eq!(v.code, 0, "{b:?}: {}\n{}", v.stdout, v.stderr);

    // A changed count fails.
    let text = std::fs::read_to_string(&file1).unwrap();
    let mut changed: Value = serde_json::from_str(&text).unwrap();
    changed["certificate"]["policies"][0]["remaining"] = Value::from(1);
    let tampered = db.dir.path().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_string_pretty(&changed).unwrap()).unwrap();
    let v = run(db
        .lethe(&cfg)
        .args(["certificate", "verify", tampered.to_str().unwrap()]));
    assert_eq!(v.code, 1, "{b:?}: {}", v.stdout);
    assert!(v.stdout.contains("altered"), "{}", v.stdout);

    // A correctly signed certificate whose chain head this trail does not hold fails.
    let mut signed: Value = serde_json::from_str(&text).unwrap();
    signed["certificate"]["audit"]["head"] = Value::String("ab".repeat(32));
    let signer = lethe::certificate::Signer::from_file(&db.dir.path().join("signing.pem")).unwrap();
    signed["signature"] = serde_json::to_value(signer.sign(&signed["certificate"])).unwrap();
    let foreign = db.dir.path().join("foreign-head.json");
    std::fs::write(
        &foreign,
        serde_json::to_string_pretty(&signed).unwrap() + "\n",
    )
    .unwrap();
    let v = run(db
        .lethe(&cfg)
        .args(["certificate", "verify", foreign.to_str().unwrap()]));
    assert_eq!(v.code, 1, "{b:?}: {}", v.stdout);
    assert!(
        v.stdout.contains("signature: valid") && v.stdout.contains("NOT in this audit trail"),
        "{}",
        v.stdout
    );

    // A key no policy offers: exit 2, the offered keys named.
    let r = run(db.lethe(&cfg).args([
        "certificate",
        "--subject",
        "email=x",
        "--dir",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 2, "{b:?}: {}", r.stderr);
    assert!(r.stderr.contains("customer_id"), "{}", r.stderr);

    // Issues are in the trail; no value anywhere.
    let events = db.audit_events(&cfg);
    let issued: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "certificate.issued")
        .collect();
    assert_eq!(issued.len(), 4, "{b:?}");
    assert!(issued[0]["payload"]["subject_hmac"]
        .as_str()
        .unwrap()
        .starts_with("hmac:"));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        no_probe(
            &p.display().to_string(),
            &std::fs::read_to_string(&p).unwrap(),
        );
    }
    no_probe("audit trail", &serde_json::to_string(&events).unwrap());
    db.drop_db().await;
}

async fn the_daemon_certifies_each_subject_once(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let files = seed(&db).await;
    let out = db.dir.path().join("issued");
    let cfg = config(
        &db,
        &files,
        &format!(
            "schedule: \"*/2 * * * * *\"\ncertificates: {{ dir: \"{}\", on: contract-end }}\n",
            out.display()
        ),
    );
    let port = free_port();
    let child = spawn_daemon(&db, &cfg, port);
    // Two passes at least: the second issues nothing new.
    scrape_until(port, "two certificates", |m| {
        m.contains("lethe_certificates_issued_total 2")
    });
    std::thread::sleep(std::time::Duration::from_secs(5));
    sigterm(&child);
    let (code, log) = wait_exit(child, std::time::Duration::from_secs(30));
    assert_eq!(code, 0, "{b:?}: {log}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "certificate-customer_id-1.html",
            "certificate-customer_id-1.json",
            "certificate-customer_id-2.html",
            "certificate-customer_id-2.json"
        ],
        "{b:?}: {log}"
    );
    let events = db.audit_events(&cfg);
    let issued = events
        .iter()
        .filter(|e| e["kind"] == "certificate.issued")
        .count();
    assert_eq!(issued, 2, "{b:?}: once per subject");
    assert!(events
        .iter()
        .any(|e| e["kind"] == "certificate.issued" && e["payload"]["by"] == "daemon"));
    let v = run(db.lethe(&cfg).args([
        "certificate",
        "verify",
        out.join("certificate-customer_id-2.json").to_str().unwrap(),
    ]));
    assert_eq!(v.code, 0, "{b:?}: {}", v.stdout);
    no_probe("daemon log", &log);
    // The log names certificates by id and subject key, never by the subject's value.
    assert!(log.contains("subject_key=customer_id"), "{b:?}: {log}");
    assert!(!log.contains("certificate-customer_id-"), "{b:?}: {log}");
    db.drop_db().await;
}

on_every_backend!(
    certificates_prove_deletion_and_say_what_stays,
    the_daemon_certifies_each_subject_once
);

#[tokio::test]
async fn a_certificate_page_renders_in_a_browser() {
    let Some(browser) = crate::browser::chromium() else {
        return;
    };
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let files = seed(&db).await;
    let cfg = config(&db, &files, "");
    let r = run(db.lethe(&cfg).args(["apply", "--yes"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, json) = certificate(&db, &cfg, "customer_id=2");
    let page = json.with_extension("html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Verklaring van verwijdering") && html.contains("fiscal-retention"));
    no_probe("certificate page", &html);
    crate::browser::render(&browser, &page, "certificate", 0);
    db.drop_db().await;
}

const NOTES: &str = "kind: RetentionPolicy\nname: notes-masked\nstore: crm\ntable: notes\nkey: id\nclock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction:\n  anonymize:\n    body: redact\nguard: { max_fraction: 1 }\n";
const NOTES_HMAC: &str = "kind: RetentionPolicy\nname: notes-masked\nstore: crm\ntable: notes\nkey: id\nclock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction:\n  anonymize:\n    body: hmac\nguard: { max_fraction: 1 }\n";
const CALLS: &str = "kind: RetentionPolicy\nname: calls\nstore: crm\ntable: calls\nkey: id\nclock: { join: contracts, on: { customer_id: customer_id }, column: terminated_at }\nkeep: 30d\naction: delete\n";

/// What a certificate must never claim: complete while a running contract's notes are not
/// masked yet, or while pseudonyms (still personal data) remain; a value the join would read
/// as another (`042`); a column whose type differs from the related one; an edited file.
async fn a_certificate_never_claims_too_much(b: Backend) {
    let Some(db) = TestDb::new(b).await else {
        return;
    };
    let files = seed(&db).await;
    let (pk, int, text) = (db.ty("pk"), db.ty("int"), db.ty("text"));
    db.exec(&format!(
        "CREATE TABLE notes (id {pk}, customer_id {int} NOT NULL, body {text} NULL)"
    ))
    .await;
    db.exec("INSERT INTO notes (id, customer_id, body) VALUES (1, 4, 'probe note one'), (2, 1, 'probe note two')")
        .await;
    let cfg = config(&db, &files, "");
    std::fs::write(cfg.join("notes.yaml"), NOTES).unwrap();
    let r = run(db.lethe(&cfg).args(["apply", "--yes"]));
    assert_eq!(r.code, 0, "{b:?}: {}", r.stderr);
    // Customer 4's contract runs: its note is not masked and not due. Not complete.
    let (c, _) = certificate(&db, &cfg, "customer_id=4");
    assert_eq!(
        finding(&c, "notes-masked")["status"],
        "not_yet_due",
        "{b:?}: {c}"
    );
    assert_eq!(c["complete"], false);
    // Customer 1's note was redacted: anonymized, and the certificate is complete.
    let (c, _) = certificate(&db, &cfg, "customer_id=1");
    assert_eq!(
        finding(&c, "notes-masked")["status"],
        "anonymized",
        "{b:?}: {c}"
    );
    assert_eq!(c["complete"], true, "{b:?}: {c}");
    // A pseudonym is still personal data: not complete.
    std::fs::write(cfg.join("notes.yaml"), NOTES_HMAC).unwrap();
    db.exec("UPDATE notes SET body = 'probe note two' WHERE id = 2")
        .await;
    let r = run(db.lethe(&cfg).args(["apply", "--yes"]));
    assert_eq!(r.code, 0, "{b:?}: {}", r.stderr);
    let (c, file) = certificate(&db, &cfg, "customer_id=1");
    assert_eq!(
        finding(&c, "notes-masked")["status"],
        "pseudonymized",
        "{b:?}: {c}"
    );
    assert_eq!(c["complete"], false, "{b:?}: {c}");
    // `042` is customer 42 to the join, not what a reader of the certificate would think.
    let dir = db.dir.path().join("certificates");
    let r = run(db.lethe(&cfg).args([
        "certificate",
        "--subject",
        "customer_id=042",
        "--dir",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 2, "{b:?}: {}", r.stdout);
    assert!(r.stderr.contains("written plainly"), "{b:?}: {}", r.stderr);
    // A key twice: parsing keeps the last, a reader the first. Refused.
    let written = std::fs::read_to_string(&file).unwrap();
    let twice = written.replacen(
        "\"complete\": false",
        "\"complete\": true, \"complete\": false",
        1,
    );
    assert_ne!(twice, written);
    let edited = db.dir.path().join("twice.json");
    std::fs::write(&edited, twice).unwrap();
    let v = run(db
        .lethe(&cfg)
        .args(["certificate", "verify", edited.to_str().unwrap()]));
    assert_eq!(v.code, 1, "{b:?}: {}", v.stdout);
    assert!(v.stdout.contains("not as lethe wrote it"), "{}", v.stdout);
    // A text column joined to an integer one: the certificate cannot narrow exactly. Refused.
    db.exec(&format!(
        "CREATE TABLE calls (id {pk}, customer_id {text} NULL)"
    ))
    .await;
    std::fs::write(cfg.join("calls.yaml"), CALLS).unwrap();
    let r = run(db.lethe(&cfg).args([
        "certificate",
        "--subject",
        "customer_id=1",
        "--dir",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 2, "{b:?}: {}", r.stdout);
    assert!(
        r.stderr.contains("give both columns the same type"),
        "{b:?}: {}",
        r.stderr
    );
    db.drop_db().await;
}

on_every_backend!(a_certificate_never_claims_too_much);
