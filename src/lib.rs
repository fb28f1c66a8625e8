//! lethe: a retention and deletion enforcement worker.
//!
//! # Layout
//!
//! Data flows one way: **policies -> plan -> apply -> audit**. The modules below are layers,
//! top to bottom: a module may use the modules listed after it, never one listed before it
//! (`tests/it/architecture.rs` keeps it so).
//!
//! - [`cli`] is the command line: clap types and one thin file per command; `main.rs` only
//!   maps its result to an exit code.
//! - [`daemon`] runs policies on their cron schedules: catch-up, lease waits, shutdown,
//!   metrics, the HTTP endpoints, and the worker that calls the engine.
//! - [`engine`] prepares a configuration into checked work (stores, schemas, holds, cascades,
//!   shards, order) and enforces it (plan, pins, guards, batches, audit).
//! - [`report`] renders plans and runs as text, Markdown, HTML and JSON.
//! - [`discover`] finds personal data that no policy names: column names and sampled values
//!   judged per kind (validators, a Dutch and English dictionary), object prefixes, and the
//!   coverage of each finding by the policies.
//! - [`certificate`] makes deletion certificates: per subject, a fresh scan of every policy
//!   that reaches it, the runs that did the deleting and the audit chain head, signed.
//! - [`apply`] executes a plan in bounded, re-checked batches behind guards.
//! - [`plan`] evaluates every policy at one evaluation instant and counts what it would do.
//! - [`audit`] keeps the state database: the append-only, hash-chained audit trail, the
//!   runtime holds and the run lease that keeps runs from interleaving.
//! - [`config`] loads the policies folder (`lethe.yaml` + policy files) into validated model
//!   types, reporting every error with file, line and column.
//! - [`residency`] checks that every store lies in the EEA or an adequate country: pure
//!   tables, rules and judge, and the live check of S3 buckets.
//! - [`store`] talks to the stores: SQL databases (schema checks, quoted statements, batches)
//!   and object stores (S3 buckets, folders).
//! - [`anonymize`] computes masked values (HMAC, IP truncation).
//! - [`model`] is the validated vocabulary: retention and object policies, holds, clocks,
//!   durations, identifiers, actions, strategies and store specifications.
//! - [`db`] is the database plumbing shared by stores and the state database: pools and
//!   error sanitising.
//! - [`util`] holds leaf helpers: text, hashing, Ed25519 signatures, host names.

pub mod anonymize;
pub mod apply;
pub mod audit;
pub mod certificate;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod db;
pub mod discover;
pub mod engine;
pub mod model;
pub mod plan;
pub mod report;
pub mod residency;
pub mod store;
pub mod util;
