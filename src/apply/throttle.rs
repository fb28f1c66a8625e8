//! Throttling between batches, never inside one: wait while a replica of the store lags more
//! than `max_replica_lag` (at most `max_throttle_wait` in all, then the policy stops as
//! `throttled`), and sleep to keep `max_rows_per_second`.

use crate::model::Throttle;
use crate::store::{Lag, ReplicaLag, SqlStore};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::info;

/// The first wait after a replica was read lagging; each next one doubles, up to [`MAX_STEP`].
/// Short: a standby read just after a batch committed may still be replaying it.
const FIRST_STEP: Duration = Duration::from_millis(50);
/// The longest single wait before the lag is read again.
const MAX_STEP: Duration = Duration::from_secs(10);
/// How often a wait looks at the stop signal.
const SLICE: Duration = Duration::from_millis(100);

crate::util::named_enum! {
    /// How throttling ended for a policy.
    pub enum ThrottleStatus {
        /// It waited, and went on once the replicas had caught up.
        Waited => "waited",
        /// The replicas lagged past `max_throttle_wait`: the policy stopped before its next
        /// batch (the batches done stay done; the next run goes on).
        Throttled => "throttled",
    }
}

/// What throttling did to a policy, in its outcome (reports, the audit trail, metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttled {
    /// `waited` or `throttled`.
    pub status: ThrottleStatus,
    /// Milliseconds waited for replicas, in all.
    pub waited_ms: u64,
    /// Milliseconds slept to keep `max_rows_per_second`; left out when 0.
    #[serde(default, skip_serializing_if = "crate::util::is_zero")]
    pub rate_wait_ms: u64,
    /// The highest replica lag read, in milliseconds (lags that could not be read aside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag_ms: Option<u64>,
    /// Why it last waited: the replica and its lag, or why its lag could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Throttled {
    /// Seconds waited for replicas and for the rate together.
    pub fn seconds(&self) -> f64 {
        (self.waited_ms + self.rate_wait_ms) as f64 / 1000.0
    }
}

/// What the policy does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Go {
    /// Run the next batch.
    On,
    /// The wait ran out: stop as `throttled`.
    Throttled,
    /// A stop was asked for while waiting.
    Stopped,
}

/// One policy's throttle state over its run.
pub struct Throttler<'a> {
    store: &'a SqlStore,
    throttle: Throttle,
    waited: Duration,
    rate_wait: Duration,
    started: Option<Instant>,
    rows: u64,
    max_lag: Option<Duration>,
    reason: Option<String>,
    stopped: bool,
}

impl<'a> Throttler<'a> {
    /// A throttle that has not waited yet.
    pub fn new(store: &'a SqlStore, throttle: Throttle) -> Throttler<'a> {
        Throttler {
            store,
            throttle,
            waited: Duration::ZERO,
            rate_wait: Duration::ZERO,
            started: None,
            rows: 0,
            max_lag: None,
            reason: None,
            stopped: false,
        }
    }

    /// The largest batch the rate allows: a second's worth of rows.
    pub fn cap(&self, size: u64) -> u64 {
        self.throttle
            .max_rows_per_second
            .map_or(size, |r| size.min(u64::from(r)))
    }

    /// Counts the rows of a committed batch against the rate.
    pub fn done(&mut self, rows: u64) {
        self.rows += rows;
    }

    /// Before a batch: sleeps for the rate, then waits while a replica lags too much.
    pub async fn before_batch(&mut self, policy: &str, stop: &AtomicBool) -> Go {
        let started = *self.started.get_or_insert_with(Instant::now);
        if let Some(rate) = self.throttle.max_rows_per_second {
            let due = Duration::from_secs_f64(self.rows as f64 / f64::from(rate));
            let ahead = due.saturating_sub(started.elapsed());
            if !ahead.is_zero() {
                if !pause(ahead, stop).await {
                    return Go::Stopped;
                }
                self.rate_wait += ahead;
            }
        }
        let Some(max) = self.throttle.max_replica_lag else {
            return Go::On;
        };
        let mut step = FIRST_STEP;
        loop {
            let lags = self.store.replica_lags().await;
            let (why, highest) = too_far_behind(&lags, max);
            if let Some(h) = highest {
                self.max_lag = Some(self.max_lag.map_or(h, |m| m.max(h)));
            }
            let Some(why) = why else {
                return Go::On;
            };
            let left = self.throttle.max_wait.saturating_sub(self.waited);
            if left.is_zero() {
                info!(policy, store = %self.store.name, waited_s = self.waited.as_secs(), reason = %why, "replicas still lag after max_throttle_wait; the policy stops as throttled, the next run goes on");
                self.reason = Some(why);
                self.stopped = true;
                return Go::Throttled;
            }
            info!(policy, store = %self.store.name, reason = %why, "waiting for the replicas before the next batch");
            self.reason = Some(why);
            let wait = step.min(left);
            let begun = Instant::now();
            let go_on = pause(wait, stop).await;
            self.waited += begun.elapsed();
            if !go_on {
                return Go::Stopped;
            }
            step = (step * 2).min(MAX_STEP);
        }
    }

    /// What throttling did, for the outcome; `None` when it never waited.
    pub fn outcome(&self) -> Option<Throttled> {
        let ms = |d: Duration| d.as_millis().min(u128::from(u64::MAX)) as u64;
        (self.stopped || !self.waited.is_zero() || !self.rate_wait.is_zero()).then(|| Throttled {
            status: if self.stopped {
                ThrottleStatus::Throttled
            } else {
                ThrottleStatus::Waited
            },
            waited_ms: ms(self.waited),
            rate_wait_ms: ms(self.rate_wait),
            max_lag_ms: self.max_lag.map(ms),
            reason: self.reason.clone(),
        })
    }
}

/// Why the next batch must wait (`replica 1 (db2:5432) lags 12.3 s, more than 5 s`, or the
/// first replica whose lag is unknown and why), or `None` when every replica is close enough;
/// and the highest lag read.
fn too_far_behind(lags: &[ReplicaLag], max: Duration) -> (Option<String>, Option<Duration>) {
    let mut unknown = None;
    let mut highest: Option<(&str, Duration)> = None;
    for r in lags {
        match &r.lag {
            Lag::Unknown(reason) => {
                unknown.get_or_insert_with(|| format!("{}: {reason}", r.replica));
            }
            Lag::Behind(d) => {
                if highest.is_none_or(|(_, h)| *d > h) {
                    highest = Some((r.replica.as_str(), *d));
                }
            }
        }
    }
    let why = unknown.or_else(|| {
        highest.filter(|(_, d)| *d > max).map(|(replica, d)| {
            format!(
                "{replica} lags {:.1} s, more than {} s",
                d.as_secs_f64(),
                max.as_secs_f64()
            )
        })
    });
    (why, highest.map(|(_, d)| d))
}

/// Sleeps for `d` in slices, looking at the stop signal; false when a stop was asked for.
async fn pause(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        tokio::time::sleep(left.min(SLICE)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(replica: &str, lag: Lag) -> ReplicaLag {
        ReplicaLag {
            replica: replica.into(),
            lag,
        }
    }

    #[test]
    fn an_unknown_lag_waits_before_a_known_one_and_close_enough_goes_on() {
        let max = Duration::from_secs(5);
        let secs = |s| Lag::Behind(Duration::from_secs(s));
        assert_eq!(too_far_behind(&[], max), (None, None));
        let ok = [lag("replica 1", secs(1)), lag("replica 2", secs(5))];
        assert_eq!(
            too_far_behind(&ok, max),
            (None, Some(Duration::from_secs(5)))
        );
        let far = [lag("replica 1", secs(7)), lag("replica 2", secs(12))];
        assert_eq!(
            too_far_behind(&far, max).0.as_deref(),
            Some("replica 2 lags 12.0 s, more than 5 s")
        );
        let unknown = [
            lag("replica 1", secs(12)),
            lag(
                "replica 2",
                Lag::Unknown("cannot be read: timed out".into()),
            ),
        ];
        assert_eq!(
            too_far_behind(&unknown, max),
            (
                Some("replica 2: cannot be read: timed out".into()),
                Some(Duration::from_secs(12))
            )
        );
    }
}
