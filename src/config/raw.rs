//! Raw serde shapes of the configuration files, exactly as written. They are converted once,
//! in `config::build`, into the validated types of `policy` and `config::Settings`.

use serde::Deserialize;
use serde_saphyr::Spanned as S;
use std::collections::BTreeMap;

/// `lethe.yaml`: the worker settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub state: Option<S<String>>,
    #[serde(default)]
    pub stores: BTreeMap<String, S<RawStore>>,
    pub hmac_key: Option<S<String>>,
    pub hmac_key_file: Option<S<String>>,
    pub guard: Option<RawGuard>,
    pub batch_size: Option<S<u32>>,
    pub drift_tolerance: Option<S<f64>>,
    pub schedule: Option<S<String>>,
}

/// One entry of `stores:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub kind: S<String>,
    pub url: Option<S<String>>,
    pub url_file: Option<S<String>>,
    pub region: Option<String>,
    pub country: Option<String>,
}

/// `guard:` in `lethe.yaml` (defaults and run limits) or in a policy (overrides).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    pub max_rows: Option<u64>,
    pub max_fraction: Option<S<f64>>,
    pub run_max_rows: Option<S<u64>>,
}

/// One document of a policy file. All kinds share this shape; `config::build` checks that a
/// document only uses the keys of its kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDoc {
    pub kind: S<String>,
    pub name: S<String>,
    pub purpose: Option<String>,
    pub clause: Option<String>,
    pub store: S<String>,
    pub table: S<String>,
    pub key: S<String>,
    pub clock: S<RawClock>,
    pub keep: S<String>,
    #[serde(rename = "match")]
    pub selector: Option<BTreeMap<String, S<RawTest>>>,
    pub action: S<RawAction>,
    pub schedule: Option<S<String>>,
    pub guard: Option<S<RawGuard>>,
    pub batch_size: Option<S<u32>>,
}

/// `clock:` of a policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    pub column: S<String>,
    pub join: Option<S<String>>,
    pub on: Option<S<BTreeMap<String, String>>>,
}

/// One selector condition: a value, `{ in: [...] }` or `{ is_null: bool }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTest {
    Value(RawValue),
    In(RawIn),
    IsNull(RawIsNull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIn {
    #[serde(rename = "in")]
    pub values: Vec<RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIsNull {
    pub is_null: bool,
}

/// A scalar in a selector.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawValue {
    Bool(bool),
    Int(i64),
    Text(String),
}

/// `action: delete` or `action: { anonymize: { column: strategy } }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawAction {
    Name(String),
    Anonymize(RawAnonymize),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnonymize {
    pub anonymize: BTreeMap<String, S<RawStrategy>>,
}

/// A strategy name, or `{ redact: "text" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStrategy {
    Name(String),
    Redact(RawRedact),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedact {
    pub redact: String,
}
