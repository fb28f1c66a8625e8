//! How a SQL policy waits between batches: for its store's replicas to catch up, and to keep a
//! rate of rows per second.

use std::time::Duration;

/// The default of `max_throttle_wait`: the longest a policy waits for its replicas in all.
pub const DEFAULT_MAX_THROTTLE_WAIT: Duration = Duration::from_secs(600);

/// A SQL policy's throttle: read between batches, never inside one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Wait before the next batch while a replica of the store lags more than this. `None`:
    /// replicas are not read.
    pub max_replica_lag: Option<Duration>,
    /// The longest the policy waits for its replicas in all; after it the policy stops as
    /// `throttled` (the batches done stay done).
    pub max_wait: Duration,
    /// Sleep between batches so the policy changes at most this many rows per second.
    pub max_rows_per_second: Option<u32>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            max_replica_lag: None,
            max_wait: DEFAULT_MAX_THROTTLE_WAIT,
            max_rows_per_second: None,
        }
    }
}

impl Throttle {
    /// True when the policy never waits.
    pub fn is_off(&self) -> bool {
        self.max_replica_lag.is_none() && self.max_rows_per_second.is_none()
    }
}
