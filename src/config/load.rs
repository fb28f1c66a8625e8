//! Reading the folder: files, environment interpolation, documents, the configuration hash.

use super::error::ConfigError;
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
    let mut docs: Vec<(PathBuf, RawDoc)> = Vec::new();
    let settings_path = dir.join(SETTINGS_FILE);

    for path in &files {
        let text = match read_limited(path) {
            Ok(t) => t,
            Err(msg) => {
                errs.push(ConfigError::file(path, msg));
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
            match serde_saphyr::from_str_with_options::<RawSettings>(&text, options(env)) {
                Ok(s) => settings_doc = Some(s),
                Err(e) => errs.push(ConfigError::from_yaml(path, &e, &text)),
            }
        } else {
            for doc in documents(&text) {
                match serde_saphyr::from_str_with_options::<Option<RawKind>>(&doc, options(env)) {
                    Ok(Some(RawKind { kind: Some(k) })) if KINDS.contains(&k.value.as_str()) => {}
                    Ok(Some(RawKind { kind: Some(k) })) => {
                        errs.push(ConfigError::at(
                            path,
                            &k.referenced,
                            format!(
                                "unknown document kind `{}`; expected one of: {}",
                                shorten(&k.value),
                                KINDS.join(", ")
                            ),
                        ));
                        continue;
                    }
                    Ok(Some(RawKind { kind: None })) => {
                        errs.push(ConfigError::file(
                            path,
                            "a document without `kind`; expected `kind: RetentionPolicy` or `kind: LegalHold`"
                                .into(),
                        ));
                        continue;
                    }
                    Ok(None) => continue,
                    // Reported by the full parse below, with its place.
                    Err(_) => {}
                }
                match serde_saphyr::from_str_with_options::<Option<RawDoc>>(&doc, options(env)) {
                    Ok(Some(d)) => docs.push((path.clone(), d)),
                    Ok(None) => {}
                    Err(e) => errs.push(ConfigError::from_yaml(path, &e, &doc)),
                }
            }
        }
    }
    if !settings_path.is_file() {
        errs.push(ConfigError::file(
            &settings_path,
            format!("missing `{SETTINGS_FILE}`; every policies folder needs one (see docs/reference/configuration.md)"),
        ));
    }

    let settings = settings_doc.and_then(|raw| build_settings(&settings_path, raw, dir, &mut errs));
    let mut policies = Vec::new();
    let mut objects = Vec::new();
    let mut holds = Vec::new();
    if let Some(settings) = &settings {
        let mut seen: HashMap<String, String> = HashMap::new();
        for (path, doc) in docs {
            let here = ConfigError::at(&path, &doc.name.referenced, String::new()).place();
            if let Some(first) = seen.get(&doc.name.value) {
                errs.push(ConfigError::at(
                    &path,
                    &doc.name.referenced,
                    format!(
                        "duplicate name `{}`; first defined at {first}",
                        doc.name.value
                    ),
                ));
                continue;
            }
            seen.insert(doc.name.value.clone(), here);
            let on_objects = settings
                .stores
                .get(&doc.store.value)
                .is_some_and(StoreSpec::holds_objects);
            if doc.kind.value == "LegalHold" {
                if let Some(h) = build_hold(&path, doc, settings, &mut errs) {
                    holds.push(h);
                }
            } else if on_objects {
                if let Some(p) = build_object_policy(&path, doc, settings, &mut errs) {
                    objects.push(p);
                }
            } else if let Some(p) = build_policy(&path, doc, settings, &mut errs) {
                policies.push(p);
            }
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

/// Splits a multi-document YAML text into one text per document, each as long as the whole
/// file with the other documents' lines blanked, so that every line and column stays exact and
/// an error in one document does not hide the errors of the next.
pub(super) fn documents(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let is_marker = |l: &str| l == "---" || l.starts_with("--- ") || l.starts_with("---\t");
    let mut starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_marker(l))
        .map(|(i, _)| i)
        .collect();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    let mut out = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let mut doc = String::with_capacity(text.len());
        for (i, l) in lines.iter().enumerate() {
            if (start..end).contains(&i) {
                doc.push_str(l);
            }
            doc.push('\n');
        }
        out.push(doc);
    }
    out
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
        "limits\0{:?}\0{:?}\0{}\0{}\0",
        settings.guard, settings.run_max_rows, settings.batch_size, settings.drift_tolerance
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

pub(super) fn read_limited(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read file: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} bytes; policy files may be at most {MAX_FILE_BYTES} bytes",
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read file: {e}"))
}

/// Every `*.yaml` / `*.yml` file under `dir`, sorted, `lethe.yaml` first.
pub(super) fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
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
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    let settings = dir.join(SETTINGS_FILE);
    out.sort_by_key(|p| (*p != settings, p.clone()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unset_variables_outside_comments() {
        let env: HashMap<String, String> = [("SET".to_string(), "x".to_string())].into();
        let text = "a: ${SET}\nb: \"${UNSET}\" # ${IN_COMMENT}\nc: ${WITH:-default} $${ESCAPED}\n";
        assert_eq!(
            unset_references(text, &env),
            vec![(2, 5, "UNSET".to_string())]
        );
    }
}
