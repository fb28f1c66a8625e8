//! Discovery: which tables, columns and object prefixes hold personal data, and whether a
//! policy reaches each of them. Detection is pure ([`names`], [`values`], [`score`]); the
//! stores are read through [`crate::store`]. A report holds names and counts, never a value
//! and never a key.

pub mod coverage;
pub mod kind;
pub mod names;
pub mod objects;
pub mod score;
mod sql;
pub mod suggest;
pub mod values;

pub use coverage::{Coverage, ExemptBy, Reach, Status};
pub use kind::{Category, Kind};
pub use score::{judge, Detection, Evidence, Shape, Tally};

use crate::config::Config;
use crate::model::StoreSpec;
use crate::store::ObjectStore;
use chrono::NaiveDate;
use serde::Serialize;
use std::time::Duration;

/// How discovery reads the stores.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Rows sampled per table: the first rows by primary key.
    pub sample: u64,
    /// The longest a table's sample may take; a slower table is judged on names alone.
    pub table_bound: Duration,
    /// The longest an object store's listing may take; a slower store is counted in part and
    /// the report is incomplete.
    pub listing_bound: Duration,
    /// The day ages are counted to (birth dates).
    pub today: NaiveDate,
}

/// A column judged to hold personal data, with its coverage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The store.
    pub store: String,
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// What it holds.
    pub kind: Kind,
    /// Its category.
    pub category: Category,
    /// How sure, 0 to 1.
    pub confidence: f64,
    /// The counts the finding rests on.
    pub evidence: Evidence,
    /// Which policies reach it.
    pub coverage: Coverage,
}

/// A key prefix of an object store that holds objects, with its coverage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrefixFinding {
    /// The store.
    pub store: String,
    /// The prefix (empty: the top of the store).
    pub prefix: String,
    /// Objects under it.
    pub objects: u64,
    /// Which object policies reach it.
    pub coverage: Coverage,
}

/// What was read of one store.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreScan {
    /// The store.
    pub store: String,
    /// Tables read (SQL stores).
    pub tables: u64,
    /// Columns judged (SQL stores).
    pub columns: u64,
    /// Objects counted (object stores).
    pub objects: u64,
    /// Tables whose sample took longer than the bound: judged on their column names alone.
    pub timed_out: Vec<String>,
    /// Tables that could not be read, each with the reason.
    pub failed: Vec<String>,
    /// Tables whose names lethe cannot quote, left unread.
    pub unreadable: u64,
    /// Object stores: the listing stopped at its time bound, so prefixes beyond it are not
    /// counted.
    pub listing_cut: bool,
    /// Why the store could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts over the whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Column findings.
    pub findings: u64,
    /// Of those, governed by a policy.
    pub governed: u64,
    /// Of those, left on purpose by an exemption.
    pub exempt: u64,
    /// Of those, reached by no policy and no exemption.
    pub ungoverned: u64,
    /// Object prefixes that hold objects.
    pub prefixes: u64,
    /// Of those, left on purpose by an exemption.
    pub exempt_prefixes: u64,
    /// Of those, reached by no policy and no exemption.
    pub ungoverned_prefixes: u64,
}

/// The discovery report: names and counts only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    /// Rows sampled per table.
    pub sample: u64,
    /// Totals.
    pub summary: Summary,
    /// What was read of each store, in store order.
    pub stores: Vec<StoreScan>,
    /// Columns with personal data, by store, table and column.
    pub findings: Vec<Finding>,
    /// Object prefixes, by store and prefix.
    pub prefixes: Vec<PrefixFinding>,
}

impl Discovery {
    /// True when some store, or some table, could not be read, or a listing was cut short:
    /// the report is incomplete.
    pub fn incomplete(&self) -> bool {
        self.stores
            .iter()
            .any(|s| s.error.is_some() || !s.failed.is_empty() || s.listing_cut)
    }
}

/// Reads every store of the configuration: every table and column of the SQL stores, every
/// prefix of the object stores; judges each and finds the policies that reach it.
pub async fn discover(config: &Config, options: Options) -> Discovery {
    let mut stores = Vec::new();
    let mut findings = Vec::new();
    let mut prefixes = Vec::new();
    for (name, spec) in &config.settings.stores {
        let mut scan = StoreScan {
            store: name.clone(),
            ..StoreScan::default()
        };
        match spec {
            StoreSpec::Sql(sql_spec) => {
                match sql::scan(name, sql_spec, config, options, &mut scan).await {
                    Ok(mut found) => findings.append(&mut found),
                    Err(e) => scan.error = Some(e.to_string()),
                }
            }
            _ => match scan_objects(config, name, spec, options.listing_bound).await {
                Ok((found, complete)) => {
                    scan.objects = found.iter().map(|p| p.objects).sum();
                    scan.listing_cut = !complete;
                    prefixes.extend(found);
                }
                Err(e) => scan.error = Some(e.to_string()),
            },
        }
        stores.push(scan);
    }
    let count = |status: Status| {
        findings
            .iter()
            .filter(|f| f.coverage.status == status)
            .count() as u64
    };
    let count_prefixes = |status: Status| {
        prefixes
            .iter()
            .filter(|p| p.coverage.status == status)
            .count() as u64
    };
    let summary = Summary {
        findings: findings.len() as u64,
        governed: count(Status::Governed),
        exempt: count(Status::Exempt),
        ungoverned: count(Status::Ungoverned),
        prefixes: prefixes.len() as u64,
        exempt_prefixes: count_prefixes(Status::Exempt),
        ungoverned_prefixes: count_prefixes(Status::Ungoverned),
    };
    Discovery {
        sample: options.sample,
        summary,
        stores,
        findings,
        prefixes,
    }
}

async fn scan_objects(
    config: &Config,
    name: &str,
    spec: &StoreSpec,
    bound: Duration,
) -> Result<(Vec<PrefixFinding>, bool), crate::store::StoreError> {
    let store = ObjectStore::connect(name, spec).await?;
    let policies: Vec<_> = config.objects.iter().filter(|p| p.store == name).collect();
    let (counted, complete) = objects::count(
        &store,
        objects::Prefixes::new(policies.iter().map(|p| p.prefix.as_str())),
        bound,
    )
    .await?;
    let found = counted
        .counts
        .into_iter()
        .map(|(prefix, n)| PrefixFinding {
            store: name.to_string(),
            coverage: coverage::prefix(&config.objects, &config.exemptions, name, &prefix),
            prefix,
            objects: n,
        })
        .collect();
    Ok((found, complete))
}
