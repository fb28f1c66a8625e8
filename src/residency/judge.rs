//! The pure judge: what a store declares, against the tables and the rules, gives a verdict.

use super::rules::{Attestation, Group, Rules};
use super::tables::{tables, Class};
use crate::model::{DirSpec, S3Spec, SqlSpec, StoreSpec};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

crate::util::named_enum! {
    /// Whether a store may be where it is.
    pub enum Verdict {
        /// In the EEA, or in a country `residency.allow` allows.
        Ok => "ok",
        /// Anywhere else, or unknown.
        Violation => "violation",
    }
}

crate::util::named_enum! {
    /// What a residency verdict is about.
    pub enum Subject {
        /// A SQL database.
        Sql => "sql",
        /// An S3 bucket.
        S3 => "s3",
        /// A folder.
        Dir => "dir",
        /// A replication destination of an S3 bucket.
        S3Replica => "s3-replica",
    }
}

/// The verdict on one store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreResidency {
    /// Store name.
    pub store: String,
    /// Store kind (`sql`).
    pub kind: Subject,
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
    pub verdict: Verdict,
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
        self.stores.iter().filter(|s| s.verdict != Verdict::Ok)
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
    pub kind: Subject,
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
        kind: d.kind,
        region: d.region.map(str::to_string),
        country: None,
        source: String::new(),
        class: None,
        verdict: Verdict::Violation,
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
                out.verdict = Verdict::Ok;
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
    out.verdict = Verdict::Ok;
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

/// Judges every configured store by what lethe.yaml declares.
pub fn check(specs: &BTreeMap<String, StoreSpec>, rules: &Rules, now: DateTime<Utc>) -> Report {
    let today = now.date_naive();
    let stores: Vec<StoreResidency> = specs
        .iter()
        .map(|(name, s)| match s {
            StoreSpec::Sql(SqlSpec {
                url,
                region,
                provider,
                country,
                ..
            }) => judge(
                &Declared {
                    store: name,
                    kind: Subject::Sql,
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
            StoreSpec::S3(S3Spec {
                region,
                aws,
                country,
                ..
            }) => judge(
                &Declared {
                    store: name,
                    kind: Subject::S3,
                    url: None,
                    region: if *aws { region.as_deref() } else { None },
                    provider: aws.then_some("aws"),
                    country: country.as_deref(),
                },
                rules,
                today,
            ),
            StoreSpec::Dir(DirSpec { country, .. }) => judge(
                &Declared {
                    store: name,
                    kind: Subject::Dir,
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
    let violations = stores.iter().filter(|s| s.verdict != Verdict::Ok).count();
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

/// What the audit trail records of a report: per store its country and verdict (no URLs).
pub fn summary(r: &Report) -> Summary {
    Summary {
        violations: r.violations,
        data_as_of: r.data_as_of.clone(),
        stores: (r.stores.iter())
            .map(|s| StoreSummary {
                store: s.store.clone(),
                region: s.region.clone(),
                country: s.country.clone(),
                verdict: s.verdict,
            })
            .collect(),
    }
}

/// What the audit trail keeps of a residency report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// How many stores violate.
    pub violations: usize,
    /// The dates of the classification tables.
    pub data_as_of: String,
    /// Per store.
    pub stores: Vec<StoreSummary>,
}

/// One store in a [`Summary`]: where it is and the verdict, no URLs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoreSummary {
    /// Store name.
    pub store: String,
    /// The region it was resolved from, if any.
    pub region: Option<String>,
    /// The ISO country, when known.
    pub country: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
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
            kind: Subject::Sql,
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
