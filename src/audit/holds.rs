//! Runtime legal holds in the state database: added and released with `lethe holds`, never
//! updated or deleted, and each change also written to the audit trail.

use super::{AuditError, AuditEvent, HoldAdded, HoldReleased, SelectorTrace, StateDb};
use crate::db::on_pool;
use crate::model::{Condition, Hold, HoldSource, Ident, Scope, Test, Value, Window};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

/// A runtime hold as stored, with its release if it was released.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeHold {
    /// Its id (the hold is named `hold-<id>` in reports).
    pub id: i64,
    /// Store name.
    pub store: String,
    /// Table name (empty for a hold over objects).
    pub table: String,
    /// For a hold over objects: the key prefix it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Equality conditions: (column, value).
    pub selector: Vec<(String, Value)>,
    /// Why: the legal ground or case (`dispute 2026-117`).
    pub reason: String,
    /// Who added it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Until when it holds (RFC 3339), if limited.
    pub until: Option<String>,
    /// The release, if released: (when, by whom, why).
    pub released: Option<(String, String, String)>,
}

impl RuntimeHold {
    /// `released`, `expired` (at `now`) or `active`.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.released.is_some() {
            "released"
        } else if self.until_instant().is_some_and(|u| now >= u) {
            "expired"
        } else {
            "active"
        }
    }

    fn until_instant(&self) -> Option<DateTime<Utc>> {
        self.until
            .as_deref()
            .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// The hold lethe enforces, or `None` once released. An `until` that cannot be read keeps
    /// the hold without end (fail closed).
    pub fn to_hold(&self) -> Option<Hold> {
        if self.released.is_some() {
            return None;
        }
        let selector = self
            .selector
            .iter()
            .map(|(c, v)| {
                Ident::parse(c).map(|column| Condition {
                    column,
                    test: Test::Eq(v.clone()),
                })
            })
            .collect::<Result<Vec<_>, _>>();
        let window = match self.until_instant() {
            Some(t) => Window::Until(t),
            None => Window::Always,
        };
        // A stored selector that no longer parses holds the whole table (fail closed).
        let selector = selector.unwrap_or_default();
        let scope = match &self.prefix {
            Some(p) => Scope::Prefix(p.clone()),
            None => Scope::Table(Ident::parse_table(&self.table).ok()?),
        };
        Some(Hold {
            name: format!("hold-{}", self.id),
            basis: self.reason.clone(),
            source: HoldSource::Runtime { id: self.id },
            store: self.store.clone(),
            scope,
            selector,
            window,
        })
    }
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What `lethe holds add` records.
#[derive(Debug, Clone, Copy)]
pub struct NewHold<'a> {
    /// Store name.
    pub store: &'a str,
    /// The table, or the key prefix of objects.
    pub scope: &'a Scope,
    /// Equality conditions.
    pub selector: &'a [(Ident, Value)],
    /// Why.
    pub reason: &'a str,
    /// Who.
    pub by: &'a str,
    /// Until when, if limited.
    pub until: Option<DateTime<Utc>>,
}

type HoldRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl StateDb {
    /// Adds a runtime hold and records it in the audit trail; returns its id. With an hmac
    /// key, the audit event carries keyed hashes of the selector values; without, none.
    pub async fn add_hold(
        &self,
        new: &NewHold<'_>,
        hmac_key: Option<&[u8]>,
    ) -> Result<i64, AuditError> {
        let NewHold {
            store,
            scope,
            selector,
            reason,
            by,
            until,
        } = *new;
        let (table, prefix) = match scope {
            Scope::Table(t) => (t.as_str(), None),
            Scope::Prefix(p) => ("", Some(p.as_str())),
        };
        let sel: Vec<serde_json::Value> = selector
            .iter()
            .map(|(c, v)| json!({ "column": c, "value": v }))
            .collect();
        let sel = serde_json::Value::Array(sel).to_string();
        let until = until.map(|u| u.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        let created = now_text();
        let sql = "INSERT INTO lethe_holds (store, table_name, selector, reason, created_by, created_at, until, prefix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let (id,): (i64,) = on_pool!(&self.pool, pool => sqlx::query_as(sql)
            .bind(store)
            .bind(table)
            .bind(&sel)
            .bind(reason)
            .bind(by)
            .bind(&created)
            .bind(&until)
            .bind(prefix)
            .fetch_one(pool)
            .await?);
        // Columns in clear; values only as a keyed HMAC (a selector may name a person, and a
        // plain hash of a customer number is reversed by trying numbers). Without a key the
        // values are left out: the hold itself keeps them.
        let mut traces = Vec::new();
        for (c, v) in selector {
            let value_hmac = match hmac_key {
                Some(k) => {
                    let text = serde_json::to_string(v)
                        .map_err(|e| AuditError::Encode(HoldAdded::KIND, e.to_string()))?;
                    Some(crate::anonymize::hmac(k, &text))
                }
                None => None,
            };
            traces.push(SelectorTrace {
                column: c.to_string(),
                value_hmac,
            });
        }
        let added = HoldAdded {
            hold: format!("hold-{id}"),
            store: store.to_string(),
            table: table.to_string(),
            // A prefix may name a person (`exports/7/`, `cvs/jan.jansen/`): like selector
            // values, only as a keyed HMAC, or left out without a key.
            prefix_hmac: prefix.and_then(|p| hmac_key.map(|k| crate::anonymize::hmac(k, p))),
            selector: traces,
            reason: reason.to_string(),
            by: by.to_string(),
            until,
        };
        self.append(&added.hold, HoldAdded::KIND, &added.payload()?)
            .await?;
        Ok(id)
    }

    /// Releases a runtime hold (a new release row) and records it in the audit trail.
    pub async fn release_hold(&self, id: i64, reason: &str, by: &str) -> Result<(), AuditError> {
        let Some(hold) = self.holds().await?.into_iter().find(|h| h.id == id) else {
            return Err(AuditError::Hold(format!(
                "there is no hold-{id}; `lethe holds list --all` shows every hold"
            )));
        };
        if hold.released.is_some() {
            return Err(AuditError::Hold(format!("hold-{id} was already released")));
        }
        let sql = "INSERT INTO lethe_hold_releases (hold_id, released_by, released_at, reason) VALUES ($1, $2, $3, $4)";
        on_pool!(&self.pool, pool => sqlx::query(sql)
            .bind(id)
            .bind(by)
            .bind(now_text())
            .bind(reason)
            .execute(pool)
            .await
            .map(|_| ())?);
        let released = HoldReleased {
            hold: format!("hold-{id}"),
            reason: reason.to_string(),
            by: by.to_string(),
        };
        self.append(&released.hold, HoldReleased::KIND, &released.payload()?)
            .await?;
        Ok(())
    }

    /// Every runtime hold, released or not, oldest first.
    pub async fn holds(&self) -> Result<Vec<RuntimeHold>, AuditError> {
        let sql = "SELECT h.id, h.store, h.table_name, h.selector, h.reason, h.created_by, h.created_at, h.until, r.released_at, r.released_by, r.reason, h.prefix FROM lethe_holds h LEFT JOIN lethe_hold_releases r ON r.hold_id = h.id ORDER BY h.id";
        let rows: Vec<HoldRow> =
            on_pool!(&self.pool, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    store,
                    table,
                    sel,
                    reason,
                    by,
                    at,
                    until,
                    rel_at,
                    rel_by,
                    rel_why,
                    prefix,
                )| {
                    let selector = serde_json::from_str::<Vec<serde_json::Value>>(&sel)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| {
                            let col = c["column"].as_str()?.to_string();
                            let v = match &c["value"] {
                                serde_json::Value::Bool(b) => Value::Bool(*b),
                                serde_json::Value::Number(n) => Value::Int(n.as_i64()?),
                                serde_json::Value::String(s) => Value::Text(s.clone()),
                                _ => return None,
                            };
                            Some((col, v))
                        })
                        .collect();
                    RuntimeHold {
                        id,
                        store,
                        table,
                        prefix,
                        selector,
                        reason,
                        created_by: by,
                        created_at: at,
                        until,
                        released: rel_at
                            .map(|a| (a, rel_by.unwrap_or_default(), rel_why.unwrap_or_default())),
                    }
                },
            )
            .collect())
    }

    /// The runtime holds in force (not released), as holds lethe enforces.
    pub async fn runtime_holds(&self) -> Result<Vec<Hold>, AuditError> {
        Ok(self
            .holds()
            .await?
            .iter()
            .filter_map(RuntimeHold::to_hold)
            .collect())
    }
}
