//! `LegalHold` documents.

use super::common::*;
use super::error::ConfigError;
use super::policy::*;
use super::raw::*;
use super::*;
use crate::model::*;
use std::path::Path;

pub(super) fn build_hold(
    path: &Path,
    doc: RawDoc,
    settings: &Settings,
    errs: &mut Diagnostics,
) -> Option<Hold> {
    let before = errs.len();
    let common = build_common(path, &doc, settings, errs);
    let kind = "LegalHold";
    let on_objects = settings
        .stores
        .get(&doc.store.value)
        .is_some_and(StoreSpec::holds_objects);
    let scope = if on_objects {
        not_allowed_keys(
            path,
            "LegalHold on an object store (it holds a `prefix`, until removed or `until` a date)",
            &[
                ("table", doc.table.as_ref().map(|a| a.referenced)),
                (
                    "match",
                    doc.selector
                        .as_ref()
                        .and_then(|m| m.values().next())
                        .map(|t| t.referenced),
                ),
                ("clock", doc.clock.as_ref().map(|a| a.referenced)),
                (
                    "key_template",
                    doc.key_template.as_ref().map(|a| a.referenced),
                ),
            ],
            errs,
        );
        store_prefix(
            path,
            &doc,
            settings,
            format!("LegalHold `{}`: missing `prefix` (the objects it holds, e.g. `cvs/case-117/`, or `\"\"` for the whole store)", doc.name.value),
            errs,
        )
        .map(Scope::Prefix)
    } else {
        not_allowed_keys(
            path,
            "LegalHold on a SQL store (it holds records of a `table`)",
            &[
                ("prefix", doc.prefix.as_ref().map(|a| a.referenced)),
                (
                    "key_template",
                    doc.key_template.as_ref().map(|a| a.referenced),
                ),
            ],
            errs,
        );
        if doc.table.is_none() {
            errs.push(ConfigError::at(
                path,
                &doc.kind.referenced,
                format!("LegalHold `{}`: missing `table`", doc.name.value),
            ));
        }
        common.table.clone().map(Scope::Table)
    };
    not_allowed_keys(
        path,
        kind,
        &[
            ("key", doc.key.as_ref().map(|k| k.referenced)),
            ("action", doc.action.as_ref().map(|a| a.referenced)),
            ("schedule", doc.schedule.as_ref().map(|a| a.referenced)),
            ("mode", doc.mode.as_ref().map(|a| a.referenced)),
            ("guard", doc.guard.as_ref().map(|a| a.referenced)),
            ("batch_size", doc.batch_size.as_ref().map(|a| a.referenced)),
        ],
        errs,
    );
    not_allowed_keys(path, kind, &super::throttle::sql_table_keys(&doc), errs);
    let basis = required_text(
        path,
        &doc,
        doc.basis.as_ref(),
        (
            "`basis` is empty; name the legal ground of the hold",
            format!(
                "LegalHold `{}`: missing `basis` (the legal ground, e.g. `Art. 52 AWR`)",
                doc.name.value
            ),
        ),
        errs,
    );
    let window = match (&doc.clock, &doc.keep, &doc.until) {
        (None, None, None) => Some(Window::Always),
        (None, None, Some(u)) => parse_until(&u.value)
            .map(Window::Until)
            .map_err(|e| errs.push(ConfigError::at(path, &u.referenced, e)))
            .ok(),
        (Some(c), Some(k), None) => {
            let clock = build_clock(path, c, errs);
            let keep = Keep::parse(&k.value)
                .map_err(|e| errs.push(ConfigError::at(path, &k.referenced, e)))
                .ok();
            clock
                .zip(keep)
                .map(|(clock, keep)| Window::Clock { clock, keep })
        }
        (c, _, None) => {
            let loc = c.as_ref().map_or(doc.kind.referenced, |c| c.referenced);
            errs.push(ConfigError::at(
                path,
                &loc,
                "a LegalHold needs `clock` and `keep` together (e.g. 7 years from `issued_at`)"
                    .into(),
            ));
            None
        }
        (_, _, Some(u)) => {
            errs.push(ConfigError::at(
                path,
                &u.referenced,
                "give a LegalHold either `until` or `clock` with `keep`, not both".into(),
            ));
            None
        }
    };
    if errs.len() != before {
        return None;
    }
    Some(Hold {
        name: common.name,
        basis,
        source: HoldSource::Declared,
        store: doc.store.value,
        scope: scope?,
        selector: common.selector,
        window: window?,
    })
}
