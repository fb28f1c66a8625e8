//! `lethe check`: validate configuration, connect, check schemas.

use super::{Cli, Code};

/// Arguments of `lethe check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `lethe check`.
pub async fn run(cli: &Cli, _args: &Args) -> anyhow::Result<Code> {
    let prepared = super::prepare(cli, &[]).await?;
    outln!(
        "configuration: {} ({} policies)",
        prepared.config.dir.display(),
        prepared.config.policies.len()
    );
    for (name, store) in &prepared.stores {
        outln!("store {name}: connected ({:?})", store.dialect);
    }
    for t in &prepared.targets {
        outln!(
            "policy {}: ok ({} on {}, keep {})",
            t.policy.name,
            t.policy.action.name(),
            t.policy.target(),
            t.policy.keep
        );
    }
    super::open_state(&prepared.config).await?;
    outln!("state database: ok");
    Ok(Code::Ok)
}
