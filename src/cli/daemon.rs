//! `lethe daemon`: each policy on its cron schedule, one instance at a time, with
//! `/healthz`, `/readyz` and `/metrics` over HTTP.

use super::apply::{enforce, Enforce};
use super::{Cli, CliError, Code};
use crate::audit::{AuditError, StateDb};
use crate::config;
use crate::daemon::http::{self, Health};
use crate::daemon::{self, Clock, Due, Outcome, Scheduled, Worker};
use crate::policy::Mode;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Arguments of `lethe daemon`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve /healthz, /readyz and /metrics on this address (default: `daemon.listen` in
    /// lethe.yaml, else 127.0.0.1:9187; use 0.0.0.0:9187 in a container).
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<SocketAddr>,
}

/// Runs `lethe daemon` until SIGTERM or SIGINT.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let config = config::load(&cli.config)?;
    let mut schedules = Vec::new();
    for (name, schedule) in config.schedules() {
        match &schedule {
            Some(cron) => schedules.push(Scheduled::new(&name, cron).map_err(CliError::usage)?),
            None => warn!(policy = %name, "policy has no schedule; the daemon does not run it"),
        }
    }
    if schedules.is_empty() {
        return Err(CliError::usage(
            "no policy has a schedule: set `schedule` in lethe.yaml (the default of every policy) or in a policy, e.g. `schedule: \"0 30 2 * * *\"` (02:30 UTC every day)",
        ));
    }
    let db = match StateDb::open_with(config.settings.state_url.expose(), false).await {
        Err(e @ AuditError::Missing(_)) => return Err(CliError::usage(e.to_string())),
        other => other?,
    };
    let health = Arc::new(Health::default());
    let (tx, rx) = watch::channel(false);
    let stop = Arc::new(AtomicBool::new(false));
    super::on_stop_signal(stop.clone(), Some(tx));
    let addr = args.listen.unwrap_or(config.settings.listen);
    let server = http::serve(addr, health.clone(), rx.clone())
        .await
        .map_err(|e| CliError {
            code: Code::Failure,
            message: format!("cannot listen on `{addr}`: {e}"),
        })?;
    for s in &schedules {
        let Some(next) = s.next_after(Utc::now()).map(|t| t.to_rfc3339()) else {
            warn!(policy = %s.policy, "the schedule of this policy never fires (e.g. 30 February)");
            continue;
        };
        info!(policy = %s.policy, next = %next, "scheduled");
    }
    info!(listen = %addr, "daemon started");
    // Residency at start, then before every scheduled run.
    let residency = crate::residency::check_live(&config, Utc::now()).await;
    health.metrics.residency(residency.violations);
    crate::residency::alert(&residency, &config.settings.residency, "daemon").await;
    let mut worker = CliWorker {
        cli,
        start_hash: config.hash.clone(),
        db,
        health: health.clone(),
        shutdown: rx.clone(),
        stop,
        alerted: residency.violating().map(|s| s.store.clone()).collect(),
    };
    daemon::run_loop(&mut worker, &schedules, Clock::System, rx).await;
    let _ = server.await;
    Ok(Code::Ok)
}

/// The daemon's worker: the real stores and state database.
struct CliWorker<'a> {
    cli: &'a Cli,
    /// The configuration the schedules were read from.
    start_hash: String,
    db: StateDb,
    health: Arc<Health>,
    /// Raised by SIGTERM/SIGINT: the daemon ends.
    shutdown: watch::Receiver<bool>,
    /// The current run's stop flag: raised by the shutdown or by a lost lease. Each run has
    /// its own, so a lost lease ends that run only.
    stop: Arc<AtomicBool>,
    /// The stores in violation when the residency alert last went out.
    alerted: Vec<String>,
}

impl Worker for CliWorker<'_> {
    async fn last_fires(&mut self) -> Result<BTreeMap<String, DateTime<Utc>>, String> {
        self.db.last_fires().await.map_err(|e| e.to_string())
    }

    async fn set_last_fire(&mut self, policy: &str, fire: DateTime<Utc>) -> Result<(), String> {
        self.db
            .set_last_fire(policy, fire)
            .await
            .map_err(|e| e.to_string())
    }

    async fn run(&mut self, due: &[Due]) -> Outcome {
        let stop = Arc::new(AtomicBool::new(*self.shutdown.borrow()));
        self.stop = stop.clone();
        // The shutdown stops the run too.
        let mut shutdown = self.shutdown.clone();
        let relay = stop.clone();
        let watcher = tokio::spawn(async move {
            while shutdown.changed().await.is_ok() {
                if *shutdown.borrow() {
                    relay.store(true, Ordering::SeqCst);
                    return;
                }
            }
        });
        let outcome = self.run_with_lease(due).await;
        watcher.abort();
        if let Outcome::Error(_) = outcome {
            self.health.metrics.run_error();
        }
        outcome
    }

    fn set_ready(&mut self, ready: bool) {
        self.health.ready.store(ready, Ordering::SeqCst);
    }
}

impl CliWorker<'_> {
    async fn run_with_lease(&mut self, due: &[Due]) -> Outcome {
        let lease = match self.db.try_lease(None, self.stop.clone()).await {
            Err(e) => return Outcome::Error(e.to_string()),
            Ok(Err(busy)) => {
                self.health.metrics.lease_busy();
                return Outcome::Busy(busy.holder);
            }
            Ok(Ok(lease)) => lease,
        };
        let outcome = self.run_leased(due).await;
        lease.release().await;
        // Stopped, but not by the shutdown: the lease was lost. What did not finish was not
        // recorded, so it runs again once the lease can be taken.
        if self.stop.load(Ordering::SeqCst) && !*self.shutdown.borrow() {
            return Outcome::Error(
                "the run lease was lost during the run; the unfinished policies run again".into(),
            );
        }
        outcome
    }

    /// Under the lease: what is still due (another instance may have run it while this one
    /// waited), enforced or planned per the policy's mode.
    async fn run_leased(&mut self, due: &[Due]) -> Outcome {
        let fires = match self.db.last_fires().await {
            Ok(f) => f,
            Err(e) => return Outcome::Error(e.to_string()),
        };
        let due: Vec<&Due> = due
            .iter()
            .filter(|d| fires.get(&d.policy).is_none_or(|last| *last < d.fire))
            .collect();
        // The policy list as it is now: a policy removed from the folder is skipped (its
        // instant accounted for).
        let present: Vec<String> = match config::load(&self.cli.config) {
            Ok(c) => c.policy_names(),
            Err(e) => return Outcome::Error(format!("{e:#}")),
        };
        let mut names = Vec::new();
        for d in &due {
            if present.contains(&d.policy) {
                names.push(d.policy.clone());
                continue;
            }
            warn!(policy = %d.policy, "policy is no longer in the policies folder; skipped (restart the daemon to drop its schedule)");
            if let Err(e) = self.db.set_last_fire(&d.policy, d.fire).await {
                return Outcome::Error(e.to_string());
            }
        }
        if names.is_empty() {
            return Outcome::Done;
        }
        match self.run_policies(&due, &names).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Error(e),
        }
    }

    /// Prepares the due policies once (policies, holds, guards and modes as they are now: a
    /// switch to `mode: dry-run` brakes at once), checks residency once, then enforces the
    /// enforcing ones and plans the dry-run ones.
    async fn run_policies(&mut self, due: &[&Due], names: &[String]) -> Result<(), String> {
        let mut prepared = super::prepare(self.cli, names, false, None)
            .await
            .map_err(|e| format!("{e:#}"))?;
        if prepared.config.hash != self.start_hash {
            warn!("the policies changed since the daemon started: runs use them as they are now, schedules as they were; restart the daemon to take up new schedules");
        }
        let residency = crate::residency::check_live(&prepared.config, Utc::now()).await;
        self.health.metrics.residency(residency.violations);
        // The alert goes out when the verdict changes, not at every run.
        let violating: Vec<String> = residency.violating().map(|s| s.store.clone()).collect();
        if violating != self.alerted {
            crate::residency::alert(&residency, &prepared.config.settings.residency, "daemon")
                .await;
            self.alerted = violating;
        }
        let (enforced, dry): (Vec<_>, Vec<_>) = std::mem::take(&mut prepared.targets)
            .into_iter()
            .partition(|t| t.policy.mode == Mode::Enforce);
        let (enforced_objects, dry_objects): (Vec<_>, Vec<_>) =
            std::mem::take(&mut prepared.objects)
                .into_iter()
                .partition(|t| t.policy.mode == Mode::Enforce);
        prepared.targets = enforced;
        prepared.objects = enforced_objects;
        if !prepared.targets.is_empty() || !prepared.objects.is_empty() {
            self.enforce(&prepared, due, residency.clone()).await?;
        }
        if (!dry.is_empty() || !dry_objects.is_empty()) && !self.stop.load(Ordering::SeqCst) {
            let work = crate::plan::Work {
                stores: &prepared.stores,
                targets: &dry,
                object_stores: &prepared.object_stores,
                objects: &dry_objects,
            };
            self.dry_run(&prepared, work, due, residency).await?;
        }
        Ok(())
    }

    async fn enforce(
        &mut self,
        prepared: &super::Prepared,
        due: &[&Due],
        residency: crate::residency::Report,
    ) -> Result<(), String> {
        let names: Vec<&str> = (prepared.targets.iter())
            .map(|t| t.policy.name.as_str())
            .chain(prepared.objects.iter().map(|t| t.policy.name.as_str()))
            .collect();
        let metrics = &self.health.metrics;
        let on_batch = |p: &str, d: std::time::Duration| metrics.batch(p, d);
        let report = enforce(
            prepared,
            Enforce {
                command: "daemon",
                pinned: None,
                as_of: Utc::now(),
                shard: None,
                ask: false,
                progress: false,
                stop: &self.stop,
                on_batch: Some(&on_batch),
                residency,
            },
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
        let now = Utc::now().timestamp();
        if report.status == "refused" {
            for r in &report.refusals {
                error!(policy = ?r.policy, reason = %r.reason, run = %report.run_id, "scheduled run refused by a guard; nothing was changed");
            }
            for n in &names {
                metrics.not_run(n, "enforce", "refused");
            }
        } else {
            info!(run = %report.run_id, status = %report.status, "scheduled run finished");
        }
        for p in &report.policies {
            metrics.applied(p, now);
        }
        // Every instant is accounted for except where the run was stopped: a policy it did
        // not finish runs again at the next start (catch-up), resuming where it stopped.
        let finished: Vec<&str> = if report.status == "refused" {
            names
        } else {
            report
                .policies
                .iter()
                .filter(|p| !p.interrupted)
                .map(|p| p.name.as_str())
                .collect()
        };
        self.account(due, &finished).await
    }

    async fn dry_run(
        &mut self,
        prepared: &super::Prepared,
        work: crate::plan::Work<'_>,
        due: &[&Due],
        residency: crate::residency::Report,
    ) -> Result<(), String> {
        let mut plan = crate::plan::make_plan(&work, Utc::now(), &prepared.config.hash)
            .await
            .map_err(|e| e.to_string())?;
        plan.residency = Some(residency);
        super::plan::record(&prepared.db, &plan, "daemon")
            .await
            .map_err(|e| format!("{e:#}"))?;
        let now = Utc::now().timestamp();
        for p in &plan.policies {
            info!(policy = %p.name, eligible = p.eligible, held = p.held, plan = %plan.plan_id, "dry-run policy: nothing changed");
            self.health.metrics.planned(p, now);
        }
        let names: Vec<&str> = plan.policies.iter().map(|p| p.name.as_str()).collect();
        self.account(due, &names).await
    }

    /// Records the scheduled instants of the named policies as accounted for.
    async fn account(&self, due: &[&Due], names: &[&str]) -> Result<(), String> {
        for d in due.iter().filter(|d| names.contains(&d.policy.as_str())) {
            self.db
                .set_last_fire(&d.policy, d.fire)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
