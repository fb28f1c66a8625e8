//! Raw serde shapes of the configuration files, exactly as written. They are converted once,
//! in `config::build`, into the validated types of `policy` and `config::Settings`.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned as S;
use std::collections::BTreeMap;
use std::fmt;

/// The first pass over a policy document: only its kind, so that a document of an unknown
/// kind is reported as such rather than by the keys it lacks.
#[derive(Debug, Deserialize)]
pub struct RawKind {
    pub kind: Option<S<String>>,
}

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
    pub daemon: Option<RawDaemon>,
    pub residency: Option<RawResidency>,
}

/// `residency:` in `lethe.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResidency {
    pub allow: Option<Vec<S<String>>>,
    #[serde(default)]
    pub dpf: Vec<S<RawAttestation>>,
    pub webhook: Option<S<String>>,
}

/// One entry of `residency.dpf`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttestation {
    pub importer: S<String>,
    pub stores: Vec<S<String>>,
    pub verified: S<String>,
    pub expires: S<String>,
}

/// `daemon:` in `lethe.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub listen: Option<S<String>>,
}

/// One entry of `stores:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub kind: S<String>,
    pub url: Option<S<String>>,
    pub url_file: Option<S<String>>,
    pub bucket: Option<S<String>>,
    pub endpoint: Option<S<String>>,
    pub path_style: Option<bool>,
    pub path: Option<S<String>>,
    pub region: Option<String>,
    pub provider: Option<S<String>>,
    pub country: Option<S<String>>,
}

/// `guard:` in `lethe.yaml` (defaults and run limits) or in a policy (overrides).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    pub max_rows: Option<u64>,
    pub max_fraction: Option<S<f64>>,
    pub run_max_rows: Option<S<u64>>,
}

/// One document of a policy file (`RetentionPolicy` or `LegalHold`). Both kinds share this
/// shape; `config::build_policy` and `config::build_hold` check the keys each kind requires and
/// allows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDoc {
    pub kind: S<String>,
    pub name: S<String>,
    pub purpose: Option<String>,
    pub clause: Option<String>,
    pub store: S<String>,
    pub table: Option<S<String>>,
    pub prefix: Option<S<String>>,
    pub key_template: Option<S<String>>,
    pub key: Option<S<String>>,
    pub clock: Option<S<RawClock>>,
    pub keep: Option<S<String>>,
    #[serde(rename = "match")]
    pub selector: Option<BTreeMap<String, S<RawTest>>>,
    pub action: Option<S<RawAction>>,
    pub basis: Option<S<String>>,
    pub until: Option<S<String>>,
    pub schedule: Option<S<String>>,
    pub mode: Option<S<String>>,
    pub guard: Option<S<RawGuard>>,
    pub batch_size: Option<S<u32>>,
}

/// `clock:` of a policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    pub column: Option<S<String>>,
    pub join: Option<S<String>>,
    pub on: Option<S<BTreeMap<String, String>>>,
    /// Object policies: the SQL store of `join`.
    pub store: Option<S<String>>,
    /// Object policies: the object's last-modified time.
    pub last_modified: Option<S<bool>>,
    /// Object policies: a user-metadata key.
    pub metadata: Option<S<String>>,
    /// Object policies: a tag key.
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

/// A strategy name, or `{ redact: "text" }`.
#[derive(Debug)]
pub enum RawStrategy {
    Name(String),
    Redact(String),
}

// The four shapes above are read by hand rather than as untagged enums: that keeps the place of
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
