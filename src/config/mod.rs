//! Loading the policies folder: `lethe.yaml` plus every other `*.yaml` file, turned into
//! validated types. Every problem is reported at once, each with file, line and column.

mod error;
mod raw;
pub mod schema;

pub use error::{ConfigError, ConfigErrors};

use crate::policy::{
    parse_until, Action, Clock, Condition, Guard, Hold, HoldSource, Ident, Keep, KeyTemplate, Mode,
    ObjectClock, ObjectPolicy, RetentionPolicy, Scope, Strategy, Test, Value, Window,
};
use raw::{
    RawAction, RawClock, RawDoc, RawGuard, RawKind, RawSettings, RawStrategy, RawTest, RawValue,
};
use serde_saphyr::{Location, Spanned};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The name of the settings file inside the policies folder.
pub const SETTINGS_FILE: &str = "lethe.yaml";
/// Policy files larger than this are refused (hostile input).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The document kinds of policy files.
const KINDS: &[&str] = &["RetentionPolicy", "LegalHold"];
/// The most keys one DeleteObjects request takes, and so an object policy's largest batch.
pub const MAX_OBJECT_BATCH: u32 = 1000;
/// The default state database.
pub const DEFAULT_STATE_URL: &str = "sqlite://var/lethe-state.db";
/// Default rows per batch.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;
/// Default guard: refuse a policy that would change more than half of its table.
pub const DEFAULT_MAX_FRACTION: f64 = 0.5;

/// A loaded, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The policies folder.
    pub dir: PathBuf,
    /// Worker settings from `lethe.yaml`.
    pub settings: Settings,
    /// Every retention policy over a SQL table, in file order.
    pub policies: Vec<RetentionPolicy>,
    /// Every retention policy over an object store, in file order.
    pub objects: Vec<ObjectPolicy>,
    /// Every declared legal hold, in file order.
    pub holds: Vec<Hold>,
    /// SHA-256 over every configuration file (path and bytes), recorded in plans and runs.
    pub hash: String,
}

/// Worker settings.
#[derive(Debug)]
pub struct Settings {
    /// The state database URL (runs and audit trail).
    pub state_url: Secret,
    /// The stores policies may name.
    pub stores: BTreeMap<String, StoreConfig>,
    /// Key for the `hmac` strategy.
    pub hmac_key: Option<Secret>,
    /// Default guard of every policy.
    pub guard: Guard,
    /// Refuse a run that would change more records than this, all policies together.
    pub run_max_rows: Option<u64>,
    /// Default rows per batch.
    pub batch_size: u32,
    /// How far eligible counts may grow beyond a pinned plan, as a fraction (0 = not at all).
    pub drift_tolerance: f64,
    /// Default cron schedule for the daemon.
    pub schedule: Option<String>,
    /// Where `lethe daemon` serves `/healthz`, `/readyz` and `/metrics`.
    pub listen: SocketAddr,
    /// Where stores may be (`residency:`).
    pub residency: crate::residency::Rules,
}

/// A configured store. A closed set of kinds.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// A SQL database reached through its URL (`postgres://`, `mysql://`, `mariadb://`, `sqlite://`).
    Sql {
        /// Connection URL; may carry a password, so it is never printed.
        url: Secret,
        /// Declared provider region.
        region: Option<String>,
        /// The cloud the region belongs to: `aws`, `gcp` or `azure`.
        provider: Option<String>,
        /// Declared ISO country.
        country: Option<String>,
    },
    /// An S3 bucket: AWS, or an S3-compatible server (MinIO, Garage, Ceph) at `endpoint`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The bucket's region (AWS), or whatever the S3-compatible server expects.
        region: Option<String>,
        /// The server, for S3-compatible stores (default: AWS).
        endpoint: Option<String>,
        /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
        path_style: bool,
        /// AWS itself (no `endpoint`, or `provider: aws`): the bucket's region and its
        /// replication destinations are read from S3 for the residency check.
        aws: bool,
        /// Declared ISO country (S3-compatible stores: where the server is).
        country: Option<String>,
    },
    /// A local or mounted folder.
    Dir {
        /// The folder.
        path: PathBuf,
        /// Declared ISO country (where the disk is).
        country: Option<String>,
    },
}

impl StoreConfig {
    /// `sql`, `s3` or `dir`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreConfig::Sql { .. } => "sql",
            StoreConfig::S3 { .. } => "s3",
            StoreConfig::Dir { .. } => "dir",
        }
    }

    /// True for object stores (`s3`, `dir`).
    pub fn holds_objects(&self) -> bool {
        !matches!(self, StoreConfig::Sql { .. })
    }
}

impl Config {
    /// Every policy name, SQL policies first.
    pub fn policy_names(&self) -> Vec<String> {
        self.policies
            .iter()
            .map(|p| p.name.clone())
            .chain(self.objects.iter().map(|p| p.name.clone()))
            .collect()
    }

    /// Every policy's name and schedule.
    pub fn schedules(&self) -> Vec<(String, Option<String>)> {
        self.policies
            .iter()
            .map(|p| (p.name.clone(), p.schedule.clone()))
            .chain(
                self.objects
                    .iter()
                    .map(|p| (p.name.clone(), p.schedule.clone())),
            )
            .collect()
    }
}

/// A value that must never be printed: passwords, URLs with credentials, keys.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

/// Cuts user input to a length that is fine inside an error message.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

/// Loads and validates the policies folder.
pub fn load(dir: &Path) -> Result<Config, ConfigErrors> {
    let mut errs = Vec::new();
    let files = match yaml_files(dir) {
        Ok(f) => f,
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError::file(
                dir,
                format!("cannot read the policies folder: {e}"),
            )]))
        }
    };
    let env: HashMap<String, String> = std::env::vars().collect();
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
        for (line, column, name) in unset_references(&text, &env) {
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
            match serde_saphyr::from_str_with_options::<RawSettings>(&text, options(&env)) {
                Ok(s) => settings_doc = Some(s),
                Err(e) => errs.push(ConfigError::from_yaml(path, &e, &text)),
            }
        } else {
            for doc in documents(&text) {
                match serde_saphyr::from_str_with_options::<Option<RawKind>>(&doc, options(&env)) {
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
                match serde_saphyr::from_str_with_options::<Option<RawDoc>>(&doc, options(&env)) {
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
            format!("missing `{SETTINGS_FILE}`; every policies folder needs one (see README)"),
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
                .is_some_and(StoreConfig::holds_objects);
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
    match settings {
        Some(settings) if errs.is_empty() => {
            resolved_into(&mut hasher, &settings, &policies, &objects, &holds);
            Ok(Config {
                dir: dir.to_path_buf(),
                settings,
                policies,
                objects,
                holds,
                hash: hex::encode(hasher.finalize()),
            })
        }
        _ => {
            errs.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            // One problem per place: an unset variable, not also the empty value it leaves.
            errs.dedup_by(|later, first| {
                later.line != 0
                    && (&later.file, later.line, later.column)
                        == (&first.file, first.line, first.column)
            });
            Err(ConfigErrors(errs))
        }
    }
}

/// Every `${NAME}` (without a default) whose variable is not set, with its line and column.
/// Comments are skipped; `$${...}` is an escaped dollar.
fn unset_references(text: &str, env: &HashMap<String, String>) -> Vec<(u64, u64, String)> {
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
fn documents(text: &str) -> Vec<String> {
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
fn resolved_into(
    hasher: &mut Sha256,
    settings: &Settings,
    policies: &[RetentionPolicy],
    objects: &[ObjectPolicy],
    holds: &[Hold],
) {
    for (name, store) in &settings.stores {
        let place = match store {
            StoreConfig::Sql { url, .. } => without_password(url.expose()),
            StoreConfig::S3 {
                bucket, endpoint, ..
            } => format!("s3://{bucket}@{}", endpoint.as_deref().unwrap_or("aws")),
            StoreConfig::Dir { path, .. } => format!("dir://{}", path.display()),
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
        hasher.update(format!("policy\0{}\0", p.hash()));
    }
    for p in objects {
        hasher.update(format!("objects\0{}\0", p.hash()));
    }
    for h in holds {
        hasher.update(format!(
            "hold\0{}\0",
            serde_json::to_string(h).unwrap_or_default()
        ));
    }
}

/// A connection URL with the password of its user part removed.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_string(),
    }
}

fn options(env: &HashMap<String, String>) -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default().with_properties(env.clone());
    // Compose rules: `${VAR}` and `${VAR:-default}` also inside quotes and flow mappings.
    o.property_syntax = serde_saphyr::PropertySyntax::DockerCompose;
    o.with_snippet = false;
    o
}

fn read_limited(path: &Path) -> Result<String, String> {
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
fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
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

fn build_settings(
    path: &Path,
    raw: RawSettings,
    dir: &Path,
    errs: &mut Vec<ConfigError>,
) -> Option<Settings> {
    let before = errs.len();
    let state_url = match &raw.state {
        Some(s) => {
            let url = s.value.trim();
            let known = ["sqlite:", "postgres:", "postgresql:"];
            if !known.iter().any(|k| url.starts_with(k)) {
                errs.push(ConfigError::at(
                    path,
                    &s.referenced,
                    "unsupported `state` database; expected a URL starting with `sqlite://` or `postgres://` (is its environment variable set?)".into(),
                ));
            }
            url.to_string()
        }
        None => DEFAULT_STATE_URL.to_string(),
    };
    let mut stores = BTreeMap::new();
    for (name, store) in raw.stores {
        let loc = store.referenced;
        let store = store.value;
        if let Err(e) = Ident::parse(&name) {
            errs.push(ConfigError::at(path, &loc, format!("store name: {e}")));
            continue;
        }
        match store.kind.value.as_str() {
            "sql" => {
                let url = match (store.url, store.url_file) {
                    (Some(u), None) if !u.value.trim().is_empty() => Some(u.value),
                    (Some(u), None) => {
                        errs.push(ConfigError::at(
                            path,
                            &u.referenced,
                            format!(
                                "store `{name}`: `url` is empty (is its environment variable set?)"
                            ),
                        ));
                        None
                    }
                    (None, Some(f)) => match read_secret_file(dir, &f.value) {
                        Ok(u) => Some(u),
                        Err(e) => {
                            errs.push(ConfigError::at(
                                path,
                                &f.referenced,
                                format!("store `{name}`: {e}"),
                            ));
                            None
                        }
                    },
                    (Some(u), Some(_)) => {
                        errs.push(ConfigError::at(
                            path,
                            &u.referenced,
                            format!("store `{name}`: give either `url` or `url_file`, not both"),
                        ));
                        None
                    }
                    (None, None) => {
                        errs.push(ConfigError::at(
                            path,
                            &loc,
                            format!("store `{name}`: missing `url` (or `url_file`)"),
                        ));
                        None
                    }
                };
                not_allowed_keys(
                    path,
                    "sql store (it has `url`)",
                    &[
                        ("bucket", store.bucket.as_ref().map(|u| u.referenced)),
                        ("endpoint", store.endpoint.as_ref().map(|u| u.referenced)),
                        ("path", store.path.as_ref().map(|u| u.referenced)),
                    ],
                    errs,
                );
                check_store_country(path, &name, store.country.as_ref(), errs);
                if let Some(p) = &store.provider {
                    if !matches!(p.value.as_str(), "aws" | "gcp" | "azure") {
                        errs.push(ConfigError::at(
                            path,
                            &p.referenced,
                            format!(
                                "store `{name}`: unknown provider `{}`; expected `aws`, `gcp` or `azure` (for another cloud, declare `country` instead of `region`)",
                                shorten(&p.value)
                            ),
                        ));
                    }
                }
                if let Some(url) = url {
                    if let Err(e) = crate::store::Dialect::from_url(&url) {
                        errs.push(ConfigError::at(path, &loc, format!("store `{name}`: {e}")));
                    }
                    stores.insert(
                        name,
                        StoreConfig::Sql {
                            url: Secret::new(url),
                            region: store.region,
                            provider: store.provider.map(|p| p.value),
                            country: store.country.map(|c| c.value),
                        },
                    );
                }
            }
            "s3" => {
                not_allowed_keys(
                    path,
                    "s3 store (it has `bucket`)",
                    &[
                        ("url", store.url.as_ref().map(|u| u.referenced)),
                        ("url_file", store.url_file.as_ref().map(|u| u.referenced)),
                        ("path", store.path.as_ref().map(|u| u.referenced)),
                    ],
                    errs,
                );
                check_store_country(path, &name, store.country.as_ref(), errs);
                if let Some(p) = store.provider.as_ref().filter(|p| p.value != "aws") {
                    errs.push(ConfigError::at(
                        path,
                        &p.referenced,
                        format!("store `{name}`: an s3 store takes only `provider: aws` (an `endpoint` of AWS itself, such as a VPC endpoint, whose buckets lethe locates like AWS's); for another S3-compatible server declare `country`"),
                    ));
                }
                let bucket = match &store.bucket {
                    Some(b) if valid_bucket(b.value.trim()) => Some(b.value.trim().to_string()),
                    Some(b) => {
                        errs.push(ConfigError::at(
                            path,
                            &b.referenced,
                            format!("store `{name}`: invalid bucket name `{}`; expected 3 to 63 lowercase letters, digits, `.` and `-`", shorten(&b.value)),
                        ));
                        None
                    }
                    None => {
                        errs.push(ConfigError::at(
                            path,
                            &loc,
                            format!("store `{name}`: missing `bucket`"),
                        ));
                        None
                    }
                };
                let endpoint = store.endpoint.as_ref().and_then(|e| {
                    let v = e.value.trim();
                    if v.starts_with("http://") || v.starts_with("https://") {
                        Some(v.trim_end_matches('/').to_string())
                    } else {
                        errs.push(ConfigError::at(
                            path,
                            &e.referenced,
                            format!("store `{name}`: `endpoint` must be an http:// or https:// URL, e.g. `http://127.0.0.1:3900`; found `{}`", shorten(v)),
                        ));
                        None
                    }
                });
                if let Some(bucket) = bucket {
                    stores.insert(
                        name,
                        StoreConfig::S3 {
                            bucket,
                            region: store.region,
                            path_style: store.path_style.unwrap_or(endpoint.is_some()),
                            aws: endpoint.is_none()
                                || store.provider.as_ref().is_some_and(|p| p.value == "aws"),
                            endpoint,
                            country: store.country.map(|c| c.value),
                        },
                    );
                }
            }
            "dir" => {
                not_allowed_keys(
                    path,
                    "dir store (it has `path`)",
                    &[
                        ("url", store.url.as_ref().map(|u| u.referenced)),
                        ("url_file", store.url_file.as_ref().map(|u| u.referenced)),
                        ("bucket", store.bucket.as_ref().map(|u| u.referenced)),
                        ("endpoint", store.endpoint.as_ref().map(|u| u.referenced)),
                        ("provider", store.provider.as_ref().map(|u| u.referenced)),
                    ],
                    errs,
                );
                check_store_country(path, &name, store.country.as_ref(), errs);
                match &store.path {
                    Some(p) if !p.value.trim().is_empty() => {
                        // A relative path is relative to where lethe runs, like `sqlite://` URLs.
                        stores.insert(
                            name,
                            StoreConfig::Dir {
                                path: PathBuf::from(p.value.trim()),
                                country: store.country.map(|c| c.value),
                            },
                        );
                    }
                    Some(p) => errs.push(ConfigError::at(
                        path,
                        &p.referenced,
                        format!(
                            "store `{name}`: `path` is empty (is its environment variable set?)"
                        ),
                    )),
                    None => errs.push(ConfigError::at(
                        path,
                        &loc,
                        format!("store `{name}`: missing `path` (the folder)"),
                    )),
                }
            }
            other => errs.push(ConfigError::at(
                path,
                &store.kind.referenced,
                format!(
                    "unknown store kind `{}`; expected one of: sql, s3, dir",
                    shorten(other)
                ),
            )),
        }
    }
    let hmac_key = match (raw.hmac_key, raw.hmac_key_file) {
        (Some(k), None) => check_key(path, &k.referenced, k.value.clone(), errs),
        (None, Some(f)) => match read_secret_file(dir, &f.value) {
            Ok(k) => check_key(path, &f.referenced, k, errs),
            Err(e) => {
                errs.push(ConfigError::at(
                    path,
                    &f.referenced,
                    format!("hmac_key_file: {e}"),
                ));
                None
            }
        },
        (Some(k), Some(_)) => {
            errs.push(ConfigError::at(
                path,
                &k.referenced,
                "give either `hmac_key` or `hmac_key_file`, not both".into(),
            ));
            None
        }
        (None, None) => None,
    };
    let mut guard = Guard {
        max_rows: None,
        max_fraction: Some(DEFAULT_MAX_FRACTION),
    };
    let mut run_max_rows = None;
    if let Some(g) = raw.guard {
        guard = merge_guard(path, guard, &g, errs);
        run_max_rows = g.run_max_rows.map(|r| r.value);
    }
    let batch_size = batch_size(path, raw.batch_size.as_ref(), DEFAULT_BATCH_SIZE, errs);
    let drift_tolerance = match raw.drift_tolerance {
        Some(d) if !(0.0..=10.0).contains(&d.value) => {
            errs.push(ConfigError::at(
                path,
                &d.referenced,
                "`drift_tolerance` must be a fraction between 0 and 10 (0.05 = 5%)".into(),
            ));
            0.0
        }
        Some(d) => d.value,
        None => 0.0,
    };
    let schedule = raw.schedule.and_then(|s| check_cron(path, s, errs));
    let listen = raw
        .daemon
        .and_then(|d| d.listen)
        .and_then(|l| match l.value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                errs.push(ConfigError::at(
                    path,
                    &l.referenced,
                    format!(
                        "invalid `listen` address `{}`; expected IP:PORT, e.g. `0.0.0.0:9187`",
                        shorten(&l.value)
                    ),
                ));
                None
            }
        })
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9187)));
    let residency = match raw.residency {
        Some(r) => build_residency(path, r, &stores, errs),
        None => crate::residency::Rules::default(),
    };
    (errs.len() == before).then_some(Settings {
        state_url: Secret::new(state_url),
        stores,
        hmac_key,
        guard,
        run_max_rows,
        batch_size,
        drift_tolerance,
        schedule,
        listen,
        residency,
    })
}

/// A folder store's prefix is a relative path below the folder: a key never starts with `/`
/// and never leaves the folder.
pub fn check_folder_prefix(p: &str) -> Result<(), String> {
    if p.starts_with('/') || p.split('/').any(|seg| seg == ".." || seg == ".") || p.contains('\\') {
        return Err("a folder store's prefix is a path below its folder, e.g. `exports/`: no leading `/`, no `.` or `..` segments, no backslashes".into());
    }
    Ok(())
}

fn check_store_country(
    path: &Path,
    name: &str,
    country: Option<&Spanned<String>>,
    errs: &mut Vec<ConfigError>,
) {
    if let Some(c) = country {
        if let Err(e) = check_country(&c.value) {
            errs.push(ConfigError::at(
                path,
                &c.referenced,
                format!("store `{name}`: {e}"),
            ));
        }
    }
}

/// An S3 bucket name as AWS allows it (3-63 of `a-z 0-9 . -`, starting and ending alphanumeric).
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_country_code(c: &str) -> bool {
    c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase())
}

/// A country code lethe's tables know, with a hint for the usual mistakes.
fn check_country(c: &str) -> Result<(), String> {
    let hint = match c {
        "UK" => " (the United Kingdom is `GB`)",
        "EL" => " (Greece is `GR`)",
        "EU" => " (write `eea` in `residency.allow` for the EU)",
        _ => "",
    };
    if is_country_code(c) && crate::residency::tables().is_ok_and(|t| t.knows(c)) {
        Ok(())
    } else {
        Err(format!(
            "`country` must be an ISO 3166 two-letter code in capitals that lethe's tables know, e.g. `NL`; found `{}`{hint}",
            shorten(c)
        ))
    }
}

fn build_residency(
    path: &Path,
    raw: raw::RawResidency,
    stores: &BTreeMap<String, StoreConfig>,
    errs: &mut Vec<ConfigError>,
) -> crate::residency::Rules {
    use crate::residency::{Attestation, Group, Rules};
    let mut rules = Rules::default();
    match raw.allow {
        None => {}
        Some(list) if list.is_empty() => errs.push(ConfigError::file(
            path,
            "`residency.allow` is empty, so every store would violate; write e.g. `allow: [eea, adequacy]`".into(),
        )),
        Some(list) => {
            rules.groups.clear();
            for item in list {
                match item.value.as_str() {
                    "eea" => {
                        rules.groups.insert(Group::Eea);
                    }
                    "adequacy" => {
                        rules.groups.insert(Group::Adequacy);
                    }
                    c if check_country(c).is_ok() => {
                        if crate::residency::tables()
                            .is_ok_and(|t| t.class(c) == crate::residency::Class::NotAdequate)
                        {
                            errs.push(ConfigError::at(
                                path,
                                &item.referenced,
                                format!("`{c}` has no adequacy decision: the agreement allows stores only in the EEA or in adequate countries (DPA art. 13-14)"),
                            ));
                        }
                        rules.countries.insert(c.to_string());
                    }
                    "EU" | "eu" => errs.push(ConfigError::at(
                        path,
                        &item.referenced,
                        "`EU` is not a country; write `eea` for the EU member states with Iceland, Liechtenstein and Norway".into(),
                    )),
                    other => errs.push(ConfigError::at(
                        path,
                        &item.referenced,
                        format!(
                            "unknown entry `{}` in `allow`; expected `eea`, `adequacy` or an ISO 3166 two-letter country code in capitals, e.g. `CH`",
                            shorten(other)
                        ),
                    )),
                }
            }
        }
    }
    let date = |s: &Spanned<String>, errs: &mut Vec<ConfigError>| {
        chrono::NaiveDate::parse_from_str(s.value.trim(), "%Y-%m-%d")
            .map_err(|_| {
                errs.push(ConfigError::at(
                    path,
                    &s.referenced,
                    format!("invalid date `{}`; expected YYYY-MM-DD", shorten(&s.value)),
                ))
            })
            .ok()
    };
    for a in raw.dpf {
        let loc = a.referenced;
        let a = a.value;
        for s in &a.stores {
            if !stores.contains_key(&s.value) {
                errs.push(ConfigError::at(
                    path,
                    &s.referenced,
                    format!("unknown store `{}` in a DPF attestation", shorten(&s.value)),
                ));
            }
        }
        let (verified, expires) = (date(&a.verified, errs), date(&a.expires, errs));
        if let (Some(v), Some(e)) = (verified, expires) {
            // The Data Privacy Framework's adequacy decision dates from 10 July 2023, and a
            // certification is renewed every year.
            let start = chrono::NaiveDate::from_ymd_opt(2023, 7, 10).unwrap_or(v);
            if v < start {
                errs.push(ConfigError::at(
                    path,
                    &a.verified.referenced,
                    "`verified` lies before 2023-07-10, when the Data Privacy Framework began"
                        .into(),
                ));
            }
            if e < v {
                errs.push(ConfigError::at(
                    path,
                    &a.expires.referenced,
                    "`expires` lies before `verified`".into(),
                ));
            } else if (e - v).num_days() > 366 {
                errs.push(ConfigError::at(
                    path,
                    &a.expires.referenced,
                    "`expires` lies more than a year after `verified`: a DPF certification is renewed every year, so check it again by then".into(),
                ));
            }
            if a.importer.value.trim().is_empty() {
                errs.push(ConfigError::at(
                    path,
                    &loc,
                    "`importer` is empty; name the certified importer".into(),
                ));
            }
            rules.attestations.push(Attestation {
                importer: a.importer.value.trim().to_string(),
                stores: a.stores.into_iter().map(|s| s.value).collect(),
                verified: v,
                expires: e,
            });
        }
    }
    rules.webhook = raw
        .webhook
        .map(|w| w.value.trim().to_string())
        .filter(|w| !w.is_empty())
        .map(Secret::new);
    rules
}

fn check_key(
    path: &Path,
    loc: &Location,
    key: String,
    errs: &mut Vec<ConfigError>,
) -> Option<Secret> {
    let key = key.trim().to_string();
    if key.len() < 32 {
        errs.push(ConfigError::at(
            path,
            loc,
            "the hmac key must be at least 32 characters (e.g. `openssl rand -hex 32`)".into(),
        ));
        return None;
    }
    Some(Secret::new(key))
}

fn read_secret_file(dir: &Path, file: &str) -> Result<String, String> {
    let p = Path::new(file);
    let p = if p.is_absolute() || p.exists() {
        p.to_path_buf()
    } else {
        dir.join(p)
    };
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read secret file `{}`: {e}", p.display()))
}

fn merge_guard(
    path: &Path,
    mut guard: Guard,
    raw: &RawGuard,
    errs: &mut Vec<ConfigError>,
) -> Guard {
    if let Some(r) = raw.max_rows {
        guard.max_rows = Some(r);
    }
    if let Some(f) = &raw.max_fraction {
        if (0.0..=1.0).contains(&f.value) {
            guard.max_fraction = Some(f.value);
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

fn batch_size(
    path: &Path,
    raw: Option<&Spanned<u32>>,
    default: u32,
    errs: &mut Vec<ConfigError>,
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

fn check_cron(path: &Path, s: Spanned<String>, errs: &mut Vec<ConfigError>) -> Option<String> {
    match cron::Schedule::from_str(&s.value) {
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

fn ident(
    path: &Path,
    s: &Spanned<String>,
    what: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<Ident> {
    Ident::parse(&s.value)
        .map_err(|e| errs.push(ConfigError::at(path, &s.referenced, format!("{what}: {e}"))))
        .ok()
}

/// The parts every document kind shares: name, store, table and selector.
struct Common {
    name: String,
    table: Option<Ident>,
    selector: Vec<Condition>,
}

fn build_common(
    path: &Path,
    doc: &RawDoc,
    settings: &Settings,
    errs: &mut Vec<ConfigError>,
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
fn missing_keys(path: &Path, doc: &RawDoc, required: &[(&str, bool)], errs: &mut Vec<ConfigError>) {
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
fn not_allowed_keys(
    path: &Path,
    kind: &str,
    keys: &[(&str, Option<Location>)],
    errs: &mut Vec<ConfigError>,
) {
    for (key, loc) in keys {
        if let Some(loc) = loc {
            not_allowed(path, kind, key, loc, errs);
        }
    }
}

fn not_allowed(path: &Path, kind: &str, key: &str, loc: &Location, errs: &mut Vec<ConfigError>) {
    errs.push(ConfigError::at(
        path,
        loc,
        format!("`{key}` does not belong in a {kind}"),
    ));
}

fn build_policy(
    path: &Path,
    doc: RawDoc,
    settings: &Settings,
    errs: &mut Vec<ConfigError>,
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
            ("key", doc.key.is_some()),
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
    let key = doc.key.as_ref().and_then(|k| ident(path, k, "key", errs));
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
    let batch_size = batch_size(path, doc.batch_size.as_ref(), settings.batch_size, errs);
    if errs.len() != before {
        return None;
    }
    Some(RetentionPolicy {
        name: common.name,
        purpose: doc.purpose,
        clause: doc.clause,
        store: doc.store.value,
        table: common.table?,
        key: key?,
        clock: clock?,
        keep: keep?,
        selector: common.selector,
        action: action?,
        schedule: schedule.or_else(|| settings.schedule.clone()),
        mode,
        guard,
        batch_size,
    })
}

fn build_mode(path: &Path, raw: Option<&Spanned<String>>, errs: &mut Vec<ConfigError>) -> Mode {
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

fn build_guard(
    path: &Path,
    raw: Option<&Spanned<RawGuard>>,
    settings: &Settings,
    errs: &mut Vec<ConfigError>,
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
            merge_guard(path, settings.guard, &g.value, errs)
        }
        None => settings.guard,
    }
}

/// A `RetentionPolicy` whose store is a bucket or a folder.
fn build_object_policy(
    path: &Path,
    doc: RawDoc,
    settings: &Settings,
    errs: &mut Vec<ConfigError>,
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
        Some(StoreConfig::Dir { .. })
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
    })
}

/// The clock of an object policy: exactly one of `last_modified: true`, `metadata: KEY`,
/// `tag: KEY`, or a contract clock (`store`, `join`, `column`, `on`) through the key template.
fn build_object_clock(
    path: &Path,
    store_name: &str,
    raw: &Spanned<RawClock>,
    template: Option<&KeyTemplate>,
    settings: &Settings,
    errs: &mut Vec<ConfigError>,
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
    let meta_key = |k: &Spanned<String>, errs: &mut Vec<ConfigError>| {
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
    if let (Some(StoreConfig::Dir { .. }), Some(k)) = (
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
        Some(StoreConfig::Sql { .. }) => {}
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

fn build_hold(
    path: &Path,
    doc: RawDoc,
    settings: &Settings,
    errs: &mut Vec<ConfigError>,
) -> Option<Hold> {
    let before = errs.len();
    let common = build_common(path, &doc, settings, errs);
    let kind = "LegalHold";
    let on_objects = settings
        .stores
        .get(&doc.store.value)
        .is_some_and(StoreConfig::holds_objects);
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
        match &doc.prefix {
            Some(p) => {
                let in_folder = matches!(
                    settings.stores.get(&doc.store.value),
                    Some(StoreConfig::Dir { .. })
                );
                if let (true, Err(e)) = (in_folder, check_folder_prefix(&p.value)) {
                    errs.push(ConfigError::at(path, &p.referenced, e));
                }
                Some(Scope::Prefix(p.value.clone()))
            }
            None => {
                errs.push(ConfigError::at(
                    path,
                    &doc.kind.referenced,
                    format!("LegalHold `{}`: missing `prefix` (the objects it holds, e.g. `cvs/case-117/`, or `\"\"` for the whole store)", doc.name.value),
                ));
                None
            }
        }
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
    let basis = match &doc.basis {
        Some(b) if !b.value.trim().is_empty() => b.value.trim().to_string(),
        Some(b) => {
            errs.push(ConfigError::at(
                path,
                &b.referenced,
                "`basis` is empty; name the legal ground of the hold".into(),
            ));
            String::new()
        }
        None => {
            errs.push(ConfigError::at(
                path,
                &doc.kind.referenced,
                format!(
                    "LegalHold `{}`: missing `basis` (the legal ground, e.g. `Art. 52 AWR`)",
                    doc.name.value
                ),
            ));
            String::new()
        }
    };
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

fn value(v: &RawValue) -> Value {
    match v {
        RawValue::Bool(b) => Value::Bool(*b),
        RawValue::Int(i) => Value::Int(*i),
        RawValue::Text(s) => Value::Text(s.clone()),
    }
}

fn build_clock(path: &Path, raw: &Spanned<RawClock>, errs: &mut Vec<ConfigError>) -> Option<Clock> {
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

fn build_action(
    path: &Path,
    raw: &Spanned<RawAction>,
    settings: &Settings,
    key: Option<&Ident>,
    errs: &mut Vec<ConfigError>,
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
                if Some(&column) == key {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            without_password("postgres://lethe:s3cr%40t@db.example:5432/crm?sslmode=require"),
            "postgres://lethe@db.example:5432/crm?sslmode=require"
        );
        assert_eq!(
            without_password("sqlite://var/crm.db"),
            "sqlite://var/crm.db"
        );
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
}
