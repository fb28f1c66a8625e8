//! `lethe daemon`: every policy on its own cron schedule, one instance at a time.
//!
//! The loop is small and knows nothing of databases: it asks a [`Worker`] which scheduled
//! instants are already accounted for, works out what is due, and asks the worker to run it.
//! The worker ([`EngineWorker`]) takes the run lease, checks again under the lease what is
//! still due, enforces or plans, and records the instants. So a second daemon that waited for
//! the lease finds nothing left to do, and a daemon restarted after downtime runs a missed
//! schedule once (for its latest missed instant), not once per missed instant.
//!
//! Time comes from a [`Clock`]: the system clock in production, the tokio clock in tests, so
//! schedules and catch-up are tested with paused time.

pub mod http;
pub mod metrics;
mod worker;

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

pub use metrics::Metrics;
pub use worker::EngineWorker;

/// How long the loop sleeps at most before it looks again (the wall clock may jump).
pub const MAX_SLEEP: Duration = Duration::from_secs(60);
/// How long to wait before trying again when another instance holds the lease.
pub const RETRY_BUSY: Duration = Duration::from_secs(5);
/// The pause after a run before the schedule is read again.
pub const AFTER_RUN: Duration = Duration::from_secs(1);
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
    /// Tells whether the daemon can work: the state database answers, and the last scheduled
    /// run could start (configuration valid, stores reachable).
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
    // True while the latest scheduled run could not start: readiness stays off until one can.
    let mut failing = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let wait = step(worker, schedules, clock, &mut failing).await;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    info!("daemon stopped");
}

/// One look at the schedule: runs what is due; returns how long to sleep.
async fn step<W: Worker>(
    worker: &mut W,
    schedules: &[Scheduled],
    clock: Clock,
    failing: &mut bool,
) -> Duration {
    let now = clock.now();
    let fires = match worker.last_fires().await {
        Ok(f) => {
            worker.set_ready(!*failing);
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
        let outcome = worker.run(&due).await;
        *failing = matches!(outcome, Outcome::Error(_));
        worker.set_ready(!*failing);
        match outcome {
            // A short pause, never none: whatever the worker left unrecorded must not spin.
            Outcome::Done => return AFTER_RUN,
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

    /// A worker that records what it was asked to run, at which (virtual) instant.
    struct Fake {
        clock: Clock,
        fires: BTreeMap<String, DateTime<Utc>>,
        runs: Vec<(DateTime<Utc>, Vec<Due>)>,
        busy: u32,
        errors: u32,
        ready: Vec<bool>,
    }

    impl Fake {
        fn new(clock: Clock) -> Fake {
            Fake {
                clock,
                fires: BTreeMap::new(),
                runs: Vec::new(),
                busy: 0,
                errors: 0,
                ready: Vec::new(),
            }
        }
    }

    impl Worker for Fake {
        async fn last_fires(&mut self) -> Result<BTreeMap<String, DateTime<Utc>>, String> {
            Ok(self.fires.clone())
        }
        async fn set_last_fire(&mut self, policy: &str, fire: DateTime<Utc>) -> Result<(), String> {
            self.fires.insert(policy.to_string(), fire);
            Ok(())
        }
        async fn run(&mut self, due: &[Due]) -> Outcome {
            if self.busy > 0 {
                self.busy -= 1;
                return Outcome::Busy("the other instance".into());
            }
            if self.errors > 0 {
                self.errors -= 1;
                return Outcome::Error("the store is down".into());
            }
            self.runs.push((self.clock.now(), due.to_vec()));
            for d in due {
                self.fires.insert(d.policy.clone(), d.fire);
            }
            Outcome::Done
        }
        fn set_ready(&mut self, ready: bool) {
            if self.ready.last() != Some(&ready) {
                self.ready.push(ready);
            }
        }
    }

    /// Runs the loop for `span` of virtual time.
    async fn run_for(w: &mut Fake, schedules: &[Scheduled], span: Duration) {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            tokio::time::sleep(span).await;
            let _ = tx.send(true);
        });
        run_loop(w, schedules, w.clock, rx).await;
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[tokio::test(start_paused = true)]
    async fn each_policy_runs_on_its_own_schedule() {
        let clock = Clock::tokio_at(at(23, 1, 0));
        let mut w = Fake::new(clock);
        let schedules = [
            Scheduled::new("leads", "0 30 2 * * *").unwrap(),
            Scheduled::new("invoices", "0 0 3 * * Mon").unwrap(),
        ];
        run_for(&mut w, &schedules, 3 * DAY).await;
        let runs: Vec<(DateTime<Utc>, Vec<&str>)> = w
            .runs
            .iter()
            .map(|(t, d)| (*t, d.iter().map(|d| d.policy.as_str()).collect()))
            .collect();
        // The 23rd of November 2026 is a Monday; the daemon started at 01:00.
        assert_eq!(
            runs,
            [
                (at(23, 2, 30), vec!["leads"]),
                (at(23, 3, 0), vec!["invoices"]),
                (at(24, 2, 30), vec!["leads"]),
                (at(25, 2, 30), vec!["leads"]),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn downtime_is_caught_up_once_at_start() {
        // Last run on the 20th; the daemon comes back on the 23rd at 10:00.
        let clock = Clock::tokio_at(at(23, 10, 0));
        let mut w = Fake::new(clock);
        w.fires.insert("leads".into(), at(20, 2, 30));
        let schedules = [Scheduled::new("leads", "0 30 2 * * *").unwrap()];
        run_for(&mut w, &schedules, DAY).await;
        let runs: Vec<(DateTime<Utc>, DateTime<Utc>)> =
            w.runs.iter().map(|(t, d)| (*t, d[0].fire)).collect();
        // Once at start for the latest missed instant (not three times), then on schedule.
        assert_eq!(
            runs,
            [
                (at(23, 10, 0), at(23, 2, 30)),
                (at(24, 2, 30), at(24, 2, 30))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_lease_is_waited_for() {
        let clock = Clock::tokio_at(at(23, 2, 29));
        let mut w = Fake::new(clock);
        w.busy = 2;
        let schedules = [Scheduled::new("leads", "0 30 2 * * *").unwrap()];
        run_for(&mut w, &schedules, Duration::from_secs(3600)).await;
        // Two refusals, each followed by a wait, then the run: once, for 02:30.
        assert_eq!(w.runs.len(), 1);
        let waited = chrono::Duration::from_std(2 * RETRY_BUSY).unwrap();
        assert_eq!(w.runs[0].0, at(23, 2, 30) + waited);
        assert_eq!(w.runs[0].1[0].fire, at(23, 2, 30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_cannot_start_is_retried_and_shows_as_not_ready() {
        let clock = Clock::tokio_at(at(23, 2, 29));
        let mut w = Fake::new(clock);
        w.errors = 3;
        let schedules = [Scheduled::new("leads", "0 30 2 * * *").unwrap()];
        run_for(&mut w, &schedules, Duration::from_secs(3600)).await;
        // Ready, then not ready through three failed starts, then ready once the run went.
        assert_eq!(w.ready, [true, false, true]);
        assert_eq!(w.runs.len(), 1);
        let waited = chrono::Duration::from_std(3 * RETRY_ERROR).unwrap();
        assert_eq!(w.runs[0].0, at(23, 2, 30) + waited);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_the_loop_at_once() {
        let clock = Clock::tokio_at(at(23, 1, 0));
        let mut w = Fake::new(clock);
        let schedules = [Scheduled::new("leads", "0 30 2 * * *").unwrap()];
        run_for(&mut w, &schedules, Duration::from_secs(5)).await;
        assert_eq!(clock.now(), at(23, 1, 0) + chrono::Duration::seconds(5));
        assert!(w.runs.is_empty());
    }
}
