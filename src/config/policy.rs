//! `RetentionPolicy` documents over SQL tables: clocks and actions.

use super::common::*;
use super::error::ConfigError;
use super::raw::*;
use super::*;
use crate::model::*;
use crate::util::shorten;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

pub(super) fn build_policy(
    path: &Path,
    doc: RawDoc,
    settings: &Settings,
    errs: &mut Diagnostics,
) -> Option<RetentionPolicy> {
    let before = errs.len();
    let common = build_common(path, &doc, settings, errs);
    not_allowed_keys(
        path,
        "RetentionPolicy on a SQL store (objects have prefixes)",
        &[
            ("prefix", doc.prefix.as_ref().map(|a| a.referenced)),
            (
                "key_template",
                doc.key_template.as_ref().map(|a| a.referenced),
            ),
        ],
        errs,
    );
    missing_keys(
        path,
        &doc,
        &[
            ("table", doc.table.is_some()),
            ("clock", doc.clock.is_some()),
            ("keep", doc.keep.is_some()),
            ("action", doc.action.is_some()),
        ],
        errs,
    );
    if let Some(b) = &doc.basis {
        not_allowed(
            path,
            "RetentionPolicy (a LegalHold has a basis)",
            "basis",
            &b.referenced,
            errs,
        );
    }
    if let Some(u) = &doc.until {
        not_allowed(
            path,
            "RetentionPolicy (a LegalHold has an until)",
            "until",
            &u.referenced,
            errs,
        );
    }
    let key = doc.key.as_ref().and_then(|k| build_key(path, k, errs));
    let clock = doc.clock.as_ref().and_then(|c| build_clock(path, c, errs));
    let keep = doc.keep.as_ref().and_then(|k| {
        Keep::parse(&k.value)
            .map_err(|e| errs.push(ConfigError::at(path, &k.referenced, e)))
            .ok()
    });
    let action = doc
        .action
        .as_ref()
        .and_then(|a| build_action(path, a, settings, key.as_ref(), errs));
    let schedule = doc.schedule.and_then(|s| check_cron(path, s, errs));
    let mode = build_mode(path, doc.mode.as_ref(), errs);
    let guard = build_guard(path, doc.guard.as_ref(), settings, errs);
    let (batch_size, batch_target) = batch(
        path,
        doc.batch_size.as_ref(),
        doc.batch_target.as_ref(),
        (settings.batch_size, settings.batch_target),
        errs,
    );
    let throttle = super::throttle::throttle(
        path,
        super::throttle::RawThrottle {
            max_replica_lag: doc.max_replica_lag.as_ref(),
            max_throttle_wait: doc.max_throttle_wait.as_ref(),
            max_rows_per_second: doc.max_rows_per_second.as_ref(),
        },
        settings.throttle,
        errs,
    );
    super::throttle::check_lag_readable(
        path,
        (&doc.store, doc.max_replica_lag.as_ref()),
        settings,
        &throttle,
        errs,
    );
    if errs.len() != before {
        return None;
    }
    Some(RetentionPolicy {
        name: common.name,
        hash: String::new(),
        purpose: doc.purpose,
        clause: doc.clause,
        store: doc.store.value,
        table: common.table?,
        key,
        clock: clock?,
        keep: keep?,
        selector: common.selector,
        action: action?,
        schedule: schedule.or_else(|| settings.schedule.clone()),
        mode,
        guard,
        batch_size,
        batch_target_ms: batch_target.map(|d| d.as_millis().min(u128::from(u32::MAX)) as u32),
        throttle,
        file: path.to_path_buf(),
    })
}

/// `key: id` or `key: [customer_id, seq]`: one or more distinct columns.
fn build_key(path: &Path, raw: &Spanned<RawKey>, errs: &mut Diagnostics) -> Option<Key> {
    let at = |message: String| ConfigError::at(path, &raw.referenced, message);
    let names: Vec<&String> = match &raw.value {
        RawKey::One(name) => vec![name],
        RawKey::Many(names) => names.iter().collect(),
    };
    let mut columns = Vec::new();
    let mut refused = false;
    for name in names {
        match Ident::parse(name) {
            Ok(c) => columns.push(c),
            Err(e) => {
                refused = true;
                errs.push(at(format!("key: {e}")));
            }
        }
    }
    if refused {
        return None;
    }
    Key::new(columns)
        .map_err(|e| errs.push(at(format!("key: {e}"))))
        .ok()
}

pub(super) fn build_clock(
    path: &Path,
    raw: &Spanned<RawClock>,
    errs: &mut Diagnostics,
) -> Option<Clock> {
    let c = &raw.value;
    not_allowed_keys(
        path,
        "clock on a SQL table (it is for objects)",
        &[
            ("store", c.store.as_ref().map(|a| a.referenced)),
            (
                "last_modified",
                c.last_modified.as_ref().map(|a| a.referenced),
            ),
            ("metadata", c.metadata.as_ref().map(|a| a.referenced)),
            ("tag", c.tag.as_ref().map(|a| a.referenced)),
        ],
        errs,
    );
    let Some(column) = &c.column else {
        errs.push(ConfigError::at(
            path,
            &raw.referenced,
            "clock: missing `column` (the date or timestamp column the retention period starts from)".into(),
        ));
        return None;
    };
    let column = ident(path, column, "clock column", errs);
    match (&c.join, &c.on) {
        (None, None) => column.map(Clock::Column),
        (Some(join), Some(on)) => {
            let table = Ident::parse_table(&join.value)
                .map_err(|e| {
                    errs.push(ConfigError::at(
                        path,
                        &join.referenced,
                        format!("clock join: {e}"),
                    ))
                })
                .ok();
            if on.value.is_empty() {
                errs.push(ConfigError::at(
                    path,
                    &on.referenced,
                    "clock `on` needs at least one column pair".into(),
                ));
                return None;
            }
            let mut pairs = Vec::new();
            for (l, r) in &on.value {
                match (Ident::parse(l), Ident::parse(r)) {
                    (Ok(l), Ok(r)) => pairs.push((l, r)),
                    (Err(e), _) | (_, Err(e)) => errs.push(ConfigError::at(
                        path,
                        &on.referenced,
                        format!("clock `on`: {e}"),
                    )),
                }
            }
            Some(Clock::Join {
                table: table?,
                on: pairs,
                column: column?,
            })
        }
        (Some(j), None) => {
            errs.push(ConfigError::at(
                path,
                &j.referenced,
                "clock `join` needs `on: { <column of this table>: <column of the joined table> }`"
                    .into(),
            ));
            None
        }
        (None, Some(o)) => {
            errs.push(ConfigError::at(
                path,
                &o.referenced,
                "clock `on` is only meaningful with `join`".into(),
            ));
            None
        }
    }
}

pub(super) fn build_action(
    path: &Path,
    raw: &Spanned<RawAction>,
    settings: &Settings,
    key: Option<&Key>,
    errs: &mut Diagnostics,
) -> Option<Action> {
    match &raw.value {
        RawAction::Name(n) if n == "delete" => Some(Action::Delete),
        RawAction::Name(n) => {
            errs.push(ConfigError::at(
                path,
                &raw.referenced,
                format!(
                    "unknown action `{}`; expected `delete` or `anonymize: {{ column: strategy }}`",
                    shorten(n)
                ),
            ));
            None
        }
        RawAction::Anonymize(a) => {
            if a.is_empty() {
                errs.push(ConfigError::at(
                    path,
                    &raw.referenced,
                    "`anonymize` needs at least one column".into(),
                ));
                return None;
            }
            let mut cols = BTreeMap::new();
            for (col, strat) in a {
                let Ok(column) = Ident::parse(col).map_err(|e| {
                    errs.push(ConfigError::at(
                        path,
                        &strat.referenced,
                        format!("anonymize: {e}"),
                    ))
                }) else {
                    continue;
                };
                if key.is_some_and(|k| k.contains(&column)) {
                    errs.push(ConfigError::at(
                        path,
                        &strat.referenced,
                        format!("cannot anonymize the key column `{column}`; use `action: delete` to remove rows"),
                    ));
                    continue;
                }
                let strategy = match &strat.value {
                    RawStrategy::Name(n) => match Strategy::parse(n) {
                        Some(s) => s,
                        None => {
                            errs.push(ConfigError::at(
                                path,
                                &strat.referenced,
                                format!(
                                    "unknown strategy `{}` for column `{column}`; expected one of: {} (there is no unsalted hash: use `hmac`)",
                                    shorten(n),
                                    Strategy::NAMES.join(", ")
                                ),
                            ));
                            continue;
                        }
                    },
                    RawStrategy::Redact(r) => Strategy::Redact(r.clone()),
                };
                if strategy == Strategy::Hmac && settings.hmac_key.is_none() {
                    errs.push(ConfigError::at(
                        path,
                        &strat.referenced,
                        "strategy `hmac` needs `hmac_key` or `hmac_key_file` in lethe.yaml".into(),
                    ));
                    continue;
                }
                cols.insert(column, strategy);
            }
            Some(Action::Anonymize(cols))
        }
    }
}
