//! `lethe check`: validate configuration, connect, check schemas.

use super::{Cli, Code};
use crate::plan::Item;

/// Arguments of `lethe check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also run `lethe discover` and exit 5 when a column or object prefix holds personal data
    /// (at `--min-confidence` or above) that no enforcing policy governs and no `Exemption`
    /// covers: for a CI pipeline that must fail when someone adds a `phone` column without a
    /// policy. A `dry-run` policy does not govern.
    #[arg(long)]
    coverage: bool,
    /// With `--coverage`: the lowest confidence (0 to 1) at which an ungoverned finding fails
    /// the check.
    #[arg(long, value_name = "C", default_value_t = 0.8, requires = "coverage", value_parser = confidence)]
    min_confidence: f64,
}

pub(super) fn confidence(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(c) if (0.0..=1.0).contains(&c) => Ok(c),
        _ => Err("expected a confidence from 0 to 1, e.g. 0.8".into()),
    }
}

/// Runs `lethe check`.
pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<Code> {
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
        let watched = (prepared.items.iter()).any(|i| {
            matches!(i, Item::Table(t) if t.policy.store == *name && t.policy.throttle.max_replica_lag.is_some())
        });
        if watched || store.lists_replicas() {
            for r in store.replica_lags().await {
                match r.lag {
                    crate::store::Lag::Behind(d) => {
                        outln!("store {name}: {} lags {:.1} s", r.replica, d.as_secs_f64())
                    }
                    crate::store::Lag::Unknown(why) => {
                        outln!("store {name}: {}: {why} (counts as lagging)", r.replica)
                    }
                }
            }
        }
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
                "policy {}: ok ({} on {}{}, keep {})",
                t.policy.name,
                t.policy.action.name(),
                t.policy.target(),
                key_shown(t),
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
    let mut problems = Vec::new();
    for e in &prepared.config.exemptions {
        if let Some(store) = prepared.stores.get(&e.store).or(extra.get(&e.store)) {
            problems.extend(store.check_exemption(e).await);
        }
    }
    if !problems.is_empty() {
        return Err(super::CliError::usage(problems.join("\n")));
    }
    for e in &prepared.config.exemptions {
        outln!(
            "exemption {}: ok ({}; reason: {})",
            e.name,
            e.target(),
            e.reason
        );
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
    if residency.violations > 0 {
        return Ok(Code::Residency);
    }
    if args.coverage {
        return coverage(&prepared.config, args.min_confidence).await;
    }
    Ok(Code::Ok)
}

/// `--coverage`: discovery over every store; exit 5 on ungoverned personal data at or above
/// `min`, 1 when a store or table could not be read (coverage unknown), else 0.
async fn coverage(config: &crate::config::Config, min: f64) -> anyhow::Result<Code> {
    let options = crate::discover::Options {
        sample: 1000,
        table_bound: std::time::Duration::from_secs(30),
        listing_bound: std::time::Duration::from_secs(600),
        today: chrono::Utc::now().date_naive(),
    };
    let found = crate::discover::discover(config, options).await;
    let ungoverned =
        |c: &crate::discover::Coverage| c.status == crate::discover::Status::Ungoverned;
    let columns: Vec<_> = (found.findings.iter())
        .filter(|f| ungoverned(&f.coverage) && f.confidence >= min)
        .collect();
    let prefixes: Vec<_> = (found.prefixes.iter())
        .filter(|p| ungoverned(&p.coverage))
        .collect();
    // What a dry-run policy would do, so the line says why it still fails.
    let planned = |c: &crate::discover::Coverage| {
        let drafts: Vec<&str> = c.by.iter().map(|r| r.policy.as_str()).collect();
        if drafts.is_empty() {
            String::new()
        } else {
            format!(" (dry-run only: {})", drafts.join(", "))
        }
    };
    for f in &columns {
        outln!(
            "coverage: UNGOVERNED {}.{}.{} ({}, confidence {:.2}): no enforcing policy deletes the table or anonymizes the column, and no exemption covers it{}",
            f.store,
            f.table,
            f.column,
            f.kind,
            f.confidence,
            planned(&f.coverage)
        );
    }
    for p in &prefixes {
        outln!(
            "coverage: UNGOVERNED {}:{} ({} objects): no enforcing object policy covers the prefix, and no exemption{}",
            p.store,
            if p.prefix.is_empty() {
                "(top)"
            } else {
                &p.prefix
            },
            p.objects,
            planned(&p.coverage)
        );
    }
    if found.incomplete() {
        outln!("coverage: unknown: some stores or tables could not be read (`lethe discover` names them)");
        return Ok(Code::Failure);
    }
    if columns.is_empty() && prefixes.is_empty() {
        outln!(
            "coverage: ok ({} findings with personal data: {} governed, {} exempt; none ungoverned at confidence {min} and above)",
            found.summary.findings,
            found.summary.governed,
            found.summary.exempt
        );
        return Ok(Code::Ok);
    }
    Ok(Code::Coverage)
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

/// The key a policy pages by, where it is worth saying: a composite key, or the primary key
/// taken because the policy names none (` by key (customer_id, seq)`, ` by the primary key id`).
fn key_shown(t: &crate::store::Target) -> String {
    match (&t.policy.key, t.paged_by()) {
        (None, Some(k)) => format!(" by the primary key {k}"),
        (Some(k), _) if k.is_composite() => format!(" by key {k}"),
        _ => String::new(),
    }
}
