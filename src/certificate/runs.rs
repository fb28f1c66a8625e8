//! The runs a certificate names: from the audit trail, the runs that changed records of a
//! policy since the subject's records became due.

use super::{CertificateError, Finding};
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

/// Fills in the runs of every finding, in one pass over the trail. A finding with a contract
/// gets the runs at or after its due date; one without a known due date gets none when it
/// has a contract clock, else the runs of all time.
pub(super) async fn attach(db: &StateDb, findings: &mut [Finding]) -> Result<(), CertificateError> {
    let mut as_of: HashMap<String, DateTime<Utc>> = HashMap::new();
    // Per finding: the first runs, and how many in all (memory stays bounded by LISTED).
    let mut found: Vec<(Vec<RunRef>, u64)> = vec![(Vec::new(), 0); findings.len()];
    db.scan(|e| -> Result<(), CertificateError> {
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
                let (Some(name), Some(t)) = (j["name"].as_str(), as_of.get(&e.run_id)) else {
                    return Ok(());
                };
                if changed == 0 {
                    return Ok(());
                }
                for (f, (runs, total)) in findings.iter().zip(found.iter_mut()) {
                    let since = match &f.contract {
                        Some(c) => match c.due_at {
                            Some(d) => Some(d),
                            None => continue,
                        },
                        None => None,
                    };
                    if f.policy != name || since.is_some_and(|d| *t < d) {
                        continue;
                    }
                    *total += 1;
                    if runs.len() < LISTED {
                        runs.push(RunRef {
                            run_id: e.run_id.clone(),
                            as_of: *t,
                            event_hash: e.hash.clone(),
                            changed,
                        });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })
    .await?;
    for (f, (runs, total)) in findings.iter_mut().zip(found) {
        f.runs_total = total;
        f.runs = runs;
    }
    Ok(())
}
