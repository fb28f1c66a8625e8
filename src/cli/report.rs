//! `lethe report`: the period report from the audit trail.

use super::{Cli, Code, Output};
use crate::report::PeriodBuilder;
use chrono::{DateTime, Duration, Utc};

/// Arguments of `lethe report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First day (from its start, UTC) or instant of the period. Default: 30 days before
    /// `--until`.
    #[arg(long, value_name = "DATE", value_parser = crate::model::parse_since)]
    since: Option<DateTime<Utc>>,
    /// Last day (through its end, UTC) or the instant the period ends. Default: now.
    #[arg(long, value_name = "DATE", value_parser = crate::model::parse_until)]
    until: Option<DateTime<Utc>>,
    #[command(flatten)]
    output: Output,
}

/// Runs `lethe report`: reads the whole trail page by page (memory grows with the period's
/// nights and policies, not with the trail), checks its chain, and writes the report. Exit 1
/// when the chain is broken (the report says where).
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let until = args.until.unwrap_or_else(Utc::now);
    let since = args.since.unwrap_or(until - Duration::days(30));
    if since >= until {
        return Err(super::CliError::usage(
            "`--since` must lie before `--until`: the period is empty",
        ));
    }
    let config = crate::config::load(&cli.config, &crate::config::process_env())?;
    let db = super::open_state(&config).await?;
    let mut builder = PeriodBuilder::new(since, until);
    db.scan(|e| {
        builder.add(e);
        anyhow::Ok(())
    })
    .await?;
    let chain = db.verify().await?;
    let report = builder
        .finish(&chain)
        .with_forecast(forecast(cli).await.as_ref().map_err(|e| format!("{e:#}")));
    args.output
        .emit(&crate::report::period(&report, args.output.format)?)?;
    Ok(if report.chain.intact {
        Code::Ok
    } else {
        Code::Failure
    })
}

/// A fresh plan with its forecast, counted on the live stores now.
async fn forecast(cli: &Cli) -> anyhow::Result<crate::plan::Plan> {
    let prepared = super::prepare(cli, &[], false, None, Utc::now()).await?;
    let mut plan =
        crate::plan::make_plan(&prepared.work(), prepared.as_of, &prepared.config.hash).await?;
    crate::plan::forecast(&prepared.work(), &mut plan).await?;
    Ok(plan)
}
