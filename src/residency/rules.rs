//! `residency:` in lethe.yaml, validated: the allowed groups and countries, and DPF attestations.

use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeSet;

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
    pub webhook: Option<crate::model::Secret>,
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
