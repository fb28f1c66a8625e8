//! Discovery over a SQL store: every table, every column, judged on its name and a
//! deterministic sample of its values.

use super::{coverage, names, score, Finding, Options, Shape, StoreScan, Tally};
use crate::config::Config;
use crate::model::{Ident, SqlSpec};
use crate::store::{is_binary, Column, Family, SqlStore, StoreError};

/// The shape of a column's declared type.
fn shape(c: &Column) -> Shape {
    match c.family {
        Family::Text | Family::Untyped | Family::Inet | Family::Uuid => Shape::Text,
        Family::Integer => Shape::Number,
        Family::Timestamp | Family::Date => Shape::Time,
        Family::Bool => Shape::Bool,
        Family::Other if is_binary(c) => Shape::Binary,
        Family::Other => {
            let t = c.sql_type.to_ascii_lowercase();
            let numeric = ["dec", "num", "real", "double", "float", "money"]
                .iter()
                .any(|n| t.contains(n));
            if numeric {
                Shape::Number
            } else {
                Shape::Text
            }
        }
    }
}

/// Reads every table of a SQL store and returns its findings; tables that fail are noted in
/// `scan` and the rest are read on.
pub(super) async fn scan(
    name: &str,
    spec: &SqlSpec,
    config: &Config,
    options: Options,
    scan: &mut StoreScan,
) -> Result<Vec<Finding>, StoreError> {
    let store = SqlStore::connect(name, spec.url.expose()).await?;
    let found = tables(&store, config, options, scan).await;
    store.close().await;
    found
}

async fn tables(
    store: &SqlStore,
    config: &Config,
    options: Options,
    scan: &mut StoreScan,
) -> Result<Vec<Finding>, StoreError> {
    let listed = store.tables().await?;
    scan.unreadable = listed.unreadable;
    let mut out = Vec::new();
    for table in &listed.tables {
        match table_findings(store, table, config, options, scan).await {
            Ok(mut found) => out.append(&mut found),
            Err(e) => scan.failed.push(format!("{table}: {e}")),
        }
    }
    Ok(out)
}

async fn table_findings(
    store: &SqlStore,
    table: &Ident,
    config: &Config,
    options: Options,
    scan: &mut StoreScan,
) -> Result<Vec<Finding>, StoreError> {
    // A table dropped since it was listed has nothing to judge.
    let Some(cols) = store.columns(table).await? else {
        return Ok(Vec::new());
    };
    scan.tables += 1;
    scan.columns += cols.len() as u64;
    let key = store.key_columns(table).await?;
    let read: Vec<(String, bool)> = cols
        .iter()
        .map(|(n, c)| (n.clone(), !matches!(shape(c), Shape::Binary | Shape::Bool)))
        .collect();
    let rows = store
        .sample(table, &read, &key, options.sample, options.table_bound)
        .await?;
    if rows.is_none() {
        scan.timed_out.push(table.to_string());
    }
    let mut tallies = vec![Tally::default(); cols.len()];
    for row in rows.iter().flatten() {
        for (tally, value) in tallies.iter_mut().zip(row) {
            tally.add(value.as_deref(), options.today);
        }
    }
    Ok(cols
        .iter()
        .zip(&tallies)
        .filter_map(|((column, c), tally)| {
            let d = score::judge(names::read(column, table.name()), tally, shape(c))?;
            Some(Finding {
                store: store.name.clone(),
                table: table.to_string(),
                column: column.clone(),
                kind: d.kind,
                category: d.kind.category(),
                confidence: d.confidence,
                evidence: d.evidence,
                coverage: coverage::column(
                    &config.policies,
                    &config.exemptions,
                    &store.name,
                    table,
                    column,
                ),
            })
        })
        .collect())
}
