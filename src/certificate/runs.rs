//! The runs a certificate names: from the audit trail, the runs that changed records of a
//! policy since the subject's records became due.

use super::{CertificateError, ChainHead, Finding};
use crate::audit::StateDb;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::HashMap;

/// Runs listed per policy; the rest are counted in `runs_total`.
pub const LISTED: usize = 10;

/// One run named by a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// The run's id in the audit trail.
    pub run_id: String,
    /// The instant the run evaluated its policies at.
    pub as_of: DateTime<Utc>,
    /// Hash of the run's `policy.applied` event for this policy.
    pub event_hash: String,
    /// Records (all subjects) the run deleted or anonymized under this policy.
    pub changed: u64,
}

/// What a certificate reads of the audit trail, read once for any number of certificates:
/// the verified chain head, and every `policy.applied` that changed records.
pub struct Trail {
    /// The head, after verifying every link.
    pub head: ChainHead,
    applied: Vec<Applied>,
}

struct Applied {
    policy: String,
    run: RunRef,
}

impl Trail {
    /// Verifies the chain and reads the runs that changed records, in one pass each.
    pub async fn read(db: &StateDb) -> Result<Trail, CertificateError> {
        let v = db.verify().await?;
        if let Some((seq, why)) = v.broken {
            return Err(CertificateError::Broken(seq, why));
        }
        let mut as_of: HashMap<String, DateTime<Utc>> = HashMap::new();
        let mut applied = Vec::new();
        db.scan(|e| -> Result<(), CertificateError> {
            if e.seq > v.events as i64 {
                return Ok(());
            }
            match e.kind.as_str() {
                "run.started" => {
                    let j: Json = serde_json::from_str(&e.payload).unwrap_or(Json::Null);
                    let t = (j["as_of"].as_str())
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| t.with_timezone(&Utc));
                    if let Some(t) = t {
                        as_of.insert(e.run_id.clone(), t);
                    }
                }
                "policy.applied" => {
                    let j: Json = serde_json::from_str(&e.payload).unwrap_or(Json::Null);
                    let changed =
                        j["deleted"].as_u64().unwrap_or(0) + j["anonymized"].as_u64().unwrap_or(0);
                    if let (Some(name), Some(t), true) =
                        (j["name"].as_str(), as_of.get(&e.run_id), changed > 0)
                    {
                        applied.push(Applied {
                            policy: name.to_string(),
                            run: RunRef {
                                run_id: e.run_id.clone(),
                                as_of: *t,
                                event_hash: e.hash.clone(),
                                changed,
                            },
                        });
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .await?;
        Ok(Trail {
            head: ChainHead {
                events: v.events,
                head: v.head,
            },
            applied,
        })
    }

    /// Fills in the runs of every finding. A finding with a contract gets the runs at or after
    /// its due date; one whose due date is not known, none; one without a contract clock, the
    /// runs of all time.
    pub(super) fn attach(&self, findings: &mut [Finding]) {
        for f in findings.iter_mut() {
            let since = match &f.contract {
                Some(c) => match c.due_at {
                    Some(d) => Some(d),
                    None => continue,
                },
                None => None,
            };
            let runs: Vec<&RunRef> = (self.applied.iter())
                .filter(|a| a.policy == f.policy && since.is_none_or(|d| a.run.as_of >= d))
                .map(|a| &a.run)
                .collect();
            f.runs_total = runs.len() as u64;
            f.runs = runs.into_iter().take(LISTED).cloned().collect();
        }
    }
}
