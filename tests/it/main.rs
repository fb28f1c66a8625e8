//! lethe's integration suite: one binary, real servers (SQLite, PostgreSQL, MariaDB), the real
//! `lethe` binary. See `support` for how servers are found and databases isolated.

// Test code: a failed expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod architecture;
mod audit_export;
mod browser;
mod certificate;
mod cli;
mod compat;
mod composite_keys;
mod config_errors;
mod crash;
mod daemon;
mod deploy;
mod discover;
mod forecast;
mod grants;
mod guards;
mod holds;
mod hostile;
mod objects;
mod pace;
mod period_report;
mod privacy;
mod references;
mod residency;
mod schema;
mod sql;
mod throttle;
