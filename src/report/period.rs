//! The period report: what the audit trail says happened between two dates, per policy and per
//! night, for a DPO's monthly record. Read from the events as written (see the audit events
//! reference); counts, names and legal bases only, never a value.

use crate::apply::{PolicyOutcome, Refusal};
use crate::audit::{StoredEvent, Verification};
use crate::residency::{Summary, Verdict};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The report over `[since, until)`.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodReport {
    /// First instant covered.
    pub since: DateTime<Utc>,
    /// First instant no longer covered.
    pub until: DateTime<Utc>,
    /// The audit trail's check, over the whole trail.
    pub chain: Chain,
    /// Enforcing runs in the period by how they ended (`ok`, `failed`, `refused`, ...,
    /// `unfinished` for a run without an end event).
    pub runs: BTreeMap<String, u64>,
    /// Per policy, the period's totals.
    pub policies: Vec<PolicyTotals>,
    /// Per night (the UTC date of each run's evaluation instant) and policy.
    pub nights: Vec<Night>,
    /// Runs refused by a guard or by plan drift.
    pub refusals: Vec<RefusedRun>,
    /// Runtime holds added in the period.
    pub holds_added: Vec<HoldChange>,
    /// Runtime holds released in the period.
    pub holds_released: Vec<HoldChange>,
    /// Per store, the residency verdicts the period's runs recorded, with how many runs each.
    pub residency: Vec<ResidencyLine>,
    /// Per policy, what becomes due next, counted on the live stores when the report was made.
    pub forecast: Vec<PolicyForecast>,
    /// Why there is no forecast, when the stores could not be counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_unavailable: Option<String>,
}

/// One policy's forecast.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyForecast {
    /// Policy name.
    pub name: String,
    /// `store.table`.
    pub target: String,
    /// Due now.
    pub eligible: u64,
    /// Beyond those, due within 7, 30 and 90 days.
    pub next: crate::plan::Forecast,
}

/// The audit trail's check.
#[derive(Debug, Clone, Serialize)]
pub struct Chain {
    /// Events in the whole trail.
    pub events: u64,
    /// The hash of the last event.
    pub head: String,
    /// True when every hash and link checks out.
    pub intact: bool,
    /// Where and why not.
    pub broken: Option<String>,
}

/// One policy over the period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyTotals {
    /// Policy name.
    pub name: String,
    /// `store.table` or `store:prefix`.
    pub target: String,
    /// Enforcing runs that reached it.
    pub runs: u64,
    /// Records deleted.
    pub deleted: u64,
    /// Records anonymized.
    pub anonymized: u64,
    /// Records that failed (and were kept).
    pub failed: u64,
    /// Held at its last run, per hold (name -> records).
    pub held: BTreeMap<String, u64>,
    /// Undated records at its last run.
    pub undated: u64,
    /// Due records kept at its last run because rows that stay still reference them.
    pub referenced: u64,
    /// Still due after its last run (`None`: unknown).
    pub remaining: Option<u64>,
    /// Runs that stopped as `throttled` (its replicas lagged past `max_throttle_wait`); left
    /// out when 0.
    #[serde(skip_serializing_if = "crate::util::is_zero")]
    pub throttled_runs: u64,
    /// Milliseconds its runs waited between batches, for replicas and the row rate; left out
    /// when 0.
    #[serde(skip_serializing_if = "crate::util::is_zero")]
    pub throttled_ms: u64,
}

/// One night.
#[derive(Debug, Clone, Serialize)]
pub struct Night {
    /// The UTC date.
    pub date: NaiveDate,
    /// Per policy, what its runs that night did.
    pub policies: BTreeMap<String, NightFigures>,
}

/// One policy in one night.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NightFigures {
    /// Records deleted.
    pub deleted: u64,
    /// Records anonymized.
    pub anonymized: u64,
    /// Records that failed.
    pub failed: u64,
    /// Held at the night's last run, per hold.
    pub held: BTreeMap<String, u64>,
    /// Undated at the night's last run.
    pub undated: u64,
    /// Kept as still referenced at the night's last run.
    pub referenced: u64,
}

/// A refused run.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedRun {
    /// The run.
    pub run_id: String,
    /// Its evaluation instant.
    pub as_of: String,
    /// Why.
    pub refusals: Vec<Refusal>,
}

/// A hold added or released.
#[derive(Debug, Clone, Serialize)]
pub struct HoldChange {
    /// When.
    pub at: String,
    /// `hold-<id>`.
    pub hold: String,
    /// Its store and table (added holds).
    pub scope: Option<String>,
    /// The reason given.
    pub reason: String,
    /// When it ends by itself (added holds).
    pub until: Option<String>,
}

/// A store's residency verdict as the period's runs recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct ResidencyLine {
    /// Store name.
    pub store: String,
    /// The ISO country, when known.
    pub country: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// How many runs recorded it.
    pub runs: u64,
}

/// The fields of `run.started` the report reads (enforcing and dry runs alike).
#[derive(Deserialize)]
struct Started {
    dry_run: bool,
    as_of: String,
    #[serde(default)]
    residency: Option<Summary>,
}

#[derive(Deserialize)]
struct Finished {
    status: String,
}

#[derive(Deserialize)]
struct Refused {
    refusals: Vec<Refusal>,
}

#[derive(Deserialize)]
struct Added {
    hold: String,
    store: String,
    table: String,
    reason: String,
    until: Option<String>,
}

#[derive(Deserialize)]
struct Released {
    hold: String,
    reason: String,
}

/// An enforcing run of the period, while its events are read.
struct OpenRun {
    night: NaiveDate,
    as_of: String,
}

/// Builds the report from the trail's events, fed in chain order.
pub struct PeriodBuilder {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    open: HashMap<String, OpenRun>,
    report: PeriodReport,
    nights: BTreeMap<NaiveDate, BTreeMap<String, NightFigures>>,
    policies: BTreeMap<String, PolicyTotals>,
    residency: BTreeMap<(String, Option<String>, Verdict), u64>,
}

fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl PeriodBuilder {
    /// A report over `[since, until)`.
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>) -> PeriodBuilder {
        PeriodBuilder {
            since,
            until,
            open: HashMap::new(),
            report: PeriodReport {
                since,
                until,
                chain: Chain {
                    events: 0,
                    head: String::new(),
                    intact: false,
                    broken: None,
                },
                runs: BTreeMap::new(),
                policies: Vec::new(),
                nights: Vec::new(),
                refusals: Vec::new(),
                holds_added: Vec::new(),
                holds_released: Vec::new(),
                residency: Vec::new(),
                forecast: Vec::new(),
                forecast_unavailable: None,
            },
            nights: BTreeMap::new(),
            policies: BTreeMap::new(),
            residency: BTreeMap::new(),
        }
    }

    fn within(&self, t: DateTime<Utc>) -> bool {
        t >= self.since && t < self.until
    }

    /// Takes in the next event. Runs belong to the period by their evaluation instant
    /// (`as_of`), holds by when they were added or released. A payload that cannot be read
    /// is passed over (the chain check reports tampering).
    pub fn add(&mut self, e: &StoredEvent) {
        match e.kind.as_str() {
            "run.started" => {
                let Ok(s) = serde_json::from_str::<Started>(&e.payload) else {
                    return;
                };
                let Some(t) = instant(&s.as_of).filter(|t| !s.dry_run && self.within(*t)) else {
                    return;
                };
                if let Some(r) = &s.residency {
                    for st in &r.stores {
                        *self
                            .residency
                            .entry((st.store.clone(), st.country.clone(), st.verdict))
                            .or_default() += 1;
                    }
                }
                self.open.insert(
                    e.run_id.clone(),
                    OpenRun {
                        night: t.date_naive(),
                        as_of: s.as_of,
                    },
                );
            }
            "policy.applied" => {
                let Some(run) = self.open.get(&e.run_id) else {
                    return;
                };
                let Ok(p) = serde_json::from_str::<PolicyOutcome>(&e.payload) else {
                    return;
                };
                let held: BTreeMap<String, u64> =
                    p.holds.iter().map(|h| (h.hold.clone(), h.held)).collect();
                let night = self
                    .nights
                    .entry(run.night)
                    .or_default()
                    .entry(p.name.clone())
                    .or_default();
                night.deleted += p.deleted;
                night.anonymized += p.anonymized;
                night.failed += p.failed;
                night.held = held.clone();
                night.undated = p.undated;
                night.referenced = p.referenced;
                let total = self
                    .policies
                    .entry(p.name.clone())
                    .or_insert_with(|| PolicyTotals {
                        name: p.name.clone(),
                        ..PolicyTotals::default()
                    });
                total.target = p.target.clone();
                total.runs += 1;
                total.deleted += p.deleted;
                total.anonymized += p.anonymized;
                total.failed += p.failed;
                total.held = held;
                total.undated = p.undated;
                total.referenced = p.referenced;
                total.remaining = p.remaining;
                if let Some(t) = &p.throttle {
                    total.throttled_ms += t.waited_ms + t.rate_wait_ms;
                }
                total.throttled_runs += u64::from(p.throttled());
            }
            "run.refused" => {
                let (Some(run), Ok(r)) = (
                    self.open.get(&e.run_id),
                    serde_json::from_str::<Refused>(&e.payload),
                ) else {
                    return;
                };
                self.report.refusals.push(RefusedRun {
                    run_id: e.run_id.clone(),
                    as_of: run.as_of.clone(),
                    refusals: r.refusals,
                });
                self.end(&e.run_id, "refused");
            }
            "run.finished" => {
                if let Ok(f) = serde_json::from_str::<Finished>(&e.payload) {
                    self.end(&e.run_id, &f.status);
                }
            }
            "hold.added" | "hold.released" => {
                if !instant(&e.at).is_some_and(|t| self.within(t)) {
                    return;
                }
                if let Ok(a) = serde_json::from_str::<Added>(&e.payload) {
                    let scope = if a.table.is_empty() {
                        format!("{} (a key prefix)", a.store)
                    } else {
                        format!("{}.{}", a.store, a.table)
                    };
                    self.report.holds_added.push(HoldChange {
                        at: e.at.clone(),
                        hold: a.hold,
                        scope: Some(scope),
                        reason: a.reason,
                        until: a.until,
                    });
                } else if let Ok(r) = serde_json::from_str::<Released>(&e.payload) {
                    self.report.holds_released.push(HoldChange {
                        at: e.at.clone(),
                        hold: r.hold,
                        scope: None,
                        reason: r.reason,
                        until: None,
                    });
                }
            }
            _ => {}
        }
    }

    /// Counts a run of the period as ended so (refused runs write no `run.finished`).
    fn end(&mut self, run_id: &str, status: &str) {
        if self.open.remove(run_id).is_some() {
            *self.report.runs.entry(status.to_string()).or_default() += 1;
        }
    }

    /// The report, with the trail's check.
    pub fn finish(mut self, chain: &Verification) -> PeriodReport {
        let unfinished = self.open.len() as u64;
        if unfinished > 0 {
            *self.report.runs.entry("unfinished".into()).or_default() += unfinished;
        }
        self.report.chain = Chain {
            events: chain.events,
            head: chain.head.clone(),
            intact: chain.broken.is_none(),
            broken: chain
                .broken
                .as_ref()
                .map(|(seq, why)| format!("event {seq}: {why}")),
        };
        self.report.policies = self.policies.into_values().collect();
        self.report.nights = self
            .nights
            .into_iter()
            .map(|(date, policies)| Night { date, policies })
            .collect();
        self.report.residency = self
            .residency
            .into_iter()
            .map(|((store, country, verdict), runs)| ResidencyLine {
                store,
                country,
                verdict,
                runs,
            })
            .collect();
        self.report
    }
}

impl PeriodReport {
    /// Adds the forecast of a fresh plan, or why there is none.
    pub fn with_forecast(mut self, plan: Result<&crate::plan::Plan, String>) -> PeriodReport {
        match plan {
            Ok(plan) => {
                self.forecast = plan
                    .policies
                    .iter()
                    .filter_map(|p| {
                        p.forecast.map(|next| PolicyForecast {
                            name: p.name.clone(),
                            target: p.target.clone(),
                            eligible: p.eligible,
                            next,
                        })
                    })
                    .collect();
            }
            Err(why) => self.forecast_unavailable = Some(why),
        }
        self
    }

    /// Per night, the records changed (deleted and anonymized) over all policies.
    pub fn changed_per_night(&self) -> Vec<(NaiveDate, u64, u64)> {
        self.nights
            .iter()
            .map(|n| {
                let deleted = n.policies.values().map(|f| f.deleted).sum();
                let anonymized = n.policies.values().map(|f| f.anonymized).sum();
                (n.date, deleted, anonymized)
            })
            .collect()
    }

    /// Per hold, the records it kept at each night's last run (summed over policies; 0 on a
    /// night it kept none).
    pub fn held_per_night(&self) -> BTreeMap<String, Vec<(NaiveDate, u64)>> {
        let holds: std::collections::BTreeSet<&String> = self
            .nights
            .iter()
            .flat_map(|n| n.policies.values().flat_map(|f| f.held.keys()))
            .collect();
        holds
            .into_iter()
            .map(|hold| {
                let series = self
                    .nights
                    .iter()
                    .map(|n| {
                        let held = n.policies.values().filter_map(|f| f.held.get(hold)).sum();
                        (n.date, held)
                    })
                    .collect();
                (hold.clone(), series)
            })
            .collect()
    }
}
