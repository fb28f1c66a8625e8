//! Applying an object policy: list the prefix page by page, judge every key again with the holds
//! in force now, and delete every version and delete marker of each due key with DeleteObjects
//! (up to `batch_size` versions a request, several requests in flight), page by page: a page's
//! due keys are deleted before the next page is read. Afterwards a fresh listing counts what is
//! still due.

use super::{record_batch, Ctx, PolicyOutcome};
use crate::plan::{Judge, ObjectTarget, PolicyPlan, Verdict};
use crate::store::object::{Deleted, Doomed, ObjectStore};
use crate::store::{SqlStore, StoreError};
use futures_util::stream::{self, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use tracing::{info, warn};

/// DeleteObjects requests in flight at once.
pub const REQUESTS_IN_FLIGHT: usize = 4;

/// The target with the lethe holds in force right now (runtime holds are read before every
/// page). If the holds cannot be read, nothing more is deleted.
async fn with_current_holds(
    target: &ObjectTarget,
    ctx: &Ctx<'_>,
) -> Result<ObjectTarget, StoreError> {
    let runtime = ctx.db.runtime_holds().await.map_err(|e| {
        StoreError::Holds(format!(
            "cannot read the holds, so nothing more is deleted: {e}"
        ))
    })?;
    let mut t = target.clone();
    t.holds = ctx
        .declared
        .iter()
        .cloned()
        .chain(runtime)
        .filter(|h| h.covers_prefix(&target.policy.store, &target.policy.prefix))
        .collect();
    Ok(t)
}

/// Applies one object policy, at most `limit` keys.
pub async fn apply_objects(
    store: &ObjectStore,
    sql: &BTreeMap<String, SqlStore>,
    target: &ObjectTarget,
    planned: &PolicyPlan,
    limit: u64,
    ctx: &Ctx<'_>,
) -> PolicyOutcome {
    let p = &target.policy;
    let mut out = PolicyOutcome::start(planned);
    if let Err(e) = delete_due(store, sql, target, limit, ctx, &mut out).await {
        warn!(policy = %p.name, error = %e, "policy stopped; requests already sent are counted");
        out.errors.push(e.to_string());
    }
    // The verification lists again with the holds in force now.
    let verified = match with_current_holds(target, ctx).await {
        Ok(t) => {
            let judge = Judge {
                store,
                sql,
                target: &t,
                as_of: ctx.as_of,
                now: chrono::Utc::now(),
            };
            crate::plan::plan_objects(&judge).await
        }
        Err(e) => Err(e),
    };
    match verified {
        Ok(after) => {
            out.remaining = Some(after.eligible);
            out.held = after.held;
            out.holds = after.holds;
        }
        Err(e) => out.errors.push(format!("verification failed: {e}")),
    }
    out.finish(ctx).await;
    info!(policy = %p.name, deleted = out.deleted, versions = out.versions, failed = out.failed, remaining = ?out.remaining, "policy applied");
    out
}

/// The versions of due keys waiting to be sent, with the key each belongs to.
#[derive(Default)]
struct Queue {
    doomed: Vec<(usize, Doomed)>,
    keys: usize,
}

async fn delete_due(
    store: &ObjectStore,
    sql: &BTreeMap<String, SqlStore>,
    target: &ObjectTarget,
    limit: u64,
    ctx: &Ctx<'_>,
    out: &mut PolicyOutcome,
) -> Result<(), StoreError> {
    let p = &target.policy;
    let batch = p.batch_size.max(1) as usize;
    let mut lister = store.lister(&p.prefix, target.features.versioned);
    let mut taken = 0u64;
    let mut queue = Queue::default();
    loop {
        if !ctx.may_go_on().await {
            out.interrupted = true;
            break;
        }
        let page = match taken < limit {
            true => lister.next_page().await?,
            false => None,
        };
        let Some(page) = page else {
            break;
        };
        let current = with_current_holds(target, ctx).await?;
        let judge = Judge {
            store,
            sql,
            target: &current,
            as_of: ctx.as_of,
            now: chrono::Utc::now(),
        };
        let verdicts = judge.page(&page).await?;
        for (entry, verdict) in page.into_iter().zip(verdicts) {
            if verdict != Verdict::Due || taken >= limit {
                continue;
            }
            taken += 1;
            let key = queue.keys;
            queue.keys += 1;
            for v in entry.versions {
                queue.doomed.push((
                    key,
                    Doomed {
                        key: entry.key.clone(),
                        version: v.id,
                        listed: v.last_modified,
                    },
                ));
            }
        }
        // Each page's decisions are carried out before the next page is read: no decision
        // outlives the holds it was made under by more than one page.
        send(
            store,
            &p.prefix,
            std::mem::take(&mut queue),
            batch,
            ctx,
            out,
        )
        .await?;
    }
    Ok(())
}

/// Versions per request for a page: at most `batch`, and spread over the requests in flight,
/// but not below `MIN_REQUEST` (small pages are not split into tiny requests).
fn request_size(versions: usize, batch: usize) -> usize {
    const MIN_REQUEST: usize = 100;
    batch.min(versions.div_ceil(REQUESTS_IN_FLIGHT).max(MIN_REQUEST))
}

/// Sends the queue as requests of at most `batch` versions, several in flight. A key counts as
/// deleted when every one of its versions is; a refusal keeps the key (and counts as failed).
async fn send(
    store: &ObjectStore,
    floor: &str,
    queue: Queue,
    batch: usize,
    ctx: &Ctx<'_>,
    out: &mut PolicyOutcome,
) -> Result<(), StoreError> {
    if queue.doomed.is_empty() {
        return Ok(());
    }
    let size = request_size(queue.doomed.len(), batch);
    let chunks: Vec<&[(usize, Doomed)]> = queue.doomed.chunks(size).collect();
    let results: Vec<(usize, std::time::Instant, Result<Deleted, StoreError>)> =
        stream::iter(chunks.iter().enumerate().map(|(i, chunk)| async move {
            let started = std::time::Instant::now();
            let doomed: Vec<Doomed> = chunk.iter().map(|(_, d)| d.clone()).collect();
            (i, started, store.delete(&doomed, floor).await)
        }))
        .buffer_unordered(REQUESTS_IN_FLIGHT)
        .collect()
        .await;
    // Counts are settled for the whole page first: every request has finished, so an audit
    // write that fails below must not leave deleted objects uncounted.
    let mut failed_keys: BTreeSet<usize> = BTreeSet::new();
    let mut changed_keys: BTreeSet<usize> = BTreeSet::new();
    let mut first_error = None;
    let mut batches = Vec::new();
    for (i, started, result) in results {
        let chunk = chunks[i];
        match result {
            Ok(d) => {
                // A refusal without a version id (some servers leave it out) refuses the key;
                // one without a key refuses every key of its request.
                for (key, doomed) in chunk.iter() {
                    if d.refused.iter().any(|r| {
                        r.key.is_empty()
                            || (r.key == doomed.key
                                && (r.version.is_none() || r.version == doomed.version))
                    }) {
                        failed_keys.insert(*key);
                    }
                    if d.changed.contains(doomed) {
                        changed_keys.insert(*key);
                    }
                }
                for (code, n) in &d.errors {
                    let msg = format!("the store refused to delete some objects: {code}");
                    if !out.errors.contains(&msg) {
                        out.errors.push(msg);
                    }
                    warn!(policy = %out.name, code = %code, versions = n, "objects refused");
                }
                out.versions += d.deleted;
                batches.push((d.deleted, d.errors.values().sum::<u64>(), started));
            }
            Err(e) => {
                failed_keys.extend(chunk.iter().map(|(k, _)| *k));
                first_error.get_or_insert(e);
            }
        }
    }
    // A key that changed since it was judged is neither deleted nor failed: kept this run.
    let changed = changed_keys.difference(&failed_keys).count() as u64;
    let keys = queue.keys as u64;
    let failed = failed_keys.len() as u64;
    out.deleted += keys - failed - changed;
    out.failed += failed;
    for (changed, refused, started) in batches {
        if let Err(e) = record_batch(ctx, out, changed, refused, started).await {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_are_spread_over_requests() {
        use super::request_size;
        assert_eq!(request_size(1000, 1000), 250);
        assert_eq!(request_size(30, 10), 10);
        assert_eq!(request_size(3, 1000), 100);
        assert_eq!(request_size(5000, 1000), 1000);
    }
}
