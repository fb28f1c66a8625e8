//! `lethe.yaml`: the worker settings and its stores.

use super::common::*;
use super::error::ConfigError;
use super::raw::*;
use super::residency::*;
use super::*;
use crate::model::*;
use crate::util::shorten;
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(super) fn build_settings(
    path: &Path,
    raw: RawSettings,
    dir: &Path,
    errs: &mut Diagnostics,
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
                    let dialect = crate::model::Dialect::from_url(&url);
                    if let Err(e) = &dialect {
                        errs.push(ConfigError::at(path, &loc, format!("store `{name}`: {e}")));
                    }
                    let replicas = super::throttle::replicas(
                        path,
                        &name,
                        dialect.ok(),
                        store.replicas.as_ref(),
                        errs,
                    );
                    stores.insert(
                        name,
                        StoreSpec::Sql(SqlSpec {
                            url: Secret::new(url),
                            region: store.region,
                            provider: store.provider.map(|p| p.value),
                            country: store.country.map(|c| c.value),
                            replicas,
                        }),
                    );
                }
            }
            "s3" => {
                not_allowed_keys(
                    path,
                    "s3 store (it has `bucket`)",
                    &[
                        ("replicas", replicas_at(&store)),
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
                        StoreSpec::S3(S3Spec {
                            bucket,
                            region: store.region,
                            path_style: store.path_style.unwrap_or(endpoint.is_some()),
                            aws: endpoint.is_none()
                                || store.provider.as_ref().is_some_and(|p| p.value == "aws"),
                            endpoint,
                            country: store.country.map(|c| c.value),
                        }),
                    );
                }
            }
            "dir" => {
                not_allowed_keys(
                    path,
                    "dir store (it has `path`)",
                    &[
                        ("replicas", replicas_at(&store)),
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
                            StoreSpec::Dir(DirSpec {
                                path: PathBuf::from(p.value.trim()),
                                country: store.country.map(|c| c.value),
                            }),
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
        set_in: GuardSetIn::default(),
    };
    let mut run_max_rows = None;
    if let Some(g) = raw.guard {
        guard = merge_guard(path, guard, &g, SetIn::Settings, errs);
        run_max_rows = g.run_max_rows.map(|r| r.value);
    }
    let (batch_size, batch_target) = batch(
        path,
        raw.batch_size.as_ref(),
        raw.batch_target.as_ref(),
        (DEFAULT_BATCH_SIZE, Some(DEFAULT_BATCH_TARGET)),
        errs,
    );
    let throttle = super::throttle::throttle(
        path,
        super::throttle::RawThrottle {
            max_replica_lag: raw.max_replica_lag.as_ref(),
            max_throttle_wait: raw.max_throttle_wait.as_ref(),
            max_rows_per_second: raw.max_rows_per_second.as_ref(),
        },
        Throttle::default(),
        errs,
    );
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
    let signing_key_file = raw.signing_key_file.and_then(|f| {
        let file = secret_path(dir, &f.value);
        match crate::util::sign::Signer::from_file(&file) {
            Ok(_) => Some(file),
            Err(e) => {
                errs.push(ConfigError::at(
                    path,
                    &f.referenced,
                    format!("signing_key_file: {e}"),
                ));
                None
            }
        }
    });
    let certificates_dir = raw.certificates.and_then(|c| {
        if c.on.value != "contract-end" {
            errs.push(ConfigError::at(
                path,
                &c.on.referenced,
                format!(
                    "unknown `on: {}`; expected `contract-end` (a certificate once every due record of a subject is gone)",
                    shorten(&c.on.value)
                ),
            ));
            return None;
        }
        if signing_key_file.is_none() && errs.len() == before {
            errs.push(ConfigError::at(
                path,
                &c.dir.referenced,
                "`certificates` needs `signing_key_file`: every certificate is signed".into(),
            ));
            return None;
        }
        Some(std::path::PathBuf::from(&c.dir.value))
    });
    (errs.len() == before).then_some(Settings {
        state_url: Secret::new(state_url),
        stores,
        hmac_key,
        guard,
        run_max_rows,
        batch_size,
        batch_target,
        throttle,
        drift_tolerance,
        schedule,
        listen,
        residency,
        signing_key_file,
        certificates_dir,
    })
}

/// Where a store's `replicas` list starts, for "does not belong" errors.
fn replicas_at(store: &RawStore) -> Option<Location> {
    store
        .replicas
        .as_ref()
        .and_then(|r| r.first())
        .map(|r| r.referenced)
}

/// A folder store's prefix is a relative path below the folder: a key never starts with `/`
/// and never leaves the folder.
pub fn check_folder_prefix(p: &str) -> Result<(), String> {
    if p.starts_with('/') || p.split('/').any(|seg| seg == ".." || seg == ".") || p.contains('\\') {
        return Err("a folder store's prefix is a path below its folder, e.g. `exports/`: no leading `/`, no `.` or `..` segments, no backslashes".into());
    }
    Ok(())
}

pub(super) fn check_store_country(
    path: &Path,
    name: &str,
    country: Option<&Spanned<String>>,
    errs: &mut Diagnostics,
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
pub(super) fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

pub(super) fn is_country_code(c: &str) -> bool {
    c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase())
}

/// A country code lethe's tables know, with a hint for the usual mistakes.
pub(super) fn check_country(c: &str) -> Result<(), String> {
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

pub(super) fn check_key(
    path: &Path,
    loc: &Location,
    key: String,
    errs: &mut Diagnostics,
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

/// Where a secret file named in `lethe.yaml` is: as written when absolute or present from the
/// working directory, else next to `lethe.yaml`.
fn secret_path(dir: &Path, file: &str) -> std::path::PathBuf {
    let p = Path::new(file);
    if p.is_absolute() || p.exists() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

pub(super) fn read_secret_file(dir: &Path, file: &str) -> Result<String, String> {
    let p = secret_path(dir, file);
    let cannot =
        |e: &dyn std::fmt::Display| format!("cannot read secret file `{}`: {e}", p.display());
    let bytes = crate::util::read_regular(&p, MAX_SECRET_BYTES).map_err(|e| match e {
        crate::util::ReadError::TooLarge(_) => cannot(&format_args!(
            "it is larger than {MAX_SECRET_BYTES} bytes, the most a secret file may hold"
        )),
        e => cannot(&e),
    })?;
    crate::util::utf8_text(bytes)
        .map(|s| s.trim().to_string())
        .map_err(|(line, column)| {
            cannot(&format_args!(
                "the byte at line {line}, column {column} is not UTF-8 text"
            ))
        })
}
