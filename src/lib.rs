//! lethe: a retention and deletion enforcement worker.
//!
//! # Layout
//!
//! Data flows one way: **policies -> plan -> apply -> audit**.
//!
//! - [`config`] loads the policies folder (`lethe.yaml` + policy files) into validated types,
//!   reporting every error with file, line and column.
//! - [`policy`] holds those types: retention policies, clocks, durations, actions, strategies.
//! - [`store`] talks to the SQL databases: schema checks, quoted statements, batches.
//! - [`plan`] evaluates every policy at a fixed instant and counts what it would do.
//! - [`apply`] enforces a plan in bounded, re-checked batches behind guards.
//! - [`anonymize`] computes masked values (HMAC, IP truncation).
//! - [`audit`] keeps the append-only, hash-chained audit trail in the state database, the
//!   runtime holds, and the run lease that keeps runs from interleaving.
//! - [`residency`] checks that every store lies in the EEA or an adequate country.
//! - [`report`] renders plans and runs as text, Markdown and JSON.
//! - [`daemon`] runs policies on their cron schedules: catch-up, lease waits, shutdown, metrics
//!   and the HTTP endpoints.
//! - [`cli`] is the command line; `main.rs` only maps its result to an exit code.

pub mod anonymize;
pub mod apply;
pub mod audit;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod plan;
pub mod policy;
pub mod report;
pub mod residency;
pub mod store;
