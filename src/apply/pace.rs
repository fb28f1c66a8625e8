//! Time-bounded batches: the batch size of a SQL policy follows how long its data-changing
//! statements take, and the durations are summed up as p50 / p99 / max for reports.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The smallest batch a target ever shrinks to.
pub const FLOOR: u64 = 10;
/// The largest batch a target ever grows to (the most `batch_size` accepts).
pub const CEILING: u64 = 50_000;

/// A policy's batch size: fixed, or steered towards a statement duration.
#[derive(Debug, Clone)]
pub struct Pace {
    size: u64,
    target: Option<Duration>,
    times: Durations,
}

impl Pace {
    /// Starts at `size` rows; with a target, later batches follow it.
    pub fn new(size: u64, target: Option<Duration>) -> Pace {
        Pace {
            size: size.clamp(1, CEILING),
            target,
            times: Durations::default(),
        }
    }

    /// Rows in the next batch.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A batch of `rows` rows whose statement took `took`: the next size is what the target
    /// would have allowed at this batch's cost per row, moving by at most half or double at a
    /// time, between [`FLOOR`] and [`CEILING`]. A short batch (the last rows of a table) says
    /// little about the cost per row and changes nothing.
    pub fn took(&mut self, rows: u64, took: Duration) {
        self.times.add(took);
        let (Some(target), true) = (self.target, rows >= self.size) else {
            return;
        };
        let per_row = took.as_secs_f64().max(1e-6) / rows as f64;
        let ideal = target.as_secs_f64() / per_row;
        let now = self.size as f64;
        let next = ideal.clamp(now / 2.0, now * 2.0).round() as u64;
        self.size = next.clamp(FLOOR, CEILING);
    }

    /// The durations so far, summed up; `None` before the first batch.
    pub fn summary(&self) -> Option<BatchTimes> {
        self.times.summary(self.size)
    }
}

/// Statement durations of a policy's batches, as a report gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTimes {
    /// Median, in milliseconds (to within 10%).
    pub p50_ms: u64,
    /// 99th percentile, in milliseconds (to within 10%).
    pub p99_ms: u64,
    /// The longest, in milliseconds.
    pub max_ms: u64,
    /// The batch size the run ended with (rows).
    pub last_size: u64,
}

/// Buckets 10% apart from 1 ms: memory stays the same however many batches run.
const BUCKETS: usize = 160;

#[derive(Debug, Clone)]
struct Durations {
    count: u64,
    max: Duration,
    buckets: [u64; BUCKETS],
}

impl Default for Durations {
    fn default() -> Self {
        Durations {
            count: 0,
            max: Duration::ZERO,
            buckets: [0; BUCKETS],
        }
    }
}

impl Durations {
    fn bucket(d: Duration) -> usize {
        let ms = d.as_secs_f64() * 1000.0;
        if ms <= 1.0 {
            return 0;
        }
        ((ms.ln() / 1.1f64.ln()).ceil() as usize).min(BUCKETS - 1)
    }

    fn upper_ms(i: usize) -> u64 {
        1.1f64.powi(i as i32).round() as u64
    }

    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.max = self.max.max(d);
        self.buckets[Self::bucket(d)] += 1;
    }

    fn quantile(&self, q: f64) -> u64 {
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::upper_ms(i).min(self.max_ms());
            }
        }
        self.max_ms()
    }

    fn max_ms(&self) -> u64 {
        self.max.as_millis().min(u128::from(u64::MAX)) as u64
    }

    fn summary(&self, last_size: u64) -> Option<BatchTimes> {
        (self.count > 0).then(|| BatchTimes {
            p50_ms: self.quantile(0.5),
            p99_ms: self.quantile(0.99),
            max_ms: self.max_ms(),
            last_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_converges_on_the_target() {
        // Each row costs 2 ms; the target of 200 ms allows 100 rows.
        let mut pace = Pace::new(1000, Some(Duration::from_millis(200)));
        let mut sizes = Vec::new();
        for _ in 0..8 {
            let rows = pace.size();
            pace.took(rows, Duration::from_millis(2 * rows));
            sizes.push(pace.size());
        }
        assert_eq!(sizes[..4], [500, 250, 125, 100]);
        assert!(sizes[4..].iter().all(|s| *s == 100), "{sizes:?}");
        // Cheap rows grow it by at most double per batch, up to the ceiling.
        let mut pace = Pace::new(1000, Some(Duration::from_millis(200)));
        pace.took(1000, Duration::from_millis(1));
        assert_eq!(pace.size(), 2000);
        for _ in 0..20 {
            pace.took(pace.size(), Duration::from_micros(10));
        }
        assert_eq!(pace.size(), CEILING);
        // A short last batch changes nothing.
        let before = pace.size();
        pace.took(3, Duration::from_secs(1));
        assert_eq!(pace.size(), before);
        // A fixed size stays.
        let mut fixed = Pace::new(500, None);
        fixed.took(500, Duration::from_secs(3));
        assert_eq!(fixed.size(), 500);
    }

    #[test]
    fn the_summary_gives_quantiles_within_ten_percent() {
        let mut pace = Pace::new(100, None);
        assert_eq!(pace.summary(), None);
        for ms in 1..=100 {
            pace.took(100, Duration::from_millis(ms));
        }
        let s = pace.summary().unwrap();
        assert!((50..=56).contains(&s.p50_ms), "{s:?}");
        assert!((99..=100).contains(&s.p99_ms), "{s:?}");
        assert_eq!((s.max_ms, s.last_size), (100, 100));
    }
}
