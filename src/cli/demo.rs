//! `lethe demo`: an embedded demo of a lead-generation company's CRM (SQLite), with fake but
//! Dutch-looking data, planned against the example policies.

use super::{Cli, Code};
use chrono::{Duration, NaiveDate, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};

/// Arguments of `lethe demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the demo database and its hmac key.
    #[arg(long, default_value = "var/demo")]
    dir: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE customers (id INTEGER PRIMARY KEY, company TEXT NOT NULL, city TEXT NOT NULL);
CREATE TABLE contracts (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    started_at DATETIME NOT NULL,
    terminated_at DATETIME,
    notes TEXT
);
CREATE TABLE leads (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers (id),
    full_name TEXT,
    email TEXT,
    phone TEXT,
    ip TEXT,
    birth_date DATE,
    status TEXT NOT NULL,
    created_at DATETIME
);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    number TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    issued_at DATETIME NOT NULL
);
CREATE TABLE newsletter_signups (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    ip TEXT,
    signed_up_at DATETIME NOT NULL
);
CREATE INDEX leads_customer ON leads (customer_id);
CREATE INDEX contracts_customer ON contracts (customer_id);
";

const FIRST: &[&str] = &[
    "Jan", "Sanne", "Daan", "Emma", "Luuk", "Julia", "Bram", "Lotte", "Sem", "Fleur", "Thijs",
    "Anouk", "Ruben", "Lisa", "Joost", "Noor",
];
const LAST: &[&str] = &[
    "de Vries",
    "Jansen",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
];
const CITIES: &[&str] = &[
    "Amsterdam",
    "Rotterdam",
    "Utrecht",
    "Eindhoven",
    "Groningen",
    "Zwolle",
    "Haarlem",
    "Breda",
];
const KINDS: &[&str] = &[
    "Zonnepanelen",
    "Hypotheekadvies",
    "Warmtepompen",
    "Kozijnen",
    "Verzekeringen",
];

/// A small deterministic generator so every demo looks the same (relative to today).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

/// Builds the demo database (replacing an earlier one) and returns its path.
pub async fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", dir.display()))?;
    let db = dir.join("crm.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        if p.exists() {
            std::fs::remove_file(&p)
                .map_err(|e| anyhow::anyhow!("cannot replace `{}`: {e}", p.display()))?;
        }
    }
    let key = dir.join("hmac.key");
    if !key.exists() {
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        std::fs::write(&key, secret)
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", key.display()))?;
    }
    let signing = dir.join("signing.pem");
    if !signing.exists() {
        let pem = crate::certificate::Signer::generate()
            .and_then(|s| s.private_pem())
            .map_err(|e| anyhow::anyhow!("cannot make the demo signing key: {e}"))?;
        std::fs::write(&signing, pem)
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", signing.display()))?;
        // A private key: readable by its owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&signing, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| anyhow::anyhow!("cannot restrict `{}`: {e}", signing.display()))?;
        }
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(true)
        .connect()
        .await?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(SCHEMA).execute(&mut *tx).await?;
    let now = Utc::now().naive_utc();
    let fmt = |d: chrono::NaiveDateTime| d.format("%Y-%m-%d %H:%M:%S").to_string();
    let mut rng = Rng(0x1e7e_2026);
    let customers: i64 = 40;
    for id in 1..=customers {
        let company = format!("{} {} B.V.", rng.pick(KINDS), rng.pick(LAST));
        sqlx::query("INSERT INTO customers (id, company, city) VALUES (?, ?, ?)")
            .bind(id)
            .bind(company)
            .bind(rng.pick(CITIES))
            .execute(&mut *tx)
            .await?;
        // Customers 1-8 ended their only contract long ago; 9-11 ended one of two contracts
        // (the other runs on); 12-13 ended 10 days ago (not yet 30 days); the rest are active.
        let start = now - Duration::days(900);
        let ends: Vec<Option<i64>> = match id {
            1..=8 => vec![Some(120 + 10 * id)],
            9..=11 => vec![Some(200), None],
            12..=13 => vec![Some(10)],
            _ => vec![None],
        };
        for end in ends {
            sqlx::query(
                "INSERT INTO contracts (customer_id, started_at, terminated_at) VALUES (?, ?, ?)",
            )
            .bind(id)
            .bind(fmt(start))
            .bind(end.map(|d| fmt(now - Duration::days(d))))
            .execute(&mut *tx)
            .await?;
        }
    }
    for id in 1..=2000_i64 {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let customer = if id % 97 == 0 {
            None
        } else {
            Some(1 + rng.below(customers as u64) as i64)
        };
        let age_days = rng.below(400) as i64;
        let created = if id % 113 == 0 {
            None
        } else {
            Some(fmt(now
                - Duration::days(age_days)
                - Duration::minutes(rng.below(1440) as i64)))
        };
        let email = format!(
            "{}.{}{}@example.nl",
            first.to_lowercase(),
            last.replace(' ', "").to_lowercase(),
            id
        );
        let phone = format!("+31 6 {:08}", rng.below(100_000_000));
        let ip = if id % 5 == 0 {
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                rng.below(65536),
                rng.below(65536),
                rng.below(65536)
            )
        } else {
            format!("198.51.100.{}", rng.below(255))
        };
        let birth = NaiveDate::from_ymd_opt(
            1950 + rng.below(55) as i32,
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        )
        .map(|d| d.to_string());
        let status = ["new", "delivered", "delivered", "rejected"][rng.below(4) as usize];
        sqlx::query("INSERT INTO leads (id, customer_id, full_name, email, phone, ip, birth_date, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(customer)
            .bind(format!("{first} {last}"))
            .bind(email)
            .bind(phone)
            .bind(ip)
            .bind(birth)
            .bind(status)
            .bind(created)
            .execute(&mut *tx)
            .await?;
    }
    for id in 1..=600_i64 {
        let issued = now - Duration::days(rng.below(365 * 9) as i64);
        sqlx::query("INSERT INTO invoices (id, customer_id, number, amount_cents, issued_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(1 + rng.below(customers as u64) as i64)
            .bind(format!("HQ-{}-{id:05}", issued.format("%Y")))
            .bind(10_000 + rng.below(500_000) as i64)
            .bind(fmt(issued))
            .execute(&mut *tx)
            .await?;
    }
    // Personal data no policy names, for `lethe discover` to find. A generator of its own keeps
    // the rest of the demo as it was.
    unnamed(&mut tx, &mut Rng(0x5e1f_2026), now).await?;
    tx.commit().await?;
    conn.close().await?;
    files(&dir.join("files"), &mut rng)?;
    Ok(db)
}

/// Personal data that no example policy names: newsletter sign-ups (e-mail address and IP
/// address) and account managers' notes on contracts, some with a telephone number or an
/// e-mail address in them.
async fn unnamed(
    tx: &mut sqlx::SqliteConnection,
    rng: &mut Rng,
    now: chrono::NaiveDateTime,
) -> anyhow::Result<()> {
    for id in 1..=300_i64 {
        let (first, last) = (rng.pick(FIRST), rng.pick(LAST));
        let email = format!(
            "{}{}.{id}@example.org",
            first.to_lowercase().chars().next().unwrap_or('x'),
            last.replace(' ', "").to_lowercase()
        );
        let ip = format!("203.0.113.{}", rng.below(255));
        let at = now - Duration::days(rng.below(1500) as i64);
        sqlx::query(
            "INSERT INTO newsletter_signups (id, email, ip, signed_up_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(email)
        .bind(ip)
        .bind(at.format("%Y-%m-%d %H:%M:%S").to_string())
        .execute(&mut *tx)
        .await?;
    }
    let notes = [
        "Contactpersoon {name} is bereikbaar op 06-{number}.",
        "Offerte verlengd; facturen voortaan naar {mail}.",
        "Geen bijzonderheden.",
        "Klant wil maandelijks een overzicht.",
    ];
    let contracts: Vec<i64> = sqlx::query_scalar("SELECT id FROM contracts ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    for id in contracts {
        let (first, last) = (rng.pick(FIRST), rng.pick(LAST));
        let note = rng
            .pick(&notes)
            .replace("{name}", &format!("{first} {last}"))
            .replace("{number}", &format!("{:08}", rng.below(100_000_000)))
            .replace(
                "{mail}",
                &format!(
                    "administratie@{}.example.nl",
                    last.replace(' ', "").to_lowercase()
                ),
            );
        sqlx::query("UPDATE contracts SET notes = ? WHERE id = ?")
            .bind(note)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The demo's folder store: lead lists exported per customer (linked to the customer's
/// contracts by their path) and call recordings aged by their modification time.
fn files(root: &Path, rng: &mut Rng) -> anyhow::Result<()> {
    let io =
        |what: &Path, e: std::io::Error| anyhow::anyhow!("cannot write `{}`: {e}", what.display());
    if root.exists() {
        std::fs::remove_dir_all(root).map_err(|e| io(root, e))?;
    }
    let now = std::time::SystemTime::now();
    for customer in 1..=40 {
        let folder = root.join("exports").join(customer.to_string());
        std::fs::create_dir_all(&folder).map_err(|e| io(&folder, e))?;
        for month in ["2026-09", "2026-10"] {
            let path = folder.join(format!("leads-{month}.csv"));
            let mut text = String::from("full_name;email;phone\n");
            for _ in 0..5 {
                let (first, last) = (rng.pick(FIRST), rng.pick(LAST));
                text.push_str(&format!(
                    "{first} {last};{}.{}@example.nl;+31 6 {:08}\n",
                    first.to_lowercase(),
                    last.replace(' ', "").to_lowercase(),
                    rng.below(100_000_000)
                ));
            }
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        }
    }
    let calls = root.join("recordings");
    std::fs::create_dir_all(&calls).map_err(|e| io(&calls, e))?;
    for n in 1..=30 {
        let path = calls.join(format!("call-{n:03}.wav"));
        std::fs::write(&path, b"RIFF fake audio").map_err(|e| io(&path, e))?;
        let age = std::time::Duration::from_secs(86_400 * rng.below(150) + 3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(now - age))
            .map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// Runs `lethe demo`.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let db = build(&args.dir).await?;
    outln!(
        "demo database: {} (customers, contracts, 2000 leads, 600 invoices, 300 newsletter sign-ups; fake data)",
        db.display()
    );
    outln!(
        "demo files:    {} (lead lists exported per customer, 30 call recordings)",
        args.dir.join("files").display()
    );
    outln!(
        "hmac key:      {} (generated once, kept outside the policies)",
        args.dir.join("hmac.key").display()
    );
    outln!(
        "signing key:   {} (Ed25519; signs deletion certificates)\n",
        args.dir.join("signing.pem").display()
    );
    let code = super::plan::run(cli, &super::plan::Args::for_demo()).await?;
    // Under `cargo run` (which sets CARGO), suggest commands the user can type as they are.
    let lethe = if std::env::var_os("CARGO").is_some() {
        "cargo run -q --".to_string()
    } else {
        "lethe".to_string()
    };
    let config = cli.config.display();
    let cfg = if config.to_string() == "policies" {
        String::new()
    } else {
        format!(" --config {config}")
    };
    outln!(
        "What to try next:
  {lethe}{cfg} check                    validate the policies against the live schema
  {lethe}{cfg} plan --format markdown   the same plan, for the DPO
  {lethe}{cfg} apply                    enforce (asks first on a terminal; --yes to skip)
  {lethe}{cfg} apply                    again: nothing left to do (idempotent)
  {lethe}{cfg} holds list               the legal holds; `holds add` sets one
  {lethe}{cfg} audit                    the runs; `audit verify` checks the hash chain
  {lethe}{cfg} residency                where every store is, and whether that is allowed
  {lethe}{cfg} discover                 personal data no policy reaches (the newsletter sign-ups)
  {lethe}{cfg} discover --suggest {config}/drafts   dry-run policy drafts for it, to finish by hand
  {lethe}{cfg} certificate --subject customer_id=2   a signed certificate of deletion, after apply
  {lethe}{cfg} daemon                   every policy on its schedule, with /metrics (docs/operate/daemon.md)
Edit the policies in {config}/ and plan again; `demo` again restores the data."
    );
    Ok(code)
}
