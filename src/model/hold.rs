//! Legal holds: records that must be kept whatever a retention policy says.

use super::{Clock, Condition, Ident, Keep};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A hold over some records of one table. A held record is never deleted or anonymized.
#[derive(Debug, Clone, Serialize)]
pub struct Hold {
    /// The hold's name in reports: the document's `name`, or `hold-<id>` for a runtime hold.
    pub name: String,
    /// The legal ground, e.g. `Art. 52 AWR, fiscale bewaarplicht (7 years)` or a case number.
    pub basis: String,
    /// Where the hold comes from.
    pub source: HoldSource,
    /// The store of the table or objects.
    pub store: String,
    /// What it holds: records of a table, or objects under a key prefix.
    pub scope: Scope,
    /// Restricts a table hold to records matching every condition (empty: the whole table).
    pub selector: Vec<Condition>,
    /// How long it holds.
    pub window: Window,
}

/// What a hold covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Records of one table of a SQL store.
    Table(Ident),
    /// Every object whose key starts with this prefix, in an object store (empty: all of them).
    Prefix(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Table(t) => write!(f, "{t}"),
            Scope::Prefix(p) => write!(f, "prefix `{p}`"),
        }
    }
}

/// Where a hold comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldSource {
    /// A `LegalHold` document in the policies folder.
    Declared,
    /// A hold added with `lethe holds add`, kept in the state database.
    Runtime {
        /// Its id.
        id: i64,
    },
}

crate::util::named_enum! {
    /// Where what keeps a record comes from, as plans and reports name it.
    pub enum SourceKind {
        /// A `LegalHold` document in the policies folder.
        Declared => "declared",
        /// A hold added with `lethe holds add`.
        Runtime => "runtime",
        /// S3 Object Lock (legal hold or retention) on an object version.
        ObjectLock => "object-lock",
    }
}

impl HoldSource {
    /// The source's kind.
    pub fn kind(&self) -> SourceKind {
        match self {
            HoldSource::Declared => SourceKind::Declared,
            HoldSource::Runtime { .. } => SourceKind::Runtime,
        }
    }
}

/// How long a hold covers a record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// Until the hold is released or removed.
    Always,
    /// Until this instant (exclusive); after it the hold stops holding by itself.
    Until(DateTime<Utc>),
    /// For `keep` after the record's clock: a record whose clock is unknown stays held.
    Clock {
        /// When the held period of a record starts.
        clock: Clock,
        /// How long it is held.
        keep: Keep,
    },
}

impl Hold {
    /// True when the hold holds anything at `as_of` (an `until` in the past holds nothing).
    pub fn active_at(&self, as_of: DateTime<Utc>) -> bool {
        match self.window {
            Window::Until(t) => as_of < t,
            _ => true,
        }
    }

    /// True when the hold concerns this table. Names are compared without regard to case, and
    /// a schema counts only when both names give one (`public.leads` and `main.leads` hold
    /// `leads`): when in doubt a hold holds more, never less.
    pub fn covers_table(&self, store: &str, table: &Ident) -> bool {
        let Scope::Table(held) = &self.scope else {
            return false;
        };
        let same_name = held.name().eq_ignore_ascii_case(table.name());
        let same_schema = match (held.schema(), table.schema()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        self.store == store && same_name && same_schema
    }

    /// What the hold covers, as reports name targets: `store.table` or `store:prefix`.
    pub fn target(&self) -> String {
        match &self.scope {
            Scope::Table(t) => format!("{}.{t}", self.store),
            Scope::Prefix(p) => format!("{}:{p}", self.store),
        }
    }

    /// True when the hold concerns objects under `prefix` of an object store: its own prefix
    /// and the listed one overlap.
    pub fn covers_prefix(&self, store: &str, prefix: &str) -> bool {
        match &self.scope {
            Scope::Prefix(p) => {
                self.store == store && (p.starts_with(prefix) || prefix.starts_with(p.as_str()))
            }
            Scope::Table(_) => false,
        }
    }

    /// True when the hold holds the object with this key (ignoring its window).
    pub fn covers_key(&self, store: &str, key: &str) -> bool {
        matches!(&self.scope, Scope::Prefix(p) if self.store == store && key.starts_with(p.as_str()))
    }
}

/// Parses `until`: a date (held through that whole day, UTC) or an RFC 3339 instant.
pub fn parse_until(s: &str) -> Result<DateTime<Utc>, String> {
    date_or_instant(s, 1, "2027-06-30")
}

/// Parses a period's start: a date (from its first instant, UTC) or an RFC 3339 instant.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    date_or_instant(s, 0, "2026-11-01")
}

/// An RFC 3339 instant, or the start of a date `days` days later (UTC).
fn date_or_instant(s: &str, days: u64, example: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.checked_add_days(chrono::Days::new(days)))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!(
                "invalid date `{}`; expected a date such as `{example}` or an instant such as `{example}T17:00:00Z`",
                crate::util::shorten(s)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_covers_every_spelling_of_its_table() {
        let hold = |t: &str| Hold {
            name: "h".into(),
            basis: "b".into(),
            source: HoldSource::Declared,
            store: "crm".into(),
            scope: Scope::Table(Ident::parse_table(t).unwrap()),
            selector: vec![],
            window: Window::Always,
        };
        let leads = Ident::parse_table("leads").unwrap();
        for t in ["leads", "Leads", "main.leads", "public.LEADS"] {
            assert!(hold(t).covers_table("crm", &leads), "{t}");
        }
        let archive = Ident::parse_table("archive.leads").unwrap();
        assert!(!hold("public.leads").covers_table("crm", &archive));
        assert!(!hold("leads").covers_table("other", &leads));
        assert!(!hold("lead").covers_table("crm", &leads));
    }

    #[test]
    fn until_holds_through_the_whole_day() {
        let t = parse_until("2027-06-30").unwrap();
        assert_eq!(t.to_rfc3339(), "2027-07-01T00:00:00+00:00");
        assert!(parse_until("30-06-2027").is_err());
        assert_eq!(
            parse_until("2027-06-30T17:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2027-06-30T15:00:00+00:00"
        );
    }
}
