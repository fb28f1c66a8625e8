//! Typed audit events. Each event is a struct with a fixed kind; its payload is written as a
//! JSON object with sorted keys, so the bytes in the trail do not depend on field order.

use super::AuditError;
use serde::{Deserialize, Serialize};

/// An event of the audit trail: a serializable payload with its fixed kind.
pub trait AuditEvent: Serialize {
    /// The event's kind, e.g. `run.started`.
    const KIND: &'static str;

    /// The payload as it is written: a JSON value with sorted keys.
    fn payload(&self) -> Result<serde_json::Value, AuditError> {
        serde_json::to_value(self).map_err(|e| AuditError::Encode(Self::KIND, e.to_string()))
    }
}

/// One selector column of a runtime hold, as the trail keeps it: the column in clear, the
/// value only as a keyed HMAC (or left out without a key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SelectorTrace {
    /// The column.
    pub column: String,
    /// HMAC of the value, when a key is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_hmac: Option<String>,
}

/// `hold.added`: a runtime hold was added.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HoldAdded {
    /// `hold-<id>`.
    pub hold: String,
    /// Its store.
    pub store: String,
    /// Its table (SQL stores; empty for a prefix hold).
    pub table: String,
    /// Its key prefix (object stores), only as a keyed HMAC: a prefix may name a person.
    pub prefix_hmac: Option<String>,
    /// Its selector.
    pub selector: Vec<SelectorTrace>,
    /// Why it was added.
    pub reason: String,
    /// Who added it.
    pub by: String,
    /// When it ends by itself, if it does.
    pub until: Option<String>,
}

impl AuditEvent for HoldAdded {
    const KIND: &'static str = "hold.added";
}

/// `hold.released`: a runtime hold was released.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HoldReleased {
    /// `hold-<id>`.
    pub hold: String,
    /// Why it was released.
    pub reason: String,
    /// Who released it.
    pub by: String,
}

impl AuditEvent for HoldReleased {
    const KIND: &'static str = "hold.released";
}
