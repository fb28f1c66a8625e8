//! Test support: isolated databases on real servers, config folders, and the `lethe` binary.
//!
//! Every test makes its own database with a random name and drops it afterwards. A server that
//! cannot be reached makes the test fail under `CI=true` and print a loud notice otherwise.
#![allow(dead_code)]

use lethe::model::Dialect;
use lethe::store::{Query, SqlStore};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

mod fault;
pub use fault::{PrivatePostgres, SmallDisk};

/// Which server a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

impl Backend {
    pub fn dialect(self) -> Dialect {
        match self {
            Backend::Sqlite => Dialect::Sqlite,
            Backend::Postgres => Dialect::Postgres,
            Backend::MariaDb => Dialect::MySql,
        }
    }
}

/// A 32+ character hmac key for tests.
pub const HMAC_KEY: &str = "test-key-0123456789abcdef0123456789abcdef";

fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// A fresh database on a real server, plus a scratch folder for config, state and reports.
pub struct TestDb {
    pub backend: Backend,
    /// URL of the test database (given to lethe).
    pub url: String,
    /// Connection used by the test to seed and inspect data.
    pub store: SqlStore,
    /// Scratch folder: `policies/`, the state database, reports.
    pub dir: TempDir,
    admin: Option<(SqlStore, String)>,
}

pub fn server_missing<T>(what: &str, why: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is required under CI=true but not reachable: {why}. Run ./scripts/test.sh");
    }
    eprintln!(
        "\n!!! SKIPPED: {what} not reachable ({why}). Run ./scripts/test.sh to provision it. !!!\n"
    );
    None
}

impl TestDb {
    /// Creates an isolated database, or `None` (loudly) when the server is absent outside CI.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Sqlite => {
                let path = dir.path().join("crm.db");
                std::fs::File::create(&path).expect("create sqlite file");
                let url = format!("sqlite://{}", path.display());
                let store = SqlStore::connect("crm", &url).await.expect("sqlite");
                Some(TestDb {
                    backend,
                    url,
                    store,
                    dir,
                    admin: None,
                })
            }
            Backend::Postgres | Backend::MariaDb => {
                let (server, var, default) = match backend {
                    Backend::Postgres => (
                        "PostgreSQL",
                        "LETHE_TEST_POSTGRES_URL",
                        "postgres://root@127.0.0.1:5432/postgres",
                    ),
                    _ => (
                        "MariaDB",
                        "LETHE_TEST_MYSQL_URL",
                        "mysql://root@127.0.0.1:3306/test",
                    ),
                };
                let admin_url = std::env::var(var).unwrap_or_else(|_| default.into());
                TestDb::on_server(backend, server, &admin_url, dir).await
            }
        }
    }

    /// A fresh database on the test's own PostgreSQL cluster.
    pub async fn on_private(pg: &PrivatePostgres) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        TestDb::on_server(
            Backend::Postgres,
            "a private PostgreSQL",
            &pg.admin_url,
            dir,
        )
        .await
    }

    /// Creates an isolated database on the server `admin_url` connects to.
    async fn on_server(
        backend: Backend,
        server: &str,
        admin_url: &str,
        dir: TempDir,
    ) -> Option<TestDb> {
        let name = format!("lethe_t_{}", suffix());
        let admin = match SqlStore::connect("admin", admin_url).await {
            Ok(a) => a,
            Err(e) => return server_missing(server, &e.to_string()),
        };
        admin
            .execute_script(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let url = replace_db(admin_url, &name);
        let store = SqlStore::connect("crm", &url)
            .await
            .expect("connect test database");
        Some(TestDb {
            backend,
            url,
            store,
            dir,
            admin: Some((admin, name)),
        })
    }

    /// Drops the database (call at the end of a test).
    pub async fn drop_db(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.admin {
            let sql = match self.backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            let _ = admin.execute_script(&sql).await;
            admin.close().await;
        }
    }

    /// Runs a setup script.
    pub async fn exec(&self, sql: &str) {
        self.store
            .execute_script(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    /// One integer from a query.
    pub async fn count(&self, sql: &str) -> i64 {
        let mut q = Query::new(self.backend.dialect());
        q.push(sql);
        self.store.fetch_counts(&q).await.expect("count")[0]
    }

    /// The integer ids of a table, in order.
    pub async fn ids(&self, table: &str) -> Vec<i64> {
        let mut q = Query::new(self.backend.dialect());
        q.push(&format!("SELECT id FROM {table} ORDER BY id"));
        self.store
            .fetch_keyed(&q, &[true])
            .await
            .expect("ids")
            .into_iter()
            .map(|(k, _)| match k.values() {
                [lethe::store::KeyValue::Int(i)] => *i,
                other => panic!("not an integer id: {other:?}"),
            })
            .collect()
    }

    /// Every row of a query whose columns are all text (cast them), for before/after comparisons.
    pub async fn dump(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut q = Query::new(self.backend.dialect());
        q.push(sql);
        self.store.fetch_texts(&q).await.expect("dump")
    }

    /// `CAST(col AS <text>)` for this backend.
    pub fn text(&self, col: &str) -> String {
        match self.backend {
            Backend::MariaDb => format!("CAST({col} AS CHAR)"),
            _ => format!("CAST({col} AS TEXT)"),
        }
    }

    /// SQL type names for this backend.
    pub fn ty(&self, what: &str) -> &'static str {
        match (self.backend, what) {
            (Backend::Sqlite, "pk") => "INTEGER PRIMARY KEY",
            (Backend::Postgres, "pk") => "BIGINT PRIMARY KEY",
            (Backend::MariaDb, "pk") => "BIGINT PRIMARY KEY",
            (Backend::Sqlite, "ts") => "DATETIME",
            (Backend::Postgres, "ts") => "TIMESTAMPTZ",
            (Backend::MariaDb, "ts") => "DATETIME(3)",
            (Backend::Sqlite, "text") => "TEXT",
            (_, "text") => "VARCHAR(200)",
            (Backend::Sqlite, "date") | (_, "date") => "DATE",
            (_, "int") => "BIGINT",
            _ => panic!("unknown type {what}"),
        }
    }

    /// The standard CRM test schema: customers, contracts, leads.
    pub async fn crm_schema(&self) {
        let (pk, ts, text, date, int) = (
            self.ty("pk"),
            self.ty("ts"),
            self.ty("text"),
            self.ty("date"),
            self.ty("int"),
        );
        self.exec(&format!(
            "CREATE TABLE contracts (id {pk}, customer_id {int} NOT NULL, terminated_at {ts} NULL);
             CREATE TABLE leads (id {pk}, customer_id {int} NULL, full_name {text} NULL, email {text} NULL,
               phone {text} NULL, ip {text} NULL, birth_date {date} NULL, status {text} NOT NULL, created_at {ts} NULL);"
        ))
        .await;
    }

    /// A timestamp literal this backend accepts, from `YYYY-MM-DD HH:MM:SS` UTC.
    pub fn ts(&self, utc: &str) -> String {
        match self.backend {
            Backend::Postgres => format!("'{utc}+00'"),
            _ => format!("'{utc}'"),
        }
    }

    /// Writes a policies folder: `lethe.yaml` pointing at this database plus the given files.
    pub fn policies(&self, settings_extra: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.dir.path().join("policies");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let state = self.dir.path().join("state.db");
        std::fs::write(
            dir.join("lethe.yaml"),
            format!(
                "state: sqlite://{}\nstores:\n  crm: {{ kind: sql, url: \"{}\", country: NL }}\nhmac_key: {HMAC_KEY}\n{settings_extra}\n",
                state.display(),
                self.url
            ),
        )
        .expect("write lethe.yaml");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write policy");
        }
        // An installation creates its state database once (`lethe check`); `apply` never does.
        let url = format!("sqlite://{}", state.display());
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(lethe::audit::StateDb::open(&url))
                .expect("create the state database");
        })
        .join()
        .expect("state database thread");
        dir
    }

    /// Moves the state database of the policies folder `cfg` to PostgreSQL: this test database.
    pub fn state_on_postgres(&self, cfg: &Path) {
        set_state(cfg, &self.url);
    }

    /// `lethe apply --yes --format json --as-of AS_OF`, to start in the background.
    pub fn apply_command(&self, config: &Path, as_of: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lethe"));
        cmd.current_dir(self.dir.path())
            .arg("--config")
            .arg(config)
            .args(["apply", "--yes", "--format", "json", "--as-of", as_of]);
        cmd
    }

    /// Starts `lethe apply --yes --format json --as-of AS_OF` in the background (stdout piped).
    pub fn spawn_apply(&self, config: &Path, as_of: &str) -> std::process::Child {
        self.apply_command(config, as_of)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start lethe apply")
    }

    /// Every event of the audit trail (`lethe audit export`).
    pub fn audit_events(&self, config: &Path) -> Vec<serde_json::Value> {
        let export = run(self.lethe(config).args(["audit", "export"]));
        assert_eq!(export.code, 0, "audit export\n{}", export.stderr);
        export
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("an event as JSON"))
            .collect()
    }

    /// The `lethe` binary with `--config` set, run inside the scratch folder.
    pub fn lethe(&self, config: &Path) -> assert_cmd::Command {
        lethe_in(self.dir.path(), config)
    }
}

/// Points the state database of the policies folder `cfg` at `url`.
pub fn set_state(cfg: &Path, url: &str) {
    let settings = std::fs::read_to_string(cfg.join("lethe.yaml")).expect("read lethe.yaml");
    let settings: Vec<String> = settings
        .lines()
        .map(|l| {
            if l.starts_with("state:") {
                format!("state: {url}")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(cfg.join("lethe.yaml"), settings.join("\n")).expect("write lethe.yaml");
}

/// The `lethe` binary run in `cwd` with `--config`.
pub fn lethe_in(cwd: &Path, config: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("lethe").expect("binary");
    cmd.current_dir(cwd).arg("--config").arg(config);
    for (k, _) in std::env::vars() {
        if k.starts_with("LETHE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The `lethe` binary like [`lethe_in`], with its address space limited to `memory_kib`
/// (`ulimit -v`): a read or a parse that does not stop is killed instead of exhausting the
/// machine. `sh` sets the limit and then becomes lethe (same process).
pub fn lethe_bounded(cwd: &Path, config: &Path, memory_kib: u64) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.current_dir(cwd)
        .arg("-c")
        .arg(format!("ulimit -v {memory_kib} && exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("lethe"))
        .arg("--config")
        .arg(config);
    for (k, _) in std::env::vars() {
        if k.starts_with("LETHE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let cut = base.rfind('/').map_or(base.len(), |i| i);
    // `scheme://host` without a path: append.
    let base = if base[..cut].ends_with('/') {
        base
    } else {
        &base[..cut]
    };
    format!("{base}/{db}{query}")
}

/// Output of a finished command: exit code, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs a command and collects its output.
pub fn run(cmd: &mut assert_cmd::Command) -> Run {
    let out = cmd.output().expect("run lethe");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Generates one `#[tokio::test]` per backend for an `async fn(Backend)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::support::Backend;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() { super::$name(Backend::Sqlite).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() { super::$name(Backend::Postgres).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mariadb() { super::$name(Backend::MariaDb).await }
            }
        )*
    };
}
