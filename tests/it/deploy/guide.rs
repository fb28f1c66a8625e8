//! deploy/README.md, the deploy guide: its metrics table is what `/metrics` exposes, and it
//! explains every file of deploy/kubernetes.

use super::{deploy, read};
use std::collections::BTreeSet;

#[test]
fn the_deploy_guide_lists_exactly_the_metrics_the_daemon_exposes() {
    // Every family gets a sample (families without one are not shown), then the names as
    // Prometheus sees them: counters get `_total`.
    let metrics = lethe::daemon::Metrics::new();
    let outcome: lethe::apply::PolicyOutcome = serde_json::from_value(serde_json::json!({
        "name": "p", "store": "crm", "target": "crm.t", "action": "delete",
        "eligible": 1, "held": 0, "holds": [], "undated": 0, "cutoff": "2026-01-01T00:00:00Z",
        "deleted": 1, "anonymized": 0, "failed": 0, "remaining": 0, "batches": 1,
        "throttle": { "status": "waited", "waited_ms": 1200 }
    }))
    .expect("a PolicyOutcome");
    metrics.applied(&outcome, 1);
    metrics.not_run("q", "enforce", "refused");
    metrics.batch("p", std::time::Duration::from_millis(5));
    metrics.lease_busy();
    metrics.run_error();
    let text = metrics.encode();
    let exposed: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let mut w = l.split_whitespace();
            let (name, kind) = (w.next().unwrap(), w.next().unwrap_or_default());
            if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            }
        })
        .collect();
    assert!(!exposed.is_empty(), "no metrics in:\n{text}");
    // The guide's metrics table: rows that start with | `lethe_...
    let guide = read(&deploy().join("README.md"));
    let documented: BTreeSet<String> = guide
        .lines()
        .filter_map(|l| l.trim().strip_prefix("| `lethe_"))
        .map(|rest| format!("lethe_{}", rest.split(['`', '{']).next().unwrap()))
        .collect();
    assert_eq!(
        documented, exposed,
        "deploy/README.md's metrics table vs /metrics"
    );
    // Every file in deploy/kubernetes is explained in the guide.
    for e in std::fs::read_dir(deploy().join("kubernetes")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            guide.contains(&format!("`kubernetes/{name}`")),
            "deploy/README.md does not explain kubernetes/{name}"
        );
    }
}
