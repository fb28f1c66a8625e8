//! Residency: every store's region resolved to a country and judged, exit 3 on a violation,
//! an alert at once (log line and webhook), and deletion going on regardless.

use crate::support::{run, Backend, TestDb};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::time::Duration;

/// A local webhook receiver: the body of the first POST it gets.
fn webhook() -> (String, mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/lethe", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        let mut line = String::new();
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        let _ = tx.send(format!("{first}{}", String::from_utf8_lossy(&body)));
    });
    (url, rx)
}

/// Stores in several places; only the report is asked for, so none is connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_is_judged() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let extra = r#"  london: { kind: sql, url: "postgres://u@db.example.com/x", provider: aws, region: eu-west-2 }
  zurich: { kind: sql, url: "postgres://u@db.example.ch/x", provider: gcp, region: europe-west6 }
  rds: { kind: sql, url: "postgres://app:S3cretPw@crm.abc123.us-east-1.rds.amazonaws.com/crm", provider: aws, region: eu-central-1 }
  typo: { kind: sql, url: "postgres://u@h/x", provider: aws, region: eu-central-9 }
  noprovider: { kind: sql, url: "postgres://u@h/x", region: eu-central-1 }
  virginia: { kind: sql, url: "postgres://u@h/x", provider: aws, region: us-east-1 }
  oregon: { kind: sql, url: "postgres://u@h/x", provider: azure, region: westus2 }
  nowhere: { kind: sql, url: "postgres://u@h/x" }
residency:
  allow: [eea, GB]
  dpf:
    - { importer: "Example Cloud, Inc.", stores: [virginia], verified: 2025-06-01, expires: 2025-12-31 }
    - { importer: "Example Cloud, Inc.", stores: [oregon], verified: 2026-06-01, expires: 2027-05-31 }
"#;
    let cfg = db.policies("", &[]);
    let settings = std::fs::read_to_string(cfg.join("lethe.yaml")).unwrap();
    let settings = settings.replacen("hmac_key:", &format!("{extra}hmac_key:"), 1);
    std::fs::write(cfg.join("lethe.yaml"), settings).unwrap();
    let r = run(db.lethe(&cfg).args(["residency", "--format", "json"]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    let verdict = |store: &str| {
        let s = j["stores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["store"] == store)
            .unwrap_or_else(|| panic!("{store} missing"));
        (
            s["verdict"].as_str().unwrap().to_string(),
            s["reason"].as_str().unwrap().to_string(),
        )
    };
    // In the EEA; London by name; Zurich is adequate but `adequacy` is not allowed here.
    assert_eq!(verdict("crm").0, "ok");
    assert_eq!(verdict("london").0, "ok", "{:?}", verdict("london"));
    assert!(
        verdict("zurich").1.contains("`CH`"),
        "{:?}",
        verdict("zurich")
    );
    assert_eq!(verdict("zurich").0, "violation");
    // The host name says us-east-1, the declaration eu-central-1.
    assert!(
        verdict("rds").1.contains("contradicts"),
        "{:?}",
        verdict("rds")
    );
    assert!(
        verdict("typo").1.contains("not a `aws` region"),
        "{:?}",
        verdict("typo")
    );
    assert!(verdict("noprovider").1.contains("without `provider`"));
    // The United States: only with an unexpired attestation, and only where `adequacy` is
    // allowed; here it is not, so both violate, the expired one saying so.
    assert_eq!(verdict("virginia").0, "violation");
    assert!(verdict("nowhere").1.contains("neither"));
    assert_eq!(j["violations"], 7, "{}", r.stdout);
    assert!(!r.stdout.contains("S3cretPw") && !r.stderr.contains("S3cretPw"));

    // With `adequacy` allowed, the valid attestation passes and the expired one is named.
    let settings = std::fs::read_to_string(cfg.join("lethe.yaml")).unwrap();
    std::fs::write(
        cfg.join("lethe.yaml"),
        settings.replace("allow: [eea, GB]", "allow: [eea, adequacy]"),
    )
    .unwrap();
    let r = run(db.lethe(&cfg).args(["residency", "--format", "json"]));
    let j = r.json();
    let find = |store: &str| {
        j["stores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["store"] == store)
            .unwrap()
            .clone()
    };
    assert_eq!(find("oregon")["verdict"], "ok");
    assert!(find("oregon")["reason"]
        .as_str()
        .unwrap()
        .contains("DPF attestation"));
    assert_eq!(find("virginia")["verdict"], "violation");
    assert!(find("virginia")["reason"]
        .as_str()
        .unwrap()
        .contains("expired on 2025-12-31"));
    assert_eq!(find("zurich")["verdict"], "ok");
    // The text report names every store.
    let text = run(db.lethe(&cfg).arg("residency"));
    assert_eq!(text.code, 3);
    assert!(text.stdout.contains("VIOLATION"), "{}", text.stdout);
    db.drop_db().await;
}

/// A violation raises the alert at once (error log, webhook) and the exit code 3, while the
/// deletion it does not affect goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_violation_alerts_and_deletion_goes_on() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    let old = db.ts("2020-01-01 00:00:00");
    db.exec(&format!(
        "INSERT INTO leads (id, status, created_at) VALUES (1, 'new', {old}), (2, 'new', {old})"
    ))
    .await;
    let (url, received) = webhook();
    let policy = "kind: RetentionPolicy\nname: old-leads\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";
    let cfg = db.policies(
        &format!("residency:\n  allow: [eea]\n  webhook: {url}\n"),
        &[("p.yaml", policy)],
    );
    // The store is in London: adequate, but only the EEA is allowed.
    let settings = std::fs::read_to_string(cfg.join("lethe.yaml")).unwrap();
    std::fs::write(
        cfg.join("lethe.yaml"),
        settings.replace("country: NL", "provider: aws, region: eu-west-2"),
    )
    .unwrap();
    let check = run(db.lethe(&cfg).arg("check"));
    assert_eq!(check.code, 3, "{}\n{}", check.stdout, check.stderr);
    assert!(check.stdout.contains("eu-west-2"), "{}", check.stdout);
    let plan = run(db.lethe(&cfg).args(["plan", "--format", "json"]));
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    assert_eq!(plan.json()["residency"]["violations"], 1);
    // The plan's alert reached the webhook.
    let hook = received.recv_timeout(Duration::from_secs(10)).unwrap();
    let (request, body) = hook.split_once('\n').unwrap();
    assert!(request.starts_with("POST /hooks/lethe"), "{hook}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["event"], "residency.violation");
    assert_eq!(body["context"], "plan");
    assert_eq!(body["violations"][0]["store"], "crm");
    assert_eq!(body["violations"][0]["country"], "GB");

    let apply = run(db.lethe(&cfg).args(["apply", "--yes", "--format", "json"]));
    assert_eq!(apply.code, 3, "{}", apply.stderr);
    assert_eq!(apply.json()["status"], "ok");
    assert_eq!(apply.json()["residency"]["violations"], 1);
    assert_eq!(apply.json()["policies"][0]["deleted"], 2);
    assert!(db.ids("leads").await.is_empty());
    assert!(
        apply.stderr.contains("residency violation"),
        "{}",
        apply.stderr
    );
    // The audit trail records the verdict per store.
    let export = run(db.lethe(&cfg).args(["audit", "export"]));
    assert!(
        export.stdout.contains("\"verdict\":\"violation\""),
        "{}",
        export.stdout
    );
    db.drop_db().await;
}

/// S3 buckets are located by asking S3: the empty location is us-east-1, the legacy `EU` is
/// eu-west-1, a declared region must agree, and replication destinations count too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The replication rule uses the first schema's `Prefix`, which S3 still accepts.
#[allow(deprecated)]
async fn s3_buckets_are_located_with_their_replicas() {
    use aws_sdk_s3::types::{
        BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Destination,
        ReplicationConfiguration, ReplicationRule, ReplicationRuleStatus, VersioningConfiguration,
    };
    let Ok(endpoint) = std::env::var("LETHE_TEST_S3_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "moto server required under CI=true; run ./scripts/test.sh"
        );
        eprintln!("\n!!! SKIPPED: moto server not configured. Run ./scripts/test.sh !!!\n");
        return;
    };
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let name = |r: &str| format!("lethe-r-{tag}-{}", r.to_lowercase());
    // One client per region: moto, like AWS, refuses a bucket outside the client's region.
    for region in ["eu-central-1", "eu-west-2", "us-east-1", "EU"] {
        let signing = match region {
            "EU" => "us-east-1",
            r => r,
        };
        let c = crate::objects::s3::client_in(&endpoint, "x", "y", signing);
        let mut req = c.create_bucket().bucket(name(region));
        if region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("bucket in {region}: {e:?}"));
    }
    // The Frankfurt bucket replicates to the one in Virginia.
    let c = crate::objects::s3::client_in(&endpoint, "x", "y", "eu-central-1");
    c.put_bucket_versioning()
        .bucket(name("eu-central-1"))
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let replicated = format!("lethe-r-{tag}-replicated");
    c.create_bucket()
        .bucket(&replicated)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuCentral1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.put_bucket_versioning()
        .bucket(&replicated)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.put_bucket_replication()
        .bucket(&replicated)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/replication")
                .rules(
                    ReplicationRule::builder()
                        .id("all")
                        .prefix("")
                        .status(ReplicationRuleStatus::Enabled)
                        .destination(
                            Destination::builder()
                                .bucket(format!("arn:aws:s3:::{}", name("us-east-1")))
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = |b: &str, extra: &str| {
        format!("{{ kind: s3, bucket: {b}, endpoint: \"{endpoint}\", provider: aws{extra} }}")
    };
    let cfg = dir.path().join("policies");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("lethe.yaml"),
        format!(
            "state: sqlite://{}\nstores:\n  frankfurt: {}\n  london: {}\n  virginia: {}\n  legacy: {}\n  replicated: {}\n  wrong: {}\n  missing: {}\nresidency:\n  allow: [eea, adequacy]\n",
            dir.path().join("state.db").display(),
            store(&name("eu-central-1"), ", region: eu-central-1"),
            store(&name("eu-west-2"), ""),
            store(&name("us-east-1"), ""),
            store(&name("EU"), ""),
            store(&replicated, ""),
            store(&name("eu-central-1"), ", region: eu-west-1"),
            store(&format!("lethe-r-{tag}-nowhere"), ""),
        ),
    )
    .unwrap();
    let mut cmd = crate::support::lethe_in(dir.path(), &cfg);
    cmd.env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let r = run(cmd.args(["residency", "--format", "json"]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    let stores = report["stores"].as_array().unwrap();
    let find = |store: &str, kind: &str| {
        stores
            .iter()
            .find(|s| s["store"] == store && s["kind"] == kind)
            .unwrap_or_else(|| panic!("no {store} {kind} in {report}"))
    };
    let verdict = |store: &str, kind: &str| {
        let s = find(store, kind);
        (
            s["region"].as_str().unwrap_or("").to_string(),
            s["country"].as_str().unwrap_or("").to_string(),
            s["verdict"].as_str().unwrap().to_string(),
        )
    };
    let v = |r: &str, c: &str, ok: &str| (r.to_string(), c.to_string(), ok.to_string());
    assert_eq!(verdict("frankfurt", "s3"), v("eu-central-1", "DE", "ok"));
    assert_eq!(verdict("london", "s3"), v("eu-west-2", "GB", "ok"));
    assert_eq!(verdict("virginia", "s3"), v("us-east-1", "US", "violation"));
    assert_eq!(verdict("legacy", "s3"), v("eu-west-1", "IE", "ok"));
    assert_eq!(verdict("replicated", "s3"), v("eu-central-1", "DE", "ok"));
    assert_eq!(
        verdict("replicated", "s3-replica"),
        v("us-east-1", "US", "violation")
    );
    assert!(find("replicated", "s3-replica")["reason"]
        .as_str()
        .unwrap()
        .contains(&name("us-east-1")));
    let wrong = find("wrong", "s3");
    assert_eq!(wrong["verdict"], "violation");
    assert!(
        wrong["reason"].as_str().unwrap().contains("contradicts"),
        "{wrong}"
    );
    let missing = find("missing", "s3");
    assert_eq!(missing["verdict"], "violation");
    assert!(
        missing["reason"].as_str().unwrap().contains("NoSuchBucket"),
        "{missing}"
    );
    assert_eq!(report["violations"], 4, "{report}");
    // Under `allow: [eea]` London is no longer allowed.
    let text = std::fs::read_to_string(cfg.join("lethe.yaml"))
        .unwrap()
        .replace("allow: [eea, adequacy]", "allow: [eea]");
    std::fs::write(cfg.join("lethe.yaml"), text).unwrap();
    let mut cmd = crate::support::lethe_in(dir.path(), &cfg);
    cmd.env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let r = run(cmd.args(["residency", "--format", "json"]));
    let report = r.json();
    let london = report["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["store"] == "london")
        .unwrap()
        .clone();
    assert_eq!(london["verdict"], "violation", "{london}");
    assert_eq!(report["violations"], 5);
}
