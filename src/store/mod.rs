//! Stores: the databases policies act on. One closed enum of kinds; today SQL databases
//! (PostgreSQL, MySQL/MariaDB, SQLite) through sqlx.

mod schema;
mod sql;
mod statements;

pub use schema::{Column, Family, Target};
pub use sql::{
    sanitize_db_error, Dialect, FetchedRow, KeyValue, Param, Query, SqlStore, StoreError,
};
pub use statements::Counts;

use crate::config::{Config, StoreConfig};
use std::collections::BTreeMap;

/// Connects to every store the given policies name.
pub async fn connect_all(
    config: &Config,
    names: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, SqlStore>, StoreError> {
    let mut out = BTreeMap::new();
    for name in names {
        if out.contains_key(&name) {
            continue;
        }
        let Some(StoreConfig::Sql { url, .. }) = config.settings.stores.get(&name) else {
            return Err(StoreError::Config(format!("unknown store `{name}`")));
        };
        let store = SqlStore::connect(&name, url.expose()).await?;
        out.insert(name, store);
    }
    Ok(out)
}
