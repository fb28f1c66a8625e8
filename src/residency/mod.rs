//! Residency: every store in the EEA or an adequate country, failing closed.
//!
//! region -> country -> classification. Both tables are data files with a date
//! (`data/regions.yaml`, `data/countries.yaml`), compiled into the binary. Lookups are exact: a
//! region code that is not in the table is a violation, whatever its prefix.
//!
//! A SQL store is resolved from its declared `region` (cross-checked against what its host
//! name reveals, e.g. `*.eu-central-1.rds.amazonaws.com`) or its declared `country`. The
//! verdict follows `residency.allow` in lethe.yaml; a country that is adequate only for
//! certified importers (the United States under the Data Privacy Framework) passes only with a
//! dated, unexpired attestation for the store.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// A group of countries `residency.allow` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// The 27 EU member states, Iceland, Liechtenstein and Norway.
    Eea,
    /// Countries with an adequacy decision; the United States only with an attestation.
    Adequacy,
}

/// A dated attestation that a US importer is certified under the EU-US Data Privacy Framework.
#[derive(Debug, Clone, Serialize)]
pub struct Attestation {
    /// The importer, e.g. `Amazon Web Services, Inc.`.
    pub importer: String,
    /// The stores it covers.
    pub stores: Vec<String>,
    /// When someone checked the importer's entry on the DPF list.
    pub verified: NaiveDate,
    /// When the attestation lapses (at the latest the certification's next renewal date).
    pub expires: NaiveDate,
}

/// `residency:` in lethe.yaml, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Rules {
    /// Allowed groups.
    pub groups: BTreeSet<Group>,
    /// Allowed ISO country codes, besides the groups.
    pub countries: BTreeSet<String>,
    /// DPF attestations.
    pub attestations: Vec<Attestation>,
    /// Where violations are posted (a secret: it may carry a token).
    #[serde(skip)]
    pub webhook: Option<crate::config::Secret>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            groups: [Group::Eea, Group::Adequacy].into_iter().collect(),
            countries: BTreeSet::new(),
            attestations: Vec::new(),
            webhook: None,
        }
    }
}

/// How the GDPR treats a transfer to a country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// In the European Economic Area.
    Eea,
    /// An adequacy decision is in force.
    Adequate,
    /// Adequate only for importers certified under the Data Privacy Framework.
    AdequateForCertifiedImporters,
    /// No adequacy decision.
    NotAdequate,
}

#[derive(Debug, Deserialize)]
struct RegionsFile {
    as_of: String,
    aws: BTreeMap<String, String>,
    gcp: BTreeMap<String, String>,
    azure: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct CountriesFile {
    as_of: String,
    eea: Vec<String>,
    adequate: BTreeMap<String, String>,
    dpf: BTreeMap<String, String>,
}

/// The classification tables.
#[derive(Debug)]
pub struct Tables {
    regions: BTreeMap<String, (String, &'static str)>,
    countries: CountriesFile,
    regions_as_of: String,
}

/// The compiled-in tables (a parse failure makes every store a violation).
pub fn tables() -> Result<&'static Tables, String> {
    static TABLES: OnceLock<Result<Tables, String>> = OnceLock::new();
    TABLES
        .get_or_init(|| {
            let r: RegionsFile = serde_saphyr::from_str(include_str!("data/regions.yaml"))
                .map_err(|e| format!("regions table unreadable: {e}"))?;
            let c: CountriesFile = serde_saphyr::from_str(include_str!("data/countries.yaml"))
                .map_err(|e| format!("countries table unreadable: {e}"))?;
            let mut regions = BTreeMap::new();
            for (provider, map) in [("aws", r.aws), ("gcp", r.gcp), ("azure", r.azure)] {
                for (code, country) in map {
                    if regions.insert(code.clone(), (country, provider)).is_some() {
                        return Err(format!("region `{code}` is listed twice"));
                    }
                }
            }
            Ok(Tables {
                regions,
                countries: c,
                regions_as_of: r.as_of,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl Tables {
    /// The country of a provider region, and the provider, by exact code.
    #[cfg(test)]
    pub fn region(&self, code: &str) -> Option<(&str, &'static str)> {
        self.regions.get(code).map(|(c, p)| (c.as_str(), *p))
    }

    /// The country of a region of one provider, by exact code.
    pub fn region_of(&self, provider: &str, code: &str) -> Option<&str> {
        self.regions
            .get(code)
            .filter(|(_, p)| *p == provider)
            .map(|(c, _)| c.as_str())
    }

    /// The classification of an ISO country code.
    pub fn class(&self, country: &str) -> Class {
        let c = &self.countries;
        if c.eea.iter().any(|x| x == country) {
            Class::Eea
        } else if c.adequate.contains_key(country) {
            Class::Adequate
        } else if c.dpf.contains_key(country) {
            Class::AdequateForCertifiedImporters
        } else {
            Class::NotAdequate
        }
    }

    /// True when the tables know the country code (a classified country or one with regions).
    pub fn knows(&self, country: &str) -> bool {
        let c = &self.countries;
        c.eea.iter().any(|x| x == country)
            || c.adequate.contains_key(country)
            || c.dpf.contains_key(country)
            || self.regions.values().any(|(x, _)| x == country)
    }

    /// `regions <date>, countries <date>`.
    pub fn as_of(&self) -> String {
        format!(
            "regions {}, countries {}",
            self.regions_as_of, self.countries.as_of
        )
    }
}

/// The verdict on one store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreResidency {
    /// Store name.
    pub store: String,
    /// Store kind (`sql`).
    pub kind: String,
    /// The region it was resolved from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The ISO country, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Where the country came from: `declared region`, `declared country`, `host name`.
    pub source: String,
    /// The country's classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    /// `ok` or `violation`.
    pub verdict: String,
    /// Why.
    pub reason: String,
}

/// The residency report of every store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// When it was checked.
    pub checked_at: String,
    /// The dates of the classification tables.
    pub data_as_of: String,
    /// What `residency.allow` allows.
    pub allow: Vec<String>,
    /// Per store.
    pub stores: Vec<StoreResidency>,
    /// How many stores violate.
    pub violations: usize,
}

impl Report {
    /// The stores that violate.
    pub fn violating(&self) -> impl Iterator<Item = &StoreResidency> {
        self.stores.iter().filter(|s| s.verdict != "ok")
    }
}

/// The host of a connection URL (`scheme://user:pass@host:port/db`), if it has one. A
/// `host=` parameter wins over the authority, as in the PostgreSQL driver.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    if let Some((_, query)) = rest.split_once('?') {
        for pair in query.split('&') {
            if let Some(h) = pair.strip_prefix("host=") {
                let h = h.split(',').next().unwrap_or_default();
                if !h.is_empty() && !h.starts_with('/') {
                    return Some(h.to_ascii_lowercase());
                }
            }
        }
    }
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split(']').next()?.trim_start_matches('[')
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The AWS region a database host name reveals, from the end of the name only:
/// `<...>.<region>.rds.amazonaws.com`, `<...>.rds.<region>.amazonaws.com.cn` (China), and the
/// same for Redshift (`redshift`, `redshift-serverless`).
pub fn region_from_host(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    let service = |l: &str| matches!(l, "rds" | "redshift" | "redshift-serverless");
    if n >= 4 && labels[n - 2..] == ["amazonaws", "com"] && service(labels[n - 3]) {
        return Some(labels[n - 4].to_string());
    }
    if n >= 5 && labels[n - 3..] == ["amazonaws", "com", "cn"] && service(labels[n - 5]) {
        return Some(labels[n - 4].to_string());
    }
    None
}

/// What one store declares about where it is.
#[derive(Debug, Clone)]
pub struct Declared<'a> {
    /// Store name.
    pub store: &'a str,
    /// Store kind.
    pub kind: &'a str,
    /// Connection URL (for the host name), if any.
    pub url: Option<&'a str>,
    /// Declared region.
    pub region: Option<&'a str>,
    /// The provider the region code belongs to (`aws`, `gcp`, `azure`).
    pub provider: Option<&'a str>,
    /// Declared ISO country.
    pub country: Option<&'a str>,
}

/// Judges one store.
pub fn judge(d: &Declared<'_>, rules: &Rules, today: NaiveDate) -> StoreResidency {
    let mut out = StoreResidency {
        store: d.store.to_string(),
        kind: d.kind.to_string(),
        region: d.region.map(str::to_string),
        country: None,
        source: String::new(),
        class: None,
        verdict: "violation".into(),
        reason: String::new(),
    };
    let t = match tables() {
        Ok(t) => t,
        Err(e) => {
            out.reason = e;
            return out;
        }
    };
    let host_region = d.url.and_then(host_of).and_then(|h| region_from_host(&h));
    // Region codes repeat across providers (Alibaba's `ap-southeast-6` is Manila): a region
    // is read for the declared provider only; an AWS host name declares AWS.
    let provider = d.provider.or(host_region.as_ref().map(|_| "aws"));
    // The region: declared, cross-checked against the host name; or only the host name.
    let region = match (d.region, host_region.as_deref()) {
        (Some(r), Some(h)) if r != h => {
            out.reason = format!(
                "declared region `{r}` contradicts the host name, which is in `{h}`; correct `region`"
            );
            return out;
        }
        (Some(r), _) => Some((r.to_string(), "declared region")),
        (None, Some(h)) => Some((h.to_string(), "host name")),
        (None, None) => None,
    };
    let country = match (&region, d.country) {
        (Some((r, source)), declared) => {
            out.region = Some(r.clone());
            out.source = (*source).into();
            let Some(provider) = provider else {
                out.reason = format!(
                    "region `{r}` without `provider`: region codes repeat across clouds; declare `provider: aws`, `gcp` or `azure`"
                );
                return out;
            };
            let Some(c) = t.region_of(provider, r) else {
                out.reason = format!(
                    "region `{r}` is not a `{provider}` region in lethe's region table ({}); an unknown region counts as a violation until the table lists it",
                    t.as_of()
                );
                return out;
            };
            if let Some(dc) = declared {
                if dc != c {
                    out.reason = format!(
                        "region `{r}` ({provider}) lies in `{c}`, but `country` says `{dc}`"
                    );
                    return out;
                }
            }
            out.source = format!("{source} ({provider})");
            c.to_string()
        }
        (None, Some(c)) => {
            out.source = "declared country".into();
            c.to_string()
        }
        (None, None) => {
            out.reason = "neither `region` nor `country` is declared, and the host name does not tell; declare where the store is".into();
            return out;
        }
    };
    let class = t.class(&country);
    out.country = Some(country.clone());
    out.class = Some(class);
    let by_group = match class {
        Class::Eea => rules.groups.contains(&Group::Eea),
        Class::Adequate | Class::AdequateForCertifiedImporters => {
            rules.groups.contains(&Group::Adequacy)
        }
        Class::NotAdequate => false,
    };
    let listed = rules.countries.contains(&country);
    if !(by_group || listed) {
        out.reason = format!(
            "`{country}` ({}) is not allowed by `residency.allow`",
            class_text(class)
        );
        return out;
    }
    if class == Class::AdequateForCertifiedImporters {
        let covering: Vec<&Attestation> = rules
            .attestations
            .iter()
            .filter(|a| a.stores.iter().any(|s| s == d.store))
            .collect();
        match covering
            .iter()
            .find(|a| a.expires >= today && a.verified <= today)
        {
            Some(a) => {
                out.verdict = "ok".into();
                out.reason = format!(
                    "`{country}`: adequate for certified importers; DPF attestation for {} verified {}, valid until {}",
                    a.importer, a.verified, a.expires
                );
            }
            None if covering.iter().any(|a| a.verified > today) => {
                out.reason = format!(
                    "`{country}`: the DPF attestation for this store is dated after today (`verified`); date it when the certification was checked"
                );
            }
            None => {
                out.reason = match covering.iter().map(|a| a.expires).max() {
                    Some(e) => format!(
                        "`{country}` is adequate only for importers certified under the Data Privacy Framework, and the attestation for this store expired on {e}; verify the certification and renew `residency.dpf`"
                    ),
                    None => format!(
                        "`{country}` is adequate only for importers certified under the Data Privacy Framework; add a dated attestation for this store under `residency.dpf`"
                    ),
                };
            }
        }
        return out;
    }
    out.verdict = "ok".into();
    out.reason = format!(
        "`{country}`: {}{}",
        class_text(class),
        if listed && !by_group {
            " (allowed by name in `residency.allow`)"
        } else {
            ""
        }
    );
    out
}

fn class_text(c: Class) -> &'static str {
    match c {
        Class::Eea => "in the EEA",
        Class::Adequate => "adequate (Commission decision)",
        Class::AdequateForCertifiedImporters => "adequate for certified importers only",
        Class::NotAdequate => "no adequacy decision",
    }
}

/// Judges every store of a configuration.
pub fn check(config: &crate::config::Config, now: DateTime<Utc>) -> Report {
    let rules = &config.settings.residency;
    let today = now.date_naive();
    let stores: Vec<StoreResidency> = config
        .settings
        .stores
        .iter()
        .map(|(name, s)| match s {
            crate::config::StoreConfig::Sql {
                url,
                region,
                provider,
                country,
            } => judge(
                &Declared {
                    store: name,
                    kind: "sql",
                    url: Some(url.expose()),
                    region: region.as_deref(),
                    provider: provider.as_deref(),
                    country: country.as_deref(),
                },
                rules,
                today,
            ),
            // An S3 bucket on AWS is where its region is; an S3-compatible server or a folder
            // is where the operator declares it (its region string is whatever was typed).
            // `check_live` reads an AWS bucket's region from S3; this is what lethe.yaml says.
            crate::config::StoreConfig::S3 {
                region,
                aws,
                country,
                ..
            } => judge(
                &Declared {
                    store: name,
                    kind: "s3",
                    url: None,
                    region: if *aws { region.as_deref() } else { None },
                    provider: aws.then_some("aws"),
                    country: country.as_deref(),
                },
                rules,
                today,
            ),
            crate::config::StoreConfig::Dir { country, .. } => judge(
                &Declared {
                    store: name,
                    kind: "dir",
                    url: None,
                    region: None,
                    provider: None,
                    country: country.as_deref(),
                },
                rules,
                today,
            ),
        })
        .collect();
    let violations = stores.iter().filter(|s| s.verdict != "ok").count();
    Report {
        checked_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        data_as_of: tables().map(|t| t.as_of()).unwrap_or_default(),
        allow: rules
            .groups
            .iter()
            .map(|g| match g {
                Group::Eea => "eea".to_string(),
                Group::Adequacy => "adequacy".to_string(),
            })
            .chain(rules.countries.iter().cloned())
            .collect(),
        stores,
        violations,
    }
}

/// Judges every store like [`check`], but an S3 bucket on AWS is located by asking S3
/// (GetBucketLocation), cross-checked against its declared `region`, and each destination of its
/// replication rules is judged as well. A location that cannot be read is a violation.
pub async fn check_live(config: &crate::config::Config, now: DateTime<Utc>) -> Report {
    let mut report = check(config, now);
    let rules = &config.settings.residency;
    let today = now.date_naive();
    for (name, s) in &config.settings.stores {
        let crate::config::StoreConfig::S3 {
            bucket,
            region,
            endpoint,
            path_style,
            aws: true,
            country,
        } = s
        else {
            continue;
        };
        let store = match crate::store::object::S3Store::connect(
            name,
            bucket,
            region.as_deref(),
            endpoint.as_deref(),
            *path_style,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                replace(
                    &mut report,
                    name,
                    vec![unreadable(name, "s3", &e.to_string())],
                );
                continue;
            }
        };
        let declared = (region.as_deref(), country.as_deref());
        let mut found = vec![judge_bucket(&store, name, bucket, declared, rules, today).await];
        // A bucket that cannot be located is one violation; its replicas are not asked for.
        if found[0].region.is_none() {
            replace(&mut report, name, found);
            continue;
        }
        match store.replication_destinations().await {
            Ok(replicas) => {
                for r in replicas {
                    let mut j = judge_bucket(&store, name, &r, (None, None), rules, today).await;
                    j.kind = "s3-replica".into();
                    j.reason = format!("replica bucket `{r}`: {}", j.reason);
                    found.push(j);
                }
            }
            Err(e) => found.push(unreadable(
                name,
                "s3-replica",
                &format!(
                    "cannot read the replication rules, so where the copies are is unknown: {e}"
                ),
            )),
        }
        replace(&mut report, name, found);
    }
    report.violations = report.stores.iter().filter(|s| s.verdict != "ok").count();
    report
}

fn unreadable(store: &str, kind: &str, reason: &str) -> StoreResidency {
    StoreResidency {
        store: store.to_string(),
        kind: kind.to_string(),
        region: None,
        country: None,
        source: "S3".into(),
        class: None,
        verdict: "violation".into(),
        reason: reason.to_string(),
    }
}

/// Replaces the entries of one store in a report, in place.
fn replace(report: &mut Report, store: &str, with: Vec<StoreResidency>) {
    let at = (report.stores.iter())
        .position(|s| s.store == store)
        .unwrap_or(report.stores.len());
    report.stores.retain(|s| s.store != store);
    let at = at.min(report.stores.len());
    report.stores.splice(at..at, with);
}

/// Judges one bucket by its location; `declared` is the store's (region, country).
async fn judge_bucket(
    s3: &crate::store::object::S3Store,
    store: &str,
    bucket: &str,
    declared: (Option<&str>, Option<&str>),
    rules: &Rules,
    today: NaiveDate,
) -> StoreResidency {
    let actual = match s3.bucket_region(bucket).await {
        Ok(r) => r,
        Err(e) => {
            return unreadable(
                store,
                "s3",
                &format!("cannot read where the bucket is: {e}"),
            )
        }
    };
    if let Some(d) = declared.0.filter(|d| *d != actual) {
        let mut out = unreadable(
            store,
            "s3",
            &format!("declared region `{d}` contradicts the bucket's location `{actual}` (GetBucketLocation); correct `region`"),
        );
        out.region = Some(actual);
        return out;
    }
    let mut out = judge(
        &Declared {
            store,
            kind: "s3",
            url: None,
            region: Some(&actual),
            provider: Some("aws"),
            country: declared.1,
        },
        rules,
        today,
    );
    if out.region.is_some() {
        out.source = "bucket location (aws)".into();
    }
    out
}

/// What the audit trail records of a report: per store its country and verdict (no URLs).
pub fn summary(r: &Report) -> serde_json::Value {
    serde_json::json!({
        "violations": r.violations,
        "data_as_of": r.data_as_of,
        "stores": r.stores.iter().map(|s| serde_json::json!({
            "store": s.store, "region": s.region, "country": s.country, "verdict": s.verdict,
        })).collect::<Vec<_>>(),
    })
}

/// Raises the alarm for every violation: an error log line at once, and the webhook if one is
/// configured. Never fails the caller: an alert that cannot be delivered is logged.
pub async fn alert(report: &Report, rules: &Rules, context: &str) {
    if report.violations == 0 {
        return;
    }
    for s in report.violating() {
        tracing::error!(store = %s.store, country = ?s.country, reason = %s.reason, context, "residency violation");
    }
    let Some(url) = rules.webhook.as_ref().map(|w| w.expose().to_string()) else {
        return;
    };
    let body = serde_json::json!({
        "event": "residency.violation",
        "context": context,
        "host": crate::audit::host_name(),
        "checked_at": report.checked_at,
        "violations": report.violating().map(|s| serde_json::json!({
            "store": s.store, "region": s.region, "country": s.country, "reason": s.reason,
        })).collect::<Vec<_>>(),
    });
    let sent = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        agent.post(&url).send_json(&body).map(|_| ())
    })
    .await;
    match sent {
        Ok(Ok(())) => tracing::info!("residency alert sent to the webhook"),
        Ok(Err(e)) => {
            tracing::error!(error = %sanitize(&e.to_string()), "cannot send the residency alert to the webhook")
        }
        Err(e) => tracing::error!(error = %e, "cannot send the residency alert to the webhook"),
    }
}

/// Error texts of the HTTP client may repeat the URL, which may carry a token.
fn sanitize(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            if w.contains("://") {
                "<webhook url>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn sql<'a>(region: Option<&'a str>, country: Option<&'a str>, url: &'a str) -> Declared<'a> {
        Declared {
            store: "crm",
            kind: "sql",
            url: Some(url),
            region,
            provider: region.map(|_| "aws"),
            country,
        }
    }

    #[test]
    fn the_tables_parse_and_every_region_has_a_known_kind_of_country() {
        let t = tables().unwrap();
        for code in ["eu-central-1", "europe-west4", "westeurope"] {
            assert_eq!(t.class(t.region(code).unwrap().0), Class::Eea, "{code}");
        }
        for (code, country) in [
            ("eu-central-2", "CH"),
            ("eu-west-2", "GB"),
            ("il-central-1", "IL"),
            ("ca-west-1", "CA"),
            ("mx-central-1", "MX"),
            ("ap-southeast-6", "NZ"),
            ("eusc-de-east-1", "DE"),
        ] {
            assert_eq!(t.region(code).unwrap().0, country, "{code}");
        }
        assert_eq!(t.class("US"), Class::AdequateForCertifiedImporters);
        assert_eq!(t.class("MX"), Class::NotAdequate);
    }

    #[test]
    fn prefixes_prove_nothing() {
        let rules = Rules {
            groups: [Group::Eea].into_iter().collect(),
            ..Rules::default()
        };
        let today = day("2026-11-24");
        for (region, verdict) in [
            ("eu-central-1", "ok"),
            ("eu-central-2", "violation"),
            ("eu-west-2", "violation"),
            ("eu-central-9", "violation"),
            ("EU-CENTRAL-1", "violation"),
        ] {
            let r = judge(&sql(Some(region), None, "sqlite://x.db"), &rules, today);
            assert_eq!(r.verdict, verdict, "{region}: {}", r.reason);
        }
    }

    #[test]
    fn the_host_name_must_agree_with_the_declared_region() {
        let rules = Rules::default();
        let today = day("2026-11-24");
        let url = "postgres://app:secret@crm.abc123.us-east-1.rds.amazonaws.com:5432/crm";
        let r = judge(&sql(Some("eu-central-1"), None, url), &rules, today);
        assert_eq!(r.verdict, "violation");
        assert!(r.reason.contains("contradicts"), "{}", r.reason);
        assert!(!r.reason.contains("secret"));
        // Undeclared: the host name tells; the US needs an attestation.
        let r = judge(&sql(None, None, url), &rules, today);
        assert_eq!(
            (r.verdict.as_str(), r.country.as_deref()),
            ("violation", Some("US"))
        );
        let ok = "mysql://u@db.cluster-x.eu-west-1.rds.amazonaws.com/crm";
        assert_eq!(judge(&sql(None, None, ok), &rules, today).verdict, "ok");
    }

    #[test]
    fn dpf_needs_an_unexpired_attestation_for_the_store() {
        let mut rules = Rules::default();
        let today = day("2026-11-24");
        let us = sql(Some("us-east-1"), None, "sqlite://x.db");
        assert_eq!(judge(&us, &rules, today).verdict, "violation");
        rules.attestations.push(Attestation {
            importer: "Example Cloud, Inc.".into(),
            stores: vec!["crm".into()],
            verified: day("2026-01-10"),
            expires: day("2026-11-23"),
        });
        let r = judge(&us, &rules, today);
        assert!(r.reason.contains("expired on 2026-11-23"), "{}", r.reason);
        rules.attestations[0].expires = day("2026-11-24");
        assert_eq!(judge(&us, &rules, today).verdict, "ok");
    }

    #[test]
    fn a_region_needs_its_provider() {
        let rules = Rules::default();
        let today = day("2026-11-24");
        let mut d = sql(Some("ap-southeast-6"), None, "sqlite://x.db");
        assert_eq!(judge(&d, &rules, today).verdict, "ok");
        d.provider = None;
        let r = judge(&d, &rules, today);
        assert!(r.reason.contains("without `provider`"), "{}", r.reason);
        d.provider = Some("gcp");
        assert_eq!(judge(&d, &rules, today).verdict, "violation");
    }

    #[test]
    fn host_names_are_read_from_their_end() {
        for (host, region) in [
            ("a.b.eu-central-1.rds.amazonaws.com", Some("eu-central-1")),
            ("A.B.EU-WEST-1.RDS.AMAZONAWS.COM.", Some("eu-west-1")),
            ("db.x.rds.cn-north-1.amazonaws.com.cn", Some("cn-north-1")),
            ("wh.x.us-east-1.redshift.amazonaws.com", Some("us-east-1")),
            ("db.eu-central-1.rds.amazonaws.com.evil.example", None),
            ("rds.amazonaws.com", None),
        ] {
            assert_eq!(region_from_host(host).as_deref(), region, "{host}");
        }
        // The driver's `host=` parameter wins over the authority.
        assert_eq!(
            host_of("postgres://u:p@db.a.eu-central-1.rds.amazonaws.com/x?host=db.b.us-east-1.rds.amazonaws.com")
                .as_deref(),
            Some("db.b.us-east-1.rds.amazonaws.com")
        );
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(
            host_of("postgres://u:p@Example.COM:5432/db").as_deref(),
            Some("example.com")
        );
        assert_eq!(host_of("sqlite://var/x.db").as_deref(), Some("var"));
        assert_eq!(region_from_host("var"), None);
        assert_eq!(
            region_from_host("a.b.eu-central-1.rds.amazonaws.com").as_deref(),
            Some("eu-central-1")
        );
    }
}
