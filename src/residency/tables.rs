//! The dated classification tables, compiled in: region -> country, country -> class.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

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
