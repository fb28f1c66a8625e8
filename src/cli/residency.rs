//! `lethe residency`: where every store is, and whether the agreement allows it.

use super::{Cli, Code, Output};
use crate::{config, report, residency};

/// Arguments of `lethe residency`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    output: Output,
    /// Also raise the alert (error log line and `residency.webhook`) for every violation.
    #[arg(long)]
    alert: bool,
}

/// Runs `lethe residency`: exit 3 when any store violates.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
    let config = config::load(&cli.config, &crate::config::process_env())?;
    let r = residency::check_live(
        &config.settings.stores,
        &config.settings.residency,
        chrono::Utc::now(),
    )
    .await;
    if args.alert {
        residency::alert(&r, &config.settings.residency, "residency").await;
    }
    args.output
        .emit(&report::residency(&r, args.output.format)?)?;
    Ok(if r.violations > 0 {
        Code::Residency
    } else {
        Code::Ok
    })
}
