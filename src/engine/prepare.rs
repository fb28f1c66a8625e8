//! Prepare: from a validated configuration to checked work. Connects the stores, checks every
//! selected policy and every hold against the live schemas, refuses cascades into held tables,
//! reads the foreign keys into the tables deletes act on, takes a shard's share and orders
//! deletes (children before parents) before anonymizations.

use super::EngineError;
use crate::config::Config;
use crate::model::{Action, Hold, Ident, RetentionPolicy, Shard};
use crate::plan::Item;
use crate::store::{self, ForeignKey, SqlStore, Target};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A loaded configuration with its stores connected and selected policies checked.
pub struct Prepared {
    /// The configuration.
    pub config: Config,
    /// Connected stores by name.
    pub stores: BTreeMap<String, SqlStore>,
    /// Connected object stores by name.
    pub object_stores: BTreeMap<String, store::ObjectStore>,
    /// Checked policies in the order they run, each with the holds on its table or prefix:
    /// table deletes (a delete on a table that references another's first), table
    /// anonymizations, then object policies.
    pub items: Vec<Item>,
    /// The state database.
    pub db: crate::audit::StateDb,
    /// The one instant this run evaluates everything at: hold windows, cutoffs, plans and
    /// the statements of every batch.
    pub as_of: DateTime<Utc>,
}

impl Prepared {
    /// Every prepared policy with its stores.
    pub fn work(&self) -> crate::plan::Work<'_> {
        crate::plan::Work {
            stores: &self.stores,
            object_stores: &self.object_stores,
            items: &self.items,
            run_max_rows: self.config.settings.run_max_rows,
        }
    }
}

/// Selects policies, connects stores and checks the live schemas, the holds and the cascades.
/// With `create_state` false (apply), a state database that does not exist yet is an error.
/// With a shard, only that shard's share of the work is kept.
pub async fn prepare(
    config: Config,
    selected: &[String],
    create_state: bool,
    shard: Option<Shard>,
    as_of: DateTime<Utc>,
) -> Result<Prepared, EngineError> {
    let known = config.policy_names();
    for name in selected {
        if !known.contains(name) {
            return Err(EngineError::unfit(format!(
                "unknown policy `{name}`; expected one of: {}",
                known.join(", ")
            )));
        }
    }
    let policies: Vec<_> = config
        .policies
        .iter()
        .filter(|p| selected.is_empty() || selected.contains(&p.name))
        .cloned()
        .collect();
    let object_policies: Vec<_> = config
        .objects
        .iter()
        .filter(|p| selected.is_empty() || selected.contains(&p.name))
        .cloned()
        .collect();
    // SQL stores of table policies, and of the contract clocks of object policies.
    let linked = object_policies.iter().filter_map(|p| match &p.clock {
        crate::model::ObjectClock::Contract { store, .. } => Some(store.clone()),
        _ => None,
    });
    let stores = store::connect_all(
        &config.settings.stores,
        policies.iter().map(|p| p.store.clone()).chain(linked),
    )
    .await?;
    let object_stores = store::connect_objects(
        &config.settings.stores,
        object_policies.iter().map(|p| p.store.clone()),
    )
    .await?;
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for p in &policies {
        let Some(store) = stores.get(&p.store) else {
            continue;
        };
        match store.check(p).await {
            Ok(t) => targets.push(t),
            Err(errs) => problems.extend(errs),
        }
    }
    if !problems.is_empty() {
        return Err(EngineError::unfit(format!(
            "the policies do not fit the live schema:\n  {}",
            problems.join("\n  ")
        )));
    }
    // Holds: declared ones and runtime ones from the state database. A hold that cannot be
    // evaluated against its table stops the run before anything changes.
    let db =
        match crate::audit::StateDb::open_with(config.settings.state_url.expose(), create_state)
            .await
        {
            Err(e @ crate::audit::AuditError::Missing(_)) => {
                return Err(EngineError::Unfit(e.to_string()))
            }
            other => other?,
        };
    let holds: Vec<Hold> = config
        .holds
        .iter()
        .cloned()
        .chain(db.runtime_holds().await?)
        .collect();
    // A hold that has ended by the evaluation instant holds nothing and is not checked; every other one must fit, and must name
    // a store this configuration has (a renamed store must not switch its holds off).
    for h in holds.iter().filter(|h| h.active_at(as_of)) {
        if !config.settings.stores.contains_key(&h.store) {
            problems.push(format!(
                "hold `{}` names store `{}`, which lethe.yaml does not have (renamed?); restore the store name or release the hold",
                h.name, h.store
            ));
        }
    }
    for h in holds.iter().filter(|h| h.active_at(as_of)) {
        let on_objects = config
            .settings
            .stores
            .get(&h.store)
            .is_some_and(crate::model::StoreSpec::holds_objects);
        match (&h.scope, on_objects) {
            (crate::model::Scope::Table(_), false) => {
                if let Some(store) = stores.get(&h.store) {
                    problems.extend(store.check_hold(h).await);
                }
            }
            (crate::model::Scope::Prefix(_), true) => {}
            // The prefix itself is not shown: it may name a person.
            (scope, _) => problems.push(format!(
                "hold `{}` covers {}, which store `{}` cannot have (a SQL store has tables, an object store prefixes)",
                h.name,
                match scope {
                    crate::model::Scope::Table(_) => "a table",
                    crate::model::Scope::Prefix(_) => "a key prefix",
                },
                h.store
            )),
        }
    }
    let objects = prepare_objects(
        object_policies,
        &object_stores,
        &stores,
        &holds,
        &mut problems,
    )
    .await?;
    // A delete that cascades through foreign keys into a held table could remove held records
    // behind the statement's back: refuse such a policy.
    for t in targets
        .iter()
        .filter(|t| matches!(t.policy.action, Action::Delete))
    {
        let Some(store) = stores.get(&t.policy.store) else {
            continue;
        };
        for (child, rule) in store.cascading_children(&t.policy.table).await? {
            for h in holds
                .iter()
                .filter(|h| h.active_at(as_of) && h.covers_table(&t.policy.store, &child))
            {
                problems.push(format!(
                    "policy `{}` deletes from `{}`, and `{child}` references it with ON DELETE {rule}: a delete could change records that hold `{}` keeps. Make that foreign key RESTRICT, so that the database refuses to delete the parent of a kept record",
                    t.policy.name, t.policy.table, h.name
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(EngineError::unfit(format!(
            "the holds do not fit the live schema; nothing was changed:\n  {}",
            problems.join("\n  ")
        )));
    }
    let deletes: Vec<RetentionPolicy> = targets
        .iter()
        .filter(|t| matches!(t.policy.action, Action::Delete))
        .map(|t| t.policy.clone())
        .collect();
    // The foreign keys into every table a delete acts on: a due row still referenced is kept.
    let mut keys: BTreeMap<(String, Ident), Vec<ForeignKey>> = BTreeMap::new();
    for d in &deletes {
        let (Some(store), false) = (
            stores.get(&d.store),
            keys.contains_key(&(d.store.clone(), d.table.clone())),
        ) else {
            continue;
        };
        match store.references(&d.table).await {
            Ok(k) => {
                keys.insert((d.store.clone(), d.table.clone()), k);
            }
            Err(e @ store::StoreError::UnreadableReference { .. }) => {
                problems.push(format!("policy `{}`: {e}", d.name));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !problems.is_empty() {
        return Err(EngineError::unfit(format!(
            "the policies do not fit the live schema; nothing was changed:\n  {}",
            problems.join("\n  ")
        )));
    }
    for t in &mut targets {
        t.holds = holds_on(&holds, &t.policy.store, &t.policy.table);
        t.referenced_by = keys
            .get(&(t.policy.store.clone(), t.policy.table.clone()))
            .cloned()
            .unwrap_or_default();
        if let Some(store) = stores.get(&t.policy.store) {
            t.child_holds =
                fitting_child_holds(store, &t.referenced_by, &t.policy.table, &holds).await;
        }
        if matches!(t.policy.action, Action::Anonymize(_)) {
            t.superseded_by = deletes
                .iter()
                .filter(|d| d.store == t.policy.store && d.table == t.policy.table)
                .cloned()
                .collect();
        }
    }
    // A shard takes its key class of every integer-keyed policy (the first column of a
    // composite key), and the whole of the other policies it owns. Supersedes were set above
    // from every policy, so an anonymization still leaves alone what another shard's delete
    // will remove.
    let mut objects = objects;
    if let Some(s) = shard {
        let unsplittable: Vec<String> = (targets.iter())
            .filter(|t| t.key.len() > 1 && t.shard_column().is_none())
            .filter_map(|t| {
                Some(format!(
                    "policy `{}` (key {})",
                    t.policy.name,
                    t.paged_by()?
                ))
            })
            .collect();
        if !unsplittable.is_empty() {
            return Err(EngineError::unfit(format!(
                "--shard splits a composite key on its first column, which must be an integer: {}; put an integer column first in `key`, or run without --shard",
                unsplittable.join(", ")
            )));
        }
        targets.retain(|t| t.shard_column().is_some() || s.owns(&t.policy.name));
        for t in targets.iter_mut().filter(|t| t.shard_column().is_some()) {
            t.shard = Some(s);
        }
        // An object policy is not split: one shard runs all of it.
        objects.retain(|t| s.owns(&t.policy.name));
    }
    // Deletes before anonymizations: never anonymize a row that is about to be deleted.
    targets.sort_by_key(|t| !matches!(t.policy.action, Action::Delete));
    let items = (children_first(targets).into_iter().map(Item::Table))
        .chain(objects.into_iter().map(Item::Objects))
        .collect();
    Ok(Prepared {
        config,
        stores,
        object_stores,
        items,
        db,
        as_of,
    })
}

/// Checks object policies against their stores: versioning and Object Lock are read, the
/// clock can be read there, and a contract clock's table fits.
async fn prepare_objects(
    policies: Vec<crate::model::ObjectPolicy>,
    object_stores: &BTreeMap<String, store::ObjectStore>,
    stores: &BTreeMap<String, SqlStore>,
    holds: &[Hold],
    problems: &mut Vec<String>,
) -> Result<Vec<crate::plan::ObjectTarget>, EngineError> {
    let mut read: BTreeMap<String, crate::store::object::Features> = BTreeMap::new();
    let mut out = Vec::new();
    for p in policies {
        let Some(store) = object_stores.get(&p.store) else {
            return Err(EngineError::unfit(format!(
                "store `{}` is not connected",
                p.store
            )));
        };
        // Versioning and Object Lock, read once per store.
        let features = match read.get(&p.store) {
            Some(f) => *f,
            None => {
                let f = store.features().await?;
                read.insert(p.store.clone(), f);
                f
            }
        };
        let mut link = None;
        if let crate::model::ObjectClock::Contract {
            store: sql,
            table,
            column,
            on,
        } = &p.clock
        {
            match stores.get(sql) {
                Some(db) => match db.check_link(table, column, &on.1).await {
                    Ok(integer) => {
                        link = Some(store::Link {
                            store: sql.clone(),
                            table: table.clone(),
                            column: column.clone(),
                            on: on.1.clone(),
                            integer,
                        })
                    }
                    Err(e) => problems.push(format!("policy `{}`: clock: {e}", p.name)),
                },
                None => problems.push(format!(
                    "policy `{}`: store `{sql}` is not connected",
                    p.name
                )),
            }
        }
        out.push(crate::plan::ObjectTarget {
            features,
            holds: holds
                .iter()
                .filter(|h| h.covers_prefix(&p.store, &p.prefix))
                .cloned()
                .collect(),
            link,
            policy: p,
            only: None,
        });
    }
    if !problems.is_empty() {
        return Err(EngineError::unfit(format!(
            "the policies do not fit their stores; nothing was changed:\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(out)
}

/// The deletes reordered so that a delete on a table that references another delete's table
/// goes first (children before parents): the rows it removes no longer keep the parent's rows,
/// in the same run. Otherwise the order stays as it was; in a cycle of references, the first
/// in the order goes first.
fn children_first(targets: Vec<Target>) -> Vec<Target> {
    let (mut left, rest): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| matches!(t.policy.action, Action::Delete));
    // True when `child` deletes from a table that references `parent`'s.
    let waits_for = |parent: &Target, child: &Target| {
        child.policy.store == parent.policy.store
            && !child.policy.table.same_table(&parent.policy.table)
            && (parent.referenced_by.iter()).any(|fk| fk.child.same_table(&child.policy.table))
    };
    let mut out = Vec::with_capacity(left.len() + rest.len());
    while !left.is_empty() {
        let next = (left.iter())
            .position(|p| !left.iter().any(|c| waits_for(p, c)))
            .unwrap_or(0);
        out.push(left.remove(next));
    }
    out.extend(rest);
    out
}

/// Each hold on a table that references `table` (never `table` itself), with that table, where
/// the hold fits it: a hold that names a table of another schema, or columns the referencing
/// table lacks, is left out. Only reports use these, to name the hold that keeps a referencing
/// row; a hold that does not fit names nothing rather than failing the plan.
async fn fitting_child_holds(
    store: &store::SqlStore,
    keys: &[ForeignKey],
    table: &crate::model::Ident,
    holds: &[Hold],
) -> Vec<(crate::model::Ident, Hold)> {
    let mut out: Vec<(crate::model::Ident, Hold)> = Vec::new();
    for fk in keys.iter().filter(|fk| !fk.child.same_table(table)) {
        for h in holds
            .iter()
            .filter(|h| h.covers_table(&store.name, &fk.child))
        {
            if out.iter().any(|(t, o)| *t == fk.child && o.name == h.name) {
                continue;
            }
            let over_child = Hold {
                scope: crate::model::Scope::Table(fk.child.clone()),
                ..h.clone()
            };
            if store.check_hold(&over_child).await.is_empty() {
                out.push((fk.child.clone(), h.clone()));
            }
        }
    }
    out
}

/// The holds among `holds` that concern one table.
pub fn holds_on(holds: &[Hold], store: &str, table: &crate::model::Ident) -> Vec<Hold> {
    holds
        .iter()
        .filter(|h| h.covers_table(store, table))
        .cloned()
        .collect()
}
