//! What every policy document shares: name, store, guard, batch, schedule, mode; key checks.

use super::error::ConfigError;
use super::raw::*;
use super::*;
use crate::model::*;
use crate::util::shorten;
use serde_saphyr::{Location, Spanned};
use std::path::Path;
use std::time::Duration;

/// `guard` with the limits `raw` sets (in `set_in`) in place of its own.
pub(super) fn merge_guard(
    path: &Path,
    mut guard: Guard,
    raw: &RawGuard,
    set_in: SetIn,
    errs: &mut Diagnostics,
) -> Guard {
    if let Some(r) = raw.max_rows {
        guard.max_rows = Some(r);
        guard.set_in.max_rows = set_in;
    }
    if let Some(f) = &raw.max_fraction {
        if (0.0..=1.0).contains(&f.value) {
            guard.max_fraction = Some(f.value);
            guard.set_in.max_fraction = set_in;
        } else {
            errs.push(ConfigError::at(
                path,
                &f.referenced,
                "`max_fraction` must be between 0 and 1 (0.5 = half of the table)".into(),
            ));
        }
    }
    guard
}

pub(super) fn batch_size(
    path: &Path,
    raw: Option<&Spanned<u32>>,
    default: u32,
    errs: &mut Diagnostics,
) -> u32 {
    match raw {
        Some(b) if b.value == 0 || b.value > 50_000 => {
            errs.push(ConfigError::at(
                path,
                &b.referenced,
                "`batch_size` must be between 1 and 50000".into(),
            ));
            default
        }
        Some(b) => b.value,
        None => default,
    }
}

/// Shortest and longest `batch_target`.
const BATCH_TARGET_RANGE: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(60));

/// The batch of a SQL policy: fixed by a `batch_size`, or sized to a `batch_target`; both at
/// once is an error. `inherited` is what applies when neither is given.
pub(super) fn batch(
    path: &Path,
    size: Option<&Spanned<u32>>,
    target: Option<&Spanned<String>>,
    inherited: (u32, Option<Duration>),
    errs: &mut Diagnostics,
) -> (u32, Option<Duration>) {
    match (size, target) {
        (Some(_), Some(t)) => {
            errs.push(ConfigError::at(
                path,
                &t.referenced,
                "give either `batch_size` (a fixed number of rows) or `batch_target` (a duration each statement should take), not both".into(),
            ));
            inherited
        }
        (Some(_), None) => (batch_size(path, size, inherited.0, errs), None),
        (None, Some(t)) => match parse_batch_target(&t.value) {
            Ok(d) => (inherited.0, Some(d)),
            Err(e) => {
                errs.push(ConfigError::at(path, &t.referenced, e));
                inherited
            }
        },
        (None, None) => inherited,
    }
}

/// Parses `200ms`, `1s` or `1.5s` (10ms to 60s).
pub(super) fn parse_batch_target(s: &str) -> Result<Duration, String> {
    let expected = "expected a duration such as `200ms` or `1s`, from 10ms to 60s";
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!(
            "invalid `batch_target` `{}`; {expected}",
            shorten(s)
        ));
    };
    let secs = num
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v * scale)
        .ok_or_else(|| format!("invalid `batch_target` `{}`; {expected}", shorten(s)))?;
    let (lo, hi) = BATCH_TARGET_RANGE;
    if !(lo.as_secs_f64()..=hi.as_secs_f64()).contains(&secs) {
        return Err(format!(
            "`batch_target` `{}` is out of range; {expected}",
            shorten(s)
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub(super) fn check_cron(
    path: &Path,
    s: Spanned<String>,
    errs: &mut Diagnostics,
) -> Option<String> {
    match cron::Schedule::from_str(&s.value) {
        // A schedule on a day that does not exist (31 February) parses but never fires.
        Ok(c) if c.upcoming(chrono::Utc).next().is_none() => {
            errs.push(ConfigError::at(
                path,
                &s.referenced,
                format!(
                    "cron schedule `{}` never fires (no date matches it, e.g. 31 February); expected a schedule that runs, e.g. `0 30 2 * * *` (02:30 every day)",
                    shorten(&s.value)
                ),
            ));
            None
        }
        Ok(_) => Some(s.value),
        Err(_) => {
            errs.push(ConfigError::at(
                path,
                &s.referenced,
                format!(
                    "invalid cron schedule `{}`; expected six fields `sec min hour day-of-month month day-of-week`, e.g. `0 30 2 * * *` (02:30 every day)",
                    shorten(&s.value)
                ),
            ));
            None
        }
    }
}

pub(super) fn ident(
    path: &Path,
    s: &Spanned<String>,
    what: &str,
    errs: &mut Diagnostics,
) -> Option<Ident> {
    Ident::parse(&s.value)
        .map_err(|e| errs.push(ConfigError::at(path, &s.referenced, format!("{what}: {e}"))))
        .ok()
}

/// The parts every document kind shares: name, store, table and selector.
pub(super) struct Common {
    /// The document's name.
    pub(super) name: String,
    /// Its table, where it names one.
    pub(super) table: Option<Ident>,
    /// Its `match` conditions.
    pub(super) selector: Vec<Condition>,
}

pub(super) fn build_common(
    path: &Path,
    doc: &RawDoc,
    settings: &Settings,
    errs: &mut Diagnostics,
) -> Common {
    let name = doc.name.value.trim().to_string();
    if name.is_empty()
        || name.len() > 100
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        errs.push(ConfigError::at(
            path,
            &doc.name.referenced,
            "name must be 1 to 100 characters without spaces".into(),
        ));
    }
    if !settings.stores.contains_key(&doc.store.value) {
        let known: Vec<&str> = settings.stores.keys().map(String::as_str).collect();
        errs.push(ConfigError::at(
            path,
            &doc.store.referenced,
            format!(
                "unknown store `{}`; expected one of: {}",
                shorten(&doc.store.value),
                if known.is_empty() {
                    "(no stores in lethe.yaml)".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    let table = doc.table.as_ref().and_then(|t| {
        Ident::parse_table(&t.value)
            .map_err(|e| errs.push(ConfigError::at(path, &t.referenced, format!("table: {e}"))))
            .ok()
    });
    let mut selector = Vec::new();
    for (col, test) in doc.selector.iter().flatten() {
        let Some(column) = Ident::parse(col)
            .map_err(|e| {
                errs.push(ConfigError::at(
                    path,
                    &test.referenced,
                    format!("match: {e}"),
                ))
            })
            .ok()
        else {
            continue;
        };
        let t = match &test.value {
            RawTest::Value(v) => Test::Eq(value(v)),
            RawTest::In(list) if list.is_empty() => {
                errs.push(ConfigError::at(
                    path,
                    &test.referenced,
                    "match: `in` needs at least one value".into(),
                ));
                continue;
            }
            RawTest::In(list) => Test::In(list.iter().map(value).collect()),
            RawTest::IsNull(n) => Test::IsNull(*n),
        };
        selector.push(Condition { column, test: t });
    }
    Common {
        name,
        table,
        selector,
    }
}

/// Reports the keys a document of its kind requires but lacks.
pub(super) fn missing_keys(
    path: &Path,
    doc: &RawDoc,
    required: &[(&str, bool)],
    errs: &mut Diagnostics,
) {
    for (key, present) in required {
        if !present {
            errs.push(ConfigError::at(
                path,
                &doc.kind.referenced,
                format!("{} `{}`: missing `{key}`", doc.kind.value, doc.name.value),
            ));
        }
    }
}

/// Reports each key that is present as not belonging in `kind`.
pub(super) fn not_allowed_keys(
    path: &Path,
    kind: &str,
    keys: &[(&str, Option<Location>)],
    errs: &mut Diagnostics,
) {
    for (key, loc) in keys {
        if let Some(loc) = loc {
            not_allowed(path, kind, key, loc, errs);
        }
    }
}

pub(super) fn not_allowed(
    path: &Path,
    kind: &str,
    key: &str,
    loc: &Location,
    errs: &mut Diagnostics,
) {
    errs.push(ConfigError::at(
        path,
        loc,
        format!("`{key}` does not belong in {}", with_article(kind)),
    ));
}

/// `a RetentionPolicy`, `an Exemption`.
pub(super) fn with_article(kind: &str) -> String {
    let vowel = kind
        .chars()
        .next()
        .is_some_and(|c| "AEIOUaeiou".contains(c));
    format!("{} {kind}", if vowel { "an" } else { "a" })
}

pub(super) fn build_mode(
    path: &Path,
    raw: Option<&Spanned<String>>,
    errs: &mut Diagnostics,
) -> Mode {
    match raw {
        None => Mode::Enforce,
        Some(m) => match m.value.as_str() {
            "enforce" => Mode::Enforce,
            "dry-run" => Mode::DryRun,
            other => {
                errs.push(ConfigError::at(
                    path,
                    &m.referenced,
                    format!(
                        "unknown mode `{}`; expected `enforce` or `dry-run`",
                        shorten(other)
                    ),
                ));
                Mode::Enforce
            }
        },
    }
}

pub(super) fn build_guard(
    path: &Path,
    raw: Option<&Spanned<RawGuard>>,
    settings: &Settings,
    errs: &mut Diagnostics,
) -> Guard {
    match raw {
        Some(g) => {
            if let Some(r) = &g.value.run_max_rows {
                errs.push(ConfigError::at(
                    path,
                    &r.referenced,
                    "`run_max_rows` belongs in lethe.yaml, not in a policy".into(),
                ));
            }
            merge_guard(path, settings.guard, &g.value, SetIn::Policy, errs)
        }
        None => settings.guard,
    }
}

/// A literal of a selector, as validated.
pub(super) fn value(v: &RawValue) -> Value {
    match v {
        RawValue::Bool(b) => Value::Bool(*b),
        RawValue::Int(i) => Value::Int(*i),
        RawValue::Text(s) => Value::Text(s.clone()),
    }
}

/// The `prefix` of a document on an object store (checked as a folder path in a folder
/// store), or an error at the document's `kind` saying what is `missing`.
pub(super) fn store_prefix(
    path: &Path,
    doc: &RawDoc,
    settings: &Settings,
    missing: String,
    errs: &mut Diagnostics,
) -> Option<String> {
    let Some(p) = &doc.prefix else {
        errs.push(ConfigError::at(path, &doc.kind.referenced, missing));
        return None;
    };
    let in_folder = matches!(
        settings.stores.get(&doc.store.value),
        Some(StoreSpec::Dir(_))
    );
    if let (true, Err(e)) = (in_folder, check_folder_prefix(&p.value)) {
        errs.push(ConfigError::at(path, &p.referenced, e));
    }
    Some(p.value.clone())
}

/// A required text (a hold's `basis`, an exemption's `reason`), trimmed; an error at its place
/// when it is empty (`empty`) or at the document's `kind` when it is `missing`.
pub(super) fn required_text(
    path: &Path,
    doc: &RawDoc,
    raw: Option<&Spanned<String>>,
    (empty, missing): (&str, String),
    errs: &mut Diagnostics,
) -> String {
    match raw {
        Some(t) if !t.value.trim().is_empty() => t.value.trim().to_string(),
        Some(t) => {
            errs.push(ConfigError::at(path, &t.referenced, empty.to_string()));
            String::new()
        }
        None => {
            errs.push(ConfigError::at(path, &doc.kind.referenced, missing));
            String::new()
        }
    }
}
