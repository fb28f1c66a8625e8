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

mod judge;
mod live;
mod rules;
mod tables;

pub use judge::{
    check, judge, region_from_host, summary, Declared, Report, StoreResidency, StoreSummary,
    Subject, Summary, Verdict,
};
pub use live::{alert, check_live};
pub use rules::{Attestation, Group, Rules};
pub use tables::{tables, Class, Tables};
