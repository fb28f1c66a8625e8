//! `lethe daemon`: every policy on its own cron schedule, one instance at a time.
//!
//! The loop is small and knows nothing of databases: it asks a [`Worker`] which scheduled
//! instants are already accounted for, works out what is due, and asks the worker to run it.
//! The worker (in `cli::daemon`) takes the run lease, checks again under the lease what is
//! still due, enforces or plans, and records the instants. So a second daemon that waited for
//! the lease finds nothing left to do, and a daemon restarted after downtime runs a missed
//! schedule once (for its latest missed instant), not once per missed instant.
//!
//! Time comes from a [`Clock`]: the system clock in production, the tokio clock in tests, so
//! schedules and catch-up are tested with paused time.

pub mod http;
pub mod metrics;

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

pub use metrics::Metrics;

/// How long the loop sleeps at most before it looks again (the wall clock may jump).
pub const MAX_SLEEP: Duration = Duration::from_secs(60);
/// How long to wait before trying again when another instance holds the lease.
pub const RETRY_BUSY: Duration = Duration::from_secs(30);
/// How long to wait before trying again when a run could not start (store or state down).
pub const RETRY_ERROR: Duration = Duration::from_secs(60);

/// Where the time comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system's wall clock.
    System,
    /// Wall time derived from the tokio clock, which tests pause and advance.
    Tokio {
        /// The wall time at `at`.
        wall: DateTime<Utc>,
        /// The tokio instant that corresponds to `wall`.
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that starts at `wall` now and follows the tokio clock.
    pub fn tokio_at(wall: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            wall,
            at: tokio::time::Instant::now(),
        }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { wall, at } => {
                let passed = tokio::time::Instant::now().duration_since(*at);
                *wall + chrono::Duration::from_std(passed).unwrap_or_default()
            }
        }
    }
}

/// A policy's schedule.
#[derive(Debug, Clone)]
pub struct Scheduled {
    /// The policy name.
    pub policy: String,
    /// Its cron schedule (UTC).
    pub schedule: cron::Schedule,
}

impl Scheduled {
    /// Parses a policy's schedule (validated at load time, so this does not fail in practice).
    pub fn new(policy: &str, cron: &str) -> Result<Scheduled, String> {
        cron::Schedule::from_str(cron)
            .map(|schedule| Scheduled {
                policy: policy.to_string(),
                schedule,
            })
            .map_err(|_| format!("invalid cron schedule `{cron}` of policy `{policy}`"))
    }

    /// The latest scheduled instant in `(after, now]`, if any: a missed run is caught up once,
    /// for its latest instant.
    pub fn due(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut latest = None;
        for t in self.schedule.after(&after) {
            if t > now {
                break;
            }
            latest = Some(t);
        }
        latest
    }

    /// The first scheduled instant after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&t).next()
    }
}

/// A policy due now, for its scheduled instant `fire`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The policy name.
    pub policy: String,
    /// The scheduled instant this run stands for.
    pub fire: DateTime<Utc>,
}

/// What came of asking the worker to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The due policies ran (whatever their result) and their instants are recorded.
    Done,
    /// Another instance holds the lease; nothing ran.
    Busy(String),
    /// The run could not start (configuration, store or state database); nothing ran.
    Error(String),
}

/// What the loop needs from the outside world.
pub trait Worker {
    /// Per policy, the latest scheduled instant already accounted for.
    fn last_fires(
        &mut self,
    ) -> impl Future<Output = Result<BTreeMap<String, DateTime<Utc>>, String>>;
    /// Records that `policy` is accounted for up to `fire` (first sight: nothing ran).
    fn set_last_fire(
        &mut self,
        policy: &str,
        fire: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), String>>;
    /// Runs the due policies under the lease, recording their instants.
    fn run(&mut self, due: &[Due]) -> impl Future<Output = Outcome>;
    /// Tells whether the daemon can work (state database reachable).
    fn set_ready(&mut self, ready: bool);
}

/// Runs the schedule until `shutdown` turns true. A run in progress is stopped by the
/// worker's own stop flag (raised by the same signal); this loop then returns.
pub async fn run_loop<W: Worker>(
    worker: &mut W,
    schedules: &[Scheduled],
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        let wait = step(worker, schedules, clock).await;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    info!("daemon stopped");
}

/// One look at the schedule: runs what is due; returns how long to sleep.
async fn step<W: Worker>(worker: &mut W, schedules: &[Scheduled], clock: Clock) -> Duration {
    let now = clock.now();
    let fires = match worker.last_fires().await {
        Ok(f) => {
            worker.set_ready(true);
            f
        }
        Err(e) => {
            worker.set_ready(false);
            warn!(error = %e, "cannot read the schedule from the state database; trying again");
            return RETRY_ERROR;
        }
    };
    let mut due = Vec::new();
    for s in schedules {
        match fires.get(&s.policy) {
            // First sight of this policy: its schedule starts now. Recorded, so that downtime
            // before its first run is caught up too.
            None => {
                if let Err(e) = worker.set_last_fire(&s.policy, now).await {
                    warn!(policy = %s.policy, error = %e, "cannot record the schedule");
                    return RETRY_ERROR;
                }
            }
            Some(last) => {
                if let Some(fire) = s.due(*last, now) {
                    due.push(Due {
                        policy: s.policy.clone(),
                        fire,
                    });
                }
            }
        }
    }
    if !due.is_empty() {
        let names: Vec<&str> = due.iter().map(|d| d.policy.as_str()).collect();
        info!(policies = ?names, "scheduled run due");
        match worker.run(&due).await {
            Outcome::Done => return Duration::ZERO,
            Outcome::Busy(who) => {
                info!(holder = %who, "another instance is running; waiting for the lease");
                return RETRY_BUSY;
            }
            Outcome::Error(e) => {
                warn!(error = %e, "the scheduled run could not start; trying again");
                return RETRY_ERROR;
            }
        }
    }
    let next = schedules
        .iter()
        .filter_map(|s| s.next_after(fires.get(&s.policy).copied().unwrap_or(now).max(now)))
        .min();
    match next {
        Some(t) => (t - now).to_std().unwrap_or_default().min(MAX_SLEEP),
        None => MAX_SLEEP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).single().unwrap()
    }

    #[test]
    fn missed_instants_are_caught_up_once_for_the_latest() {
        let s = Scheduled::new("p", "0 30 2 * * *").unwrap();
        // Down from the 20th 02:30 (done) until the 23rd 10:00: due once, for the 23rd.
        assert_eq!(s.due(at(20, 2, 30), at(23, 10, 0)), Some(at(23, 2, 30)));
        assert_eq!(s.due(at(23, 2, 30), at(23, 10, 0)), None);
        assert_eq!(s.next_after(at(23, 10, 0)), Some(at(24, 2, 30)));
    }
}
