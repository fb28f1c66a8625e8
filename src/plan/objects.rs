//! Planning object policies: list the keys under the prefix page by page, judge each key at
//! `as_of`, and count. The same judgement runs again, page by page, when `apply` deletes.

use super::{HeldBy, PolicyPlan};
use crate::model::{ActionKind, Hold, ObjectClock, ObjectPolicy, SourceKind};
use crate::store::object::{parse_time, Entry, Features, Lock, ObjectStore};
use crate::store::{Link, SqlStore, StoreError};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap};

/// HEAD and tagging requests in flight while judging a page.
const LOOKUPS_IN_FLIGHT: usize = 16;

/// An object policy ready to run: its store's features, its holds and its SQL link.
#[derive(Debug, Clone)]
pub struct ObjectTarget {
    /// The policy.
    pub policy: ObjectPolicy,
    /// Versioning and Object Lock of its store.
    pub features: Features,
    /// The lethe holds over objects of its store whose prefix meets the policy's.
    pub holds: Vec<Hold>,
    /// The checked related table of a contract clock.
    pub link: Option<Link>,
    /// For a deletion certificate: only keys whose template variable (first) has this value
    /// (second) are in scope.
    pub only: Option<(String, String)>,
}

impl ObjectTarget {
    /// What `apply` does, in words (the objects' counterpart of a batch statement).
    pub fn shown_statement(&self, store: &ObjectStore) -> String {
        let what = if self.features.versioned {
            "every version and delete marker of each due key"
        } else {
            "each due object"
        };
        let how = match store {
            ObjectStore::S3(_) => "DeleteObjects on",
            ObjectStore::Dir(_) => "remove files from",
        };
        format!(
            "{how} {} under `{}` ({}; clock: {}): {what}, up to {} per request",
            store.location(),
            self.policy.prefix,
            match &self.policy.template {
                Some(t) => format!("keys matching `{}`", String::from(t.clone())),
                None => "every key".into(),
            },
            self.policy.clock.describe(),
            self.policy.batch_size
        )
    }
}

/// The judgement of one key at `as_of`.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Under the prefix but not matching the key template.
    Outside,
    /// Its clock is missing or unreadable (or no related record): kept.
    Undated,
    /// Not yet due.
    NotDue,
    /// Due, but kept by these lethe holds (indexes into the target's holds).
    Held(Vec<usize>),
    /// Due, but a version is under S3 Object Lock: kept, never bypassed.
    Locked(Lock),
    /// Due (by its clock, or with only delete markers left): every version and delete marker
    /// goes.
    Due,
}

/// What a judgement needs besides the entries.
pub struct Judge<'a> {
    /// The object store.
    pub store: &'a ObjectStore,
    /// The SQL stores (for a contract clock).
    pub sql: &'a BTreeMap<String, SqlStore>,
    /// The target.
    pub target: &'a ObjectTarget,
    /// The instant eligibility is evaluated at.
    pub as_of: DateTime<Utc>,
    /// The real time, for Object Lock retention dates.
    pub now: DateTime<Utc>,
}

/// A key's clock, read once per listing and judged at one or more instants.
#[derive(Clone)]
pub(super) enum Clocked {
    Outside,
    Undated,
    /// Only delete markers are left: due whatever the clock.
    NoData,
    At(DateTime<Utc>),
    Contract(String),
}

impl Judge<'_> {
    fn cutoff(&self) -> DateTime<Utc> {
        self.target.policy.keep.cutoff(self.as_of)
    }

    async fn clock(&self, e: &Entry) -> Result<Clocked, StoreError> {
        let p = &self.target.policy;
        if e.unnamed {
            return Ok(Clocked::Undated);
        }
        // With a template, a key is in scope when it carries the linked variable: a contract
        // clock's `on`, otherwise the template's first one.
        let linked = match (&p.template, &p.clock) {
            (Some(t), ObjectClock::Contract { on, .. }) => t.capture(&e.key, &on.0).map(Some),
            (Some(t), _) => (t.variables().first())
                .and_then(|v| t.capture(&e.key, v))
                .map(|_| None),
            (None, ObjectClock::Contract { .. }) => None,
            (None, _) => Some(None),
        };
        let Some(value) = linked else {
            return Ok(Clocked::Outside);
        };
        if let (Some((var, only)), Some(t)) = (&self.target.only, &p.template) {
            match t.capture(&e.key, var) {
                Some(c) if c == only => {}
                // The value holds the literal that follows the variable, so the template reads
                // a shorter value from this key: whose key it is cannot be told. It counts as
                // the subject's, undated, never left out.
                Some(c) if only.starts_with(c) => return Ok(Clocked::Undated),
                _ => return Ok(Clocked::Outside),
            }
        }
        // Nothing but delete markers: no data left to date, and the key name goes.
        if e.only_markers() {
            return Ok(Clocked::NoData);
        }
        if let Some(v) = value {
            return Ok(Clocked::Contract(v.to_string()));
        }
        let at = match &p.clock {
            ObjectClock::LastModified => e.versions.first().and_then(|v| v.last_modified),
            ObjectClock::Metadata(k) => match e.newest_data() {
                Some(v) => self
                    .store
                    .head(&e.key, v.id.as_deref(), self.now)
                    .await?
                    .metadata
                    .get(k)
                    .and_then(|s| parse_time(s)),
                None => None,
            },
            ObjectClock::Tag(k) => match e.newest_data() {
                Some(v) => self
                    .store
                    .tags(&e.key, v.id.as_deref())
                    .await?
                    .get(k)
                    .and_then(|s| parse_time(s)),
                None => None,
            },
            ObjectClock::Contract { .. } => None,
        };
        Ok(at.map_or(Clocked::Undated, Clocked::At))
    }

    /// The first lock on any data version of a due key (versions read a few at a time).
    async fn lock(&self, e: &Entry) -> Result<Option<Lock>, StoreError> {
        const VERSIONS_IN_FLIGHT: usize = 4;
        let heads = (e.versions.iter().filter(|v| !v.marker))
            .map(|v| self.store.head(&e.key, v.id.as_deref(), self.now));
        let heads: Vec<_> = stream::iter(heads)
            .buffered(VERSIONS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(heads.into_iter().find_map(|h| h.lock))
    }

    /// Judges a page of entries. A lookup that fails stops the policy (fail closed).
    pub async fn page(&self, entries: &[Entry]) -> Result<Vec<Verdict>, StoreError> {
        let clocks = self.clocks(entries).await?;
        self.judge(entries, clocks).await
    }

    /// Reads the clock of every entry of a page (HEAD and tagging requests a few at a time).
    pub(super) async fn clocks(&self, entries: &[Entry]) -> Result<Vec<Clocked>, StoreError> {
        stream::iter(entries.iter().map(|e| self.clock(e)))
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Judges a page whose clocks were read, at this judge's instant.
    pub(super) async fn judge(
        &self,
        entries: &[Entry],
        clocks: Vec<Clocked>,
    ) -> Result<Vec<Verdict>, StoreError> {
        let cutoff = self.cutoff();
        // A contract clock: one query for the page's values.
        let mut ends = HashMap::new();
        if let Some(link) = &self.target.link {
            let values: Vec<&str> = clocks
                .iter()
                .filter_map(|c| match c {
                    Clocked::Contract(v) => Some(v.as_str()),
                    _ => None,
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let sql = self
                .sql
                .get(&link.store)
                .ok_or_else(|| StoreError::NotConnected(link.store.clone()))?;
            ends = sql.ends(link, &values, cutoff).await?;
        }
        let active: Vec<(usize, &Hold)> = (self.target.holds.iter().enumerate())
            .filter(|(_, h)| h.active_at(self.as_of))
            .collect();
        let mut verdicts = Vec::with_capacity(entries.len());
        for (e, c) in entries.iter().zip(clocks) {
            let due = match c {
                Clocked::Outside => {
                    verdicts.push(Verdict::Outside);
                    continue;
                }
                Clocked::Undated => {
                    verdicts.push(Verdict::Undated);
                    continue;
                }
                Clocked::NoData => true,
                Clocked::At(t) => t < cutoff,
                Clocked::Contract(v) => match ends.get(&v) {
                    None => {
                        verdicts.push(Verdict::Undated);
                        continue;
                    }
                    Some(end) => end.due(),
                },
            };
            if !due {
                verdicts.push(Verdict::NotDue);
                continue;
            }
            let held: Vec<usize> = active
                .iter()
                .filter(|(_, h)| h.covers_key(&self.target.policy.store, &e.key))
                .map(|(i, _)| *i)
                .collect();
            verdicts.push(if held.is_empty() {
                Verdict::Due
            } else {
                Verdict::Held(held)
            });
        }
        // Object Lock: every data version of a due key is checked.
        if self.target.features.object_lock {
            let due: Vec<usize> = (0..entries.len())
                .filter(|i| verdicts[*i] == Verdict::Due)
                .collect();
            let locks: Vec<Option<Lock>> =
                stream::iter(due.iter().map(|i| self.lock(&entries[*i])))
                    .buffered(LOOKUPS_IN_FLIGHT)
                    .try_collect()
                    .await?;
            for (i, lock) in due.into_iter().zip(locks) {
                if let Some(l) = lock {
                    verdicts[i] = Verdict::Locked(l);
                }
            }
        }
        Ok(verdicts)
    }
}

/// Counts of one object policy, built page by page.
#[derive(Debug, Default)]
pub struct Tally {
    /// The instant the policy is evaluated at (which holds are in force).
    pub as_of: DateTime<Utc>,
    /// Keys under the prefix.
    pub total: u64,
    /// Keys matching the template (all keys without one).
    pub selected: u64,
    /// Keys due and not held.
    pub eligible: u64,
    /// Keys due but held (by a lethe hold or Object Lock).
    pub held: u64,
    /// Keys kept because their clock is unknown.
    pub undated: u64,
    /// Per lethe hold: keys it keeps.
    by_hold: BTreeMap<usize, u64>,
    /// Per lock kind: keys, and the latest retention date.
    by_lock: BTreeMap<&'static str, (u64, Option<DateTime<Utc>>)>,
}

impl Tally {
    /// Adds a page's verdicts.
    pub fn add(&mut self, verdicts: &[Verdict]) {
        for v in verdicts {
            self.total += 1;
            if *v == Verdict::Outside {
                continue;
            }
            self.selected += 1;
            match v {
                Verdict::Undated => self.undated += 1,
                Verdict::Due => self.eligible += 1,
                Verdict::Held(hs) => {
                    self.held += 1;
                    for h in hs {
                        *self.by_hold.entry(*h).or_insert(0) += 1;
                    }
                }
                Verdict::Locked(l) => {
                    self.held += 1;
                    let e = self.by_lock.entry(l.name()).or_insert((0, None));
                    e.0 += 1;
                    e.1 = e.1.max(l.until());
                }
                Verdict::Outside | Verdict::NotDue => {}
            }
        }
    }

    /// Per hold and lock kind: name, basis and keys kept.
    pub fn holds(&self, target: &ObjectTarget) -> Vec<HeldBy> {
        // Every hold over the prefix is listed, also when it keeps nothing now: a reader checks
        // that a new hold is there.
        let mut out: Vec<HeldBy> = (target.holds.iter().enumerate())
            .filter(|(_, h)| h.active_at(self.as_of))
            .map(|(i, h)| HeldBy {
                hold: h.name.clone(),
                basis: h.basis.clone(),
                source: h.source.kind(),
                held: self.by_hold.get(&i).copied().unwrap_or(0),
            })
            .collect();
        for (name, (n, until)) in &self.by_lock {
            let basis = match (name.rsplit(':').next(), until) {
                (Some("legal-hold"), _) => "S3 Object Lock legal hold (until removed)".to_string(),
                (Some(mode), Some(t)) if *t < DateTime::<Utc>::MAX_UTC => format!(
                    "S3 Object Lock retention, {mode} mode, until {} at the latest",
                    t.format("%Y-%m-%d")
                ),
                (Some(mode), _) => {
                    format!("S3 Object Lock retention, {mode} mode, without a readable date")
                }
                _ => "S3 Object Lock".to_string(),
            };
            out.push(HeldBy {
                hold: name.to_string(),
                basis,
                source: SourceKind::ObjectLock,
                held: *n,
            });
        }
        out
    }
}

/// How many more keys of an object policy become due within each of [`super::FORECAST_DAYS`]:
/// one more listing, each page's clocks read once and judged at `as_of` and at each horizon
/// (holds and Object Lock retention as they will stand then).
pub async fn forecast_objects(judge: &Judge<'_>) -> Result<super::Forecast, StoreError> {
    let t = judge.target;
    let mut lister = judge.store.lister(&t.policy.prefix, t.features.versioned);
    let later: Vec<Judge<'_>> = (super::FORECAST_DAYS.iter())
        .map(|d| {
            let ahead = chrono::Duration::days(i64::from(*d));
            Judge {
                as_of: judge.as_of + ahead,
                now: judge.now + ahead,
                ..*judge
            }
        })
        .collect();
    let due = |v: &[Verdict]| v.iter().filter(|v| **v == Verdict::Due).count() as u64;
    let (mut now, mut then) = (0, [0u64; 3]);
    while let Some(page) = lister.next_page().await? {
        let clocks = judge.clocks(&page).await?;
        now += due(&judge.judge(&page, clocks.clone()).await?);
        for (n, j) in then.iter_mut().zip(&later) {
            *n += due(&j.judge(&page, clocks.clone()).await?);
        }
    }
    let [d7, d30, d90] = then.map(|n| n.saturating_sub(now));
    Ok(super::Forecast {
        days_7: d7,
        days_30: d30,
        days_90: d90,
    })
}

/// Counts one object policy at `as_of`.
pub async fn plan_objects(judge: &Judge<'_>) -> Result<PolicyPlan, StoreError> {
    let t = judge.target;
    let p = &t.policy;
    let mut lister = judge.store.lister(&p.prefix, t.features.versioned);
    let mut tally = Tally {
        as_of: judge.as_of,
        ..Tally::default()
    };
    while let Some(page) = lister.next_page().await? {
        tally.add(&judge.page(&page).await?);
    }
    tracing::info!(
        policy = %p.name,
        eligible = tally.eligible,
        held = tally.held,
        undated = tally.undated,
        "policy planned"
    );
    Ok(PolicyPlan {
        name: p.name.clone(),
        store: p.store.clone(),
        target: p.target(),
        action: ActionKind::Delete,
        columns: BTreeMap::new(),
        keep: p.keep.to_string(),
        cutoff: judge.cutoff(),
        eligible: tally.eligible,
        held: tally.held,
        holds: tally.holds(t),
        undated: tally.undated,
        referenced: 0,
        references: Vec::new(),
        selected: tally.selected,
        total: tally.total,
        policy_hash: p.hash.clone(),
        statement: t.shown_statement(judge.store),
        purpose: p.purpose.clone(),
        clause: p.clause.clone(),
        forecast: None,
        guard: None,
    })
}
