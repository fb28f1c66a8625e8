//! Planning: evaluate every policy at a fixed instant (`as_of`) and count what it would do.
//! A plan changes no data; it can be written to a file and later pin an `apply`.

mod guard;
mod item;
mod objects;

pub use guard::{judge, judge_run, GuardVerdict, LimitsSetIn, PolicyGuard, RunGuard};
pub use item::Item;
pub use objects::{plan_objects, Judge, ObjectTarget, Tally, Verdict};

use crate::model::{Action, ActionKind, Effect, Mode, SourceKind};
use crate::store::{Counts, ObjectStore, SqlStore, StoreError, Target};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Format version of plan files.
pub const PLAN_VERSION: u32 = 1;

/// Plan files larger than this are refused (a plan holds counts, not records: a few hundred
/// bytes per policy).
pub const MAX_PLAN_BYTES: u64 = 16 * 1024 * 1024;

/// What every selected policy would do at `as_of`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Plan file format version.
    pub version: u32,
    /// Unique id of this plan.
    pub plan_id: String,
    /// The instant every policy was evaluated at.
    pub as_of: DateTime<Utc>,
    /// Hash of the configuration the plan was made from.
    pub config_hash: String,
    /// When the plan was made.
    pub created_at: DateTime<Utc>,
    /// One entry per policy.
    pub policies: Vec<PolicyPlan>,
    /// Where every store is, and whether that is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residency: Option<crate::residency::Report>,
    /// The run's guard (`guard.run_max_rows`) as apply would judge it at `as_of`. Every plan
    /// this lethe makes has it; only plan files made before it existed lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<RunGuard>,
}

/// What a policy counts: rows of a table or objects in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Rows of a SQL table.
    Rows,
    /// Objects (files) of an object store.
    Objects,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unit::Rows => "rows",
            Unit::Objects => "objects",
        })
    }
}

/// One policy in a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyPlan {
    /// Policy name.
    pub name: String,
    /// Store name.
    pub store: String,
    /// `store.table`.
    pub target: String,
    /// `delete` or `anonymize`.
    pub action: ActionKind,
    /// For anonymize: strategy and effect per column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, ColumnPlan>,
    /// Retention period, e.g. `90d`.
    pub keep: String,
    /// Records whose clock is before this instant are due.
    pub cutoff: DateTime<Utc>,
    /// Records the action would change now.
    pub eligible: u64,
    /// Records that would be due but are kept by at least one hold.
    #[serde(default)]
    pub held: u64,
    /// Per active hold on the table: its name, legal basis and how many due records it keeps.
    /// A record under two holds counts for each.
    #[serde(default)]
    pub holds: Vec<HeldBy>,
    /// Records kept because their clock is NULL, unreadable, or has no related row.
    pub undated: u64,
    /// Due records (held by no hold) kept because rows of other tables, or other rows of the
    /// same table, still reference them through a foreign key; left out when 0.
    #[serde(default, skip_serializing_if = "crate::util::is_zero")]
    pub referenced: u64,
    /// Per referencing table, the due records its rows keep, most first. A record referenced
    /// from two tables counts for each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferencedBy>,
    /// Records the selector matches.
    pub selected: u64,
    /// Rows in the table.
    pub total: u64,
    /// Policy hash (changes whenever the policy does).
    pub policy_hash: String,
    /// The batch statement `apply` repeats.
    pub statement: String,
    /// Purpose of the data (from the policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The agreement clause or legal text the policy implements (from the policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    /// `lethe plan` on a table: how many more records become due in the coming days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    /// The policy's guard as apply would judge it at `as_of`. Every plan this lethe makes has
    /// it; only plan files made before it existed lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<PolicyGuard>,
}

/// The days ahead a forecast looks.
pub const FORECAST_DAYS: [u32; 3] = [7, 30, 90];

/// Records that become due within the next 7, 30 and 90 days, beyond those due now: counted
/// with the policy's own statement at those instants, so holds count as they will stand then
/// (a hold that ends within 30 days frees its records in the 30- and 90-day figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    /// Within 7 days.
    pub days_7: u64,
    /// Within 30 days.
    pub days_30: u64,
    /// Within 90 days.
    pub days_90: u64,
}

/// Adds a forecast to every policy of `plan` (made from `work`, in its order): a table policy
/// counts with its own statement at each horizon; an object policy lists its keys once more
/// and judges each at every horizon.
pub async fn forecast(work: &Work<'_>, plan: &mut Plan) -> Result<(), StoreError> {
    let as_of = plan.as_of;
    for (item, p) in work.items.iter().zip(plan.policies.iter_mut()) {
        p.forecast = Some(match item {
            Item::Table(t) => {
                let store = work.sql(&t.policy.store)?;
                let mut later = [0; 3];
                for (n, days) in later.iter_mut().zip(FORECAST_DAYS) {
                    let at = as_of + chrono::Duration::days(i64::from(days));
                    let c = store.fetch_counts(&t.count(at)).await?;
                    let due = c.get(2).copied().unwrap_or(0).max(0) as u64;
                    *n = due.saturating_sub(p.eligible);
                }
                Forecast {
                    days_7: later[0],
                    days_30: later[1],
                    days_90: later[2],
                }
            }
            Item::Objects(t) => objects::forecast_objects(&work.judge(t, as_of)?).await?,
        });
    }
    Ok(())
}

impl PolicyPlan {
    /// What the policy counts. A plan writes a table's target as `store.table` and an object
    /// policy's as `store:prefix` (identifiers cannot hold a `:`), also in plan files.
    pub fn unit(&self) -> Unit {
        if self.target.contains(':') {
            Unit::Objects
        } else {
            Unit::Rows
        }
    }
}

/// What one hold kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldBy {
    /// The hold's name (`hold-<id>` for a runtime hold).
    pub hold: String,
    /// Its legal basis.
    pub basis: String,
    /// `declared` or `runtime`.
    pub source: SourceKind,
    /// Due records it keeps.
    pub held: u64,
}

/// What the rows of one referencing table kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferencedBy {
    /// The referencing table.
    pub table: String,
    /// Due records its rows reference.
    pub referenced: u64,
    /// Per hold on the referencing table, the due records that its held rows reference: a
    /// hold there is what keeps them. Left out when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldReference>,
}

/// The due records that the rows one hold keeps in a referencing table still reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldReference {
    /// The hold on the referencing table.
    pub hold: String,
    /// Due records its held rows reference.
    pub referenced: u64,
}

/// How one column is masked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnPlan {
    /// Strategy name.
    pub strategy: String,
    /// `anonymizing` or `pseudonymizing`.
    pub effect: Effect,
}

/// Counts one policy at `as_of`.
pub async fn plan_policy(
    store: &SqlStore,
    target: &Target,
    as_of: DateTime<Utc>,
) -> Result<PolicyPlan, StoreError> {
    let p = &target.policy;
    let cutoff = target.cutoff(as_of);
    let c = store.fetch_counts(&target.count(as_of)).await?;
    let n = |i: usize| c.get(i).copied().unwrap_or(0).max(0) as u64;
    let counts = Counts {
        total: n(0),
        selected: n(1),
        eligible: n(2),
        undated: n(3),
    };
    let active = target.active_holds(as_of);
    let holds = active
        .iter()
        .enumerate()
        .map(|(i, h)| HeldBy {
            hold: h.name.clone(),
            basis: h.basis.clone(),
            source: h.source.kind(),
            held: n(5 + i),
        })
        .collect();
    // After the holds: kept because referenced, then per referencing table.
    let referenced = n(5 + active.len());
    let tables = target.referencing_tables();
    // After the per-table counts: per table, per hold on it.
    let mut next = 6 + active.len() + tables.len();
    let mut references: Vec<ReferencedBy> = Vec::new();
    for (i, (table, _)) in tables.iter().enumerate() {
        let mut held = Vec::new();
        for h in target.child_holds_on(table, as_of) {
            held.push(HeldReference {
                hold: h.name.clone(),
                referenced: n(next),
            });
            next += 1;
        }
        held.retain(|h| h.referenced > 0);
        references.push(ReferencedBy {
            table: table.to_string(),
            referenced: n(6 + active.len() + i),
            held,
        });
    }
    references.retain(|r| r.referenced > 0);
    references.sort_by_key(|r| std::cmp::Reverse(r.referenced));
    let columns = match &p.action {
        Action::Delete => BTreeMap::new(),
        Action::Anonymize(s) => s
            .iter()
            .map(|(col, st)| {
                (
                    col.to_string(),
                    ColumnPlan {
                        strategy: st.name().to_string(),
                        effect: st.effect(),
                    },
                )
            })
            .collect(),
    };
    tracing::info!(
        policy = %p.name,
        eligible = counts.eligible,
        held = n(4),
        undated = counts.undated,
        referenced,
        "policy planned"
    );
    Ok(PolicyPlan {
        name: p.name.clone(),
        store: p.store.clone(),
        target: p.target(),
        action: p.action.kind(),
        columns,
        keep: p.keep.to_string(),
        cutoff,
        eligible: counts.eligible,
        held: n(4),
        holds,
        undated: counts.undated,
        referenced,
        references,
        selected: counts.selected,
        total: counts.total,
        policy_hash: p.hash.clone(),
        statement: target.shown_statement(as_of),
        purpose: p.purpose.clone(),
        clause: p.clause.clone(),
        forecast: None,
        guard: None,
    })
}

/// The policies of one run with their connected stores: tables first, then objects.
#[derive(Clone, Copy)]
pub struct Work<'a> {
    /// Connected SQL stores by name.
    pub stores: &'a BTreeMap<String, SqlStore>,
    /// Connected object stores by name.
    pub object_stores: &'a BTreeMap<String, ObjectStore>,
    /// The policies, in the order they run.
    pub items: &'a [Item],
    /// `guard.run_max_rows` of lethe.yaml: the most records the run may change.
    pub run_max_rows: Option<u64>,
}

impl<'a> Work<'a> {
    /// The SQL store of a table policy.
    pub fn sql(&self, name: &str) -> Result<&'a SqlStore, StoreError> {
        self.stores
            .get(name)
            .ok_or_else(|| StoreError::NotConnected(name.to_string()))
    }

    /// The object store of an object policy.
    pub fn object_store(&self, name: &str) -> Result<&'a ObjectStore, StoreError> {
        self.object_stores
            .get(name)
            .ok_or_else(|| StoreError::NotConnected(name.to_string()))
    }

    /// The judge of an object policy's keys at `as_of` (Object Lock judged at the real time).
    pub fn judge(
        &self,
        t: &'a ObjectTarget,
        as_of: DateTime<Utc>,
    ) -> Result<Judge<'a>, StoreError> {
        Ok(Judge {
            store: self.object_store(&t.policy.store)?,
            sql: self.stores,
            target: t,
            as_of,
            now: Utc::now(),
        })
    }
}

/// Plans every policy at `as_of`.
pub async fn make_plan(
    work: &Work<'_>,
    as_of: DateTime<Utc>,
    config_hash: &str,
) -> Result<Plan, StoreError> {
    let mut policies = Vec::with_capacity(work.items.len());
    // The enforced deletes planned so far, which run before the policies after them.
    let mut going: Vec<Target> = Vec::new();
    for item in work.items {
        let mut planned = match item {
            Item::Table(t) => {
                let t = foresee(t, &going);
                let planned = plan_policy(work.sql(&t.policy.store)?, &t, as_of).await?;
                if matches!(t.policy.action, Action::Delete) && t.policy.mode == Mode::Enforce {
                    going.push(t);
                }
                planned
            }
            Item::Objects(t) => plan_objects(&work.judge(t, as_of)?).await?,
        };
        planned.guard = Some(guard::judge(&planned, &item.guard(), item.file()));
        policies.push(planned);
    }
    let guard = Some(guard::judge_run(&policies, work.run_max_rows));
    Ok(Plan {
        version: PLAN_VERSION,
        plan_id: uuid::Uuid::new_v4().to_string(),
        as_of,
        config_hash: config_hash.to_string(),
        created_at: Utc::now(),
        policies,
        residency: None,
        guard,
    })
}

/// The target as a plan sees it: the deletes in `going` (earlier in the run) that act on
/// tables referencing its table go first, so rows they remove no longer keep its rows.
fn foresee(target: &Target, going: &[Target]) -> Target {
    let mut t = target.clone();
    t.going_first = (going.iter())
        .filter(|g| {
            g.policy.store == t.policy.store
                && !g.policy.table.same_table(&t.policy.table)
                && (t.referenced_by.iter()).any(|fk| fk.child.same_table(&g.policy.table))
        })
        .cloned()
        .collect();
    t
}

/// Errors reading a plan file.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The file could not be read.
    #[error("cannot read plan file `{path}`: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a plan.
    #[error("{path}:{line}:{column}: not a lethe plan file: {message}")]
    Parse {
        /// File.
        path: String,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// Cause.
        message: String,
    },
    /// Not a regular file, or too large.
    #[error("cannot read plan file `{0}`: {1}")]
    Refused(String, String),
    /// Unknown version.
    #[error("plan file `{0}` has version {1}; this lethe reads version {PLAN_VERSION}")]
    Version(String, u32),
}

impl Plan {
    /// Reads a plan file.
    pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
        let shown = path.display().to_string();
        let bytes = crate::util::read_regular(path, MAX_PLAN_BYTES).map_err(|e| match e {
            crate::util::ReadError::Io(source) => PlanFileError::Read {
                path: shown.clone(),
                source,
            },
            e => PlanFileError::Refused(shown.clone(), e.to_string()),
        })?;
        let text =
            crate::util::utf8_text(bytes).map_err(|(line, column)| PlanFileError::Parse {
                path: shown.clone(),
                line: line as usize,
                column: column as usize,
                message: "this byte is not UTF-8 text".into(),
            })?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| PlanFileError::Parse {
            path: shown.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        if plan.version != PLAN_VERSION {
            return Err(PlanFileError::Version(shown, plan.version));
        }
        Ok(plan)
    }

    /// `as_of` in RFC 3339.
    pub fn as_of_text(&self) -> String {
        self.as_of.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// Total eligible across policies.
    pub fn total_eligible(&self) -> u64 {
        self.policies.iter().map(|p| p.eligible).sum()
    }
}
