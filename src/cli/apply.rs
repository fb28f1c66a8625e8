//! `lethe apply`: enforce, in bounded batches, optionally pinned to a reviewed plan.

use super::{Cli, CliError, Code, Output, Prepared, Selection};
use crate::apply::{self, Ctx, Refusal};
use crate::audit::RunLog;
use crate::plan::{self, Plan};
use crate::policy::{Mode, Shard};
use crate::report::{self, ApplyReport, Format};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `lethe apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    selection: Selection,
    #[command(flatten)]
    output: Output,
    /// Do exactly what this reviewed plan file approved: its `as_of`, its policies, at most its counts.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Take only shard I of N (0-based), so N workers (e.g. a Kubernetes Indexed Job) share the
    /// work without overlap: integer keys split by key class, other policies whole to one shard.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
}

/// Runs `lethe apply`.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    if args.plan.is_some() && args.shard.is_some() {
        return Err(CliError::usage(
            "`--plan` cannot be combined with `--shard`: a reviewed plan's counts are for the whole run, so each shard could do all of it; apply a reviewed plan in one run",
        ));
    }
    let pinned = match &args.plan {
        Some(path) => {
            if args.selection.as_of.is_some() {
                return Err(CliError::usage(
                    "`--as-of` cannot be combined with `--plan`: the plan fixes the instant",
                ));
            }
            let plan = Plan::read(path).map_err(|e| CliError::usage(e.to_string()))?;
            if plan.as_of > Utc::now() {
                return Err(CliError::usage(format!(
                    "plan `{}` was made for {}, which lies in the future: applying it now would act on records before their time and outside holds that end before then",
                    plan.plan_id,
                    plan.as_of_text()
                )));
            }
            Some(plan)
        }
        None => None,
    };
    if let Some(t) = args.selection.as_of {
        if t > Utc::now() {
            return Err(CliError::usage(
                "`--as-of` lies in the future: apply would act on records before their time; use it with `plan` to look ahead",
            ));
        }
    }
    let mut selected = args.selection.policies.clone();
    if let (Some(p), true) = (&pinned, selected.is_empty()) {
        selected = p.policies.iter().map(|p| p.name.clone()).collect();
    }
    let mut prepared = super::prepare(cli, &selected, false, args.shard).await?;
    // A policy in `mode: dry-run` only reports (in the daemon, and in `lethe plan`).
    let dry_run: Vec<String> = (prepared.targets.iter())
        .filter(|t| t.policy.mode == Mode::DryRun)
        .map(|t| t.policy.name.clone())
        .chain(
            (prepared.objects.iter())
                .filter(|t| t.policy.mode == Mode::DryRun)
                .map(|t| t.policy.name.clone()),
        )
        .collect();
    if let Some(name) = args.selection.policies.iter().find(|n| dry_run.contains(n)) {
        return Err(CliError::usage(format!(
            "policy `{name}` is in `mode: dry-run`, so it does not change data; set `mode: enforce` (or remove `mode`) to let it"
        )));
    }
    prepared.targets.retain(|t| t.policy.mode == Mode::Enforce);
    prepared.objects.retain(|t| t.policy.mode == Mode::Enforce);
    let stop = Arc::new(AtomicBool::new(false));
    let lease = match prepared.db.try_lease(args.shard, stop.clone()).await? {
        Ok(lease) => lease,
        Err(busy) => {
            return Err(CliError {
                code: Code::Failure,
                message: busy.to_string(),
            }
            .into())
        }
    };
    super::on_stop_signal(stop.clone(), None);
    let as_of = pinned
        .as_ref()
        .map(|p| p.as_of)
        .or(args.selection.as_of)
        .unwrap_or_else(Utc::now);
    let show_progress = std::io::stderr().is_terminal() && args.output.format != Format::Json;
    // Residency is checked and alerted at once; deleting never makes it worse, so the run goes on.
    let residency = crate::residency::check_live(&prepared.config, Utc::now()).await;
    crate::residency::alert(&residency, &prepared.config.settings.residency, "apply").await;
    let result = enforce(
        &prepared,
        Enforce {
            command: "apply",
            pinned: pinned.as_ref(),
            as_of,
            shard: args.shard,
            ask: !args.yes,
            progress: show_progress,
            stop: &stop,
            on_batch: None,
            residency,
        },
    )
    .await;
    lease.release().await;
    let mut report = result?;
    report.dry_run = dry_run;
    if report.status == "cancelled" {
        eprintln!("cancelled; nothing was changed");
        return Ok(Code::Ok);
    }
    args.output
        .emit(&report::apply(&report, args.output.format))?;
    let violations = report.residency.as_ref().map_or(0, |r| r.violations);
    Ok(match report.status.as_str() {
        "ok" if violations > 0 => Code::Residency,
        "ok" => Code::Ok,
        "refused" => Code::Refused,
        _ => Code::Failure,
    })
}

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
    /// Ask for confirmation when on a terminal.
    pub ask: bool,
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
pub async fn enforce(prepared: &Prepared, e: Enforce<'_>) -> anyhow::Result<ApplyReport> {
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

    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if interactive && e.ask && fresh.total_eligible() > 0 && !confirm(&fresh)? {
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

fn confirm(plan: &Plan) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    writeln!(err, "lethe apply at {} will change:", plan.as_of_text())?;
    for p in &plan.policies {
        writeln!(
            err,
            "  {:<32} {:>9} {} on {}",
            p.name, p.eligible, p.action, p.target
        )?;
    }
    write!(err, "Proceed? [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES"))
}
