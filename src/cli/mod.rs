//! The command line: one file per subcommand. Errors become exit codes here.

/// `println!` that ends quietly when stdout is a closed pipe.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::out(&format!("{}\n", format_args!($($t)*)))
    };
}

mod apply;
mod audit;
mod certificate;
mod check;
mod daemon;
mod demo;
mod discover;
mod holds;
mod plan;
mod report;
mod residency;
mod schema;

use crate::config::{self, Config};
use crate::engine::{EngineError, Prepared};
use crate::model::Shard;
use crate::report::Format;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use std::fmt;
use std::path::{Path, PathBuf};

/// The exit codes of lethe, fixed by the product contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// Runtime failure: some action failed (nothing half-done).
    Failure = 1,
    /// Invalid configuration or usage; nothing was touched.
    Usage = 2,
    /// Residency violation found.
    Residency = 3,
    /// Refused by a guard or by plan drift; nothing was touched.
    Refused = 4,
    /// `check --coverage`: personal data that no policy governs.
    Coverage = 5,
}

/// An error that carries its exit code.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: Code,
    /// What to tell the user.
    pub message: String,
}

impl CliError {
    /// A usage/configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        CliError {
            code: Code::Usage,
            message: message.into(),
        }
        .into()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Maps an error to its exit code.
pub fn code_of(e: &anyhow::Error) -> Code {
    if e.downcast_ref::<config::ConfigErrors>().is_some()
        || matches!(e.downcast_ref::<EngineError>(), Some(EngineError::Unfit(_)))
    {
        Code::Usage
    } else if let Some(c) = e.downcast_ref::<CliError>() {
        c.code
    } else {
        Code::Failure
    }
}

const ABOUT: &str = "lethe enforces data retention: it reads retention policies, finds personal data past its \
purpose or past the end of a customer's contract in SQL databases, S3 buckets and folders, and deletes or \
anonymizes it, leaving an audit trail.";

const AFTER_HELP: &str = "\
Typical use:
  lethe demo                      build a demo database and plan against it
  lethe check                     validate policies and the live schemas they name
  lethe plan --format markdown    dry run: what each policy would do now (writes a plan file)
  lethe apply --plan FILE         do exactly what a reviewed plan approved
  lethe daemon                    run every policy on its schedule, serve /metrics
  lethe residency                 is every store in the EEA or an adequate country?
  lethe discover                  which columns and prefixes hold personal data no policy reaches?
  lethe discover --suggest DIR    draft dry-run policies for it (clock guessed, keep left to you)
  lethe audit verify              check the hash chain of the audit trail
  lethe report --format html      what was deleted, held and refused, per night (with charts)
  lethe certificate --subject customer_id=42   a signed certificate of deletion for a customer
  lethe schema                    JSON Schema of the configuration files, for editors

Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage,
            3 residency violation, 4 refused by a guard or by plan drift,
            5 `check --coverage` found personal data that no policy governs.";

/// Command-line interface.
#[derive(Debug, Parser)]
#[command(name = "lethe", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// The policies folder: lethe.yaml plus policy files (*.yaml, several documents per file).
    #[arg(long, global = true, env = "LETHE_CONFIG", default_value = "policies")]
    pub config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v info, -vv debug; the daemon logs at info by default). `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for production log pipelines).
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration, connect to every store, check tables, columns and types.
    Check(check::Args),
    /// Dry run: count what each policy would do now and write a plan file. Changes no data.
    Plan(plan::Args),
    /// Enforce the policies in bounded batches, or exactly a reviewed plan (`--plan FILE`).
    Apply(apply::Args),
    /// Long-running worker: each policy on its cron schedule (UTC), one instance at a time,
    /// /healthz, /readyz and /metrics over HTTP. Stops cleanly on SIGTERM.
    Daemon(daemon::Args),
    /// Runtime legal holds: add, list, release. Held records are never deleted or anonymized.
    Holds(holds::Args),
    /// Where every store is (region -> country -> EEA / adequacy); exit 3 on any violation.
    Residency(residency::Args),
    /// List runs, verify the hash chain, or export the audit trail.
    Audit(audit::Args),
    /// A period report from the audit trail: per policy and per night deleted, anonymized,
    /// held, failed; refusals, holds, residency; HTML with charts for a DPO's records.
    Report(report::Args),
    /// A signed deletion certificate for one subject (`--subject customer_id=42`), from a fresh
    /// scan of every policy that reaches it; `verify FILE` checks one.
    Certificate(certificate::Args),
    /// Find personal data that no policy reaches: every table and column of every SQL store
    /// (names and a deterministic sample of values), every object prefix; each finding with
    /// its kind, category, confidence, evidence counts and coverage. Never prints a value.
    Discover(discover::Args),
    /// Build a demo CRM database (SQLite, fake Dutch-looking data) and folder, and plan against them.
    Demo(demo::Args),
    /// Print the JSON Schema of lethe.yaml, RetentionPolicy and LegalHold documents, with which
    /// editors check policy files as they are written.
    Schema(schema::Args),
}

/// Policy selection and evaluation instant, shared by plan and apply.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Only this policy (repeatable).
    #[arg(long = "policy", value_name = "NAME")]
    pub policies: Vec<String>,
    /// Evaluate at this instant instead of now (RFC 3339, e.g. 2026-11-23T02:30:00Z).
    #[arg(long, value_parser = parse_instant)]
    pub as_of: Option<DateTime<Utc>>,
}

/// Report output, shared by commands that print one.
#[derive(Debug, clap::Args)]
pub struct Output {
    /// Report format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long, global = true, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl Output {
    /// Prints or writes the report.
    pub fn emit(&self, text: &str) -> anyhow::Result<()> {
        match &self.out {
            Some(path) => write_file(path, text),
            None => {
                out(text);
                Ok(())
            }
        }
    }
}

/// Writes to stdout; a closed pipe (`lethe plan | head`) ends the output quietly.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "expected an RFC 3339 instant, e.g. 2026-11-23T02:30:00Z".to_string())
}

/// Writes a file, creating its folder.
pub fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("cannot create folder `{}`: {e}", parent.display()))?;
    }
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<Code> {
    match &cli.command {
        Command::Check(a) => check::run(&cli, a).await,
        Command::Plan(a) => plan::run(&cli, a).await,
        Command::Apply(a) => apply::run(&cli, a).await,
        Command::Daemon(a) => daemon::run(&cli, a).await,
        Command::Holds(a) => holds::run(&cli, a).await,
        Command::Residency(a) => residency::run(&cli, a).await,
        Command::Audit(a) => audit::run(&cli, a).await,
        Command::Report(a) => report::run(&cli, a).await,
        Command::Certificate(a) => certificate::run(&cli, a).await,
        Command::Discover(a) => discover::run(&cli, a).await,
        Command::Demo(a) => demo::run(&cli, a).await,
        Command::Schema(a) => schema::run(&cli, a).await,
    }
}

/// On SIGINT or SIGTERM: raises `stop` (the batch in progress finishes, then the run stops and
/// is recorded as interrupted) and, for the daemon, tells its loop and HTTP server to end. A
/// second signal stops at once: the database rolls back the batch in progress when the
/// connection closes, so nothing is half done; the run stays `unfinished` in the trail.
pub fn on_stop_signal(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tx: Option<tokio::sync::watch::Sender<bool>>,
) {
    tokio::spawn(async move {
        if !next_stop_signal().await {
            return;
        }
        tracing::warn!("stop requested: finishing the current batch, then stopping (a second signal stops at once)");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(tx) = tx {
            let _ = tx.send(true);
        }
        if next_stop_signal().await {
            eprintln!("error: stopped at once by a second signal; the batch in progress was not committed");
            std::process::exit(Code::Failure as i32);
        }
    });
}

/// Waits for SIGINT or SIGTERM; false when signals cannot be listened to.
async fn next_stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return false;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        true
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Loads the configuration from the folder on the command line and prepares the selected
/// policies (see [`crate::engine::prepare`]).
pub async fn prepare(
    cli: &Cli,
    selected: &[String],
    create_state: bool,
    shard: Option<Shard>,
    as_of: DateTime<Utc>,
) -> anyhow::Result<Prepared> {
    let config = config::load(&cli.config, &config::process_env())?;
    Ok(crate::engine::prepare(config, selected, create_state, shard, as_of).await?)
}

/// Opens the state database named in the configuration.
pub async fn open_state(config: &Config) -> anyhow::Result<crate::audit::StateDb> {
    Ok(crate::audit::StateDb::open(config.settings.state_url.expose()).await?)
}
