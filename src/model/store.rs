//! The store vocabulary: what `lethe.yaml` says about each store. The configuration produces
//! it; the stores and the residency check consume it.

use std::fmt;
use std::path::PathBuf;

/// A value that must never be printed: passwords, URLs with credentials, keys.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

/// The SQL dialect of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Dialect {
    /// The dialect of a connection URL.
    pub fn from_url(url: &str) -> Result<Dialect, String> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::MySql),
            _ => Err("unsupported database URL; expected one starting with `postgres://`, `mysql://`, `mariadb://` or `sqlite://`".into()),
        }
    }

    /// The dialect's name for people.
    pub fn name(&self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
            Dialect::MySql => "MySQL/MariaDB",
        }
    }
}

/// A SQL database reached through its URL (`postgres://`, `mysql://`, `mariadb://`, `sqlite://`).
#[derive(Debug, Clone)]
pub struct SqlSpec {
    /// Connection URL; may carry a password, so it is never printed.
    pub url: Secret,
    /// Declared provider region.
    pub region: Option<String>,
    /// The cloud the region belongs to: `aws`, `gcp` or `azure`.
    pub provider: Option<String>,
    /// Declared ISO country.
    pub country: Option<String>,
    /// The replicas whose lag `max_replica_lag` watches (URLs of the same dialect; may carry
    /// passwords). Empty: PostgreSQL reads `pg_stat_replication` on the store itself.
    pub replicas: Vec<Secret>,
}

/// An S3 bucket: AWS, or an S3-compatible server (MinIO, Garage, Ceph) at `endpoint`.
#[derive(Debug, Clone)]
pub struct S3Spec {
    /// The bucket.
    pub bucket: String,
    /// The bucket's region (AWS), or whatever the S3-compatible server expects.
    pub region: Option<String>,
    /// The server, for S3-compatible stores (default: AWS).
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    pub path_style: bool,
    /// AWS itself (no `endpoint`, or `provider: aws`): the bucket's region and its
    /// replication destinations are read from S3 for the residency check.
    pub aws: bool,
    /// Declared ISO country (S3-compatible stores: where the server is).
    pub country: Option<String>,
}

/// A local or mounted folder.
#[derive(Debug, Clone)]
pub struct DirSpec {
    /// The folder.
    pub path: PathBuf,
    /// Declared ISO country (where the disk is).
    pub country: Option<String>,
}

/// A configured store. A closed set of kinds.
#[derive(Debug, Clone)]
pub enum StoreSpec {
    /// A SQL database.
    Sql(SqlSpec),
    /// An S3 bucket.
    S3(S3Spec),
    /// A local or mounted folder.
    Dir(DirSpec),
}

impl StoreSpec {
    /// True for object stores (`s3`, `dir`).
    pub fn holds_objects(&self) -> bool {
        !matches!(self, StoreSpec::Sql(_))
    }
}
