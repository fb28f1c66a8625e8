//! `lethe discover`: which columns and object prefixes hold personal data, and which of them
//! no policy reaches.

use super::{Cli, Code, Output};
use crate::{config, discover, report};
use std::time::Duration;

/// Arguments of `lethe discover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    output: Output,
    /// Rows sampled per table: the first N by primary key (by every column without one).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    sample: u64,
    /// The longest one table's sample may take, in seconds; a slower table is judged on its
    /// column names alone and named in the report.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    table_timeout: u64,
    /// The longest one object store's listing may take, in seconds; a slower store is counted
    /// in part, named in the report, and the exit is 1 (the report is incomplete).
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86400))]
    listing_timeout: u64,
    /// Write a policy draft into DIR for each table with ungoverned personal data: a delete
    /// policy for a table no policy names, an anonymize policy for the columns the table's
    /// policies leave out. Each only plans (`mode: dry-run`), guesses its clock from the
    /// table's date and timestamp columns and says so, and leaves `keep` for a person. Existing
    /// files are left as they are. Put DIR inside the policies folder and `lethe check`
    /// accepts them.
    #[arg(long, value_name = "DIR")]
    suggest: Option<std::path::PathBuf>,
    /// With `--suggest`: the lowest confidence (0 to 1) of a finding that gets a draft.
    #[arg(long, value_name = "C", default_value_t = 0.8, requires = "suggest", value_parser = super::check::confidence)]
    min_confidence: f64,
}

/// Runs `lethe discover`: exit 1 when a store or a table could not be read (the report is
/// printed all the same, naming what is missing).
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let config = config::load(&cli.config, &config::process_env())?;
    let options = discover::Options {
        sample: args.sample,
        table_bound: Duration::from_secs(args.table_timeout),
        listing_bound: Duration::from_secs(args.listing_timeout),
        today: chrono::Utc::now().date_naive(),
    };
    let found = discover::discover(&config, options).await;
    args.output
        .emit(&report::discovery(&found, args.output.format)?)?;
    if let Some(dir) = &args.suggest {
        let drafts =
            discover::suggest::suggest(&config, &found.findings, args.min_confidence).await;
        write_drafts(dir, &drafts)?;
    }
    Ok(if found.incomplete() {
        Code::Failure
    } else {
        Code::Ok
    })
}

/// Writes each draft into `dir` (made if missing) unless its file exists, and says what it did
/// on stderr (stdout carries the report).
fn write_drafts(dir: &std::path::Path, s: &discover::suggest::Suggestions) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot make {}: {e}", dir.display()))?;
    for d in &s.drafts {
        let path = dir.join(&d.file);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path);
        match file {
            Ok(mut f) => {
                f.write_all(d.text.as_bytes())
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                eprintln!(
                    "suggest: wrote {} ({} of {}.{}, clock `{}` guessed, keep left for a person, mode dry-run)",
                    path.display(),
                    d.action,
                    d.store,
                    d.table,
                    d.clock
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                eprintln!("suggest: {} exists; left as it is", path.display());
            }
            Err(e) => anyhow::bail!("cannot write {}: {e}", path.display()),
        }
    }
    for (table, why) in &s.skipped {
        eprintln!("suggest: no draft for {table}: {why}");
    }
    if s.drafts.is_empty() && s.skipped.is_empty() {
        eprintln!("suggest: nothing ungoverned to draft a policy for");
    }
    Ok(())
}
