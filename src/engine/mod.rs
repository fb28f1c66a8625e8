//! The engine between the command line (or the daemon) and the flow
//! policies -> plan -> apply -> audit: [`prepare`] turns a validated configuration into checked
//! work, once per run; [`enforce`] runs that work under the caller's lease.

mod certify;
mod enforce;
pub mod events;
mod prepare;

pub use certify::{
    certificate_stem, certify_due, due_subjects, issue, CertificateIssued, Certified, Issued,
};
pub use enforce::{enforce, record_plan, Confirm, Enforce};
pub use prepare::{holds_on, prepare, Prepared};

use crate::audit::AuditError;
use crate::store::StoreError;

/// Why the engine could not prepare or run the work.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The configuration does not fit what it names: an unknown policy, a table or column the
    /// live schema lacks, a hold that cannot be evaluated, a missing state database. Nothing
    /// was changed.
    #[error("{0}")]
    Unfit(String),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state database failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The confirmation could not be asked.
    #[error("cannot ask for confirmation: {0}")]
    Confirm(std::io::Error),
}

impl EngineError {
    /// A configuration that does not fit what it names.
    pub(crate) fn unfit(message: impl Into<String>) -> EngineError {
        EngineError::Unfit(message.into())
    }
}
