//! Policy drafts for the personal data no policy governs (`lethe discover --suggest DIR`).
//!
//! A table no policy names gets a delete policy; a table whose policies leave some columns
//! ungoverned, or some of whose columns an exemption keeps, gets an anonymize policy for the
//! ungoverned columns. Every draft only plans
//! (`mode: dry-run`), its clock is guessed from the table's date and timestamp columns and says
//! so, and how long to keep is left for a person (a placeholder that a comment names as such).
//! The drafts are what `lethe check` accepts as they are. Names only, never a value.

use super::{Finding, Status};
use crate::config::Config;
use crate::model::{Action, Dialect, Ident, Strategy, DEFAULT_REDACTION};
use crate::store::{Column, Family, SqlStore, StoreError};
use crate::util::one_line as comment;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The `keep` a draft is written with, until a person sets it.
pub const PLACEHOLDER_KEEP: &str = "10y";

/// A policy draft for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The store.
    pub store: String,
    /// The table.
    pub table: String,
    /// The policy's name, unique in the folder.
    pub name: String,
    /// A file name for it (no folder).
    pub file: String,
    /// `delete` or `anonymize`.
    pub action: &'static str,
    /// The guessed clock column.
    pub clock: String,
    /// The YAML text, comments included.
    pub text: String,
}

/// What `--suggest` made of the ungoverned findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suggestions {
    /// One draft per table.
    pub drafts: Vec<Draft>,
    /// Tables with ungoverned personal data and no draft, each with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Drafts for every table with ungoverned findings at `min_confidence` or above. Reads each
/// table's columns and primary key from its store.
pub async fn suggest(config: &Config, findings: &[Finding], min_confidence: f64) -> Suggestions {
    let mut by_table: BTreeMap<(String, String), Vec<&Finding>> = BTreeMap::new();
    for f in findings
        .iter()
        .filter(|f| f.coverage.status == Status::Ungoverned && f.confidence >= min_confidence)
    {
        (by_table.entry((f.store.clone(), f.table.clone())))
            .or_default()
            .push(f);
    }
    let mut taken: BTreeSet<String> = (config.policy_names().into_iter())
        .chain(config.holds.iter().map(|h| h.name.clone()))
        .chain(config.exemptions.iter().map(|e| e.name.clone()))
        .collect();
    let mut out = Suggestions::default();
    let mut stores: BTreeMap<String, SqlStore> = BTreeMap::new();
    for ((store_name, table), found) in by_table {
        let place = format!("{store_name}.{table}");
        let drafted = match connected(config, &mut stores, &store_name).await {
            Ok(store) => draft(config, store, &table, &found, &mut taken).await,
            Err(e) => Err(e.to_string()),
        };
        match drafted {
            Ok(d) => out.drafts.push(d),
            Err(why) => out.skipped.push((place, why)),
        }
    }
    for store in stores.values() {
        store.close().await;
    }
    out
}

async fn connected<'a>(
    config: &Config,
    stores: &'a mut BTreeMap<String, SqlStore>,
    name: &str,
) -> Result<&'a SqlStore, StoreError> {
    if !stores.contains_key(name) {
        let Some(crate::model::StoreSpec::Sql(spec)) = config.settings.stores.get(name) else {
            return Err(StoreError::Config(format!("`{name}` is not a SQL store")));
        };
        let store = SqlStore::connect(name, spec.url.expose()).await?;
        stores.insert(name.to_string(), store);
    }
    stores
        .get(name)
        .ok_or_else(|| StoreError::Config(format!("store `{name}` not connected")))
}

async fn draft(
    config: &Config,
    store: &SqlStore,
    table: &str,
    found: &[&Finding],
    taken: &mut BTreeSet<String>,
) -> Result<Draft, String> {
    let ident = Ident::parse_table(table).map_err(|e| format!("table name: {e}"))?;
    let cols = (store.columns(&ident).await)
        .map_err(|e| e.to_string())?
        .ok_or("the table is gone")?;
    let key = store.key_columns(&ident).await.map_err(|e| e.to_string())?;
    let key = match key.as_slice() {
        [] => return Err("no primary key to order batches by: write the policy by hand".into()),
        [one] => scalar(one),
        many => {
            let columns: Vec<String> = many.iter().map(|c| scalar(c)).collect();
            format!("[{}]", columns.join(", "))
        }
    };
    let (clock, others) = guess_clock(&cols).ok_or(
        "no date or timestamp column to start a retention period from: write the policy by hand",
    )?;
    let policies: Vec<_> = (config.policies.iter())
        .filter(|p| p.store == store.name && p.table.same_table(&ident))
        .collect();
    if let Some(p) = policies.iter().find(|p| matches!(p.action, Action::Delete)) {
        return Err(format!(
            "policy `{}` deletes the table's rows but only plans (`mode: dry-run`): set `mode: enforce` there",
            p.name
        ));
    }
    // A delete would take the columns an exemption keeps with the row.
    let exempt = cols
        .keys()
        .any(|c| (config.exemptions.iter()).any(|e| e.covers_column(&store.name, &ident, c)));
    let action = if policies.is_empty() && !exempt {
        Plan::Delete
    } else {
        let (strategies, left) = strategies(store.dialect, &cols, found);
        if strategies.is_empty() {
            return Err(format!(
                "no anonymize strategy fits column(s) {}: write the policy by hand",
                left.join(", ")
            ));
        }
        Plan::Anonymize(strategies, left)
    };
    let name = unique(&format!("draft-{}", slug(ident.name())), taken);
    let file = format!("{}.yaml", slug(&format!("draft-{}-{table}", store.name)));
    let text = render(&Sheet {
        name: &name,
        store: &store.name,
        table,
        key: &key,
        clock: &clock,
        other_clocks: &others,
        found,
        plan: &action,
    });
    Ok(Draft {
        store: store.name.clone(),
        table: table.to_string(),
        name,
        file,
        action: match action {
            Plan::Delete => "delete",
            Plan::Anonymize(..) => "anonymize",
        },
        clock,
        text,
    })
}

/// What a draft does.
enum Plan {
    /// Deletes due rows.
    Delete,
    /// Anonymizes these columns; the ones named second fit no strategy.
    Anonymize(Vec<(String, Strategy)>, Vec<String>),
}

/// `base`, or `base-2`, `base-3`, ... : the first not in `taken`, which it joins.
fn unique(base: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// Lower case letters, digits, `-` and `_`; anything else becomes `-`.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The column a retention period most likely starts from, and the other candidates: a date or
/// timestamp column, preferring the end of a relationship (`terminated_at`, `ended_on`: while
/// it is NULL the record is undated and kept) over creation (`created_at`, `signed_up_at`) over
/// other events over last changes (`updated_at`); never a birth date.
pub fn guess_clock(cols: &BTreeMap<String, Column>) -> Option<(String, Vec<String>)> {
    const NEVER: &[&str] = &["birth", "geboorte", "dob"];
    const RANKS: &[&[&str]] = &[
        &[
            "terminated",
            "ended",
            "end_",
            "_end",
            "closed",
            "cancel",
            "expire",
            "beeindigd",
            "einde",
        ],
        &[
            "created",
            "inserted",
            "signed",
            "signup",
            "registered",
            "subscribed",
            "aangemaakt",
        ],
        &[],
        &["updated", "modified", "changed", "gewijzigd"],
    ];
    let mut candidates: Vec<(usize, &String)> = cols
        .iter()
        .filter(|(_, c)| matches!(c.family, Family::Timestamp | Family::Date))
        .filter_map(|(n, _)| {
            let l = n.to_ascii_lowercase();
            if NEVER.iter().any(|w| l.contains(w)) {
                return None;
            }
            let rank = RANKS
                .iter()
                .position(|words| words.iter().any(|w| l.contains(w)))
                .unwrap_or(2);
            Some((rank, n))
        })
        .collect();
    candidates.sort();
    let mut names = candidates.into_iter().map(|(_, n)| n.clone());
    let first = names.next()?;
    Some((first, names.collect()))
}

/// A strategy for each ungoverned column that `lethe check` accepts on its type: IP addresses
/// truncated, birth dates to the year, else NULL where allowed, else the redaction text.
fn strategies(
    dialect: Dialect,
    cols: &BTreeMap<String, Column>,
    found: &[&Finding],
) -> (Vec<(String, Strategy)>, Vec<String>) {
    let mut fit = Vec::new();
    let mut left = Vec::new();
    for f in found {
        let Some(c) = cols.get(&f.column) else {
            left.push(f.column.clone());
            continue;
        };
        let text = matches!(c.family, Family::Text | Family::Untyped);
        let room = c
            .max_len
            .is_none_or(|m| m >= DEFAULT_REDACTION.chars().count() as i64);
        let strategy = match f.kind {
            super::Kind::IpAddress if text || c.family == Family::Inet => {
                Some(Strategy::TruncateIp)
            }
            super::Kind::BirthDate if matches!(c.family, Family::Timestamp | Family::Date) => {
                Some(Strategy::Year)
            }
            _ if c.nullable => Some(Strategy::Null),
            // SQLite keeps any text in any column.
            _ if (text || dialect == Dialect::Sqlite) && room => {
                Some(Strategy::Redact(DEFAULT_REDACTION.to_string()))
            }
            _ => None,
        };
        match strategy {
            Some(s) => fit.push((f.column.clone(), s)),
            None => left.push(f.column.clone()),
        }
    }
    (fit, left)
}

/// A YAML scalar: a JSON string, which YAML reads as the same text.
fn scalar(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// What goes into a draft's text.
struct Sheet<'a> {
    name: &'a str,
    store: &'a str,
    table: &'a str,
    /// The YAML of `key`: a column, or a list of them.
    key: &'a str,
    clock: &'a str,
    other_clocks: &'a [String],
    found: &'a [&'a Finding],
    plan: &'a Plan,
}

fn render(d: &Sheet<'_>) -> String {
    let mut s = String::new();
    let found: Vec<String> = (d.found.iter())
        .map(|f| format!("{} ({}, {:.2})", comment(&f.column), f.kind, f.confidence))
        .collect();
    let _ = writeln!(
        s,
        "# Draft by `lethe discover --suggest` for {}.{}.\n# Personal data that no policy governs: {}.\n# It only plans (`mode: dry-run`) until a person has checked it and set `mode: enforce`.",
        comment(d.store),
        comment(d.table),
        found.join(", ")
    );
    let _ = writeln!(s, "kind: RetentionPolicy\nname: {}", scalar(d.name));
    let _ = writeln!(
        s,
        "# purpose: why this data is kept, for the DPO (add it)\nstore: {}\ntable: {}\nkey: {}",
        scalar(d.store),
        scalar(d.table),
        d.key
    );
    let others = if d.other_clocks.is_empty() {
        "the table's only date or timestamp column".to_string()
    } else {
        format!("other candidates: {}", comment(&d.other_clocks.join(", ")))
    };
    let _ = writeln!(
        s,
        "# The clock is a guess ({others}): check that the retention period starts there.\nclock: {{ column: {} }}",
        scalar(d.clock)
    );
    let _ = writeln!(
        s,
        "# How long the purpose needs the data is for a person to decide: {PLACEHOLDER_KEEP} is a placeholder.\nkeep: {PLACEHOLDER_KEEP}"
    );
    match d.plan {
        Plan::Delete => {
            let _ = writeln!(s, "action: delete");
        }
        Plan::Anonymize(strategies, left) => {
            if !left.is_empty() {
                let _ = writeln!(
                    s,
                    "# No strategy fits {} on its column type: govern it by hand.",
                    comment(&left.join(", "))
                );
            }
            let _ = writeln!(s, "action:\n  anonymize:");
            for (col, strategy) in strategies {
                let value = match strategy {
                    Strategy::Redact(text) => format!("{{ redact: {} }}", scalar(text)),
                    other => scalar(other.name()),
                };
                let _ = writeln!(s, "    {}: {value}", scalar(col));
            }
        }
    }
    let _ = writeln!(s, "mode: dry-run");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(family: Family, nullable: bool) -> Column {
        Column {
            family,
            nullable,
            max_len: None,
            unsigned: false,
            sql_type: String::new(),
        }
    }

    #[test]
    fn the_clock_guess_prefers_creation_and_never_takes_a_birth_date() {
        let cols = BTreeMap::from([
            ("birth_date".to_string(), col(Family::Date, true)),
            ("updated_at".to_string(), col(Family::Timestamp, true)),
            ("last_login".to_string(), col(Family::Timestamp, true)),
            ("signed_up_at".to_string(), col(Family::Timestamp, false)),
            ("email".to_string(), col(Family::Text, false)),
        ]);
        let (clock, others) = guess_clock(&cols).unwrap();
        assert_eq!(clock, "signed_up_at");
        assert_eq!(others, ["last_login", "updated_at"]);
        let only_birth = BTreeMap::from([("geboortedatum".to_string(), col(Family::Date, true))]);
        assert_eq!(guess_clock(&only_birth), None);
        let contracts = BTreeMap::from([
            ("started_at".to_string(), col(Family::Timestamp, false)),
            ("terminated_at".to_string(), col(Family::Timestamp, true)),
        ]);
        let (clock, _) = guess_clock(&contracts).unwrap();
        assert_eq!(clock, "terminated_at", "the end of the relationship first");
    }

    #[test]
    fn names_and_files_are_unique_and_plain() {
        let mut taken = BTreeSet::from(["draft-signups".to_string()]);
        assert_eq!(unique("draft-signups", &mut taken), "draft-signups-2");
        assert_eq!(unique("draft-signups", &mut taken), "draft-signups-3");
        assert_eq!(
            slug("draft-crm-Sales.Lead Notes"),
            "draft-crm-sales-lead-notes"
        );
        assert_eq!(scalar("a\"b"), "\"a\\\"b\"");
        assert_eq!(comment("x\nmode: enforce\r\u{2028}"), "x?mode: enforce??");
    }
}
