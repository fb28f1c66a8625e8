//! Enforce: one run over prepared work. Plans afresh at the evaluation instant, checks the
//! pinned plan and the guards, then applies every policy in bounded batches and records the
//! run in the audit trail.

use super::events::{
    PlanStarted, PlannedPolicy, PolicyPlanned, RunFinished, RunRefused, RunStarted, StartedPolicy,
};
use super::{EngineError, Prepared};
use crate::apply::{self, ApplyReport, Ctx, Refusal, RunStatus};
use crate::audit::RunLog;
use crate::model::Shard;
use crate::plan::{self, Item, Plan};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};

/// Asks whether a run that would change what the plan shows may go on.
pub type Confirm<'a> = dyn Fn(&Plan) -> std::io::Result<bool> + Sync + 'a;

/// What one enforcing run is asked to do (from `lethe apply` or a scheduled run of the daemon).
pub struct Enforce<'a> {
    /// `apply` or `daemon`, recorded in the audit trail.
    pub command: &'static str,
    /// The reviewed plan the run is pinned to.
    pub pinned: Option<&'a Plan>,
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
    /// The run lease the caller holds; confirmed before every batch.
    pub lease: Option<&'a crate::audit::Lease>,
    /// Where every store is, checked (and alerted) by the caller before the run.
    pub residency: crate::residency::Report,
}

/// Plans afresh, checks pinning and guards, then applies every prepared policy in batches.
/// The caller holds the run lease. The report's status is `ok`, `refused`, `cancelled`,
/// `interrupted`, `failed` or `throttled`.
pub async fn enforce(prepared: &Prepared, e: Enforce<'_>) -> Result<ApplyReport, EngineError> {
    let db = &prepared.db;
    let config_hash = prepared.config.hash.clone();
    let work = prepared.work();
    let fresh = plan::make_plan(&work, prepared.as_of, &config_hash).await?;

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
    refusals.extend(apply::check_guards(&fresh));

    let plan_id = e
        .pinned
        .map_or(fresh.plan_id.clone(), |p| p.plan_id.clone());
    let residency = e.residency;
    let started = RunStarted {
        command: e.command.to_string(),
        dry_run: false,
        as_of: fresh.as_of_text(),
        config_hash: config_hash.clone(),
        plan_id: plan_id.clone(),
        pinned: e.pinned.is_some(),
        shard: e.shard.map(|s| s.to_string()),
        residency: crate::residency::summary(&residency),
        policies: (fresh.policies.iter())
            .map(|p| StartedPolicy {
                name: p.name.clone(),
                policy_hash: p.policy_hash.clone(),
                eligible: p.eligible,
                held: p.held,
                holds: p.holds.iter().map(|h| h.hold.clone()).collect(),
                referenced: p.referenced,
            })
            .collect(),
    };
    let log = RunLog::start(db, &started).await?;
    let mut report = ApplyReport {
        run_id: log.run_id.clone(),
        plan_id,
        pinned: e.pinned.is_some(),
        shard: e.shard.map(|s| s.to_string()),
        as_of: fresh.as_of_text(),
        config_hash: config_hash.clone(),
        status: RunStatus::Ok,
        refusals: Vec::new(),
        policies: Vec::new(),
        residency: Some(residency),
        dry_run: Vec::new(),
    };

    if !refusals.is_empty() {
        log.record(&RunRefused {
            status: RunStatus::Refused,
            refusals: refusals.clone(),
        })
        .await?;
        report.status = RunStatus::Refused;
        report.refusals = refusals;
        return Ok(report);
    }

    let go_on = match e.confirm {
        Some(ask) if fresh.total_eligible() > 0 => ask(&fresh).map_err(EngineError::Confirm)?,
        _ => true,
    };
    if !go_on {
        log.record(&RunFinished::ended(RunStatus::Cancelled))
            .await?;
        report.status = RunStatus::Cancelled;
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
        lease: e.lease,
    };
    let planned = |name: &str| fresh.policies.iter().find(|p| p.name == name);
    for item in &prepared.items {
        // Between policies as between batches: a stop ends the run before the next one.
        if e.stop.load(Ordering::SeqCst) {
            break;
        }
        let Some(planned) = planned(item.name()) else {
            continue;
        };
        let limit = bounds.get(&planned.name).copied().unwrap_or(0);
        let outcome = match item {
            Item::Table(target) => {
                let Some(store) = prepared.stores.get(&target.policy.store) else {
                    continue;
                };
                apply::apply_policy(store, target, planned, limit, &ctx).await
            }
            Item::Objects(target) => {
                let Some(store) = prepared.object_stores.get(&target.policy.store) else {
                    continue;
                };
                apply::apply_objects(store, &prepared.stores, target, planned, limit, &ctx).await
            }
        };
        report.policies.push(outcome);
    }
    progress.finish_and_clear();
    let failed = report.policies.iter().any(apply::PolicyOutcome::failed);
    report.status = if e.stop.load(Ordering::SeqCst) {
        RunStatus::Interrupted
    } else if failed {
        RunStatus::Failed
    } else if report.policies.iter().any(apply::PolicyOutcome::throttled) {
        RunStatus::Throttled
    } else {
        RunStatus::Ok
    };
    let total = |f: fn(&apply::PolicyOutcome) -> u64| report.policies.iter().map(f).sum::<u64>();
    log.record(&RunFinished {
        deleted: Some(total(|p| p.deleted)),
        anonymized: Some(total(|p| p.anonymized)),
        failed: Some(total(|p| p.failed)),
        // One recount that could not be made makes the total unknown, never a smaller number.
        remaining: Some(
            report
                .policies
                .iter()
                .map(|p| p.remaining)
                .sum::<Option<u64>>(),
        ),
        ..RunFinished::ended(report.status)
    })
    .await?;
    Ok(report)
}

/// Records a plan in the audit trail as a dry run.
pub async fn record_plan(
    db: &crate::audit::StateDb,
    plan: &Plan,
    command: &str,
) -> Result<(), EngineError> {
    let started = PlanStarted {
        command: command.to_string(),
        dry_run: true,
        as_of: plan.as_of_text(),
        config_hash: plan.config_hash.clone(),
        plan_id: plan.plan_id.clone(),
        residency: plan.residency.as_ref().map(crate::residency::summary),
        policies: (plan.policies.iter())
            .map(|p| PlannedPolicy {
                name: p.name.clone(),
                policy_hash: p.policy_hash.clone(),
                holds: p.holds.iter().map(|h| h.hold.clone()).collect(),
            })
            .collect(),
    };
    let log = RunLog::start(db, &started).await?;
    for p in &plan.policies {
        log.record(&PolicyPlanned {
            name: p.name.clone(),
            target: p.target.clone(),
            action: p.action,
            eligible: p.eligible,
            held: p.held,
            holds: p.holds.clone(),
            undated: p.undated,
            referenced: p.referenced,
            references: p.references.clone(),
            cutoff: p.cutoff,
            policy_hash: p.policy_hash.clone(),
            guard: p.guard.clone(),
        })
        .await?;
    }
    log.record(&RunFinished {
        dry_run: Some(true),
        eligible: Some(plan.total_eligible()),
        guard: plan.guard.clone(),
        ..RunFinished::ended(RunStatus::Ok)
    })
    .await?;
    Ok(())
}
