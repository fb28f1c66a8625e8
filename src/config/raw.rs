//! Raw serde shapes of the configuration files, exactly as written. They are converted once,
//! in `config::build`, into the validated types of `policy` and `config::Settings`.
//!
//! The same shapes describe the files to editors: `config::schema` derives a JSON Schema from
//! them, so every field's `///` line is also the text an editor shows for its key.

use super::schema::OrVariable;
use crate::model::Strategy;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned as S;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

// `S<T>` (a value with its place in the file) is serde-saphyr's type, so each spanned field
// names its plain type for the schema with `#[schemars(with = "...")]`.

/// The first pass over a policy document: only its kind, so that a document of an unknown
/// kind is reported as such rather than by the keys it lacks.
#[derive(Debug, Deserialize)]
pub struct RawKind {
    pub kind: Option<S<String>>,
}

/// `lethe.yaml`: the worker settings. A policies folder has exactly one, at its top.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Settings", title = "lethe.yaml")]
pub struct RawSettings {
    /// The state database (audit trail, runs, runtime holds): `sqlite://PATH` or
    /// `postgres://...`. Default: `sqlite://var/lethe-state.db`.
    #[schemars(with = "Option<String>")]
    pub state: Option<S<String>>,
    /// The stores policies may name, by store name (letters, digits, `_`). Default: none.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawStore>")]
    pub stores: BTreeMap<String, S<RawStore>>,
    /// Key of the `hmac` strategy, at least 32 characters. Give it as `${VAR}`, never in the
    /// file. Default: none (no policy may use `hmac`).
    #[schemars(with = "Option<String>")]
    pub hmac_key: Option<S<String>>,
    /// A file that holds the key of the `hmac` strategy, instead of `hmac_key`.
    #[schemars(with = "Option<String>")]
    pub hmac_key_file: Option<S<String>>,
    /// A file holding the Ed25519 key that signs deletion certificates: PKCS#8 PEM, as
    /// `openssl genpkey -algorithm ed25519 -out signing.pem` writes it. Default: none
    /// (`lethe certificate` cannot sign).
    #[schemars(with = "Option<String>")]
    pub signing_key_file: Option<S<String>>,
    /// Deletion certificates the daemon issues by itself, once per subject. Default: none.
    pub certificates: Option<RawCertificates>,
    /// Limits: the default guard of every policy, and `run_max_rows` for the whole run.
    pub guard: Option<RawGuard>,
    /// A fixed number of rows per batch for every policy, 1 to 50000, instead of batches sized
    /// to `batch_target`. Default: none (batches start at 1000 rows and follow the target).
    #[schemars(with = "Option<OrVariable<u32>>")]
    pub batch_size: Option<S<u32>>,
    /// How long each data-changing statement of a SQL policy should take, e.g. `200ms` or `1s`
    /// (10ms to 60s): lethe grows and shrinks each policy's batch so its statements stay near
    /// it. Default: `200ms`. Not with `batch_size`.
    #[schemars(with = "Option<String>")]
    pub batch_target: Option<S<String>>,
    /// Before each batch of a SQL policy, wait while a replica of its store lags more than
    /// this, e.g. `5s` (100ms to 1h). A replica that cannot be read counts as lagging.
    /// Default: none (replicas are not read).
    #[schemars(with = "Option<String>")]
    pub max_replica_lag: Option<S<String>>,
    /// The longest a SQL policy waits for its replicas in all, e.g. `10m` (0s to 24h); then it
    /// stops as `throttled` and the next run goes on. Default: `10m`.
    #[schemars(with = "Option<String>")]
    pub max_throttle_wait: Option<S<String>>,
    /// At most this many rows per second per SQL policy (1 to 1000000): lethe sleeps between
    /// batches to keep the rate. Default: none.
    #[schemars(with = "Option<OrVariable<u32>>")]
    pub max_rows_per_second: Option<S<u32>>,
    /// For `apply --plan`: how far a policy's eligible count may have grown beyond the reviewed
    /// plan, as a fraction from 0 to 10 (0.05 = 5%). Default: 0 (any growth refuses).
    #[schemars(with = "Option<OrVariable<f64>>")]
    pub drift_tolerance: Option<S<f64>>,
    /// Default daemon schedule (UTC) of policies without their own: six cron fields, `sec min
    /// hour day-of-month month day-of-week`, e.g. `0 30 2 * * *`. Default: none.
    #[schemars(with = "Option<String>")]
    pub schedule: Option<S<String>>,
    /// Settings of `lethe daemon`.
    pub daemon: Option<RawDaemon>,
    /// Where stores may be, checked by `lethe residency` and before every run.
    pub residency: Option<RawResidency>,
}

/// `certificates:` in `lethe.yaml`: deletion certificates the daemon issues by itself.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Certificates")]
pub struct RawCertificates {
    /// The folder certificates are written to (JSON and HTML, one pair per subject); a
    /// relative path is read from the working directory. Required.
    #[schemars(with = "String")]
    pub dir: S<String>,
    /// When a certificate is issued: `contract-end`, once every record of a subject that
    /// became due after its contracts ended is gone (held records may remain). Required.
    #[schemars(with = "String", extend("enum" = ["contract-end"]))]
    pub on: S<String>,
}

/// `residency:` in `lethe.yaml`: where stores may be.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Residency")]
pub struct RawResidency {
    /// The groups `eea` and `adequacy` and/or ISO 3166 country codes in capitals, e.g.
    /// `[eea, CH]`. Default: `[eea, adequacy]`.
    #[schemars(with = "Option<Vec<String>>")]
    pub allow: Option<Vec<S<String>>>,
    /// Attestations of importers certified under the EU-US Data Privacy Framework, needed for
    /// stores in the United States. Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<RawAttestation>")]
    pub dpf: Vec<S<RawAttestation>>,
    /// URL a violation is posted to (JSON), e.g. `${LETHE_ALERT_WEBHOOK:-}`; never printed.
    /// Default: none.
    #[schemars(with = "Option<String>")]
    pub webhook: Option<S<String>>,
}

/// One entry of `residency.dpf`: an importer certified under the Data Privacy Framework.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DpfAttestation")]
pub struct RawAttestation {
    /// The certified organisation, as on the DPF list.
    #[schemars(with = "String")]
    pub importer: S<String>,
    /// The stores (names from `stores`) this importer runs.
    #[schemars(with = "Vec<String>")]
    pub stores: Vec<S<String>>,
    /// When you checked the importer on the DPF list: `YYYY-MM-DD`, not before 2023-07-10.
    #[schemars(with = "String")]
    pub verified: S<String>,
    /// The last day the attestation counts, `YYYY-MM-DD`: at most a year after `verified`.
    #[schemars(with = "String")]
    pub expires: S<String>,
}

/// `daemon:` in `lethe.yaml`: settings of `lethe daemon`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Daemon")]
pub struct RawDaemon {
    /// `IP:PORT` where the daemon serves `/healthz`, `/readyz` and `/metrics`; `--listen`
    /// overrides it. Default: `127.0.0.1:9187`.
    #[schemars(with = "Option<String>")]
    pub listen: Option<S<String>>,
}

/// One entry of `stores:`: a SQL database (`kind: sql`, with `url`), an S3 bucket (`kind: s3`,
/// with `bucket`) or a local or mounted folder (`kind: dir`, with `path`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Store")]
pub struct RawStore {
    /// The kind of store: `sql`, `s3` or `dir`. Required.
    #[schemars(with = "String", extend("enum" = ["sql", "s3", "dir"]))]
    pub kind: S<String>,
    /// `sql`: connection URL, `postgres://`, `postgresql://`, `mysql://`, `mariadb://` or
    /// `sqlite://`; may carry a password (never printed). This or `url_file` is required.
    #[schemars(with = "Option<String>")]
    pub url: Option<S<String>>,
    /// `sql`: a file that holds the connection URL, instead of `url`.
    #[schemars(with = "Option<String>")]
    pub url_file: Option<S<String>>,
    /// `sql` (PostgreSQL, MariaDB/MySQL): connection URLs of the store's replicas, whose lag
    /// `max_replica_lag` watches, e.g. `["${REPLICA_URL}"]`; may carry passwords (never
    /// printed). Default: none (PostgreSQL: the standbys in `pg_stat_replication`).
    #[schemars(with = "Option<Vec<String>>")]
    pub replicas: Option<Vec<S<String>>>,
    /// `s3`: the bucket, 3 to 63 lowercase letters, digits, `.` and `-`. Required for `s3`.
    #[schemars(with = "Option<String>")]
    pub bucket: Option<S<String>>,
    /// `s3`: URL (`http://` or `https://`) of an S3-compatible server (MinIO, Garage, Ceph).
    /// Default: AWS.
    #[schemars(with = "Option<String>")]
    pub endpoint: Option<S<String>>,
    /// `s3`: address buckets as `endpoint/bucket/key`. Default: true with `endpoint`, else
    /// false.
    #[schemars(with = "Option<OrVariable<bool>>")]
    pub path_style: Option<bool>,
    /// `dir`: the folder; a relative path is relative to the working directory. Required for
    /// `dir`.
    #[schemars(with = "Option<String>")]
    pub path: Option<S<String>>,
    /// `sql`: the provider region (e.g. `eu-central-1`), with `provider`. `s3`: the bucket's
    /// region, or whatever an S3-compatible server expects. Default: none.
    pub region: Option<String>,
    /// `sql`: the cloud `region` belongs to, `aws`, `gcp` or `azure`. `s3`: only `aws`, for an
    /// `endpoint` of AWS itself. Default: none.
    #[schemars(with = "Option<String>", extend("enum" = ["aws", "gcp", "azure"]))]
    pub provider: Option<S<String>>,
    /// ISO 3166 country code in capitals where the store is, e.g. `NL`, for the residency
    /// check; needed by folders and S3-compatible servers. Default: none.
    #[schemars(with = "Option<String>")]
    pub country: Option<S<String>>,
}

/// `guard:` in `lethe.yaml` (the defaults and the run limit) or in a policy (overrides, key by
/// key). A guard refuses a run before it changes anything.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Guard")]
pub struct RawGuard {
    /// Refuse a policy that would change more than this many records. Default: no limit.
    #[schemars(with = "Option<OrVariable<u64>>")]
    pub max_rows: Option<u64>,
    /// Refuse a policy that would change more than this fraction (0 to 1) of all rows of its
    /// table. Default: 0.5.
    #[schemars(with = "Option<OrVariable<f64>>")]
    pub max_fraction: Option<S<f64>>,
    /// `lethe.yaml` only: refuse the run when all policies together would change more than this
    /// many records. Default: no limit.
    #[schemars(with = "Option<OrVariable<u64>>")]
    pub run_max_rows: Option<S<u64>>,
}

/// One document of a policy file (`RetentionPolicy`, `LegalHold` or `Exemption`). The kinds
/// share this shape; `config::build_policy`, `config::build_hold` and `config::build_exemption`
/// check the keys each kind requires and allows (and `config::schema` says the same to
/// editors).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Document")]
pub struct RawDoc {
    /// `RetentionPolicy`, `LegalHold` or `Exemption`.
    #[schemars(with = "String")]
    pub kind: S<String>,
    /// A name unique across the folder (policies and holds together), 1 to 100 characters
    /// without spaces: used in reports, the audit trail and `--policy`.
    #[schemars(with = "String")]
    pub name: S<String>,
    /// Why the data is kept at all; shown in plan reports.
    pub purpose: Option<String>,
    /// The contract clause or legal text the policy implements; part of its recorded hash.
    pub clause: Option<String>,
    /// A store name from `lethe.yaml`.
    #[schemars(with = "String")]
    pub store: S<String>,
    /// SQL stores: the table, optionally with its schema (`leads`, `crm.leads`). Required there.
    #[schemars(with = "Option<String>")]
    pub table: Option<S<String>>,
    /// Object stores: the keys covered, every key that starts with it (`""` for the whole
    /// store). A policy gives this or `key_template`; a hold on objects requires it.
    #[schemars(with = "Option<String>")]
    pub prefix: Option<S<String>>,
    /// Object stores, instead of `prefix`: literal text with `{variable}` parts matched against
    /// the start of each key, e.g. `exports/{customer_id}/`.
    #[schemars(with = "Option<String>")]
    pub key_template: Option<S<String>>,
    /// SQL stores: the key column, or a list of columns (`[customer_id, seq]`), that orders and
    /// bounds batches: the primary key, or columns that include a unique index's. Default: the
    /// table's primary key.
    #[schemars(with = "Option<RawKey>")]
    pub key: Option<S<RawKey>>,
    /// When a record's retention period (or a hold's period) starts.
    #[schemars(with = "Option<RawClock>")]
    pub clock: Option<S<RawClock>>,
    /// How long after the clock: a whole number and a unit, `h` hours, `d` days, `w` weeks, `M`
    /// months, `y` years (e.g. `90d`, `18M`, `7y`).
    #[schemars(with = "Option<String>")]
    pub keep: Option<S<String>>,
    /// SQL stores: only the records that meet every condition, by column. Default: every record.
    #[serde(rename = "match")]
    #[schemars(with = "Option<BTreeMap<String, RawTest>>")]
    pub selector: Option<BTreeMap<String, S<RawTest>>>,
    /// What happens to a due record: `delete`, or `anonymize:` with a strategy per column.
    #[schemars(with = "Option<RawAction>")]
    pub action: Option<S<RawAction>>,
    /// The legal ground of a hold, e.g. `Art. 52 AWR` or a case number; no personal data.
    #[schemars(with = "Option<String>")]
    pub basis: Option<S<String>>,
    /// The last day a hold holds, `YYYY-MM-DD` (through that day, UTC), or an RFC 3339 instant.
    /// Default: until the document is removed.
    #[schemars(with = "Option<String>")]
    pub until: Option<S<String>>,
    /// Daemon schedule (UTC) of this policy: six cron fields, `sec min hour day-of-month month
    /// day-of-week`. Default: `schedule` of `lethe.yaml`.
    #[schemars(with = "Option<String>")]
    pub schedule: Option<S<String>>,
    /// `enforce`, or `dry-run` to plan and record only, never change data. Default: `enforce`.
    #[schemars(with = "Option<String>", extend("enum" = ["enforce", "dry-run"]))]
    pub mode: Option<S<String>>,
    /// This policy's limits, replacing the defaults of `lethe.yaml` key by key (no
    /// `run_max_rows` here).
    #[schemars(with = "Option<RawGuard>")]
    pub guard: Option<S<RawGuard>>,
    /// A fixed number of rows per batch of this policy, 1 to 50000 (object stores: keys per
    /// request, 1 to 1000), instead of batches sized to `batch_target`. Default: `batch_size`
    /// of `lethe.yaml`.
    #[schemars(with = "Option<OrVariable<u32>>")]
    pub batch_size: Option<S<u32>>,
    /// SQL tables: how long each data-changing statement of this policy should take, e.g.
    /// `200ms` (10ms to 60s). Default: `batch_target` of `lethe.yaml`. Not with `batch_size`.
    #[schemars(with = "Option<String>")]
    pub batch_target: Option<S<String>>,
    /// Exemptions on a SQL store: the columns of `table` that stay (default: every column).
    #[schemars(with = "Option<Vec<String>>")]
    pub columns: Option<S<Vec<S<String>>>>,
    /// Exemptions: why the data stays although no policy deletes or anonymizes it, e.g. a
    /// legal duty or a documented decision of the DPO; no personal data.
    #[schemars(with = "Option<String>")]
    pub reason: Option<S<String>>,
    /// SQL tables: wait before each batch while a replica of the store lags more than this,
    /// e.g. `5s` (100ms to 1h). Default: `max_replica_lag` of `lethe.yaml`.
    #[schemars(with = "Option<String>")]
    pub max_replica_lag: Option<S<String>>,
    /// SQL tables: the longest this policy waits for replicas in all (0s to 24h), then it stops
    /// as `throttled`. Default: `max_throttle_wait` of `lethe.yaml` (`10m`).
    #[schemars(with = "Option<String>")]
    pub max_throttle_wait: Option<S<String>>,
    /// SQL tables: at most this many rows per second (1 to 1000000). Default:
    /// `max_rows_per_second` of `lethe.yaml`.
    #[schemars(with = "Option<OrVariable<u32>>")]
    pub max_rows_per_second: Option<S<u32>>,
}

/// `clock:` of a document: a date column of the record (`column`), the end of related rows in
/// another table (`join`, `on`, `column`), or for objects `last_modified`, `metadata`, `tag` or
/// a SQL store's table through the key template (`store`, `join`, `on`, `column`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Clock")]
pub struct RawClock {
    /// The date or timestamp column: of the record itself, or with `join` of the joined table.
    #[schemars(with = "Option<String>")]
    pub column: Option<S<String>>,
    /// The related table (optionally `schema.table`); the record is due when every related row
    /// has ended, counted from the latest end.
    #[schemars(with = "Option<String>")]
    pub join: Option<S<String>>,
    /// With `join`: `{ <column of this table>: <column of the joined table> }`, all pairs equal.
    /// Objects: `{ <key template variable>: <column of the joined table> }`.
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub on: Option<S<BTreeMap<String, String>>>,
    /// Object policies: the SQL store of `join`.
    #[schemars(with = "Option<String>")]
    pub store: Option<S<String>>,
    /// Object policies: `true` for the object's last-modified time (a file's modification time).
    #[schemars(with = "Option<OrVariable<bool>>")]
    pub last_modified: Option<S<bool>>,
    /// Object policies: the user-metadata key (S3 `x-amz-meta-KEY`) that holds a date.
    #[schemars(with = "Option<String>")]
    pub metadata: Option<S<String>>,
    /// Object policies: the object tag that holds a date.
    #[schemars(with = "Option<String>")]
    pub tag: Option<S<String>>,
}

/// One selector condition: a value, `{ in: [...] }` or `{ is_null: bool }`.
#[derive(Debug)]
pub enum RawTest {
    Value(RawValue),
    In(Vec<RawValue>),
    IsNull(bool),
}

/// A scalar in a selector.
#[derive(Debug)]
pub enum RawValue {
    Bool(bool),
    Int(i64),
    Text(String),
}

/// `action: delete` or `action: { anonymize: { column: strategy } }`.
#[derive(Debug)]
pub enum RawAction {
    Name(String),
    Anonymize(BTreeMap<String, S<RawStrategy>>),
}

/// `key: id` or `key: [customer_id, seq]`.
#[derive(Debug)]
pub enum RawKey {
    One(String),
    Many(Vec<String>),
}

/// A strategy name, or `{ redact: "text" }`.
#[derive(Debug)]
pub enum RawStrategy {
    Name(String),
    Redact(String),
}

// The five shapes above are read by hand rather than as untagged enums: that keeps the place of
// every nested value (for error messages) and lets errors speak the policy language.

const VALUE: &str = "a text, a whole number or true/false";

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = RawValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(VALUE)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        i64::try_from(v)
            .map(RawValue::Int)
            .map_err(|_| E::custom("number too large"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Text(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for RawTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{VALUE}, `{{ in: [...] }}` or `{{ is_null: true }}`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawTest, E> {
                ValueVisitor.visit_bool(v).map(RawTest::Value)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawTest, E> {
                ValueVisitor.visit_i64(v).map(RawTest::Value)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawTest, E> {
                ValueVisitor.visit_u64(v).map(RawTest::Value)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTest, E> {
                ValueVisitor.visit_str(v).map(RawTest::Value)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<RawTest, A::Error> {
                Err(de::Error::custom("a list needs `{ in: [...] }`"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawTest, A::Error> {
                let key: Option<String> = m.next_key()?;
                let test = match key.as_deref() {
                    Some("in") => RawTest::In(m.next_value()?),
                    Some("is_null") => RawTest::IsNull(m.next_value()?),
                    Some(other) => {
                        return Err(de::Error::custom(format!(
                            "unknown test `{}`; expected `in` or `is_null`",
                            crate::util::shorten(other)
                        )))
                    }
                    None => {
                        return Err(de::Error::custom("empty test; expected `in` or `is_null`"))
                    }
                };
                if m.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "one test per column; expected `in` or `is_null`",
                    ));
                }
                Ok(test)
            }
        }
        d.deserialize_any(V)
    }
}

const ACTION: &str = "expected `delete` or `anonymize: { column: strategy }`";

impl<'de> Deserialize<'de> for RawAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAction;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(&ACTION["expected ".len()..])
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawAction, E> {
                Ok(RawAction::Name(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawAction, A::Error> {
                let key: Option<String> = m.next_key()?;
                match key.as_deref() {
                    Some("anonymize") => {}
                    Some(other) => {
                        return Err(de::Error::custom(format!(
                            "unknown action `{}`; {ACTION}",
                            crate::util::shorten(other)
                        )))
                    }
                    None => return Err(de::Error::custom(format!("empty action; {ACTION}"))),
                }
                let columns = m.next_value()?;
                if m.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(format!(
                        "one action per policy; {ACTION}"
                    )));
                }
                Ok(RawAction::Anonymize(columns))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name or a list of column names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawKey, E> {
                Ok(RawKey::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<RawKey, A::Error> {
                let mut columns = Vec::new();
                while let Some(c) = s.next_element::<String>()? {
                    columns.push(c);
                }
                Ok(RawKey::Many(columns))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawStrategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawStrategy;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a strategy name or `{ redact: \"text\" }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStrategy, E> {
                Ok(RawStrategy::Name(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawStrategy, A::Error> {
                match m.next_key::<String>()?.as_deref() {
                    Some("redact") => Ok(RawStrategy::Redact(m.next_value()?)),
                    _ => Err(de::Error::custom(
                        "expected a strategy name or `{ redact: \"text\" }`",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

// What the hand-read shapes accept, for the schema: the same scalars and one-key maps
// that their visitors above take. A map and a scalar are told apart by `if`, so that an editor
// names the key or the value at fault rather than every alternative.

impl JsonSchema for RawValue {
    fn schema_name() -> Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A text, a whole number or true/false; quote a number or `true` that \
                            the column holds as text (`zip: \"1012\"`).",
            "type": ["string", "integer", "boolean"],
        })
    }
}

impl JsonSchema for RawTest {
    fn schema_name() -> Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<RawValue>();
        let mut is_null = generator.subschema_for::<OrVariable<bool>>();
        is_null.insert(
            "description".into(),
            "`true`: the column IS NULL; `false`: IS NOT NULL.".into(),
        );
        json_schema!({
            "description": "A condition on one column: equal to a value, `{ in: [...] }` or \
                            `{ is_null: true }`.",
            "if": { "type": "object" },
            "then": {
                "properties": {
                    "in": {
                        "description": "Equal to one of these values (at least one).",
                        "type": "array",
                        "items": value,
                        "minItems": 1,
                    },
                    "is_null": is_null,
                },
                "additionalProperties": false,
                "minProperties": 1,
                "maxProperties": 1,
            },
            "else": value,
        })
    }
}

impl JsonSchema for RawAction {
    fn schema_name() -> Cow<'static, str> {
        "Action".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let strategy = generator.subschema_for::<RawStrategy>();
        json_schema!({
            "description": "`delete` removes the record (the only action on objects); \
                            `anonymize:` overwrites the listed columns, each with a strategy.",
            "if": { "type": "object" },
            "then": {
                "properties": {
                    "anonymize": {
                        "description": "A strategy per column, e.g. `{ email: hmac, phone: \
                                        redact }`; at least one column, never the `key`.",
                        "type": "object",
                        "additionalProperties": strategy,
                        "minProperties": 1,
                    },
                },
                "required": ["anonymize"],
                "additionalProperties": false,
            },
            "else": { "type": "string", "enum": ["delete"] },
        })
    }
}

impl JsonSchema for RawKey {
    fn schema_name() -> Cow<'static, str> {
        "Key".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The key column, or a list of columns for a composite key \
                            (`[customer_id, seq]`): the primary key, or columns that include \
                            a unique index's, all NOT NULL.",
            "if": { "type": "array" },
            "then": {
                "type": "array",
                "items": { "type": "string" },
                "minItems": 1,
                "uniqueItems": true,
            },
            "else": { "type": "string" },
        })
    }
}

impl JsonSchema for RawStrategy {
    fn schema_name() -> Cow<'static, str> {
        "Strategy".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "How a column is overwritten: a strategy name, or \
                            `{ redact: \"text\" }` for a text of your own. `hmac` \
                            pseudonymizes (the result is still personal data) and needs \
                            `hmac_key`; write `\"null\"` in quotes.",
            "if": { "type": "object" },
            "then": {
                "properties": {
                    "redact": {
                        "description": "The text written instead of the value.",
                        "type": "string",
                    },
                },
                "required": ["redact"],
                "additionalProperties": false,
            },
            "else": { "type": "string", "enum": Strategy::NAMES },
        })
    }
}
