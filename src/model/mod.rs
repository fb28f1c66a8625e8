//! Validated policy types: what a `RetentionPolicy` document means once it has been parsed.
//!
//! Everything here is built by `config` at load time and cannot be invalid: identifiers are
//! checked, durations parsed, strategies known.

mod exemption;
mod hold;
mod ident;
mod keep;
mod key;
mod object;
mod shard;
mod store;
mod throttle;

pub use exemption::{ExemptScope, Exemption};
pub use hold::{parse_since, parse_until, Hold, HoldSource, Scope, SourceKind, Window};
pub use ident::Ident;
pub use keep::Keep;
pub use key::{Key, KeyError};
pub use object::{KeyTemplate, ObjectClock, ObjectPolicy};
pub use shard::Shard;
pub use store::{Dialect, DirSpec, S3Spec, Secret, SqlSpec, StoreSpec};
pub use throttle::{Throttle, DEFAULT_MAX_THROTTLE_WAIT};

use serde::Serialize;
use std::collections::BTreeMap;

/// A retention policy: which records of one table become due, and what happens to them.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionPolicy {
    /// Unique policy name, used in reports and `--policy`.
    pub name: String,
    /// A stable hash of the validated policy (see [`RetentionPolicy::compute_hash`]), set when the
    /// configuration is loaded and recorded in plans and the audit trail.
    #[serde(skip)]
    pub hash: String,
    /// Why the data is kept at all (the purpose it serves), for the DPO.
    pub purpose: Option<String>,
    /// The agreement clause or legal text the policy implements.
    pub clause: Option<String>,
    /// The store (from `lethe.yaml`) that holds the table.
    pub store: String,
    /// The table, optionally schema-qualified.
    pub table: Ident,
    /// The key columns (the primary key, or columns a unique index covers), used to order and
    /// bound batches. `None`: the table's primary key, read from the live schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    /// When the retention period of a record starts.
    pub clock: Clock,
    /// How long a record is kept after its clock.
    pub keep: Keep,
    /// Restricts the policy to records matching every condition.
    pub selector: Vec<Condition>,
    /// What happens to an eligible record.
    pub action: Action,
    /// Cron schedule for the daemon, when set.
    pub schedule: Option<String>,
    /// In the daemon: enforce, or only report what would be done (`dry-run`).
    pub mode: Mode,
    /// Guard limits for this policy.
    pub guard: Guard,
    /// Rows per batch (each batch is one short transaction): fixed, or the first batch's when
    /// `batch_target_ms` sizes them.
    pub batch_size: u32,
    /// How long each data-changing statement should take, in milliseconds: batches grow and
    /// shrink to stay near it. `None`: `batch_size` is fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_target_ms: Option<u32>,
    /// Waits between batches for the store's replicas and a row rate. How fast, not what is
    /// changed: not part of the policy hash.
    #[serde(skip)]
    pub throttle: Throttle,
    /// The policy file the policy was read from, as found in the policies folder (not part of
    /// the policy hash).
    #[serde(skip)]
    pub file: std::path::PathBuf,
}

impl RetentionPolicy {
    /// A short description of what the policy targets, e.g. `crm.leads`.
    pub fn target(&self) -> String {
        format!("{}.{}", self.store, self.table)
    }

    /// The SHA-256 of the validated policy written as JSON.
    pub fn compute_hash(&self) -> Result<String, serde_json::Error> {
        Ok(crate::util::sha256_hex(
            serde_json::to_string(self)?.as_bytes(),
        ))
    }
}

/// How the daemon runs a policy on its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Delete or anonymize what is due.
    Enforce,
    /// Plan only: record in the audit trail what would be done, change nothing.
    DryRun,
}

/// The start of a record's retention period.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// A date or timestamp column of the record itself.
    Column(Ident),
    /// The end of a related row in another table, e.g. `contracts.terminated_at`. The record
    /// is due only when every related row has ended, counted from the latest end.
    Join {
        /// The related table.
        table: Ident,
        /// Pairs of (column of the record, column of the related table) that must be equal.
        on: Vec<(Ident, Ident)>,
        /// The end date column of the related table; NULL means "not ended".
        column: Ident,
    },
}

/// One condition of a selector; all conditions must hold.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    /// The column the condition reads.
    pub column: Ident,
    /// What the column must satisfy.
    pub test: Test,
}

/// A structured test on one column. Values are always bound as parameters.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// Equal to the value.
    Eq(Value),
    /// Equal to one of the values.
    In(Vec<Value>),
    /// NULL (`true`) or not NULL (`false`).
    IsNull(bool),
}

/// A literal value from a selector.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
}

impl Value {
    /// The kind of the value, as a user would say it, with its article.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Text(_) => "a text",
        }
    }
}

/// What a policy does to an eligible record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Delete the whole row.
    Delete,
    /// Overwrite the listed columns, each with its strategy.
    Anonymize(BTreeMap<Ident, Strategy>),
}

crate::util::named_enum! {
    /// What a policy does, by name, as plans, reports and the audit trail write it.
    pub enum ActionKind {
        /// Delete the record.
        Delete => "delete",
        /// Overwrite some of its columns.
        Anonymize => "anonymize",
    }
}

impl Action {
    /// The action's kind.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Delete => ActionKind::Delete,
            Action::Anonymize(_) => ActionKind::Anonymize,
        }
    }

    /// The action's name in reports.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// A masking strategy for one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Set the column to NULL (anonymizing).
    Null,
    /// Replace the value with a fixed text (anonymizing).
    Redact(String),
    /// Keyed HMAC-SHA256 of the value (pseudonymizing: the result is still personal data).
    Hmac,
    /// Keep the network part of an IP address: IPv4 /24, IPv6 /48 (anonymizing).
    TruncateIp,
    /// Generalize a date or timestamp to the first day of its year (anonymizing).
    Year,
    /// Generalize a date or timestamp to the first day of its month (anonymizing).
    Month,
}

/// The default text written by `redact`.
pub const DEFAULT_REDACTION: &str = "[redacted]";

crate::util::named_enum! {
    /// Whether a strategy removes the link to a person or only hides it.
    pub enum Effect {
        /// The result can no longer identify a person.
        Anonymizing => "anonymizing",
        /// The result can be linked back with a key: still personal data.
        Pseudonymizing => "pseudonymizing",
    }
}

impl Strategy {
    /// The names accepted in policy files.
    pub const NAMES: &'static [&'static str] =
        &["null", "redact", "hmac", "truncate-ip", "year", "month"];

    /// Parses a strategy name (the `redact` text is set separately).
    pub fn parse(name: &str) -> Option<Strategy> {
        Some(match name {
            "null" => Strategy::Null,
            "redact" => Strategy::Redact(DEFAULT_REDACTION.to_string()),
            "hmac" => Strategy::Hmac,
            "truncate-ip" => Strategy::TruncateIp,
            "year" => Strategy::Year,
            "month" => Strategy::Month,
            _ => return None,
        })
    }

    /// The strategy's name as written in policy files.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Null => "null",
            Strategy::Redact(_) => "redact",
            Strategy::Hmac => "hmac",
            Strategy::TruncateIp => "truncate-ip",
            Strategy::Year => "year",
            Strategy::Month => "month",
        }
    }

    /// Anonymizing or pseudonymizing.
    pub fn effect(&self) -> Effect {
        match self {
            Strategy::Hmac => Effect::Pseudonymizing,
            _ => Effect::Anonymizing,
        }
    }

    /// True when the new value is computed in lethe rather than by the database.
    pub fn computed_in_process(&self) -> bool {
        matches!(self, Strategy::Hmac | Strategy::TruncateIp)
    }
}

/// Limits that refuse a run before it changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Guard {
    /// Refuse when more than this many records would be changed.
    pub max_rows: Option<u64>,
    /// Refuse when more than this fraction (0..=1) of the table would be changed.
    pub max_fraction: Option<f64>,
    /// Where each limit was set (not part of the policy hash: moving a limit from lethe.yaml
    /// into the policy at the same value changes nothing it does).
    #[serde(skip)]
    pub set_in: GuardSetIn,
}

crate::util::named_enum! {
    /// Where a guard limit of a policy comes from: the key that changes it.
    pub enum SetIn {
        /// The policy's own `guard:`.
        Policy => "policy",
        /// `guard:` in lethe.yaml, the default of every policy.
        Settings => "lethe.yaml",
        /// Nowhere: lethe's built-in default (for `max_fraction`, 0.5), or no limit at all.
        Default => "default",
    }
}

/// Where each limit of a [`Guard`] was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSetIn {
    /// Where `max_rows` was set.
    pub max_rows: SetIn,
    /// Where `max_fraction` was set.
    pub max_fraction: SetIn,
}

impl Default for GuardSetIn {
    fn default() -> Self {
        GuardSetIn {
            max_rows: SetIn::Default,
            max_fraction: SetIn::Default,
        }
    }
}
