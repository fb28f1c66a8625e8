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
    let unused: Vec<String> = (prepared.config.settings.stores.keys())
        .filter(|n| !prepared.stores.contains_key(*n))
        .cloned()
        .collect();
    let extra = crate::store::connect_all(&prepared.config, unused).await?;
    for (name, store) in &prepared.stores {
        outln!("store {name}: connected ({})", store.dialect.name());
    }
    for (name, store) in &extra {
        outln!(
            "store {name}: connected ({}); no policy uses it",
            store.dialect.name()
        );
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
