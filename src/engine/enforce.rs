//! Enforce: one run over prepared work. Plans afresh at the evaluation instant, checks the
//! pinned plan and the guards, then applies every policy in bounded batches and records the
//! run in the audit trail.

use super::{EngineError, Prepared};
use crate::apply::{self, ApplyReport, Ctx, Refusal};
use crate::audit::RunLog;
use crate::model::Shard;
use crate::plan::{self, Plan};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

/// Asks whether a run that would change what the plan shows may go on.
pub type Confirm<'a> = dyn Fn(&Plan) -> std::io::Result<bool> + Sync + 'a;

/// What one enforcing run is asked to do (from `lethe apply` or a scheduled run of the daemon).
pub struct Enforce<'a> {
    /// `apply` or `daemon`, recorded in the audit trail.
    pub command: &'static str,
    /// The reviewed plan the run is pinned to.
    pub pinned: Option<&'a Plan>,
    /// The instant eligibility is evaluated at.
    pub as_of: DateTime<Utc>,
    /// The share of the work this worker takes.
    pub shard: Option<Shard>,
    /// Asked, with the fresh plan, whether to go on (a person at a terminal); `None` goes on.
    pub confirm: Option<&'a Confirm<'a>>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Raised on SIGINT/SIGTERM or a lost lease: finish the current batch, then stop.
    pub stop: &'a AtomicBool,
    /// Told the policy name and duration of every committed batch (metrics).
    pub on_batch: Option<&'a apply::OnBatch<'a>>,
    /// Where every store is, checked (and alerted) by the caller before the run.
    pub residency: crate::residency::Report,
}

/// Plans afresh, checks pinning and guards, then applies every prepared policy in batches.
/// The caller holds the run lease. The report's status is `ok`, `refused`, `cancelled`,
/// `interrupted` or `failed`.
pub async fn enforce(prepared: &Prepared, e: Enforce<'_>) -> Result<ApplyReport, EngineError> {
    let db = &prepared.db;
    let config_hash = prepared.config.hash.clone();
    let work = prepared.work();
    let fresh = plan::make_plan(&work, e.as_of, &config_hash).await?;

    let mut refusals: Vec<Refusal> = Vec::new();
    if let Some(p) = e.pinned {
        let recorded = db.recorded_plan(&p.plan_id).await?;
        refusals.extend(apply::check_recorded(p, recorded.as_ref()));
    }
    let bounds = match e.pinned {
        Some(p) => match apply::check_pinned(
            p,
            &fresh,
            &config_hash,
            prepared.config.settings.drift_tolerance,
        ) {
            Ok(b) => b,
            Err(r) => {
                refusals.extend(r);
                Default::default()
            }
        },
        None => fresh
            .policies
            .iter()
            .map(|p| (p.name.clone(), p.eligible))
            .collect(),
    };
    refusals.extend(apply::check_guards(
        &fresh,
        &work.guards(),
        prepared.config.settings.run_max_rows,
    ));

    let plan_id = e
        .pinned
        .map_or(fresh.plan_id.clone(), |p| p.plan_id.clone());
    let residency = e.residency;
    let log = RunLog::start(
        db,
        json!({
            "command": e.command, "dry_run": false, "as_of": fresh.as_of_text(), "config_hash": config_hash,
            "plan_id": plan_id, "pinned": e.pinned.is_some(), "shard": e.shard.map(|s| s.to_string()),
            "residency": crate::residency::summary(&residency),
            "policies": fresh.policies.iter().map(|p| json!({"name": p.name, "policy_hash": p.policy_hash, "eligible": p.eligible,
                "held": p.held, "holds": p.holds.iter().map(|h| &h.hold).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        }),
    )
    .await?;
    let mut report = ApplyReport {
        run_id: log.run_id.clone(),
        plan_id,
        pinned: e.pinned.is_some(),
        shard: e.shard.map(|s| s.to_string()),
        as_of: fresh.as_of_text(),
        config_hash: config_hash.clone(),
        status: "ok".into(),
        refusals: Vec::new(),
        policies: Vec::new(),
        residency: Some(residency),
        dry_run: Vec::new(),
    };

    if !refusals.is_empty() {
        log.record(
            "run.refused",
            json!({ "status": "refused", "refusals": refusals }),
        )
        .await?;
        report.status = "refused".into();
        report.refusals = refusals;
        return Ok(report);
    }

    let go_on = match e.confirm {
        Some(ask) if fresh.total_eligible() > 0 => ask(&fresh).map_err(EngineError::Confirm)?,
        _ => true,
    };
    if !go_on {
        log.record("run.finished", json!({ "status": "cancelled" }))
            .await?;
        report.status = "cancelled".into();
        return Ok(report);
    }

    let progress = if e.progress {
        let bar = ProgressBar::with_draw_target(
            Some(fresh.total_eligible()),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records, eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let key = prepared
        .config
        .settings
        .hmac_key
        .as_ref()
        .map(|k| k.expose().as_bytes().to_vec());
    let ctx = Ctx {
        log: &log,
        progress: &progress,
        stop: e.stop,
        hmac_key: key.as_deref(),
        as_of: fresh.as_of,
        db,
        declared: &prepared.config.holds,
        on_batch: e.on_batch,
    };
    let planned = |name: &str| fresh.policies.iter().find(|p| p.name == name);
    for target in &prepared.targets {
        let (Some(store), Some(planned)) = (
            prepared.stores.get(&target.policy.store),
            planned(&target.policy.name),
        ) else {
            continue;
        };
        let limit = bounds.get(&planned.name).copied().unwrap_or(0);
        let outcome = apply::apply_policy(store, target, planned, limit, &ctx).await;
        report.policies.push(outcome);
        if e.stop.load(Ordering::SeqCst) {
            break;
        }
    }
    for target in &prepared.objects {
        if e.stop.load(Ordering::SeqCst) {
            break;
        }
        let (Some(store), Some(planned)) = (
            prepared.object_stores.get(&target.policy.store),
            planned(&target.policy.name),
        ) else {
            continue;
        };
        let limit = bounds.get(&planned.name).copied().unwrap_or(0);
        let outcome =
            apply::apply_objects(store, &prepared.stores, target, planned, limit, &ctx).await;
        report.policies.push(outcome);
    }
    progress.finish_and_clear();
    let failed = report.policies.iter().any(apply::PolicyOutcome::failed);
    report.status = if e.stop.load(Ordering::SeqCst) {
        "interrupted".into()
    } else if failed {
        "failed".into()
    } else {
        "ok".into()
    };
    let total = |f: fn(&apply::PolicyOutcome) -> u64| report.policies.iter().map(f).sum::<u64>();
    log.record(
        "run.finished",
        json!({
            "status": report.status,
            "deleted": total(|p| p.deleted), "anonymized": total(|p| p.anonymized),
            "failed": total(|p| p.failed), "remaining": total(|p| p.remaining),
        }),
    )
    .await?;
    Ok(report)
}

/// Records a plan in the audit trail as a dry run.
pub async fn record_plan(
    db: &crate::audit::StateDb,
    plan: &Plan,
    command: &str,
) -> Result<(), EngineError> {
    let log = RunLog::start(
        db,
        json!({
            "command": command, "dry_run": true, "as_of": plan.as_of_text(),
            "config_hash": plan.config_hash, "plan_id": plan.plan_id,
            "residency": plan.residency.as_ref().map(crate::residency::summary),
            "policies": plan.policies.iter().map(|p| json!({"name": p.name, "policy_hash": p.policy_hash,
                "holds": p.holds.iter().map(|h| &h.hold).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        }),
    )
    .await?;
    for p in &plan.policies {
        log.record(
            "policy.planned",
            json!({"name": p.name, "target": p.target, "action": p.action, "eligible": p.eligible,
                   "held": p.held, "holds": p.holds, "undated": p.undated, "cutoff": p.cutoff, "policy_hash": p.policy_hash}),
        )
        .await?;
    }
    log.record(
        "run.finished",
        json!({"status": "ok", "dry_run": true, "eligible": plan.total_eligible()}),
    )
    .await?;
    Ok(())
}
