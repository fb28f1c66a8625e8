//! Reading the folder: files, environment interpolation, documents, the configuration hash.

use super::error::ConfigError;
use super::exemption::*;
use super::hold::*;
use super::object::*;
use super::policy::*;
use super::raw::*;
use super::settings::*;
use super::*;
use crate::model::*;
use crate::util::shorten;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The environment of this process, for [`load`].
pub fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

/// Loads and validates the policies folder. `${VAR}` and `${VAR:-default}` in the files are
/// replaced from `env` (usually [`process_env`]).
pub fn load(dir: &Path, env: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
    let mut errs = Diagnostics::default();
    let files = match yaml_files(dir) {
        Ok(f) => f,
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError::file(
                dir,
                format!("cannot read the policies folder: {e}"),
            )]))
        }
    };
    let mut hasher = Sha256::new();
    let mut settings_doc = None;
    // Each document with the number of lines before it in its file.
    let mut docs: Vec<(PathBuf, u64, RawDoc)> = Vec::new();
    let settings_path = dir.join(SETTINGS_FILE);

    for path in &files {
        let text = match read_limited(path) {
            Ok(t) => t,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        for (line, column, name) in unset_references(&text, env) {
            errs.push(ConfigError {
                file: path.clone(),
                line,
                column,
                message: format!(
                    "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
                ),
            });
        }
        let rel = path.strip_prefix(dir).unwrap_or(path);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
        if *path == settings_path {
            if refuse_tags(path, &text, 0, &mut errs) {
                continue;
            }
            match serde_saphyr::from_str_with_options::<RawSettings>(&text, options(env)) {
                Ok(s) => settings_doc = Some(s),
                Err(e) => errs.push(ConfigError::from_yaml(path, &e, &text)),
            }
        } else {
            let split = match documents(&text) {
                Ok(d) => d,
                Err(line) => {
                    errs.push(ConfigError {
                        file: path.clone(),
                        line,
                        column: 1,
                        message: format!(
                            "more than {MAX_DOCUMENTS} documents in one file; split the file"
                        ),
                    });
                    continue;
                }
            };
            for (shift, doc) in split {
                if refuse_tags(path, doc, shift, &mut errs) {
                    continue;
                }
                match serde_saphyr::from_str_with_options::<Option<RawKind>>(doc, options(env)) {
                    Ok(Some(RawKind { kind: Some(k) })) if KINDS.contains(&k.value.as_str()) => {}
                    Ok(Some(RawKind { kind: Some(k) })) => {
                        errs.push(
                            ConfigError::at(
                                path,
                                &k.referenced,
                                format!(
                                    "unknown document kind `{}`; expected one of: {}",
                                    shorten(&k.value),
                                    KINDS.join(", ")
                                ),
                            )
                            .shifted(shift),
                        );
                        continue;
                    }
                    Ok(Some(RawKind { kind: None })) => {
                        errs.push(ConfigError::file(
                            path,
                            "a document without `kind`; expected `kind: RetentionPolicy`, `kind: LegalHold` or `kind: Exemption`"
                                .into(),
                        ));
                        continue;
                    }
                    Ok(None) => continue,
                    // Reported by the full parse below, with its place.
                    Err(_) => {}
                }
                match serde_saphyr::from_str_with_options::<Option<RawDoc>>(doc, options(env)) {
                    Ok(Some(d)) => docs.push((path.clone(), shift, d)),
                    Ok(None) => {}
                    Err(e) => errs.push(ConfigError::from_yaml(path, &e, doc).shifted(shift)),
                }
            }
        }
    }
    match std::fs::metadata(&settings_path) {
        Ok(m) if m.is_dir() => errs.push(ConfigError::file(
            &settings_path,
            format!("`{SETTINGS_FILE}` is a folder; it must be the settings file (see docs/reference/configuration.md)"),
        )),
        // Read above, and any problem reading it reported there (a broken link too).
        Ok(_) => {}
        Err(_) if std::fs::symlink_metadata(&settings_path).is_ok() => {}
        Err(_) => errs.push(ConfigError::file(
            &settings_path,
            format!("missing `{SETTINGS_FILE}`; every policies folder needs one (see docs/reference/configuration.md)"),
        )),
    }

    let settings = settings_doc.and_then(|raw| build_settings(&settings_path, raw, dir, &mut errs));
    let mut policies = Vec::new();
    let mut objects = Vec::new();
    let mut holds = Vec::new();
    let mut exemptions = Vec::new();
    if let Some(settings) = &settings {
        let mut seen: HashMap<String, String> = HashMap::new();
        for (path, shift, doc) in docs {
            let here = ConfigError::at(&path, &doc.name.referenced, String::new())
                .shifted(shift)
                .place();
            if let Some(first) = seen.get(&doc.name.value) {
                errs.push(
                    ConfigError::at(
                        &path,
                        &doc.name.referenced,
                        format!(
                            "duplicate name `{}`; first defined at {first}",
                            doc.name.value
                        ),
                    )
                    .shifted(shift),
                );
                continue;
            }
            seen.insert(doc.name.value.clone(), here);
            let on_objects = settings
                .stores
                .get(&doc.store.value)
                .is_some_and(StoreSpec::holds_objects);
            let before = errs.len();
            if doc.kind.value == "Exemption" {
                if let Some(e) = build_exemption(&path, doc, settings, &mut errs) {
                    exemptions.push(e);
                }
            } else if doc.kind.value == "LegalHold" {
                refuse_exemption_keys(&path, &doc, &mut errs);
                if let Some(h) = build_hold(&path, doc, settings, &mut errs) {
                    holds.push(h);
                }
            } else if on_objects {
                refuse_exemption_keys(&path, &doc, &mut errs);
                if let Some(p) = build_object_policy(&path, doc, settings, &mut errs) {
                    objects.push(p);
                }
            } else {
                refuse_exemption_keys(&path, &doc, &mut errs);
                if let Some(p) = build_policy(&path, doc, settings, &mut errs) {
                    policies.push(p);
                }
            }
            // The document's places are counted from its own first line.
            errs.shift_since(before, &path, shift);
        }
    }
    // Each policy's hash, once: a policy that cannot be written as JSON is an error, never the
    // hash of nothing.
    let unhashable = |name: &str, e: serde_json::Error| {
        ConfigError::file(dir, format!("cannot hash policy `{name}`: {e}"))
    };
    for p in &mut policies {
        match p.compute_hash() {
            Ok(h) => p.hash = h,
            Err(e) => errs.push(unhashable(&p.name, e)),
        }
    }
    for p in &mut objects {
        match p.compute_hash() {
            Ok(h) => p.hash = h,
            Err(e) => errs.push(unhashable(&p.name, e)),
        }
    }
    match settings {
        Some(settings) if errs.is_empty() => {
            if let Err(e) = resolved_into(&mut hasher, &settings, &policies, &objects, &holds) {
                return Err(ConfigErrors(vec![ConfigError::file(dir, e)]));
            }
            Ok(Config {
                dir: dir.to_path_buf(),
                settings,
                policies,
                objects,
                holds,
                exemptions,
                hash: hex::encode(hasher.finalize()),
            })
        }
        _ => Err(errs.into_errors()),
    }
}

/// Every `${NAME}` (without a default) whose variable is not set, with its line and column.
/// Comments are skipped; `$${...}` is an escaped dollar.
pub(super) fn unset_references(
    text: &str,
    env: &HashMap<String, String>,
) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '#' && (i == 0 || chars[i - 1].is_whitespace()) {
                break;
            }
            if c == '$' && chars.get(i + 1) == Some(&'$') {
                i += 2;
                continue;
            }
            if c == '$' && chars.get(i + 1) == Some(&'{') {
                let name: String = chars[i + 2..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                let closes = chars.get(i + 2 + name.chars().count()) == Some(&'}');
                if closes && !name.is_empty() && !env.contains_key(&name) {
                    out.push((n as u64 + 1, i as u64 + 1, name));
                }
            }
            i += 1;
        }
    }
    out
}

/// Reports the YAML tags (`!!binary`, `!!str`, `!local`; the first ten) of a document that starts after
/// `shift` lines of its file; true when there was one. A tag changes what a value means while
/// hiding the change from whoever reviews the file (`keep: !!binary MWQ=` reads as `1d`), so
/// none is accepted. A document the parser cannot read is left to the full parse, which reports
/// its syntax error.
pub(super) fn refuse_tags(path: &Path, doc: &str, shift: u64, errs: &mut Diagnostics) -> bool {
    use serde_saphyr::granit_parser::Parser;
    // The first few are enough to show; finding each one's column reads its line.
    const SHOWN: usize = 10;
    use serde_saphyr::granit_parser::ErrorKind;
    let mut found = 0;
    let mut refuse = |line: u64, column: u64, message: String| {
        errs.push(ConfigError {
            file: path.to_path_buf(),
            line: line + shift,
            column,
            message,
        })
    };
    // A `%TAG` directive declares tag handles: refused at its line, like the tags it enables.
    for (i, text) in doc.lines().enumerate() {
        if text.starts_with("%TAG") {
            found += 1;
            refuse(
                i as u64 + 1,
                1,
                "YAML `%TAG` directive is not accepted: lethe takes no YAML tags; write plain values".into(),
            );
        }
    }
    for event in Parser::new_from_str(doc) {
        let (event, span) = match event {
            Ok(event) => event,
            Err(e) => {
                if matches!(e.kind(), ErrorKind::UndeclaredTagHandle) {
                    found += 1;
                    refuse(
                        e.marker().line() as u64,
                        e.marker().col() as u64 + 1,
                        "YAML tag with an undeclared handle; YAML tags are not accepted, write the plain value".into(),
                    );
                }
                break;
            }
        };
        if let Some(tag) = event.tag() {
            found += 1;
            if found > SHOWN {
                break;
            }
            let written = format!("{}{}", tag.original_handle(), tag.suffix());
            // The event starts at its value; the tag stands before it on the line.
            let (line, mut column) = (span.start.line(), span.start.col());
            if let Some(text) = doc.lines().nth(line.saturating_sub(1)) {
                let before: String = text.chars().take(column).collect();
                if let Some(i) = before.rfind(&written) {
                    column = before[..i].chars().count();
                }
            }
            refuse(
                line as u64,
                column as u64 + 1,
                format!(
                    "YAML tag `{}` is not accepted; write the plain value (tags change a value's meaning out of a reviewer's sight)",
                    shorten(&written)
                ),
            );
        }
    }
    found > 0
}

/// Splits a multi-document YAML text at its `---` lines into one text per document, each with
/// the number of lines before it, so that an error in one document does not hide the errors of
/// the next and every line stays exact once shifted. Linear in the text; more than
/// [`MAX_DOCUMENTS`] documents are refused with the line of the first one too many.
pub(super) fn documents(text: &str) -> Result<Vec<(u64, &str)>, u64> {
    let is_marker = |l: &str| {
        let l = l.strip_suffix('\r').unwrap_or(l);
        l == "---" || l.starts_with("--- ") || l.starts_with("---\t")
    };
    // (byte offset, 0-based line) of every document start.
    let mut starts: Vec<(usize, u64)> = vec![(0, 0)];
    let mut at = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if n > 0 && is_marker(line.strip_suffix('\n').unwrap_or(line)) {
            if starts.len() == MAX_DOCUMENTS {
                return Err(n as u64 + 1);
            }
            starts.push((at, n as u64));
        }
        at += line.len();
    }
    let ends = starts.iter().skip(1).map(|s| s.0).chain([text.len()]);
    Ok(starts
        .iter()
        .zip(ends)
        .map(|(&(start, line), end)| (line, &text[start..end]))
        .collect())
}

/// Adds to the configuration hash what the environment resolved: where each store points
/// (without its password), a fingerprint of the hmac key, the limits and every validated policy.
/// A plan reviewed against one database cannot be applied to another.
pub(super) fn resolved_into(
    hasher: &mut Sha256,
    settings: &Settings,
    policies: &[RetentionPolicy],
    objects: &[ObjectPolicy],
    holds: &[Hold],
) -> Result<(), String> {
    for (name, store) in &settings.stores {
        let place = match store {
            StoreSpec::Sql(SqlSpec { url, .. }) => without_password(url.expose()),
            StoreSpec::S3(S3Spec {
                bucket, endpoint, ..
            }) => format!("s3://{bucket}@{}", endpoint.as_deref().unwrap_or("aws")),
            StoreSpec::Dir(DirSpec { path, .. }) => format!("dir://{}", path.display()),
        };
        hasher.update(format!("store\0{name}\0{place}\0"));
    }
    if let Some(key) = &settings.hmac_key {
        let fingerprint = Sha256::digest(format!("lethe-hmac-key\0{}", key.expose()));
        hasher.update(fingerprint);
    }
    hasher.update(format!(
        "limits\0{:?}\0{:?}\0{}\0{}\0{:?}\0",
        settings.guard,
        settings.run_max_rows,
        settings.batch_size,
        settings.drift_tolerance,
        settings.batch_target
    ));
    for p in policies {
        hasher.update(format!("policy\0{}\0", p.hash));
    }
    for p in objects {
        hasher.update(format!("objects\0{}\0", p.hash));
    }
    for h in holds {
        let text = serde_json::to_string(h)
            .map_err(|e| format!("cannot hash legal hold `{}`: {e}", h.name))?;
        hasher.update(format!("hold\0{text}\0"));
    }
    Ok(())
}

pub(super) fn options(env: &HashMap<String, String>) -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default().with_properties(env.clone());
    // Compose rules: `${VAR}` and `${VAR:-default}` also inside quotes and flow mappings.
    o.property_syntax = serde_saphyr::PropertySyntax::DockerCompose;
    o.with_snippet = false;
    o
}

pub(super) fn read_limited(path: &Path) -> Result<String, ConfigError> {
    let bytes = crate::util::read_regular(path, MAX_FILE_BYTES).map_err(|e| {
        ConfigError::file(
            path,
            match e {
                crate::util::ReadError::TooLarge(_) => format!(
                    "the file is larger than {MAX_FILE_BYTES} bytes, the most a policy file may hold; split it"
                ),
                e => format!("cannot read the file: {e}"),
            },
        )
    })?;
    crate::util::utf8_text(bytes).map_err(|(line, column)| ConfigError {
        file: path.to_path_buf(),
        line,
        column,
        message: "this byte is not UTF-8 text; save the file as UTF-8".into(),
    })
}

/// Every `*.yaml` / `*.yml` file under `dir`, sorted, `lethe.yaml` first. A link to a folder
/// is followed once: a folder already walked (a link to `.` or to a parent) is not walked again.
/// A folder named `lethe.yaml` is not walked (it is reported as such).
pub(super) fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    fn walk(
        d: &Path,
        out: &mut Vec<PathBuf>,
        seen: &mut std::collections::HashSet<(u64, u64)>,
    ) -> std::io::Result<()> {
        for entry in std::fs::read_dir(d)? {
            let path = entry?.path();
            // Hidden names are skipped: editor backups, and the `..data` copies Kubernetes
            // keeps inside a mounted ConfigMap.
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    if path.file_name().is_some_and(|n| n == SETTINGS_FILE) {
                        continue;
                    }
                    if seen.insert((m.dev(), m.ino())) {
                        walk(&path, out, seen)?;
                    }
                }
                // Anything else with the extension, a pipe or a broken link too: reading it
                // reports what it is.
                _ if is_yaml => out.push(path),
                _ => {}
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let root = std::fs::metadata(dir)?;
    seen.insert((root.dev(), root.ino()));
    walk(dir, &mut out, &mut seen)?;
    let settings = dir.join(SETTINGS_FILE);
    out.sort_by_key(|p| (*p != settings, p.clone()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each limit of a policy's guard knows where it is set: the policy's own `guard:`, the
    /// defaults of lethe.yaml, or lethe's own; hashes do not depend on it.
    #[test]
    fn a_guard_knows_where_each_limit_is_set() {
        use crate::model::SetIn;
        let dir = tempfile::tempdir().unwrap();
        let policy = |name: &str, guard: &str| {
            format!("kind: RetentionPolicy\nname: {name}\nstore: crm\ntable: leads\nkey: id\nclock: {{ column: created_at }}\nkeep: 30d\naction: delete\n{guard}")
        };
        let write = |settings: &str| {
            std::fs::write(
                dir.path().join("lethe.yaml"),
                format!("stores:\n  crm: {{ kind: sql, url: \"sqlite://crm.db\", country: NL }}\n{settings}"),
            )
            .unwrap();
            std::fs::write(
                dir.path().join("p.yaml"),
                policy("own", "guard: { max_rows: 10 }\n") + "---\n" + &policy("inherits", ""),
            )
            .unwrap();
            load(dir.path(), &HashMap::new()).unwrap()
        };
        let config = write("");
        let (own, inherits) = (&config.policies[0], &config.policies[1]);
        assert_eq!(own.file, dir.path().join("p.yaml"));
        assert_eq!(
            (own.guard.max_rows, own.guard.max_fraction),
            (Some(10), Some(0.5))
        );
        assert_eq!(own.guard.set_in.max_rows, SetIn::Policy);
        assert_eq!(own.guard.set_in.max_fraction, SetIn::Default);
        assert_eq!(inherits.guard.set_in.max_fraction, SetIn::Default);
        let hash = own.hash.clone();
        let config = write("guard: { max_fraction: 0.5, max_rows: 10 }\n");
        let (own, inherits) = (&config.policies[0], &config.policies[1]);
        assert_eq!(own.guard.set_in.max_rows, SetIn::Policy);
        assert_eq!(own.guard.set_in.max_fraction, SetIn::Settings);
        assert_eq!(inherits.guard.set_in.max_rows, SetIn::Settings);
        // The same limits, set elsewhere: the policy does the same, its hash is the same.
        assert_eq!(own.hash, hash);
    }

    #[test]
    fn finds_unset_variables_outside_comments() {
        let env: HashMap<String, String> = [("SET".to_string(), "x".to_string())].into();
        let text = "a: ${SET}\nb: \"${UNSET}\" # ${IN_COMMENT}\nc: ${WITH:-default} $${ESCAPED}\n";
        assert_eq!(
            unset_references(text, &env),
            vec![(2, 5, "UNSET".to_string())]
        );
    }

    #[test]
    fn documents_are_slices_with_their_line_shift() {
        let text = "a: 1\n---\nb: 2\nc: 3\n--- # x\nd: 4\n";
        let docs = documents(text).unwrap();
        assert_eq!(
            docs,
            vec![
                (0, "a: 1\n"),
                (1, "---\nb: 2\nc: 3\n"),
                (4, "--- # x\nd: 4\n")
            ]
        );
        // Linear: the documents together are the text, nothing copied per document.
        let many = "---\n".repeat(MAX_DOCUMENTS);
        let docs = documents(&many).unwrap();
        assert_eq!(docs.len(), MAX_DOCUMENTS);
        assert_eq!(docs.iter().map(|d| d.1.len()).sum::<usize>(), many.len());
        // One too many: the line of the first document beyond the limit.
        let more = format!("x: 1\n{many}");
        assert_eq!(documents(&more), Err(MAX_DOCUMENTS as u64 + 1));
    }

    #[test]
    fn tags_are_refused_at_their_place() {
        let mut errs = Diagnostics::default();
        let doc = "---\nkeep: !!binary MWQ=\nname: x # not a !tag\nlist: [ !a 1, '!b' ]\n";
        assert!(refuse_tags(Path::new("p.yaml"), doc, 10, &mut errs));
        let places: Vec<String> = errs.into_errors().0.iter().map(|e| e.place()).collect();
        assert_eq!(places, ["p.yaml:12:7", "p.yaml:14:9"]);
        let mut errs = Diagnostics::default();
        assert!(!refuse_tags(
            Path::new("p.yaml"),
            "purpose: Hello! !x\n",
            0,
            &mut errs
        ));
    }
}
