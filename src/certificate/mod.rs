//! Deletion certificates: for one subject (`customer_id=42`), a fresh scan of every policy that
//! reaches it, the runs that did the deleting and the head of the audit chain, signed with
//! Ed25519. The proof comes from the stores at that moment, never from the log alone; the
//! certificate holds counts, policy names and legal bases, never a personal value.

mod finding;
mod runs;
mod subject;

pub use crate::util::sign::{
    canonical, public_pem, read_public, short_key, SignError, Signature, Signer,
};
pub use runs::{RunRef, Trail};
pub use subject::{reach, subject_keys, ReachError, Reached, Subject};

use crate::audit::AuditError;
use crate::model::{ActionKind, Mode};
use crate::plan::{Item, ReferencedBy, Work};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format version of certificate files.
pub const CERTIFICATE_VERSION: u32 = 1;

/// Certificate files larger than this are refused.
pub const MAX_CERTIFICATE_BYTES: u64 = 8 * 1024 * 1024;

/// What lethe certifies about one subject at one instant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    /// Certificate file format version.
    pub version: u32,
    /// Unique id of this certificate.
    pub certificate_id: String,
    /// When the stores were scanned.
    pub issued_at: DateTime<Utc>,
    /// Whose records.
    pub subject: Subject,
    /// True when nothing of the subject remains but what a hold keeps (or, for an
    /// anonymization, what was anonymized): nothing due, nothing waiting, nothing kept by a
    /// reference.
    pub complete: bool,
    /// Hash of the configuration the policies came from.
    pub config_hash: String,
    /// One finding per policy that reaches the subject.
    pub policies: Vec<Finding>,
    /// The audit trail at the moment of the scan.
    pub audit: ChainHead,
}

/// The audit trail a certificate points into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Events in the trail, all verified.
    pub events: u64,
    /// Hash of the newest event: the chain head.
    pub head: String,
}

/// What one policy found of the subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// Policy name.
    pub policy: String,
    /// `store.table` or `store:prefix`.
    pub target: String,
    /// `rows` or `objects`.
    pub unit: String,
    /// `delete` or `anonymize`.
    pub action: ActionKind,
    /// Whether the policy is enforced or only reported.
    pub mode: Mode,
    /// The agreement clause the policy implements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    /// The purpose of the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Retention after the clock, e.g. `30d`.
    pub keep: String,
    /// The one word for the finding.
    pub status: Status,
    /// Records of the subject this policy governs that still exist.
    pub remaining: u64,
    /// Of those: due now, changed by the next run.
    pub due_now: u64,
    /// Of those: due but kept by holds.
    pub held: u64,
    /// Per hold: its name, legal basis, records kept and until when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<HeldFor>,
    /// Of those: due but kept because rows that stay still reference them.
    pub referenced: u64,
    /// Per referencing table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferencedBy>,
    /// Of those: not yet due (the contract runs, or has not ended long enough ago), or
    /// without a readable clock.
    pub waiting: u64,
    /// The subject's contract clock, when the policy has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractEnd>,
    /// The runs since the records became due that changed records of this policy, oldest
    /// first (at most [`runs::LISTED`]).
    pub runs: Vec<RunRef>,
    /// How many such runs there are in all.
    pub runs_total: u64,
}

/// The word for what a policy found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing of the subject remains.
    Deleted,
    /// What remains was anonymized and nothing is due.
    Anonymized,
    /// What remains was pseudonymized (still personal data) and nothing is due.
    Pseudonymized,
    /// What remains is kept by holds only.
    Held,
    /// Records are due: the next run changes them.
    DueNow,
    /// Records are kept because rows that stay reference them.
    Referenced,
    /// Records are not due yet.
    NotYetDue,
}

impl Status {
    /// Whether this finding lets a certificate be complete.
    pub fn settled(self) -> bool {
        matches!(self, Status::Deleted | Status::Anonymized | Status::Held)
    }

    /// In words.
    pub fn words(self) -> &'static str {
        match self {
            Status::Deleted => "deleted",
            Status::Anonymized => "anonymized",
            Status::Pseudonymized => "pseudonymized: still personal data",
            Status::Held => "kept by a legal hold",
            Status::DueNow => "due: the next run deletes it",
            Status::Referenced => "kept: still referenced",
            Status::NotYetDue => "not yet due",
        }
    }
}

/// What one hold keeps of the subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldFor {
    /// The hold's name.
    pub hold: String,
    /// Its legal basis.
    pub basis: String,
    /// Records it keeps.
    pub held: u64,
    /// Until when: a date, or words (`released`, `2032-12-15 (7y after issued_on)`).
    pub until: String,
}

/// The subject's related rows of a contract clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractEnd {
    /// The related table and its end column, e.g. `contracts.terminated_at`.
    pub column: String,
    /// Related rows of the subject.
    pub contracts: u64,
    /// Of those, ended.
    pub ended: u64,
    /// The latest end, when every related row has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// When the subject's records become due: the latest end plus the policy's keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}

/// A certificate with its signature: the file lethe writes and `certificate verify` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCertificate {
    /// The certificate.
    pub certificate: serde_json::Value,
    /// The signature over its canonical JSON.
    pub signature: Signature,
}

/// Why a certificate could not be made, read or verified.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// No policy reaches a subject with this key.
    #[error("no policy reaches subject `{key}`: a subject is the join key of a contract-end policy (the related table's column) or a key template variable; {offered}")]
    NoPolicy {
        /// The subject key asked for.
        key: String,
        /// What the policies offer, in words.
        offered: String,
    },
    /// Finding the policies failed.
    #[error(transparent)]
    Reach(#[from] ReachError),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state database failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The audit trail is broken: no certificate can point into it.
    #[error("the audit trail is broken at event {0} ({1}); a certificate needs an intact trail")]
    Broken(i64, String),
    /// The file could not be read.
    #[error("cannot read certificate `{path}`: {why}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The file is not a certificate.
    #[error("{path}:{line}:{column}: not a lethe certificate: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// Why.
        message: String,
    },
    /// Encoding failed.
    #[error("cannot encode the certificate: {0}")]
    Encode(String),
    /// A signature problem.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Scans every policy of `work` that reaches `subject` at `now`; the runs and the chain head
/// come from `trail`.
pub async fn scan(
    work: &Work<'_>,
    trail: &Trail,
    subject: &Subject,
    config_hash: &str,
    now: DateTime<Utc>,
) -> Result<Certificate, CertificateError> {
    let reached = reach(work.items, work.stores, subject).await?;
    if reached.is_empty() {
        let keys = subject_keys(work.items);
        return Err(CertificateError::NoPolicy {
            key: subject.key.clone(),
            offered: if keys.is_empty() {
                "no policy has a contract clock or a key template".into()
            } else {
                format!("expected one of: {}", keys.join(", "))
            },
        });
    }
    let items: Vec<Item> = reached.iter().map(|r| r.item.clone()).collect();
    let narrowed = Work {
        stores: work.stores,
        object_stores: work.object_stores,
        items: &items,
        run_max_rows: work.run_max_rows,
    };
    let plan = crate::plan::make_plan(&narrowed, now, config_hash).await?;
    let mut policies = Vec::with_capacity(items.len());
    for (r, p) in reached.iter().zip(&plan.policies) {
        policies.push(finding::finding(work, &r.item, r.column.as_ref(), p, subject, now).await?);
    }
    trail.attach(&mut policies);
    Ok(Certificate {
        version: CERTIFICATE_VERSION,
        certificate_id: uuid::Uuid::new_v4().to_string(),
        issued_at: now,
        subject: subject.clone(),
        complete: policies.iter().all(|p| p.status.settled()),
        config_hash: config_hash.to_string(),
        policies,
        audit: trail.head.clone(),
    })
}

/// Signs a certificate.
pub fn sign(cert: &Certificate, signer: &Signer) -> Result<SignedCertificate, CertificateError> {
    let value = serde_json::to_value(cert).map_err(|e| CertificateError::Encode(e.to_string()))?;
    Ok(SignedCertificate {
        signature: signer.sign(&value),
        certificate: value,
    })
}

impl SignedCertificate {
    /// The file's bytes: pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, CertificateError> {
        serde_json::to_string_pretty(self)
            .map(|s| s + "\n")
            .map_err(|e| CertificateError::Encode(e.to_string()))
    }

    /// Reads a certificate file, with its text (to compare with what lethe writes, and to hash).
    pub fn read(path: &Path) -> Result<(SignedCertificate, String), CertificateError> {
        let shown = path.display().to_string();
        let bytes = crate::util::read_regular(path, MAX_CERTIFICATE_BYTES).map_err(|e| {
            CertificateError::Read {
                path: shown.clone(),
                why: e.to_string(),
            }
        })?;
        let text =
            crate::util::utf8_text(bytes).map_err(|(line, column)| CertificateError::Parse {
                path: shown.clone(),
                line: line as usize,
                column: column as usize,
                message: "this byte is not UTF-8 text".into(),
            })?;
        let signed = serde_json::from_str(&text).map_err(|e| CertificateError::Parse {
            path: shown,
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Ok((signed, text))
    }

    /// Whether `text` is exactly what lethe writes for this certificate: a file with a key
    /// twice, a field added, or any other edit that parsing would smooth over is not.
    pub fn is_as_written(&self, text: &str) -> bool {
        self.to_json().is_ok_and(|t| t == text)
    }

    /// Checks the signature against `trusted` and returns the certificate it covers.
    pub fn verify(
        &self,
        trusted: &ed25519_dalek::VerifyingKey,
    ) -> Result<Certificate, CertificateError> {
        crate::util::sign::verify(&self.certificate, &self.signature, trusted)?;
        serde_json::from_value(self.certificate.clone()).map_err(|e| CertificateError::Parse {
            path: "certificate".into(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })
    }
}
