//! `max_replica_lag`, `max_throttle_wait` and `max_rows_per_second` (in `lethe.yaml` and per
//! policy), and a SQL store's `replicas`.

use super::error::ConfigError;
use super::raw::RawDoc;
use super::Diagnostics;
use crate::model::{Dialect, Secret, StoreSpec, Throttle};
use crate::util::shorten;
use serde_saphyr::{Location, Spanned};
use std::path::Path;
use std::time::Duration;

/// Shortest and longest `max_replica_lag`.
const LAG_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(3600));
/// Shortest and longest `max_throttle_wait`.
const WAIT_RANGE: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(24 * 3600));
/// The highest `max_rows_per_second`.
const MAX_RATE: u32 = 1_000_000;

/// The raw throttle keys of one document (`lethe.yaml` or a policy).
pub(super) struct RawThrottle<'a> {
    pub max_replica_lag: Option<&'a Spanned<String>>,
    pub max_throttle_wait: Option<&'a Spanned<String>>,
    pub max_rows_per_second: Option<&'a Spanned<u32>>,
}

/// `inherited` with the keys `raw` sets in place of its own, each checked at its place.
pub(super) fn throttle(
    path: &Path,
    raw: RawThrottle<'_>,
    inherited: Throttle,
    errs: &mut Diagnostics,
) -> Throttle {
    let mut t = inherited;
    if let Some(l) = raw.max_replica_lag {
        match parse_duration("max_replica_lag", &l.value, LAG_RANGE) {
            Ok(d) => t.max_replica_lag = Some(d),
            Err(e) => errs.push(ConfigError::at(path, &l.referenced, e)),
        }
    }
    if let Some(w) = raw.max_throttle_wait {
        match parse_duration("max_throttle_wait", &w.value, WAIT_RANGE) {
            Ok(d) => t.max_wait = d,
            Err(e) => errs.push(ConfigError::at(path, &w.referenced, e)),
        }
    }
    if let Some(r) = raw.max_rows_per_second {
        if (1..=MAX_RATE).contains(&r.value) {
            t.max_rows_per_second = Some(r.value);
        } else {
            errs.push(ConfigError::at(
                path,
                &r.referenced,
                format!("`max_rows_per_second` must be between 1 and {MAX_RATE}"),
            ));
        }
    }
    t
}

/// The keys that only a policy on a SQL table takes (how its batches are sized and paced), with
/// their places, for "does not belong" errors in the other kinds of document.
pub(super) fn sql_table_keys(doc: &RawDoc) -> [(&'static str, Option<Location>); 4] {
    let at = |s: Option<&Spanned<String>>| s.map(|a| a.referenced);
    [
        ("batch_target", at(doc.batch_target.as_ref())),
        ("max_replica_lag", at(doc.max_replica_lag.as_ref())),
        ("max_throttle_wait", at(doc.max_throttle_wait.as_ref())),
        (
            "max_rows_per_second",
            doc.max_rows_per_second.as_ref().map(|a| a.referenced),
        ),
    ]
}

/// With `max_replica_lag`, a MariaDB/MySQL store must list its replicas: its primary does not
/// show their lag. Said at the policy's `max_replica_lag`, or at its `store` when the limit
/// comes from `lethe.yaml`.
pub(super) fn check_lag_readable(
    path: &Path,
    (store, lag): (&Spanned<String>, Option<&Spanned<String>>),
    settings: &super::Settings,
    throttle: &Throttle,
    errs: &mut Diagnostics,
) {
    let Some(StoreSpec::Sql(spec)) = settings.stores.get(&store.value) else {
        return;
    };
    let mysql = Dialect::from_url(spec.url.expose()) == Ok(Dialect::MySql);
    if throttle.max_replica_lag.is_none() || !mysql || !spec.replicas.is_empty() {
        return;
    }
    let (at, from) = match lag {
        Some(l) => (l.referenced, ""),
        None => (
            store.referenced,
            "`max_replica_lag` of lethe.yaml applies to this policy, but ",
        ),
    };
    errs.push(ConfigError::at(
        path,
        &at,
        format!("{from}store `{}` is MariaDB/MySQL, whose primary does not show its replicas' lag: list them under the store's `replicas` in lethe.yaml", store.value),
    ));
}

/// A SQL store's `replicas`: URLs of the store's own dialect, never printed.
pub(super) fn replicas(
    path: &Path,
    store: &str,
    dialect: Option<Dialect>,
    raw: Option<&Vec<Spanned<String>>>,
    errs: &mut Diagnostics,
) -> Vec<Secret> {
    let mut out = Vec::new();
    for (i, r) in raw.into_iter().flatten().enumerate() {
        let n = i + 1;
        let url = r.value.trim();
        if url.is_empty() {
            errs.push(ConfigError::at(
                path,
                &r.referenced,
                format!("store `{store}`: replica {n} is empty (is its environment variable set?)"),
            ));
            continue;
        }
        match (Dialect::from_url(url), dialect) {
            (Ok(Dialect::Sqlite), _) | (Ok(_), Some(Dialect::Sqlite)) => {
                errs.push(ConfigError::at(
                    path,
                    &r.referenced,
                    format!("store `{store}`: replica {n}: SQLite has no replicas; `replicas` lists PostgreSQL or MariaDB/MySQL servers"),
                ));
            }
            (Ok(d), Some(s)) if d != s => errs.push(ConfigError::at(
                path,
                &r.referenced,
                format!("store `{store}`: replica {n} is not of the store's kind of database ({} for a {} store)", d.name(), s.name()),
            )),
            (Ok(_), _) => out.push(Secret::new(url.to_string())),
            (Err(e), _) => errs.push(ConfigError::at(
                path,
                &r.referenced,
                format!("store `{store}`: replica {n}: {e}"),
            )),
        }
    }
    out
}

/// Parses `500ms`, `5s`, `1.5s`, `10m` or `1h` within `range`.
pub(super) fn parse_duration(
    key: &str,
    s: &str,
    (lo, hi): (Duration, Duration),
) -> Result<Duration, String> {
    let expected = format!(
        "expected a duration such as `500ms`, `5s`, `10m` or `1h`, from {} to {}",
        show(lo),
        show(hi)
    );
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        return Err(format!("invalid `{key}` `{}`; {expected}", shorten(s)));
    };
    let secs = num
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * scale)
        .ok_or_else(|| format!("invalid `{key}` `{}`; {expected}", shorten(s)))?;
    if !(lo.as_secs_f64()..=hi.as_secs_f64()).contains(&secs) {
        return Err(format!(
            "`{key}` `{}` is out of range; {expected}",
            shorten(s)
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `100ms`, `0s`, `1h`: a range end as written in the file.
fn show(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 3_600_000 == 0 && ms > 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        let ok = |s| parse_duration("k", s, WAIT_RANGE).unwrap();
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("10m"), Duration::from_secs(600));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("0s"), Duration::ZERO);
        let e = parse_duration("max_replica_lag", "5", LAG_RANGE).unwrap_err();
        assert!(e.contains("invalid `max_replica_lag` `5`"), "{e}");
        assert!(e.contains("from 100ms to 1h"), "{e}");
        let e = parse_duration("max_replica_lag", "2h", LAG_RANGE).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        assert!(parse_duration("k", "-1s", WAIT_RANGE).is_err());
    }
}
