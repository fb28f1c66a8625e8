//! `residency:` in `lethe.yaml`.

use super::error::ConfigError;
use super::settings::*;
use super::*;
use crate::model::*;
use crate::util::shorten;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

pub(super) fn build_residency(
    path: &Path,
    raw: raw::RawResidency,
    stores: &BTreeMap<String, StoreSpec>,
    errs: &mut Diagnostics,
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
    let date = |s: &Spanned<String>, errs: &mut Diagnostics| {
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
