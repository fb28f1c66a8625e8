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
}

/// Runs `lethe discover`: exit 1 when a store or a table could not be read (the report is
/// printed all the same, naming what is missing).
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let config = config::load(&cli.config, &config::process_env())?;
    let options = discover::Options {
        sample: args.sample,
        table_bound: Duration::from_secs(args.table_timeout),
        today: chrono::Utc::now().date_naive(),
    };
    let found = discover::discover(&config, options).await;
    args.output
        .emit(&report::discovery(&found, args.output.format)?)?;
    Ok(if found.incomplete() {
        Code::Failure
    } else {
        Code::Ok
    })
}
