//! The daemon's worker: runs due policies through the engine against the real stores and
//! state database, under the run lease.

use super::http::Health;
use super::{Due, Outcome, Worker};
use crate::audit::{Lease, StateDb};
use crate::config;
use crate::engine::{self, Enforce, Prepared};
use crate::model::Mode;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// The daemon's worker: the real stores and state database.
pub struct EngineWorker {
    /// The policies folder, read again at every run.
    pub config_dir: PathBuf,
    /// The environment the configuration is interpolated with.
    pub env: HashMap<String, String>,
    /// The configuration the schedules were read from.
    pub start_hash: String,
    /// The state database.
    pub db: StateDb,
    /// Readiness and metrics, served over HTTP.
    pub health: Arc<Health>,
    /// Raised by SIGTERM/SIGINT: the daemon ends.
    pub shutdown: watch::Receiver<bool>,
    /// The current run's stop flag: raised by the shutdown or by a lost lease. Each run has
    /// its own, so a lost lease ends that run only.
    pub stop: Arc<AtomicBool>,
    /// The stores in violation when the residency alert last went out.
    pub alerted: Vec<String>,
    /// Subjects a certificate pass found with records not all gone, and when: skipped for a
    /// day, so that a subject kept for long does not crowd out the others.
    pub pending: BTreeMap<crate::certificate::Subject, DateTime<Utc>>,
}

/// Subjects a certificate pass scans at most.
const CERTIFY_PER_PASS: usize = 500;

impl Worker for EngineWorker {
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

impl EngineWorker {
    async fn run_with_lease(&mut self, due: &[Due]) -> Outcome {
        let lease = match self.db.try_lease(None, self.stop.clone()).await {
            Err(e) => return Outcome::Error(e.to_string()),
            Ok(Err(busy)) => {
                self.health.metrics.lease_busy();
                return Outcome::Busy(busy.holder);
            }
            Ok(Ok(lease)) => lease,
        };
        let outcome = self.run_leased(due, &lease).await;
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
    async fn run_leased(&mut self, due: &[Due], lease: &Lease) -> Outcome {
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
        let present: Vec<String> = match config::load(&self.config_dir, &self.env) {
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
        match self.run_policies(&due, &names, lease).await {
            Ok(()) => {
                if !self.stop.load(Ordering::SeqCst) {
                    if let Err(e) = self.certify().await {
                        error!(error = %e, "the certificate pass failed; it runs again after the next run");
                    }
                }
                Outcome::Done
            }
            Err(e) => Outcome::Error(e),
        }
    }

    /// With `certificates:` in lethe.yaml: after a run, a certificate for every subject whose
    /// contracts ended long enough ago and whose due records are all gone, once per subject.
    async fn certify(&mut self) -> Result<(), String> {
        let config = config::load(&self.config_dir, &self.env).map_err(|e| format!("{e:#}"))?;
        let (Some(dir), Some(key)) = (
            config.settings.certificates_dir.clone(),
            config.settings.signing_key_file.clone(),
        ) else {
            return Ok(());
        };
        let signer = crate::certificate::Signer::from_file(&key).map_err(|e| e.to_string())?;
        let prepared = engine::prepare(config, &[], false, None, Utc::now())
            .await
            .map_err(|e| format!("{e:#}"))?;
        let day_ago = prepared.as_of - chrono::Duration::days(1);
        self.pending.retain(|_, at| *at > day_ago);
        let skip = self.pending.keys().cloned().collect();
        let done = engine::certify_due(&prepared, &signer, &dir, CERTIFY_PER_PASS, &skip)
            .await
            .map_err(|e| format!("{e:#}"))?;
        // Ids and keys only: a subject's value is a customer's identifier.
        for (id, key) in &done.issued {
            info!(certificate = %id, subject_key = %key, "deletion certificate issued");
        }
        for (s, why) in &done.failed {
            warn!(subject_key = %s.key, error = %why, "no certificate for a subject: its scan failed; the next pass tries again");
        }
        if done.unnamed > 0 {
            warn!(values = done.unnamed, "related values that no subject can name (spaces around them, a `/`, more than 128 characters): no certificate for them");
        }
        self.health
            .metrics
            .certificates_issued(done.issued.len() as u64);
        if !done.pending.is_empty() {
            info!(
                subjects = done.pending.len(),
                "subjects past their contract end with records not all gone yet: no certificate yet"
            );
        }
        for s in done
            .pending
            .into_iter()
            .chain(done.failed.into_iter().map(|(s, _)| s))
        {
            self.pending.insert(s, prepared.as_of);
        }
        Ok(())
    }

    /// Prepares the due policies once (policies, holds, guards and modes as they are now: a
    /// switch to `mode: dry-run` brakes at once), checks residency once, then enforces the
    /// enforcing ones and plans the dry-run ones.
    async fn run_policies(
        &mut self,
        due: &[&Due],
        names: &[String],
        lease: &Lease,
    ) -> Result<(), String> {
        let config = config::load(&self.config_dir, &self.env).map_err(|e| format!("{e:#}"))?;
        let mut prepared = engine::prepare(config, names, false, None, Utc::now())
            .await
            .map_err(|e| format!("{e:#}"))?;
        if prepared.config.hash != self.start_hash {
            warn!("the policies changed since the daemon started: runs use them as they are now, schedules as they were; restart the daemon to take up new schedules");
        }
        let residency = crate::residency::check_live(
            &prepared.config.settings.stores,
            &prepared.config.settings.residency,
            Utc::now(),
        )
        .await;
        self.health.metrics.residency(residency.violations);
        // The alert goes out when the verdict changes, not at every run.
        let violating: Vec<String> = residency.violating().map(|s| s.store.clone()).collect();
        if violating != self.alerted {
            crate::residency::alert(&residency, &prepared.config.settings.residency, "daemon")
                .await;
            self.alerted = violating;
        }
        let (enforced, dry): (Vec<_>, Vec<_>) = std::mem::take(&mut prepared.items)
            .into_iter()
            .partition(|i| i.mode() == Mode::Enforce);
        prepared.items = enforced;
        if !prepared.items.is_empty() {
            self.enforce(&prepared, due, residency.clone(), lease)
                .await?;
        }
        if !dry.is_empty() && !self.stop.load(Ordering::SeqCst) {
            let work = crate::plan::Work {
                stores: &prepared.stores,
                object_stores: &prepared.object_stores,
                items: &dry,
                run_max_rows: prepared.config.settings.run_max_rows,
            };
            self.dry_run(&prepared, work, due, residency).await?;
        }
        Ok(())
    }

    async fn enforce(
        &mut self,
        prepared: &Prepared,
        due: &[&Due],
        residency: crate::residency::Report,
        lease: &Lease,
    ) -> Result<(), String> {
        let names: Vec<&str> = prepared.items.iter().map(|i| i.name()).collect();
        let metrics = &self.health.metrics;
        let on_batch = |p: &str, d: std::time::Duration| metrics.batch(p, d);
        let report = engine::enforce(
            prepared,
            Enforce {
                command: "daemon",
                pinned: None,
                shard: None,
                confirm: None,
                progress: false,
                stop: &self.stop,
                on_batch: Some(&on_batch),
                lease: Some(lease),
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
        prepared: &Prepared,
        work: crate::plan::Work<'_>,
        due: &[&Due],
        residency: crate::residency::Report,
    ) -> Result<(), String> {
        let mut plan = crate::plan::make_plan(&work, prepared.as_of, &prepared.config.hash)
            .await
            .map_err(|e| e.to_string())?;
        plan.residency = Some(residency);
        engine::record_plan(&prepared.db, &plan, "daemon")
            .await
            .map_err(|e| format!("{e:#}"))?;
        let now = Utc::now().timestamp();
        for p in &plan.policies {
            info!(policy = %p.name, eligible = p.eligible, held = p.held, plan = %plan.plan_id, "dry-run policy: nothing changed");
            for reason in p.guard.iter().flat_map(|g| &g.reasons) {
                warn!(policy = %p.name, %reason, plan = %plan.plan_id, "dry-run policy: enforced now, it would be refused by a guard");
            }
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
