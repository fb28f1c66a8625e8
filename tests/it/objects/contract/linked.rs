//! Objects linked to SQL: the contract-end clock reaches a customer's objects through the key
//! template (PostgreSQL holds the contracts).

use crate::objects::stores::{Kind, Store};
use crate::objects::{day, folder, policy};
use crate::support::{Backend, TestDb};

/// Customers whose contracts all ended long ago lose their objects; a contract not ended, a
/// recent end, no contract and a key outside the template keep theirs. An end date kept as
/// text is refused.
pub async fn contract_end_reaches_the_customers_files(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        s.drop_store().await;
        return;
    };
    db.crm_schema().await;
    db.exec(&format!(
        "INSERT INTO contracts (id, customer_id, terminated_at) VALUES (1, 1, {}), (2, 2, NULL), (3, 4, {}), (4, 4, {})",
        db.ts("2020-01-01 00:00:00"),
        db.ts("2020-01-01 00:00:00"),
        db.ts(&format!("{} 00:00:00", day(10)))
    ))
    .await;
    for k in [
        "exports/1/leads.csv",
        "exports/1/x/more.csv",
        "exports/2/leads.csv",
        "exports/3/leads.csv",
        "exports/4/leads.csv",
        "exports/abc/leads.csv",
        "exports/top.csv",
    ] {
        s.put(k).await;
    }
    let stores = format!(
        "{}  crm: {{ kind: sql, url: \"{}\", country: NL }}\n",
        s.store_yaml("uploads"),
        db.url
    );
    let cfg = folder(
        db.dir.path(),
        &stores,
        &[(
            "exports.yaml",
            &policy(
                "exports",
                "uploads",
                "key_template: \"exports/{customer_id}/\"\nclock: { store: crm, join: contracts, column: terminated_at, on: { customer_id: customer_id } }",
            ),
        )],
    );
    let (_, a) = s.apply_ok(db.dir.path(), &cfg);
    // 1: ended long ago (two files); 2: not ended; 3 and abc: no contract (undated);
    // 4: one contract ended recently; top.csv: outside the template.
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["undated"].as_u64(),
            a["remaining"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "{a}"
    );
    assert_eq!(
        s.keys("").await,
        vec![
            "exports/2/leads.csv",
            "exports/3/leads.csv",
            "exports/4/leads.csv",
            "exports/abc/leads.csv",
            "exports/top.csv"
        ]
    );
    // Certificates from a fresh listing: customer 1's files are gone; customer 4's stay, not
    // yet due (one contract ended 10 days ago, keep 90 days); `exports/abc/` is not customer 4's.
    let key = db.dir.path().join("signing.pem");
    let pem = lethe::certificate::Signer::generate()
        .unwrap()
        .private_pem()
        .unwrap();
    std::fs::write(&key, pem).unwrap();
    let settings = cfg.join("lethe.yaml");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(
        &settings,
        format!("signing_key_file: {}\n{text}", key.display()),
    )
    .unwrap();
    let certs = db.dir.path().join("certs");
    for (subject, complete, remaining, status) in [
        ("customer_id=1", true, 0, "deleted"),
        ("customer_id=4", false, 1, "not_yet_due"),
    ] {
        let c = s.lethe(
            db.dir.path(),
            &cfg,
            &[
                "certificate",
                "--subject",
                subject,
                "--dir",
                certs.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert_eq!(c.code, 0, "{subject}: {}\n{}", c.stdout, c.stderr);
        let c = &c.json()["certificate"];
        let f = &c["policies"][0];
        assert_eq!(
            (
                c["complete"].as_bool(),
                f["remaining"].as_u64(),
                f["status"].as_str()
            ),
            (Some(complete), Some(remaining), Some(status)),
            "{kind:?} {subject}: {c}"
        );
        assert_eq!(f["unit"], "objects");
    }
    // An end date kept as text is refused outside SQLite: any text would compare with the cutoff.
    db.exec("CREATE TABLE deals (customer_id int, ended text)")
        .await;
    std::fs::write(
        cfg.join("deals.yaml"),
        policy(
            "deals",
            "uploads",
            "key_template: \"deals/{customer_id}/\"\nclock: { store: crm, join: deals, column: ended, on: { customer_id: customer_id } }",
        ),
    )
    .unwrap();
    let check = s.lethe(db.dir.path(), &cfg, &["check"]);
    assert_eq!(check.code, 2, "{}\n{}", check.stdout, check.stderr);
    assert!(
        check.stderr.contains("is `text`, not a date or timestamp"),
        "{}",
        check.stderr
    );
    s.drop_store().await;
    db.drop_db().await;
}
