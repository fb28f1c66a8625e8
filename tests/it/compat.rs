//! Plan files, JSON reports and audit events keep their bytes across versions: files written by
//! the previous release (tests/fixtures/compat, from the demo) read back and write out the same.

use lethe::apply::{ApplyReport, BatchDone, PolicyOutcome};
use lethe::audit::{AuditEvent, HoldAdded, HoldReleased};
use lethe::engine::events::{PlanStarted, PolicyPlanned, RunFinished, RunRefused, RunStarted};
use lethe::plan::Plan;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compat")
        .join(name)
}

#[test]
fn a_plan_file_reads_back_and_writes_the_same_bytes() {
    let path = fixture("plan.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let plan = Plan::read(&path).unwrap();
    assert_eq!(serde_json::to_string_pretty(&plan).unwrap() + "\n", text);
    // Every kind of value the enums carry is in the file.
    for needle in [
        "\"action\": \"delete\"",
        "\"action\": \"anonymize\"",
        "\"source\": \"declared\"",
        "\"effect\": \"pseudonymizing\"",
        "\"effect\": \"anonymizing\"",
        "\"verdict\": \"ok\"",
        "\"kind\": \"sql\"",
    ] {
        assert!(text.contains(needle), "the fixture lacks {needle}");
    }
}

#[test]
fn an_apply_report_reads_back_and_writes_the_same_bytes() {
    let text = std::fs::read_to_string(fixture("apply.json")).unwrap();
    let report: ApplyReport = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string_pretty(&report).unwrap() + "\n", text);
    assert!(text.contains("\"status\": \"ok\""));
}

/// The payload as the typed event writes it, from the payload as stored.
fn rewritten<E: AuditEvent + DeserializeOwned>(payload: &Value) -> Value {
    let event: E = serde_json::from_value(payload.clone()).unwrap();
    event.payload().unwrap()
}

#[test]
fn every_audit_event_kind_writes_the_same_payload() {
    let text = std::fs::read_to_string(fixture("audit.jsonl")).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let kind = event["kind"].as_str().unwrap().to_string();
        let payload = &event["payload"];
        let again = match kind.as_str() {
            "run.started" if payload["dry_run"] == true => rewritten::<PlanStarted>(payload),
            "run.started" => rewritten::<RunStarted>(payload),
            "run.refused" => rewritten::<RunRefused>(payload),
            "run.finished" => rewritten::<RunFinished>(payload),
            "policy.planned" => rewritten::<PolicyPlanned>(payload),
            "policy.applied" => rewritten::<PolicyOutcome>(payload),
            "batch.done" => rewritten::<BatchDone>(payload),
            "hold.added" => rewritten::<HoldAdded>(payload),
            "hold.released" => rewritten::<HoldReleased>(payload),
            other => panic!("unknown event kind `{other}`"),
        };
        // The trail stores `payload.to_string()`: compare those bytes.
        assert_eq!(again.to_string(), payload.to_string(), "{kind}");
        kinds.insert(kind);
    }
    for kind in [
        "run.started",
        "run.finished",
        "policy.planned",
        "policy.applied",
        "batch.done",
        "hold.added",
        "hold.released",
    ] {
        assert!(kinds.contains(kind), "the fixture has no `{kind}` event");
    }
}
