//! `lethe check`: validate configuration, connect, check schemas.

use super::{Cli, Code};
use crate::plan::Item;

/// Arguments of `lethe check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `lethe check`.
pub async fn run(cli: &Cli, _args: &Args) -> anyhow::Result<Code> {
    let prepared = super::prepare(cli, &[], true, None, chrono::Utc::now()).await?;
    outln!(
        "configuration: {} ({})",
        prepared.config.dir.display(),
        match prepared.config.policies.len() + prepared.config.objects.len() {
            1 => "1 policy".to_string(),
            n => format!("{n} policies"),
        }
    );
    let stores = &prepared.config.settings.stores;
    let unused = |objects: bool| -> Vec<String> {
        (stores.iter())
            .filter(|(n, s)| {
                s.holds_objects() == objects
                    && !prepared.stores.contains_key(*n)
                    && !prepared.object_stores.contains_key(*n)
            })
            .map(|(n, _)| n.clone())
            .collect()
    };
    let extra = crate::store::connect_all(&prepared.config.settings.stores, unused(false)).await?;
    let extra_objects =
        crate::store::connect_objects(&prepared.config.settings.stores, unused(true)).await?;
    for (name, store) in &prepared.stores {
        outln!("store {name}: connected ({})", store.dialect.name());
    }
    for (name, store) in &extra {
        outln!(
            "store {name}: connected ({}); no policy uses it",
            store.dialect.name()
        );
    }
    for (name, store) in prepared.object_stores.iter().chain(&extra_objects) {
        let f = store.features().await?;
        outln!(
            "store {name}: connected ({}{}{}){}",
            store.location(),
            if f.versioned { ", versioned" } else { "" },
            if f.object_lock { ", Object Lock" } else { "" },
            if extra_objects.contains_key(name) {
                "; no policy uses it"
            } else {
                ""
            }
        );
    }
    for item in &prepared.items {
        match item {
            Item::Table(t) => outln!(
                "policy {}: ok ({} on {}, keep {})",
                t.policy.name,
                t.policy.action.name(),
                t.policy.target(),
                t.policy.keep
            ),
            Item::Objects(t) => outln!(
                "policy {}: ok (delete on {}, clock {}, keep {})",
                t.policy.name,
                t.policy.target(),
                t.policy.clock.describe(),
                t.policy.keep
            ),
        }
    }
    for (name, store) in &extra {
        let problems: Vec<String> =
            declared_hold_problems(store, &prepared.config.holds, name).await;
        if !problems.is_empty() {
            return Err(super::CliError::usage(problems.join("\n")));
        }
    }
    for h in &prepared.config.holds {
        outln!("hold {}: ok ({}; basis: {})", h.name, h.target(), h.basis);
    }
    let runtime: Vec<_> = (prepared.db.runtime_holds().await?)
        .into_iter()
        .filter(|h| h.active_at(prepared.as_of))
        .collect();
    outln!(
        "state database: ok ({} runtime holds in force)",
        runtime.len()
    );
    let residency = crate::residency::check_live(
        &prepared.config.settings.stores,
        &prepared.config.settings.residency,
        chrono::Utc::now(),
    )
    .await;
    super::out(&crate::report::residency(
        &residency,
        crate::report::Format::Text,
    )?);
    Ok(if residency.violations > 0 {
        Code::Residency
    } else {
        Code::Ok
    })
}

/// Checks the declared holds on a store that no policy uses.
async fn declared_hold_problems(
    store: &crate::store::SqlStore,
    holds: &[crate::model::Hold],
    name: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for h in holds.iter().filter(|h| h.store == name) {
        out.extend(store.check_hold(h).await);
    }
    out
}
