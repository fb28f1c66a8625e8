//! `lethe check`: validate configuration, connect, check schemas.

use super::{Cli, Code};

/// Arguments of `lethe check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `lethe check`.
pub async fn run(cli: &Cli, _args: &Args) -> anyhow::Result<Code> {
    let prepared = super::prepare(cli, &[], true, None).await?;
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
    for (name, store) in &extra {
        let problems: Vec<String> =
            declared_hold_problems(store, &prepared.config.holds, name).await;
        if !problems.is_empty() {
            return Err(super::CliError::usage(problems.join("\n")));
        }
    }
    for h in &prepared.config.holds {
        outln!(
            "hold {}: ok ({}.{}; basis: {})",
            h.name,
            h.store,
            h.table,
            h.basis
        );
    }
    let now = chrono::Utc::now();
    let runtime: Vec<_> = (prepared.db.runtime_holds().await?)
        .into_iter()
        .filter(|h| h.active_at(now))
        .collect();
    outln!(
        "state database: ok ({} runtime holds in force)",
        runtime.len()
    );
    let residency = crate::residency::check(&prepared.config, now);
    super::out(&crate::report::residency(
        &residency,
        crate::report::Format::Text,
    ));
    Ok(if residency.violations > 0 {
        Code::Residency
    } else {
        Code::Ok
    })
}

/// Checks the declared holds on a store that no policy uses.
async fn declared_hold_problems(
    store: &crate::store::SqlStore,
    holds: &[crate::policy::Hold],
    name: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for h in holds.iter().filter(|h| h.store == name) {
        out.extend(store.check_hold(h).await);
    }
    out
}
