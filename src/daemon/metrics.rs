//! The daemon's Prometheus metrics. Labels carry policy names and outcomes, never a value.

use crate::apply::PolicyOutcome;
use crate::plan::PolicyPlan;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabel {
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    policy: String,
    mode: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThrottleLabels {
    policy: String,
    /// `replica_lag` or `rate`.
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    policy: String,
    outcome: String,
}

fn batch_histogram() -> Histogram {
    // 5 ms to about 80 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Every metric the daemon exposes on `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    last_success: Family<PolicyLabel, Gauge>,
    records: Family<RecordLabels, Counter>,
    held: Family<PolicyLabel, Gauge>,
    referenced: Family<PolicyLabel, Gauge>,
    eligible: Family<PolicyLabel, Gauge>,
    remaining: Family<PolicyLabel, Gauge>,
    failures: Family<PolicyLabel, Counter>,
    batch_seconds: Family<PolicyLabel, Histogram, fn() -> Histogram>,
    throttled_seconds: Family<ThrottleLabels, Counter<f64, AtomicU64>>,
    lease_busy: Counter,
    errors: Counter,
    residency: Gauge,
    certificates: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric, all at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            // Replaced below by the registry every family is registered in.
            registry: Registry::default(),
            runs: Family::default(),
            last_success: Family::default(),
            records: Family::default(),
            held: Family::default(),
            referenced: Family::default(),
            eligible: Family::default(),
            remaining: Family::default(),
            failures: Family::default(),
            batch_seconds: Family::new_with_constructor(batch_histogram as fn() -> Histogram),
            throttled_seconds: Family::default(),
            lease_busy: Counter::default(),
            errors: Counter::default(),
            residency: Gauge::default(),
            certificates: Counter::default(),
        };
        registry.register(
            "lethe_runs",
            "Scheduled policy runs, by policy, mode (enforce, dry-run) and status (ok, failed, refused, interrupted, throttled)",
            m.runs.clone(),
        );
        registry.register(
            "lethe_last_success_timestamp_seconds",
            "Unix time of the last run of the policy that ended ok",
            m.last_success.clone(),
        );
        registry.register(
            "lethe_records",
            "Records handled, by policy and outcome (deleted, anonymized, failed)",
            m.records.clone(),
        );
        registry.register(
            "lethe_records_held",
            "Records kept by legal holds at the policy's last run",
            m.held.clone(),
        );
        registry.register(
            "lethe_records_referenced",
            "Due records kept at the policy's last run because rows still reference them",
            m.referenced.clone(),
        );
        registry.register(
            "lethe_records_eligible",
            "Records due at the start of the policy's last run (in dry-run mode: what it would do)",
            m.eligible.clone(),
        );
        registry.register(
            "lethe_records_remaining",
            "Records still due after the policy's last enforcing run (0 when all went well; absent when its recount failed)",
            m.remaining.clone(),
        );
        registry.register(
            "lethe_failures",
            "Scheduled policy runs that failed or were refused",
            m.failures.clone(),
        );
        registry.register(
            "lethe_batch_duration_seconds",
            "Duration of each committed batch",
            m.batch_seconds.clone(),
        );
        registry.register(
            "lethe_throttled_seconds",
            "Seconds policies waited between batches, by policy and cause (replica_lag: a replica lagged more than max_replica_lag; rate: max_rows_per_second)",
            m.throttled_seconds.clone(),
        );
        registry.register(
            "lethe_lease_busy",
            "Times a scheduled run found another instance holding the lease (counted at every retry, every 5 s while it waits)",
            m.lease_busy.clone(),
        );
        registry.register(
            "lethe_run_errors",
            "Scheduled runs that could not start (configuration, store or state database unreachable)",
            m.errors.clone(),
        );
        registry.register(
            "lethe_residency_violations",
            "Stores outside the EEA and the allowed adequate countries at the last residency check",
            m.residency.clone(),
        );
        registry.register(
            "lethe_certificates_issued",
            "Deletion certificates the daemon issued by itself (`certificates:` in lethe.yaml)",
            m.certificates.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records an enforcing run of one policy, with that policy's own status.
    pub fn applied(&self, p: &PolicyOutcome, at: i64) {
        let policy = PolicyLabel {
            policy: p.name.clone(),
        };
        let status = if p.failed() {
            "failed"
        } else if p.interrupted {
            "interrupted"
        } else if p.throttled() {
            "throttled"
        } else {
            "ok"
        };
        self.run(&p.name, "enforce", status);
        for (outcome, n) in [
            ("deleted", p.deleted),
            ("anonymized", p.anonymized),
            ("failed", p.failed),
        ] {
            self.records
                .get_or_create(&RecordLabels {
                    policy: p.name.clone(),
                    outcome: outcome.into(),
                })
                .inc_by(n);
        }
        if let Some(t) = &p.throttle {
            for (cause, ms) in [("replica_lag", t.waited_ms), ("rate", t.rate_wait_ms)] {
                self.throttled_seconds
                    .get_or_create(&ThrottleLabels {
                        policy: p.name.clone(),
                        cause: cause.into(),
                    })
                    .inc_by(ms as f64 / 1000.0);
            }
        }
        self.held.get_or_create(&policy).set(p.held as i64);
        self.referenced
            .get_or_create(&policy)
            .set(p.referenced as i64);
        self.eligible.get_or_create(&policy).set(p.eligible as i64);
        // A recount that could not be made is no number: the series goes away rather than
        // show 0 (or the last run's figure); the run counts under `lethe_failures`.
        match p.remaining {
            Some(n) => {
                self.remaining.get_or_create(&policy).set(n as i64);
            }
            None => {
                self.remaining.remove(&policy);
            }
        }
        match status {
            "ok" => {
                self.last_success.get_or_create(&policy).set(at);
            }
            "failed" => {
                self.failures.get_or_create(&policy).inc();
            }
            // Interrupted (shutdown or lost lease) or throttled (replicas lagged): it runs
            // again, nothing failed.
            _ => {}
        }
    }

    /// Records a dry run of one policy.
    pub fn planned(&self, p: &PolicyPlan, at: i64) {
        let policy = PolicyLabel {
            policy: p.name.clone(),
        };
        self.run(&p.name, "dry-run", "ok");
        self.held.get_or_create(&policy).set(p.held as i64);
        self.referenced
            .get_or_create(&policy)
            .set(p.referenced as i64);
        self.eligible.get_or_create(&policy).set(p.eligible as i64);
        self.last_success.get_or_create(&policy).set(at);
    }

    /// Records a policy run that ended without a per-policy outcome (refused, or failed
    /// before it started).
    pub fn not_run(&self, policy: &str, mode: &str, status: &str) {
        self.run(policy, mode, status);
        self.failures
            .get_or_create(&PolicyLabel {
                policy: policy.to_string(),
            })
            .inc();
    }

    fn run(&self, policy: &str, mode: &str, status: &str) {
        self.runs
            .get_or_create(&RunLabels {
                policy: policy.to_string(),
                mode: mode.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    /// Records the duration of one committed batch.
    pub fn batch(&self, policy: &str, took: Duration) {
        self.batch_seconds
            .get_or_create(&PolicyLabel {
                policy: policy.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a scheduled run that waited for the lease.
    pub fn lease_busy(&self) {
        self.lease_busy.inc();
    }

    /// Counts a scheduled run that could not start.
    pub fn run_error(&self) {
        self.errors.inc();
    }

    /// Counts certificates the daemon issued.
    pub fn certificates_issued(&self, n: u64) {
        self.certificates.inc_by(n);
    }

    /// Records the number of stores in violation at the last residency check.
    pub fn residency(&self, violations: usize) {
        self.residency.set(violations as i64);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_remaining_is_no_number() {
        let m = Metrics::new();
        let mut p: PolicyOutcome = serde_json::from_value(serde_json::json!({
            "name": "old-leads", "store": "crm", "target": "crm.leads", "action": "delete",
            "eligible": 7, "held": 0, "holds": [], "undated": 0,
            "cutoff": "2026-05-16T12:00:00Z", "deleted": 3, "anonymized": 0, "failed": 0,
            "remaining": 4, "batches": 1
        }))
        .unwrap();
        m.applied(&p, 1);
        assert!(m
            .encode()
            .contains("lethe_records_remaining{policy=\"old-leads\"} 4"));
        p.remaining = None;
        m.applied(&p, 2);
        let text = m.encode();
        assert!(
            !text.contains("lethe_records_remaining{policy=\"old-leads\"}"),
            "{text}"
        );
        assert!(
            text.contains("lethe_failures_total{policy=\"old-leads\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn throttled_time_counts_per_policy_and_cause() {
        let m = Metrics::new();
        let p: PolicyOutcome = serde_json::from_value(serde_json::json!({
            "name": "old-leads", "store": "crm", "target": "crm.leads", "action": "delete",
            "eligible": 7, "held": 0, "holds": [], "undated": 0,
            "cutoff": "2026-05-16T12:00:00Z", "deleted": 3, "anonymized": 0, "failed": 0,
            "remaining": 4, "batches": 1,
            "throttle": { "status": "throttled", "waited_ms": 2500, "rate_wait_ms": 500 }
        }))
        .unwrap();
        assert!(p.throttled());
        m.applied(&p, 1);
        let text = m.encode();
        assert!(
            text.contains(
                "lethe_throttled_seconds_total{policy=\"old-leads\",cause=\"replica_lag\"} 2.5"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "lethe_runs_total{policy=\"old-leads\",mode=\"enforce\",status=\"throttled\"} 1"
            ),
            "{text}"
        );
        assert!(
            !text.contains("lethe_failures_total{policy=\"old-leads\"}"),
            "{text}"
        );
    }
}
