//! The crash campaign as tests: the real binary killed with SIGKILL at seeded random moments,
//! then run again, and the result compared with an expectation computed here, independently of
//! lethe. `scripts/crash-campaign.sh` runs many more kill points.
//!
//! - `sql`: `apply` on a table (delete and anonymize, PostgreSQL and MariaDB, a legal hold in
//!   force); the HMAC is recomputed with the `hmac` crate. It also ends the store's sessions
//!   mid-run (faults).
//! - `objects`: `apply` on a folder and on a versioned bucket on moto (a `LegalHold` on a prefix,
//!   files not yet due, keys with several versions and delete markers).
//! - `daemon`: `lethe daemon` killed mid-run on PostgreSQL and MariaDB, then started again: the
//!   lease it held must not keep the next one out.
//!
//! `LETHE_CRASH_POINTS` sets the kill points per case (default 2), `LETHE_CRASH_SEED` the seed.
//! Every kill point survived prints `crash campaign: <what>, killed <n> ms after <event>
//! (mid-run|after the work): survived`, which the script counts.

use std::process::Child;

mod daemon;
mod objects;
mod sql;

/// A small seeded generator (SplitMix64): the same seed gives the same kill moments.
pub struct Rng(u64);

impl Rng {
    /// The generator of one case: the seed mixed with the case's own number.
    pub fn for_case(case: u64) -> Rng {
        Rng(seed() ^ case)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Kill points per case.
pub fn points() -> u64 {
    std::env::var("LETHE_CRASH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn seed() -> u64 {
    std::env::var("LETHE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_202)
}

/// SIGKILL, and the process reaped (so that its pid is gone, as after a real crash).
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The line `scripts/crash-campaign.sh` counts for a kill point survived.
pub fn survived(what: &str, wait_ms: u64, after: &str, mid_run: bool) {
    eprintln!(
        "crash campaign: {what}, killed {wait_ms} ms after {after} ({}): survived",
        if mid_run { "mid-run" } else { "after the work" }
    );
}
