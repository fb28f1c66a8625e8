//! `lethe daemon`: each policy on its cron schedule, one instance at a time, with
//! `/healthz`, `/readyz` and `/metrics` over HTTP.

use super::{Cli, CliError, Code};
use crate::audit::{AuditError, StateDb};
use crate::config;
use crate::daemon::http::{self, Health};
use crate::daemon::{self, Clock, EngineWorker, Scheduled};
use chrono::Utc;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{info, warn};

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
    let config = config::load(&cli.config, &config::process_env())?;
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
    let residency = crate::residency::check_live(
        &config.settings.stores,
        &config.settings.residency,
        Utc::now(),
    )
    .await;
    health.metrics.residency(residency.violations);
    crate::residency::alert(&residency, &config.settings.residency, "daemon").await;
    let mut worker = EngineWorker {
        config_dir: cli.config.clone(),
        env: config::process_env(),
        start_hash: config.hash.clone(),
        db,
        health: health.clone(),
        shutdown: rx.clone(),
        stop,
        alerted: residency.violating().map(|s| s.store.clone()).collect(),
        pending: Default::default(),
    };
    daemon::run_loop(&mut worker, &schedules, Clock::System, rx).await;
    let _ = server.await;
    Ok(Code::Ok)
}
