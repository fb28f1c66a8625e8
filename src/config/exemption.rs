//! `Exemption` documents: personal data that stays on purpose, with the reason.

use super::common::*;
use super::error::ConfigError;
use super::raw::*;
use super::*;
use crate::model::*;
use std::path::Path;

/// The keys only an `Exemption` takes, refused in every other kind of document.
pub(super) fn refuse_exemption_keys(path: &Path, doc: &RawDoc, errs: &mut Diagnostics) {
    not_allowed_keys(
        path,
        &doc.kind.value,
        &[
            ("columns", doc.columns.as_ref().map(|a| a.referenced)),
            ("reason", doc.reason.as_ref().map(|a| a.referenced)),
        ],
        errs,
    );
}

pub(super) fn build_exemption(
    path: &Path,
    doc: RawDoc,
    settings: &Settings,
    errs: &mut Diagnostics,
) -> Option<Exemption> {
    let before = errs.len();
    let common = build_common(path, &doc, settings, errs);
    let on_objects = settings
        .stores
        .get(&doc.store.value)
        .is_some_and(StoreSpec::holds_objects);
    not_allowed_keys(
        path,
        "Exemption (it names what stays and why: `table` and `columns`, or `prefix`, and `reason`)",
        &[
            ("purpose", doc.purpose.as_ref().map(|_| doc.kind.referenced)),
            ("clause", doc.clause.as_ref().map(|_| doc.kind.referenced)),
            (
                "key_template",
                doc.key_template.as_ref().map(|a| a.referenced),
            ),
            ("key", doc.key.as_ref().map(|a| a.referenced)),
            ("clock", doc.clock.as_ref().map(|a| a.referenced)),
            ("keep", doc.keep.as_ref().map(|a| a.referenced)),
            (
                "match",
                doc.selector
                    .as_ref()
                    .and_then(|m| m.values().next())
                    .map(|t| t.referenced),
            ),
            ("action", doc.action.as_ref().map(|a| a.referenced)),
            ("basis", doc.basis.as_ref().map(|a| a.referenced)),
            ("until", doc.until.as_ref().map(|a| a.referenced)),
            ("schedule", doc.schedule.as_ref().map(|a| a.referenced)),
            ("mode", doc.mode.as_ref().map(|a| a.referenced)),
            ("guard", doc.guard.as_ref().map(|a| a.referenced)),
            ("batch_size", doc.batch_size.as_ref().map(|a| a.referenced)),
        ],
        errs,
    );
    not_allowed_keys(
        path,
        "Exemption",
        &super::throttle::sql_table_keys(&doc),
        errs,
    );
    let scope = if on_objects {
        not_allowed_keys(
            path,
            "Exemption on an object store (it names a `prefix`)",
            &[
                ("table", doc.table.as_ref().map(|a| a.referenced)),
                ("columns", doc.columns.as_ref().map(|a| a.referenced)),
            ],
            errs,
        );
        store_prefix(
            path,
            &doc,
            settings,
            format!("Exemption `{}`: missing `prefix` (the objects that stay, e.g. `public/`, or `\"\"` for the whole store)", doc.name.value),
            errs,
        )
        .map(ExemptScope::Prefix)
    } else {
        not_allowed_keys(
            path,
            "Exemption on a SQL store (it names a `table` and its `columns`)",
            &[("prefix", doc.prefix.as_ref().map(|a| a.referenced))],
            errs,
        );
        if doc.table.is_none() {
            errs.push(ConfigError::at(
                path,
                &doc.kind.referenced,
                format!(
                    "Exemption `{}`: missing `table` (the table whose columns stay)",
                    doc.name.value
                ),
            ));
        }
        let columns = columns(path, doc.columns.as_ref(), errs);
        common
            .table
            .clone()
            .map(|table| ExemptScope::Table { table, columns })
    };
    let reason = required_text(
        path,
        &doc,
        doc.reason.as_ref(),
        (
            "`reason` is empty; say why this personal data stays (a legal duty, a decision of the DPO)",
            format!(
                "Exemption `{}`: missing `reason` (why this personal data stays without a policy)",
                doc.name.value
            ),
        ),
        errs,
    );
    if errs.len() != before {
        return None;
    }
    Some(Exemption {
        name: common.name,
        store: doc.store.value,
        scope: scope?,
        reason,
    })
}

/// `columns:`: each a plain column name, none twice; absent means every column, an empty list
/// is a mistake.
fn columns(
    path: &Path,
    raw: Option<&serde_saphyr::Spanned<Vec<serde_saphyr::Spanned<String>>>>,
    errs: &mut Diagnostics,
) -> Vec<Ident> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    if raw.value.is_empty() {
        errs.push(ConfigError::at(
            path,
            &raw.referenced,
            "`columns` is empty; list the columns that stay, or leave `columns` out for every column of the table".into(),
        ));
    }
    let mut out: Vec<Ident> = Vec::new();
    for c in &raw.value {
        let Some(id) = ident(path, c, "columns", errs) else {
            continue;
        };
        if out
            .iter()
            .any(|o| o.as_str().eq_ignore_ascii_case(id.as_str()))
        {
            errs.push(ConfigError::at(
                path,
                &c.referenced,
                format!("column `{id}` is listed twice"),
            ));
            continue;
        }
        out.push(id);
    }
    out
}
