//! Stores: what policies act on. SQL databases (PostgreSQL, MySQL/MariaDB, SQLite) through sqlx,
//! and object stores (S3 buckets, local folders) in [`object`].

mod catalog;
mod lag;
mod link;
pub mod object;
mod schema;
mod sql;
mod statements;
mod unique;

pub use catalog::{is_binary, is_lethes_own, Tables};
pub use lag::{Lag, ReplicaLag};
pub use link::{Ends, Latest, Link};
pub use object::{connect_objects, ObjectStore};
pub use schema::{Column, Family, ForeignKey, KeyColumn, OnDelete, Target};
pub use sql::{FetchedRow, KeyValue, Param, Query, RowKey, SqlStore, StoreError};
pub use statements::Counts;
pub use unique::UniqueKey;

use crate::model::{SqlSpec, StoreSpec};
use std::collections::BTreeMap;

/// Connects to every store the given policies name.
pub async fn connect_all(
    specs: &BTreeMap<String, StoreSpec>,
    names: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, SqlStore>, StoreError> {
    let mut out = BTreeMap::new();
    for name in names {
        if out.contains_key(&name) {
            continue;
        }
        let Some(StoreSpec::Sql(SqlSpec { url, replicas, .. })) = specs.get(&name) else {
            return Err(StoreError::Config(format!("`{name}` is not a SQL store")));
        };
        let store = SqlStore::connect(&name, url.expose())
            .await?
            .with_replicas(replicas);
        out.insert(name, store);
    }
    Ok(out)
}
