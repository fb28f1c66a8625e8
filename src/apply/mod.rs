//! Applying a plan: guards first, then bounded batches, each its own short transaction whose
//! statement re-checks eligibility. Every batch is recorded in the audit trail; afterwards a
//! recount verifies that nothing due remains.

mod objects;
mod pace;
mod refusals;
mod throttle;

pub use objects::{apply_objects, REQUESTS_IN_FLIGHT};
pub use pace::{BatchTimes, Pace};
pub use refusals::{check_guards, check_pinned, check_recorded, Refusal};
pub use throttle::{ThrottleStatus, Throttled};

use crate::anonymize;
use crate::audit::{AuditEvent, RunLog};
use crate::model::{Action, ActionKind};
use crate::plan::PolicyPlan;
use crate::store::{KeyValue, RowKey, SqlStore, StoreError, Target};
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::{info, warn};

/// What applying one policy did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyOutcome {
    /// Policy name.
    pub name: String,
    /// Store name.
    pub store: String,
    /// `store.table`.
    pub target: String,
    /// `delete` or `anonymize`.
    pub action: ActionKind,
    /// Records due at the start.
    pub eligible: u64,
    /// Records kept by holds (counted again at the end, so holds added during the run show).
    pub held: u64,
    /// Per hold: name, basis and records kept (at the end).
    pub holds: Vec<crate::plan::HeldBy>,
    /// Records kept because their clock is unknown.
    pub undated: u64,
    /// Due records kept because rows still reference them (counted again at the end); left
    /// out when 0.
    #[serde(default, skip_serializing_if = "crate::util::is_zero")]
    pub referenced: u64,
    /// Per referencing table: the due records its rows keep (at the end).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<crate::plan::ReferencedBy>,
    /// The cutoff.
    pub cutoff: DateTime<Utc>,
    /// Rows deleted.
    pub deleted: u64,
    /// Rows anonymized.
    pub anonymized: u64,
    /// Object policies: object versions and delete markers removed (one per object in an
    /// unversioned store).
    #[serde(default, skip_serializing_if = "crate::util::is_zero")]
    pub versions: u64,
    /// Records that could not be handled (failed batch or unmaskable value).
    pub failed: u64,
    /// Values that could not be masked (e.g. not an IP address) and were set to NULL instead.
    #[serde(default)]
    pub cleared: u64,
    /// Records still due after the run (the verification; 0 when all went well). `None`
    /// (`null`) when the recount could not be made: unknown, never 0.
    pub remaining: Option<u64>,
    /// Batches committed.
    pub batches: u64,
    /// SQL policies: how long the batches' data-changing statements took (p50, p99, max) and
    /// the batch size the run ended with; left out when no batch ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_times: Option<BatchTimes>,
    /// SQL policies: how long the policy waited for its store's replicas (`max_replica_lag`)
    /// and for `max_rows_per_second`, and whether it stopped as `throttled`; left out when it
    /// never waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttled>,
    /// Errors, sanitized (no values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// True when the run was stopped before this policy finished.
    #[serde(default)]
    pub interrupted: bool,
}

/// Told the policy name and duration of every committed batch (metrics).
pub type OnBatch<'a> = dyn Fn(&str, std::time::Duration) + Sync + 'a;

impl PolicyOutcome {
    /// True when some record could not be handled, an error stopped the policy, or the
    /// verification could not count what remains.
    pub fn failed(&self) -> bool {
        self.failed > 0 || !self.errors.is_empty() || self.remaining.is_none()
    }

    /// True when the policy stopped because its replicas lagged past `max_throttle_wait`.
    pub fn throttled(&self) -> bool {
        (self.throttle.as_ref()).is_some_and(|t| t.status == ThrottleStatus::Throttled)
    }

    /// An outcome with nothing done yet, from the policy's fresh plan.
    pub fn start(planned: &PolicyPlan) -> PolicyOutcome {
        PolicyOutcome {
            name: planned.name.clone(),
            store: planned.store.clone(),
            target: planned.target.clone(),
            action: planned.action,
            eligible: planned.eligible,
            held: planned.held,
            holds: planned.holds.clone(),
            undated: planned.undated,
            referenced: planned.referenced,
            references: planned.references.clone(),
            cutoff: planned.cutoff,
            deleted: 0,
            anonymized: 0,
            versions: 0,
            failed: 0,
            cleared: 0,
            // Unknown until the verification has counted.
            remaining: None,
            batches: 0,
            batch_times: None,
            throttle: None,
            errors: Vec::new(),
            interrupted: false,
        }
    }

    /// Records the outcome in the audit trail.
    async fn finish(&self, ctx: &Ctx<'_>) {
        let _ = ctx
            .log
            .record(self)
            .await
            .map_err(|e| warn!(error = %e, "cannot record policy outcome"));
    }
}

/// What the apply loop needs besides the target.
pub struct Ctx<'a> {
    /// The run's audit log.
    pub log: &'a RunLog,
    /// Progress display (hidden when not on a terminal).
    pub progress: &'a ProgressBar,
    /// Set on SIGINT/SIGTERM: finish the current batch, then stop.
    pub stop: &'a AtomicBool,
    /// Key for `hmac`.
    pub hmac_key: Option<&'a [u8]>,
    /// The instant eligibility is evaluated at.
    pub as_of: DateTime<Utc>,
    /// The state database, read again before every batch for runtime holds.
    pub db: &'a crate::audit::StateDb,
    /// The declared holds.
    pub declared: &'a [crate::model::Hold],
    /// Told the policy name and duration of every committed batch (metrics).
    pub on_batch: Option<&'a OnBatch<'a>>,
    /// The run lease, confirmed held before every batch.
    pub lease: Option<&'a crate::audit::Lease>,
}

impl Ctx<'_> {
    /// True when the next batch may start: no stop was asked for, and the run lease is held at
    /// this moment. A lost lease raises the stop, so the run ends before its next batch and
    /// another run that took the lease never interleaves with it.
    pub async fn may_go_on(&self) -> bool {
        if self.stop.load(Ordering::SeqCst) {
            return false;
        }
        if let Some(lease) = self.lease {
            if !lease.confirm().await {
                warn!("the run lease is no longer held; stopping before the next batch");
                self.stop.store(true, Ordering::SeqCst);
                return false;
            }
        }
        true
    }
}

/// The target with the holds in force right now: runtime holds are read again before every
/// batch, so a hold added during a run protects its records from the next batch on. If the
/// holds cannot be read, nothing more is changed.
async fn with_current_holds(target: &Target, ctx: &Ctx<'_>) -> Result<Target, StoreError> {
    let runtime = ctx.db.runtime_holds().await.map_err(|e| {
        StoreError::Holds(format!(
            "cannot read the holds, so nothing more is changed: {e}"
        ))
    })?;
    let all: Vec<crate::model::Hold> = ctx.declared.iter().cloned().chain(runtime).collect();
    let mut t = target.clone();
    t.holds = all
        .into_iter()
        .filter(|h| h.covers_table(&target.policy.store, &target.policy.table))
        .collect();
    Ok(t)
}

/// Applies one policy, at most `limit` records, in batches.
pub async fn apply_policy(
    store: &SqlStore,
    target: &Target,
    planned: &PolicyPlan,
    limit: u64,
    ctx: &Ctx<'_>,
) -> PolicyOutcome {
    let p = &target.policy;
    let as_of = ctx.as_of;
    let mut out = PolicyOutcome::start(planned);
    let mut pager = Pager::new(store, target, as_of, limit);
    let result = if target.computes_in_process() {
        row_by_row(&mut pager, ctx, &mut out).await
    } else {
        set_based(&mut pager, ctx, &mut out).await
    };
    out.batch_times = pager.pace.summary();
    out.throttle = pager.throttler.outcome();
    if let Err(e) = result {
        warn!(policy = %p.name, error = %e, "policy stopped: the batch in progress was rolled back, unless the error says its audit record could not be written after it committed");
        out.errors.push(e.to_string());
    }
    // The verification counts again with the holds in force now: what is still due is
    // `remaining`, a hold added during the run shows under `held` with its records, and a
    // row referenced during the run under `referenced`.
    match with_current_holds(target, ctx).await {
        Ok(t) => match crate::plan::plan_policy(store, &t, as_of).await {
            Ok(after) => {
                out.remaining = Some(after.eligible);
                out.held = after.held;
                out.holds = after.holds;
                out.referenced = after.referenced;
                out.references = after.references;
            }
            Err(e) => out.errors.push(format!("verification failed: {e}")),
        },
        Err(e) => out.errors.push(format!("verification failed: {e}")),
    }

    out.finish(ctx).await;
    info!(policy = %p.name, deleted = out.deleted, anonymized = out.anonymized, failed = out.failed, remaining = ?out.remaining, throttled = out.throttled(), "policy applied");
    out
}

async fn record_batch(
    ctx: &Ctx<'_>,
    out: &mut PolicyOutcome,
    changed: u64,
    failed: u64,
    started: std::time::Instant,
) -> Result<(), StoreError> {
    out.batches += 1;
    if let Some(f) = ctx.on_batch {
        f(&out.name, started.elapsed());
    }
    ctx.progress.inc(changed + failed);
    ctx.log
        .record(&BatchDone {
            policy: out.name.clone(),
            batch: out.batches,
            action: out.action,
            changed,
            failed,
        })
        .await
        .map_err(|e| StoreError::Trail(e.to_string()))
}

/// `batch.done`: one batch committed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchDone {
    /// The policy.
    pub policy: String,
    /// The batch's number in the policy's run, from 1.
    pub batch: u64,
    /// What the batch did.
    pub action: ActionKind,
    /// Records changed.
    pub changed: u64,
    /// Records that failed (kept).
    pub failed: u64,
}

impl AuditEvent for BatchDone {
    const KIND: &'static str = "batch.done";
}

impl AuditEvent for PolicyOutcome {
    const KIND: &'static str = "policy.applied";
}

/// Keyset pages must move forward. A key the database orders differently from how lethe reads
/// it would page the same rows again and again: stop instead. A composite key is compared
/// column by column: integers by value, texts (whose order is the database's collation) only
/// for equality, so a key is stuck when it stayed the same or its integers went back.
fn check_advances(after: Option<&RowKey>, last: &RowKey) -> Result<(), StoreError> {
    let Some(after) = after else {
        return Ok(());
    };
    let mut stuck = true;
    for (a, l) in after.values().iter().zip(last.values()) {
        match (a, l) {
            (KeyValue::Int(a), KeyValue::Int(l)) if l == a => continue,
            (KeyValue::Int(a), KeyValue::Int(l)) => stuck = l < a,
            (a, l) if a == l => continue,
            _ => stuck = false,
        }
        break;
    }
    if stuck {
        return Err(StoreError::Refused(
            "the key does not advance from one batch to the next (the database orders it differently from how lethe reads it); stopped".into(),
        ));
    }
    Ok(())
}

/// Keyset pages of due rows, the one pager of both ways to change rows. Before each page it
/// checks the stop signal and reads the holds again; each page starts after the last key of
/// the page before and must move forward; it stops at the plan's bound.
struct Pager<'a> {
    store: &'a SqlStore,
    target: &'a Target,
    as_of: DateTime<Utc>,
    pace: Pace,
    throttler: throttle::Throttler<'a>,
    limit: u64,
    counted: u64,
    after: Option<RowKey>,
}

/// One page: the target with the holds as they are now, the due rows of the page, and the key
/// the page starts after.
struct Page {
    target: Target,
    rows: Vec<crate::store::FetchedRow>,
    after: Option<RowKey>,
    started: std::time::Instant,
}

impl Page {
    /// The page's last key (a page is never empty).
    fn last(&self) -> Option<&RowKey> {
        self.rows.last().map(|(k, _)| k)
    }
}

impl<'a> Pager<'a> {
    fn new(store: &'a SqlStore, target: &'a Target, as_of: DateTime<Utc>, limit: u64) -> Self {
        Pager {
            store,
            target,
            as_of,
            pace: Pace::new(
                u64::from(target.policy.batch_size),
                (target.policy.batch_target_ms)
                    .map(|ms| std::time::Duration::from_millis(ms.into())),
            ),
            throttler: throttle::Throttler::new(store, target.policy.throttle),
            limit,
            counted: 0,
            after: None,
        }
    }

    /// The next page, or `None` when the bound is reached, the run stops or nothing is due.
    async fn next(
        &mut self,
        ctx: &Ctx<'_>,
        out: &mut PolicyOutcome,
    ) -> Result<Option<Page>, StoreError> {
        if self.counted >= self.limit {
            return Ok(None);
        }
        // Between batches, never inside one: the rate, then the replicas.
        match self.throttler.before_batch(&out.name, ctx.stop).await {
            throttle::Go::On => {}
            throttle::Go::Throttled => return Ok(None),
            throttle::Go::Stopped => {
                out.interrupted = true;
                return Ok(None);
            }
        }
        if !ctx.may_go_on().await {
            out.interrupted = true;
            return Ok(None);
        }
        let n = (self.throttler.cap(self.pace.size())).min(self.limit - self.counted) as u32;
        let started = std::time::Instant::now();
        let target = with_current_holds(self.target, ctx).await?;
        let rows = self
            .store
            .fetch_keyed(
                &target.fetch_batch(self.as_of, n, self.after.as_ref()),
                &target.int_key(),
            )
            .await
            .map_err(|e| {
                e.during(format!(
                    "the read of the next batch of `{}`",
                    target.policy.table
                ))
            })?;
        let Some((last, _)) = rows.last() else {
            return Ok(None);
        };
        check_advances(self.after.as_ref(), last)?;
        let after = self.after.replace(last.clone());
        Ok(Some(Page {
            target,
            rows,
            after,
            started,
        }))
    }

    /// Counts records against the plan's bound.
    fn count(&mut self, n: u64) {
        self.counted += n;
        self.throttler.done(n);
    }
}

/// Keyset pages of due keys; one statement per page changes the due rows in its key range.
async fn set_based(
    pager: &mut Pager<'_>,
    ctx: &Ctx<'_>,
    out: &mut PolicyOutcome,
) -> Result<(), StoreError> {
    let (store, as_of) = (pager.store, pager.as_of);
    while let Some(page) = pager.next(ctx, out).await? {
        let Some(last) = page.last() else { break };
        let target = &page.target;
        let q = match target.policy.action {
            Action::Delete => target.delete_batch(as_of, page.after.as_ref(), last),
            Action::Anonymize(_) => target.update_batch(as_of, page.after.as_ref(), last),
        };
        let statement = std::time::Instant::now();
        let changed = match store.execute(&q).await {
            Ok(c) => c,
            Err(e) => {
                out.failed += page.rows.len() as u64;
                return Err(e.during(batch_change(target)));
            }
        };
        pager.pace.took(page.rows.len() as u64, statement.elapsed());
        pager.count(changed);
        match target.policy.action {
            Action::Delete => out.deleted += changed,
            Action::Anonymize(_) => out.anonymized += changed,
        }
        record_batch(ctx, out, changed, 0, page.started).await?;
    }
    Ok(())
}

/// What a batch statement does, in the words of an error: `the delete of a batch from `leads``.
fn batch_change(target: &Target) -> String {
    match target.policy.action {
        Action::Delete => format!("the delete of a batch from `{}`", target.policy.table),
        Action::Anonymize(_) => format!("the update of a batch of `{}`", target.policy.table),
    }
}

/// Rows per `UPDATE ... FROM (VALUES ...)` statement: keeps the bound parameters well under
/// every dialect's limit whatever the batch size.
const ROWS_PER_STATEMENT: usize = 500;

/// Keyset pages of due rows; masked values computed here; one transaction per page.
async fn row_by_row(
    pager: &mut Pager<'_>,
    ctx: &Ctx<'_>,
    out: &mut PolicyOutcome,
) -> Result<(), StoreError> {
    let (store, as_of) = (pager.store, pager.as_of);
    let computed = pager.target.computed_columns();
    while let Some(page) = pager.next(ctx, out).await? {
        let (target, rows, started) = (&page.target, &page.rows, page.started);
        pager.count(rows.len() as u64);
        let mut masked_rows = Vec::with_capacity(rows.len());
        let mut failed = 0;
        for (key, values) in rows {
            let masked: Result<Vec<Option<String>>, _> = computed
                .iter()
                .zip(values)
                .map(|((col, strategy), v)| {
                    match anonymize::mask(strategy, ctx.hmac_key, v.as_deref()) {
                        // Unreadable as an address: clearing it is the anonymous choice.
                        Err(anonymize::MaskError::NotAnIp) if target.nullable.contains(col) => {
                            out.cleared += 1;
                            Ok(None)
                        }
                        other => other,
                    }
                })
                .collect();
            match masked {
                Ok(m) => masked_rows.push((key.clone(), m)),
                Err(e) => {
                    failed += 1;
                    if !out.errors.iter().any(|x| x.contains(&e.to_string())) {
                        out.errors.push(format!("some rows kept their value: {e}"));
                    }
                }
            }
        }
        // One statement per chunk of rows, all in one transaction: a page is done or not done.
        let updates: Vec<_> = masked_rows
            .chunks(ROWS_PER_STATEMENT)
            .map(|chunk| target.update_rows(as_of, chunk))
            .collect();
        let statement = std::time::Instant::now();
        let changed: u64 = match store.execute_in_tx(&updates).await {
            Ok(c) => c.iter().sum(),
            Err(e) => {
                out.failed += masked_rows.len() as u64 + failed;
                return Err(e.during(batch_change(target)));
            }
        };
        pager.pace.took(rows.len() as u64, statement.elapsed());
        out.anonymized += changed;
        out.failed += failed;
        record_batch(ctx, out, changed, failed, started).await?;
    }
    Ok(())
}
crate::util::named_enum! {
    /// How a run ended.
    pub enum RunStatus {
        /// Every policy finished.
        Ok => "ok",
        /// Some action failed (nothing half done).
        Failed => "failed",
        /// A guard or plan drift refused the run before anything changed.
        Refused => "refused",
        /// Stopped by a signal or a lost lease between batches.
        Interrupted => "interrupted",
        /// A policy stopped before its next batch because its store's replicas lagged past
        /// `max_throttle_wait` (nothing half done; the next run goes on).
        Throttled => "throttled",
        /// The person at the terminal said no; nothing changed.
        Cancelled => "cancelled",
    }
}

/// The result of `lethe apply`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyReport {
    /// The run's id in the audit trail.
    pub run_id: String,
    /// The plan the run followed (its own fresh plan, or the pinned one).
    pub plan_id: String,
    /// True when pinned to a reviewed plan file.
    pub pinned: bool,
    /// With `--shard I/N`: which share of the work this run took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The instant eligibility was evaluated at.
    pub as_of: String,
    /// Configuration hash.
    pub config_hash: String,
    /// How the run ended.
    pub status: RunStatus,
    /// Why the run was refused, if it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
    /// One entry per policy.
    pub policies: Vec<PolicyOutcome>,
    /// Where every store is, and whether that is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residency: Option<crate::residency::Report>,
    /// Policies left alone because they are in `mode: dry-run` (the daemon reports them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(values: &[KeyValue]) -> RowKey {
        RowKey(values.to_vec())
    }

    #[test]
    fn keys_must_advance_column_by_column() {
        use KeyValue::{Int, Text};
        let t = |s: &str| Text(s.into());
        let advances =
            |a: &[KeyValue], l: &[KeyValue]| check_advances(Some(&key(a)), &key(l)).is_ok();
        assert!(check_advances(None, &key(&[Int(1)])).is_ok());
        assert!(advances(&[Int(1)], &[Int(2)]));
        assert!(!advances(&[Int(2)], &[Int(2)]));
        assert!(!advances(&[Int(3)], &[Int(2)]));
        // The next customer, or a later order of the same one.
        assert!(advances(&[Int(1), Int(9)], &[Int(2), Int(1)]));
        assert!(advances(&[Int(1), Int(1)], &[Int(1), Int(2)]));
        assert!(!advances(&[Int(1), Int(2)], &[Int(1), Int(2)]));
        assert!(!advances(&[Int(2), Int(1)], &[Int(1), Int(9)]));
        // Text is ordered by the database: only a repeat is known to be stuck.
        assert!(advances(&[t("b"), Int(1)], &[t("a"), Int(1)]));
        assert!(!advances(&[t("a"), Int(2)], &[t("a"), Int(1)]));
        assert!(!advances(&[t("a"), t("x")], &[t("a"), t("x")]));
    }
}
