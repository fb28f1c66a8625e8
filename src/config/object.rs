//! `RetentionPolicy` documents over object stores: prefixes, key templates, object clocks.

use super::common::*;
use super::error::ConfigError;
use super::raw::*;
use super::settings::*;
use super::*;
use crate::model::*;
use crate::util::shorten;
use serde_saphyr::Spanned;
use std::path::Path;

/// A `RetentionPolicy` whose store is a bucket or a folder.
pub(super) fn build_object_policy(
    path: &Path,
    doc: RawDoc,
    settings: &Settings,
    errs: &mut Diagnostics,
) -> Option<ObjectPolicy> {
    let before = errs.len();
    let common = build_common(path, &doc, settings, errs);
    let kind =
        "RetentionPolicy on an object store (objects are named by `prefix` or `key_template`)";
    not_allowed_keys(
        path,
        kind,
        &[
            ("table", doc.table.as_ref().map(|a| a.referenced)),
            ("key", doc.key.as_ref().map(|a| a.referenced)),
            (
                "match",
                doc.selector
                    .as_ref()
                    .and_then(|m| m.values().next())
                    .map(|t| t.referenced),
            ),
            ("basis", doc.basis.as_ref().map(|a| a.referenced)),
            ("until", doc.until.as_ref().map(|a| a.referenced)),
        ],
        errs,
    );
    not_allowed_keys(path, kind, &super::throttle::sql_table_keys(&doc), errs);
    missing_keys(
        path,
        &doc,
        &[
            ("clock", doc.clock.is_some()),
            ("keep", doc.keep.is_some()),
            ("action", doc.action.is_some()),
        ],
        errs,
    );
    if let Some(a) = &doc.action {
        if !matches!(&a.value, RawAction::Name(n) if n == "delete") {
            errs.push(ConfigError::at(
                path,
                &a.referenced,
                "objects can only be deleted: expected `action: delete` (every version and delete marker of a due key is removed)".into(),
            ));
        }
    }
    let template = doc.key_template.as_ref().and_then(|t| {
        KeyTemplate::parse(&t.value)
            .map_err(|e| errs.push(ConfigError::at(path, &t.referenced, e)))
            .ok()
    });
    let prefix = match (&doc.prefix, &template) {
        (Some(p), None) => Some(p.value.clone()),
        (None, Some(t)) => Some(t.literal_prefix().to_string()),
        (None, None) => {
            errs.push(ConfigError::at(
                path,
                &doc.kind.referenced,
                format!("RetentionPolicy `{}` on an object store: missing `prefix` (e.g. `cvs/`, or `\"\"` for the whole store) or `key_template` (e.g. `exports/{{customer_id}}/`)", doc.name.value),
            ));
            None
        }
        (Some(p), Some(_)) => {
            errs.push(ConfigError::at(
                path,
                &p.referenced,
                "give either `prefix` or `key_template`: a template's text before its first variable is its prefix".into(),
            ));
            None
        }
    };
    // In a folder, a prefix is a path below the folder: no way out of it.
    let in_folder = matches!(
        settings.stores.get(&doc.store.value),
        Some(StoreSpec::Dir(_))
    );
    if let (true, Some(p)) = (in_folder, &prefix) {
        if let Err(e) = check_folder_prefix(p) {
            let loc = doc
                .prefix
                .as_ref()
                .or(doc.key_template.as_ref())
                .map_or(doc.kind.referenced, |p| p.referenced);
            errs.push(ConfigError::at(path, &loc, e));
        }
    }
    let clock = doc.clock.as_ref().and_then(|c| {
        build_object_clock(path, &doc.store.value, c, template.as_ref(), settings, errs)
    });
    let keep = doc.keep.as_ref().and_then(|k| {
        Keep::parse(&k.value)
            .map_err(|e| errs.push(ConfigError::at(path, &k.referenced, e)))
            .ok()
    });
    let schedule = doc.schedule.and_then(|s| check_cron(path, s, errs));
    let mode = build_mode(path, doc.mode.as_ref(), errs);
    let guard = build_guard(path, doc.guard.as_ref(), settings, errs);
    let default_batch = settings.batch_size.min(MAX_OBJECT_BATCH);
    let batch_size = match &doc.batch_size {
        Some(b) if b.value == 0 || b.value > MAX_OBJECT_BATCH => {
            errs.push(ConfigError::at(
                path,
                &b.referenced,
                format!("`batch_size` of an object policy must be between 1 and {MAX_OBJECT_BATCH} (one DeleteObjects request)"),
            ));
            default_batch
        }
        Some(b) => b.value,
        None => default_batch,
    };
    if errs.len() != before {
        return None;
    }
    Some(ObjectPolicy {
        name: common.name,
        hash: String::new(),
        purpose: doc.purpose,
        clause: doc.clause,
        store: doc.store.value,
        prefix: prefix?,
        template,
        clock: clock?,
        keep: keep?,
        schedule: schedule.or_else(|| settings.schedule.clone()),
        mode,
        guard,
        batch_size,
        file: path.to_path_buf(),
    })
}

/// The clock of an object policy: exactly one of `last_modified: true`, `metadata: KEY`,
/// `tag: KEY`, or a contract clock (`store`, `join`, `column`, `on`) through the key template.
pub(super) fn build_object_clock(
    path: &Path,
    store_name: &str,
    raw: &Spanned<RawClock>,
    template: Option<&KeyTemplate>,
    settings: &Settings,
    errs: &mut Diagnostics,
) -> Option<ObjectClock> {
    let c = &raw.value;
    let expected = "expected one of `last_modified: true`, `metadata: KEY`, `tag: KEY`, or `{ store, join, column, on }` with a `key_template`";
    let contract = c.join.is_some() || c.column.is_some() || c.on.is_some() || c.store.is_some();
    let given = [
        c.last_modified.is_some(),
        c.metadata.is_some(),
        c.tag.is_some(),
        contract,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        errs.push(ConfigError::at(
            path,
            &raw.referenced,
            format!("an object clock needs exactly one source; {expected}"),
        ));
        return None;
    }
    let meta_key = |k: &Spanned<String>, errs: &mut Diagnostics| {
        let v = k.value.trim().to_ascii_lowercase();
        let ok = !v.is_empty()
            && v.len() <= 128
            && v.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.:".contains(ch));
        if !ok {
            errs.push(ConfigError::at(
                path,
                &k.referenced,
                format!(
                    "invalid key `{}`; expected letters, digits, `-`, `_`, `.` or `:`",
                    shorten(&k.value)
                ),
            ));
        }
        ok.then_some(v)
    };
    if let Some(l) = &c.last_modified {
        if !l.value {
            errs.push(ConfigError::at(
                path,
                &l.referenced,
                format!("`last_modified: false` names no clock; {expected}"),
            ));
            return None;
        }
        return Some(ObjectClock::LastModified);
    }
    if let (Some(StoreSpec::Dir(_)), Some(k)) = (
        settings.stores.get(store_name),
        c.metadata.as_ref().or(c.tag.as_ref()),
    ) {
        errs.push(ConfigError::at(
            path,
            &k.referenced,
            "a folder has no metadata or tags; use `clock: { last_modified: true }` or a contract clock".into(),
        ));
        return None;
    }
    if let Some(m) = &c.metadata {
        return meta_key(m, errs).map(ObjectClock::Metadata);
    }
    if let Some(t) = &c.tag {
        // Tag keys are case-sensitive; metadata keys are not.
        return meta_key(t, errs).map(|_| ObjectClock::Tag(t.value.trim().to_string()));
    }
    let Some(template) = template else {
        errs.push(ConfigError::at(
            path,
            &raw.referenced,
            "a clock from a SQL table needs `key_template` in the policy, e.g. `exports/{customer_id}/`, to link each object to its records".into(),
        ));
        return None;
    };
    let (Some(store), Some(join), Some(column), Some(on)) = (&c.store, &c.join, &c.column, &c.on)
    else {
        errs.push(ConfigError::at(
            path,
            &raw.referenced,
            "a clock from a SQL table needs `store`, `join`, `column` and `on`, e.g. `{ store: crm, join: contracts, column: terminated_at, on: { customer_id: customer_id } }`".into(),
        ));
        return None;
    };
    match settings.stores.get(&store.value) {
        Some(StoreSpec::Sql(_)) => {}
        _ => {
            errs.push(ConfigError::at(
                path,
                &store.referenced,
                format!(
                    "clock `store`: `{}` is not a SQL store in lethe.yaml",
                    shorten(&store.value)
                ),
            ));
            return None;
        }
    }
    let table = Ident::parse_table(&join.value)
        .map_err(|e| {
            errs.push(ConfigError::at(
                path,
                &join.referenced,
                format!("clock join: {e}"),
            ))
        })
        .ok()?;
    let column = ident(path, column, "clock column", errs)?;
    let pairs: Vec<_> = on.value.iter().collect();
    let [(var, col)] = pairs.as_slice() else {
        errs.push(ConfigError::at(
            path,
            &on.referenced,
            "clock `on` of an object policy takes one pair: `{ <template variable>: <column of the joined table> }`".into(),
        ));
        return None;
    };
    if !template.variables().contains(&var.as_str()) {
        errs.push(ConfigError::at(
            path,
            &on.referenced,
            format!(
                "clock `on`: `{}` is not a variable of the key template; expected one of: {}",
                shorten(var),
                template.variables().join(", ")
            ),
        ));
        return None;
    }
    let col = Ident::parse(col)
        .map_err(|e| {
            errs.push(ConfigError::at(
                path,
                &on.referenced,
                format!("clock `on`: {e}"),
            ))
        })
        .ok()?;
    Some(ObjectClock::Contract {
        store: store.value.clone(),
        table,
        column,
        on: ((*var).clone(), col),
    })
}
