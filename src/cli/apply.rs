//! `lethe apply`: enforce, in bounded batches, optionally pinned to a reviewed plan.

use super::{Cli, CliError, Code, Output, Selection};
use crate::apply::RunStatus;
use crate::engine::{self, Enforce};
use crate::model::{Mode, Shard};
use crate::plan::Plan;
use crate::report::{self, Format};
use chrono::Utc;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
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
    // One evaluation instant for the whole run: the reviewed plan's, the one asked for, or now.
    let as_of = pinned
        .as_ref()
        .map(|p| p.as_of)
        .or(args.selection.as_of)
        .unwrap_or_else(Utc::now);
    let mut prepared = super::prepare(cli, &selected, false, args.shard, as_of).await?;
    // A policy in `mode: dry-run` only reports (in the daemon, and in `lethe plan`).
    let dry_run: Vec<String> = (prepared.items.iter())
        .filter(|i| i.mode() == Mode::DryRun)
        .map(|i| i.name().to_string())
        .collect();
    if let Some(name) = args.selection.policies.iter().find(|n| dry_run.contains(n)) {
        return Err(CliError::usage(format!(
            "policy `{name}` is in `mode: dry-run`, so it does not change data; set `mode: enforce` (or remove `mode`) to let it"
        )));
    }
    prepared.items.retain(|i| i.mode() == Mode::Enforce);
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
    let show_progress = std::io::stderr().is_terminal() && args.output.format != Format::Json;
    // Residency is checked and alerted at once; deleting never makes it worse, so the run goes on.
    let residency = crate::residency::check_live(
        &prepared.config.settings.stores,
        &prepared.config.settings.residency,
        Utc::now(),
    )
    .await;
    crate::residency::alert(&residency, &prepared.config.settings.residency, "apply").await;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let ask = |plan: &Plan| confirm(plan);
    let result = engine::enforce(
        &prepared,
        Enforce {
            command: "apply",
            pinned: pinned.as_ref(),
            shard: args.shard,
            confirm: (interactive && !args.yes).then_some(&ask as &engine::Confirm),
            progress: show_progress,
            stop: &stop,
            on_batch: None,
            lease: Some(&lease),
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
        .emit(&report::apply(&report, args.output.format)?)?;
    let violations = report.residency.as_ref().map_or(0, |r| r.violations);
    Ok(match report.status {
        RunStatus::Ok if violations > 0 => Code::Residency,
        RunStatus::Ok => Code::Ok,
        RunStatus::Refused => Code::Refused,
        _ => Code::Failure,
    })
}

fn confirm(plan: &Plan) -> std::io::Result<bool> {
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
