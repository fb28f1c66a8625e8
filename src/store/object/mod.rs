//! Object stores: S3 buckets (AWS and S3-compatible servers) and local folders. Listing streams
//! page by page, so memory stays flat at any bucket size; deletion removes every version and
//! delete marker of a key.

mod dir;
mod s3;

pub use dir::DirStore;
pub use s3::S3Store;

use super::StoreError;
use crate::model::{DirSpec, S3Spec, StoreSpec};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// One version of an object, or a delete marker.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// The version id (`None` in an unversioned bucket or a folder).
    pub id: Option<String>,
    /// When it was written.
    pub last_modified: Option<DateTime<Utc>>,
    /// A delete marker rather than data.
    pub marker: bool,
}

/// A key with all its versions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The object key (a path relative to the folder for a dir store).
    pub key: String,
    /// A file whose name is not valid UTF-8: it cannot be named safely, so it is kept and
    /// counted as undated.
    pub unnamed: bool,
    /// Its versions and delete markers, newest first (one for an unversioned store).
    pub versions: Vec<Version>,
}

impl Entry {
    /// The newest version that holds data (not a delete marker).
    pub fn newest_data(&self) -> Option<&Version> {
        self.versions.iter().find(|v| !v.marker)
    }

    /// Only delete markers are left (a versioned bucket): the key holds no data.
    pub fn only_markers(&self) -> bool {
        !self.versions.is_empty() && self.versions.iter().all(|v| v.marker)
    }
}

/// What a store supports, read once per run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// Versioning is or was enabled: old versions and delete markers may exist.
    pub versioned: bool,
    /// S3 Object Lock is enabled on the bucket: every version is checked for a lock.
    pub object_lock: bool,
}

/// An S3 Object Lock on one version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lock {
    /// A legal hold (until removed).
    LegalHold,
    /// Governance-mode retention until the date. lethe never bypasses it.
    Governance(DateTime<Utc>),
    /// Compliance-mode retention until the date.
    Compliance(DateTime<Utc>),
}

impl Lock {
    /// The lock's name in reports: `object-lock:legal-hold`, `object-lock:governance`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Lock::LegalHold => "object-lock:legal-hold",
            Lock::Governance(_) => "object-lock:governance",
            Lock::Compliance(_) => "object-lock:compliance",
        }
    }

    /// Until when it holds, if dated.
    pub fn until(&self) -> Option<DateTime<Utc>> {
        match self {
            Lock::LegalHold => None,
            Lock::Governance(t) | Lock::Compliance(t) => Some(*t),
        }
    }
}

/// What a HEAD of one version tells.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// User metadata, keys in lower case.
    pub metadata: BTreeMap<String, String>,
    /// The lock in force at `now`, if any.
    pub lock: Option<Lock>,
}

/// One object version to delete.
#[derive(Debug, Clone, PartialEq)]
pub struct Doomed {
    /// The key.
    pub key: String,
    /// The version (`None`: the key itself, in an unversioned store).
    pub version: Option<String>,
    /// When the version was written, as listed when it was judged. A folder store leaves a
    /// file that changed since then alone (it is judged again by the next run).
    pub listed: Option<DateTime<Utc>>,
}

/// What one delete request did.
#[derive(Debug, Clone, Default)]
pub struct Deleted {
    /// Versions (or objects) the store confirmed deleted.
    pub deleted: u64,
    /// Versions the store refused, counted per error code (never per key).
    pub errors: BTreeMap<String, u64>,
    /// The refused versions themselves (kept in memory only, never shown).
    pub refused: Vec<Doomed>,
    /// Versions left alone because they changed since they were judged (neither deleted nor
    /// failed: the verification counts them again).
    pub changed: Vec<Doomed>,
}

/// A connected object store. A closed set of kinds.
#[derive(Debug, Clone)]
pub enum ObjectStore {
    /// An S3 bucket.
    S3(S3Store),
    /// A local or mounted folder.
    Dir(DirStore),
}

/// Reads a listing page by page.
pub enum Lister {
    /// Pages of an S3 listing.
    S3(s3::S3Lister),
    /// A folder walk.
    Dir(dir::DirLister),
}

impl Lister {
    /// The next page of whole entries (every version of a key in one page), or `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Entry>>, StoreError> {
        match self {
            Lister::S3(l) => l.next_page().await,
            Lister::Dir(l) => l.next_page().await,
        }
    }
}

impl ObjectStore {
    /// Connects to a configured object store; a SQL store is an error.
    pub async fn connect(name: &str, spec: &StoreSpec) -> Result<ObjectStore, StoreError> {
        match spec {
            StoreSpec::S3(S3Spec {
                bucket,
                region,
                endpoint,
                path_style,
                ..
            }) => Ok(ObjectStore::S3(
                S3Store::connect(
                    name,
                    bucket,
                    region.as_deref(),
                    endpoint.as_deref(),
                    *path_style,
                )
                .await?,
            )),
            StoreSpec::Dir(DirSpec { path, .. }) => {
                Ok(ObjectStore::Dir(DirStore::open(name, path)?))
            }
            StoreSpec::Sql(_) => Err(StoreError::Config(format!(
                "store `{name}` is a SQL store, not an object store"
            ))),
        }
    }

    /// The store's name in lethe.yaml.
    pub fn name(&self) -> &str {
        match self {
            ObjectStore::S3(s) => &s.name,
            ObjectStore::Dir(d) => &d.name,
        }
    }

    /// `s3://bucket` or `dir://path`, for reports.
    pub fn location(&self) -> String {
        match self {
            ObjectStore::S3(s) => format!("s3://{}", s.bucket),
            ObjectStore::Dir(d) => format!("dir://{}", d.root.display()),
        }
    }

    /// Versioning and Object Lock. A store whose state cannot be read is an error (fail closed).
    pub async fn features(&self) -> Result<Features, StoreError> {
        match self {
            ObjectStore::S3(s) => s.features().await,
            ObjectStore::Dir(_) => Ok(Features::default()),
        }
    }

    /// Lists every key under `prefix` with its versions (all versions when `versioned`).
    pub fn lister(&self, prefix: &str, versioned: bool) -> Lister {
        match self {
            ObjectStore::S3(s) => Lister::S3(s.lister(prefix, versioned)),
            ObjectStore::Dir(d) => Lister::Dir(d.lister(prefix)),
        }
    }

    /// The metadata and lock of one version.
    pub async fn head(
        &self,
        key: &str,
        version: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Head, StoreError> {
        match self {
            ObjectStore::S3(s) => s.head(key, version, now).await,
            ObjectStore::Dir(_) => Ok(Head::default()),
        }
    }

    /// The tags of one version.
    pub async fn tags(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        match self {
            ObjectStore::S3(s) => s.tags(key, version).await,
            ObjectStore::Dir(_) => Ok(BTreeMap::new()),
        }
    }

    /// Deletes up to 1000 versions in one request; per-key refusals are counted by code. In a
    /// folder, emptied folders below the policy's `prefix` are removed as well.
    pub async fn delete(&self, doomed: &[Doomed], prefix: &str) -> Result<Deleted, StoreError> {
        match self {
            ObjectStore::S3(s) => s.delete(doomed).await,
            ObjectStore::Dir(d) => d.delete(doomed, prefix).await,
        }
    }
}

/// Connects to every object store the given names denote.
pub async fn connect_objects(
    specs: &BTreeMap<String, StoreSpec>,
    names: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, ObjectStore>, StoreError> {
    let mut out = BTreeMap::new();
    for name in names {
        if out.contains_key(&name) {
            continue;
        }
        let Some(spec) = specs.get(&name) else {
            return Err(StoreError::Config(format!("unknown store `{name}`")));
        };
        out.insert(name.clone(), ObjectStore::connect(&name, spec).await?);
    }
    Ok(out)
}

/// Reads a date or instant written in metadata or a tag: RFC 3339, or `YYYY-MM-DD` (midnight
/// UTC). Anything else is `None` (the object is kept and counted as undated).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_markers_means_no_data() {
        let v = |marker| Version {
            id: Some("v".into()),
            last_modified: None,
            marker,
        };
        let entry = |versions| Entry {
            key: "k".into(),
            unnamed: false,
            versions,
        };
        assert!(entry(vec![v(true), v(true)]).only_markers());
        assert!(!entry(vec![v(true), v(false)]).only_markers());
        assert!(!entry(vec![v(false)]).only_markers());
        assert!(!entry(vec![]).only_markers());
    }

    #[test]
    fn times_in_metadata() {
        assert_eq!(
            parse_time("2024-02-29").map(|t| t.to_rfc3339()),
            Some("2024-02-29T00:00:00+00:00".into())
        );
        assert_eq!(
            parse_time("2024-02-29T12:00:00+01:00").map(|t| t.to_rfc3339()),
            Some("2024-02-29T11:00:00+00:00".into())
        );
        for bad in ["", "yesterday", "2023-02-29", "1700000000"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
