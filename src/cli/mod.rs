//! The command line: one file per subcommand. Errors become exit codes here.

/// `println!` that ends quietly when stdout is a closed pipe.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::out(&format!("{}\n", format_args!($($t)*)))
    };
}

mod apply;
mod audit;
mod check;
mod daemon;
mod demo;
mod holds;
mod plan;
mod residency;
mod schema;

use crate::config::{self, Config};
use crate::policy::{Action, Hold, RetentionPolicy, Shard};
use crate::report::Format;
use crate::store::{self, SqlStore, Target};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
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
    if e.downcast_ref::<config::ConfigErrors>().is_some() {
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
  lethe audit verify              check the hash chain of the audit trail
  lethe schema                    JSON Schema of the configuration files, for editors

Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage,
            3 residency violation, 4 refused by a guard or by plan drift.";

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
        Command::Demo(a) => demo::run(&cli, a).await,
        Command::Schema(a) => schema::run(&cli, a).await,
    }
}

/// A loaded configuration with its stores connected and selected policies checked.
pub struct Prepared {
    /// The configuration.
    pub config: Config,
    /// Connected stores by name.
    pub stores: BTreeMap<String, SqlStore>,
    /// Checked policies, in execution order, each with the holds on its table.
    pub targets: Vec<Target>,
    /// Connected object stores by name.
    pub object_stores: BTreeMap<String, store::ObjectStore>,
    /// Checked object policies, each with the holds over its prefix.
    pub objects: Vec<crate::plan::ObjectTarget>,
    /// The state database.
    pub db: crate::audit::StateDb,
}

impl Prepared {
    /// Every prepared policy with its stores.
    pub fn work(&self) -> crate::plan::Work<'_> {
        crate::plan::Work {
            stores: &self.stores,
            targets: &self.targets,
            object_stores: &self.object_stores,
            objects: &self.objects,
        }
    }
}

/// Loads the configuration, selects policies, connects stores and checks the live schemas.
/// With `create_state` false (apply), a state database that does not exist yet is an error.
/// With a shard, only that shard's share of the work is kept.
pub async fn prepare(
    cli: &Cli,
    selected: &[String],
    create_state: bool,
    shard: Option<Shard>,
) -> anyhow::Result<Prepared> {
    let config = config::load(&cli.config)?;
    let known = config.policy_names();
    for name in selected {
        if !known.contains(name) {
            return Err(CliError::usage(format!(
                "unknown policy `{name}`; expected one of: {}",
                known.join(", ")
            )));
        }
    }
    let policies: Vec<_> = config
        .policies
        .iter()
        .filter(|p| selected.is_empty() || selected.contains(&p.name))
        .cloned()
        .collect();
    let object_policies: Vec<_> = config
        .objects
        .iter()
        .filter(|p| selected.is_empty() || selected.contains(&p.name))
        .cloned()
        .collect();
    // SQL stores of table policies, and of the contract clocks of object policies.
    let linked = object_policies.iter().filter_map(|p| match &p.clock {
        crate::policy::ObjectClock::Contract { store, .. } => Some(store.clone()),
        _ => None,
    });
    let stores = store::connect_all(
        &config,
        policies.iter().map(|p| p.store.clone()).chain(linked),
    )
    .await?;
    let object_stores =
        store::connect_objects(&config, object_policies.iter().map(|p| p.store.clone())).await?;
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for p in &policies {
        let Some(store) = stores.get(&p.store) else {
            continue;
        };
        match store.check(p).await {
            Ok(t) => targets.push(t),
            Err(errs) => problems.extend(errs),
        }
    }
    if !problems.is_empty() {
        return Err(CliError::usage(format!(
            "the policies do not fit the live schema:\n  {}",
            problems.join("\n  ")
        )));
    }
    // Holds: declared ones and runtime ones from the state database. A hold that cannot be
    // evaluated against its table stops the run before anything changes.
    let db =
        match crate::audit::StateDb::open_with(config.settings.state_url.expose(), create_state)
            .await
        {
            Err(e @ crate::audit::AuditError::Missing(_)) => {
                return Err(CliError::usage(e.to_string()))
            }
            other => other?,
        };
    let holds: Vec<Hold> = config
        .holds
        .iter()
        .cloned()
        .chain(db.runtime_holds().await?)
        .collect();
    // An expired hold holds nothing and is not checked; every other one must fit, and must name
    // a store this configuration has (a renamed store must not switch its holds off).
    let now = chrono::Utc::now();
    for h in holds.iter().filter(|h| h.active_at(now)) {
        if !config.settings.stores.contains_key(&h.store) {
            problems.push(format!(
                "hold `{}` names store `{}`, which lethe.yaml does not have (renamed?); restore the store name or release the hold",
                h.name, h.store
            ));
        }
    }
    for h in holds.iter().filter(|h| h.active_at(now)) {
        let on_objects = config
            .settings
            .stores
            .get(&h.store)
            .is_some_and(config::StoreConfig::holds_objects);
        match (&h.scope, on_objects) {
            (crate::policy::Scope::Table(_), false) => {
                if let Some(store) = stores.get(&h.store) {
                    problems.extend(store.check_hold(h).await);
                }
            }
            (crate::policy::Scope::Prefix(_), true) => {}
            // The prefix itself is not shown: it may name a person.
            (scope, _) => problems.push(format!(
                "hold `{}` covers {}, which store `{}` cannot have (a SQL store has tables, an object store prefixes)",
                h.name,
                match scope {
                    crate::policy::Scope::Table(_) => "a table",
                    crate::policy::Scope::Prefix(_) => "a key prefix",
                },
                h.store
            )),
        }
    }
    let objects = prepare_objects(
        object_policies,
        &object_stores,
        &stores,
        &holds,
        &mut problems,
    )
    .await?;
    // A delete that cascades through foreign keys into a held table could remove held records
    // behind the statement's back: refuse such a policy.
    for t in targets
        .iter()
        .filter(|t| matches!(t.policy.action, Action::Delete))
    {
        let Some(store) = stores.get(&t.policy.store) else {
            continue;
        };
        for (child, rule) in store.cascading_children(&t.policy.table).await? {
            for h in holds
                .iter()
                .filter(|h| h.active_at(now) && h.covers_table(&t.policy.store, &child))
            {
                problems.push(format!(
                    "policy `{}` deletes from `{}`, and `{child}` references it with ON DELETE {rule}: a delete could change records that hold `{}` keeps. Make that foreign key RESTRICT, so that the database refuses to delete the parent of a kept record",
                    t.policy.name, t.policy.table, h.name
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(CliError::usage(format!(
            "the holds do not fit the live schema; nothing was changed:\n  {}",
            problems.join("\n  ")
        )));
    }
    let deletes: Vec<RetentionPolicy> = targets
        .iter()
        .filter(|t| matches!(t.policy.action, Action::Delete))
        .map(|t| t.policy.clone())
        .collect();
    for t in &mut targets {
        t.holds = holds_on(&holds, &t.policy.store, &t.policy.table);
        if matches!(t.policy.action, Action::Anonymize(_)) {
            t.superseded_by = deletes
                .iter()
                .filter(|d| d.store == t.policy.store && d.table == t.policy.table)
                .cloned()
                .collect();
        }
    }
    // A shard takes its key class of every integer-keyed policy, and the whole of the other
    // policies it owns. Supersedes were set above from every policy, so an anonymization
    // still leaves alone what another shard's delete will remove.
    let mut objects = objects;
    if let Some(s) = shard {
        targets.retain(|t| t.int_key || s.owns(&t.policy.name));
        for t in targets.iter_mut().filter(|t| t.int_key) {
            t.shard = Some(s);
        }
        // An object policy is not split: one shard runs all of it.
        objects.retain(|t| s.owns(&t.policy.name));
    }
    // Deletes before anonymizations: never anonymize a row that is about to be deleted.
    targets.sort_by_key(|t| !matches!(t.policy.action, Action::Delete));
    Ok(Prepared {
        config,
        stores,
        targets,
        object_stores,
        objects,
        db,
    })
}

/// Checks object policies against their stores: versioning and Object Lock are read, the
/// clock can be read there, and a contract clock's table fits.
async fn prepare_objects(
    policies: Vec<crate::policy::ObjectPolicy>,
    object_stores: &BTreeMap<String, store::ObjectStore>,
    stores: &BTreeMap<String, SqlStore>,
    holds: &[Hold],
    problems: &mut Vec<String>,
) -> anyhow::Result<Vec<crate::plan::ObjectTarget>> {
    let mut read: BTreeMap<String, crate::store::object::Features> = BTreeMap::new();
    let mut out = Vec::new();
    for p in policies {
        let Some(store) = object_stores.get(&p.store) else {
            return Err(CliError::usage(format!(
                "store `{}` is not connected",
                p.store
            )));
        };
        // Versioning and Object Lock, read once per store.
        let features = match read.get(&p.store) {
            Some(f) => *f,
            None => {
                let f = store.features().await?;
                read.insert(p.store.clone(), f);
                f
            }
        };
        let mut link = None;
        if let crate::policy::ObjectClock::Contract {
            store: sql,
            table,
            column,
            on,
        } = &p.clock
        {
            match stores.get(sql) {
                Some(db) => match db.check_link(table, column, &on.1).await {
                    Ok(integer) => {
                        link = Some(store::Link {
                            store: sql.clone(),
                            table: table.clone(),
                            column: column.clone(),
                            on: on.1.clone(),
                            integer,
                        })
                    }
                    Err(e) => problems.push(format!("policy `{}`: clock: {e}", p.name)),
                },
                None => problems.push(format!(
                    "policy `{}`: store `{sql}` is not connected",
                    p.name
                )),
            }
        }
        out.push(crate::plan::ObjectTarget {
            features,
            holds: holds
                .iter()
                .filter(|h| h.covers_prefix(&p.store, &p.prefix))
                .cloned()
                .collect(),
            link,
            policy: p,
        });
    }
    if !problems.is_empty() {
        return Err(CliError::usage(format!(
            "the policies do not fit their stores; nothing was changed:\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(out)
}

/// The holds among `holds` that concern one table.
pub fn holds_on(holds: &[Hold], store: &str, table: &crate::policy::Ident) -> Vec<Hold> {
    holds
        .iter()
        .filter(|h| h.covers_table(store, table))
        .cloned()
        .collect()
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

/// Opens the state database named in the configuration.
pub async fn open_state(config: &Config) -> anyhow::Result<crate::audit::StateDb> {
    Ok(crate::audit::StateDb::open(config.settings.state_url.expose()).await?)
}
