//! S3 through aws-sdk-s3: AWS, or an S3-compatible server (MinIO, Garage, Ceph) at a custom
//! endpoint with path-style addressing. Credentials come from the standard AWS chain
//! (environment, profile, web identity, container or instance role).
//!
//! Throttling (503 SlowDown), 500s and dropped connections are retried by the SDK's standard
//! retry strategy with exponential backoff. Error texts carry the S3 error code and HTTP status,
//! never the server's message (which may name a key).

use super::{Deleted, Doomed, Entry, Features, Head, Lock, Version};
use crate::store::StoreError;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, ObjectIdentifier, ObjectLockEnabled, ObjectLockLegalHoldStatus,
    ObjectLockMode,
};
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// Attempts per request (the first and up to five retries).
const MAX_ATTEMPTS: u32 = 6;

/// A connected bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    /// The store's name in lethe.yaml.
    pub name: String,
    /// The bucket.
    pub bucket: String,
    client: Client,
}

/// An S3 error as lethe shows it: operation, code and status, without the server's message.
fn s3_error<E>(
    op: &str,
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    let what = match e {
        SdkError::ServiceError(s) => format!(
            "{} ({})",
            s.err().code().unwrap_or("unknown error"),
            e.raw_response()
                .map(|r| r.status().as_u16().to_string())
                .unwrap_or_default()
        ),
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(d) if d.is_io() => "connection failed".into(),
        SdkError::DispatchFailure(d) if d.is_timeout() => "timed out".into(),
        SdkError::DispatchFailure(_) => "could not send the request".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        SdkError::ConstructionFailure(_) => "invalid request".into(),
        _ => "failed".into(),
    };
    StoreError::Objects(format!("S3 {op}: {what}"))
}

fn to_utc(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

impl S3Store {
    /// Builds the client. Nothing is sent until the first request.
    pub async fn connect(
        name: &str,
        bucket: &str,
        region: Option<&str>,
        endpoint: Option<&str>,
        path_style: bool,
    ) -> Result<S3Store, StoreError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_string()));
        }
        let shared = loader.load().await;
        let mut conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(10)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if shared.region().is_none() {
            conf = conf.region(Region::new("us-east-1"));
        }
        if let Some(e) = endpoint {
            conf = conf.endpoint_url(e);
        }
        Ok(S3Store {
            name: name.to_string(),
            bucket: bucket.to_string(),
            client: Client::from_conf(conf.build()),
        })
    }

    /// Versioning and Object Lock of the bucket.
    pub async fn features(&self) -> Result<Features, StoreError> {
        let v = self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| s3_error("GetBucketVersioning", &e))?;
        // Suspended versioning keeps the versions written while it was on.
        let versioned = matches!(
            v.status(),
            Some(BucketVersioningStatus::Enabled | BucketVersioningStatus::Suspended)
        );
        let object_lock = match self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(o) => o
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                == Some(&ObjectLockEnabled::Enabled),
            Err(e) => match e.code() {
                // No configuration, or a server without Object Lock (Garage).
                Some(
                    "ObjectLockConfigurationNotFoundError"
                    | "NoSuchObjectLockConfiguration"
                    | "NotImplemented",
                ) => false,
                _ if e.raw_response().is_some_and(|r| r.status().as_u16() == 501) => false,
                _ => return Err(s3_error("GetObjectLockConfiguration (needed to see which objects are locked; grant s3:GetBucketObjectLockConfiguration)", &e)),
            },
        };
        Ok(Features {
            versioned: versioned || object_lock,
            object_lock,
        })
    }

    /// The region of a bucket (GetBucketLocation): an empty answer means `us-east-1`, the legacy
    /// `EU` means `eu-west-1`; any other value is returned as it is.
    pub async fn bucket_region(&self, bucket: &str) -> Result<String, StoreError> {
        let out = self
            .client
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| s3_error("GetBucketLocation", &e))?;
        let raw = out
            .location_constraint()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default();
        Ok(match raw.as_str() {
            "" => "us-east-1".into(),
            "EU" => "eu-west-1".into(),
            _ => raw,
        })
    }

    /// The destination buckets of the bucket's replication rules (none without a configuration).
    pub async fn replication_destinations(&self) -> Result<Vec<String>, StoreError> {
        match self
            .client
            .get_bucket_replication()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .replication_configuration()
                .map(|c| c.rules())
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.destination())
                .map(|d| {
                    let arn = d.bucket();
                    arn.strip_prefix("arn:aws:s3:::").unwrap_or(arn).to_string()
                })
                .collect()),
            Err(e) if e.code() == Some("ReplicationConfigurationNotFoundError") => Ok(Vec::new()),
            Err(e) => Err(s3_error("GetBucketReplication", &e)),
        }
    }

    /// A paged listing under `prefix`.
    pub fn lister(&self, prefix: &str, versioned: bool) -> S3Lister {
        S3Lister {
            store: self.clone(),
            prefix: prefix.to_string(),
            versioned,
            token: None,
            markers: None,
            pending: None,
            done: false,
        }
    }

    /// Metadata and lock of one version.
    pub async fn head(
        &self,
        key: &str,
        version: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Head, StoreError> {
        let h = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(|e| s3_error("HeadObject", &e))?;
        let metadata = h
            .metadata()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let until = to_utc(h.object_lock_retain_until_date());
        let lock = if h.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On) {
            Some(Lock::LegalHold)
        } else {
            match (h.object_lock_mode(), until) {
                (Some(ObjectLockMode::Compliance), Some(t)) if t > now => Some(Lock::Compliance(t)),
                (Some(_), Some(t)) if t > now => Some(Lock::Governance(t)),
                // A mode without a readable date: locked for an unknown time (fail closed).
                (Some(ObjectLockMode::Compliance), None) => {
                    Some(Lock::Compliance(DateTime::<Utc>::MAX_UTC))
                }
                (Some(_), None) => Some(Lock::Governance(DateTime::<Utc>::MAX_UTC)),
                _ => None,
            }
        };
        Ok(Head { metadata, lock })
    }

    /// Tags of one version.
    pub async fn tags(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let t = self
            .client
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(|e| s3_error("GetObjectTagging", &e))?;
        Ok(t.tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    /// One DeleteObjects request (quiet mode: only refusals come back).
    pub async fn delete(&self, doomed: &[Doomed]) -> Result<Deleted, StoreError> {
        if doomed.is_empty() {
            return Ok(Deleted::default());
        }
        let objects = doomed
            .iter()
            .map(|d| {
                ObjectIdentifier::builder()
                    .key(&d.key)
                    .set_version_id(d.version.clone())
                    .build()
                    .map_err(|_| StoreError::Objects("S3 DeleteObjects: invalid key".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|_| StoreError::Objects("S3 DeleteObjects: invalid request".into()))?;
        let out = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| s3_error("DeleteObjects", &e))?;
        let mut errors = BTreeMap::new();
        let mut refused = Vec::new();
        for e in out.errors() {
            *errors
                .entry(e.code().unwrap_or("unknown").to_string())
                .or_insert(0) += 1;
            // A refusal without a key (empty here) refuses every key of the request.
            refused.push(Doomed {
                key: e.key().unwrap_or_default().to_string(),
                version: e.version_id().map(str::to_string),
                listed: None,
            });
        }
        Ok(Deleted {
            deleted: doomed.len() as u64 - (refused.len() as u64).min(doomed.len() as u64),
            errors,
            refused,
            changed: Vec::new(),
        })
    }
}

/// A paged listing: ListObjectVersions in a versioned bucket, ListObjectsV2 otherwise.
pub struct S3Lister {
    store: S3Store,
    prefix: String,
    versioned: bool,
    token: Option<String>,
    markers: Option<(Option<String>, Option<String>)>,
    /// The last key of the previous page, whose versions may go on in the next page.
    pending: Option<Entry>,
    done: bool,
}

impl S3Lister {
    /// The next page of whole entries.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Entry>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        if self.versioned {
            self.next_versions().await
        } else {
            self.next_objects().await
        }
    }

    async fn next_objects(&mut self) -> Result<Option<Vec<Entry>>, StoreError> {
        let s = &self.store;
        let sent = self.token.take();
        let out = s
            .client
            .list_objects_v2()
            .bucket(&s.bucket)
            .prefix(&self.prefix)
            .set_continuation_token(sent.clone())
            .send()
            .await
            .map_err(|e| s3_error("ListObjectsV2", &e))?;
        let page: Vec<Entry> = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(Entry {
                    key: o.key()?.to_string(),
                    unnamed: false,
                    versions: vec![Version {
                        id: None,
                        last_modified: to_utc(o.last_modified()),
                        marker: false,
                    }],
                })
            })
            .collect();
        let next = out.next_continuation_token().map(str::to_string);
        if next.is_some() && next == sent {
            return Err(StoreError::Objects(
                "S3 ListObjectsV2: the listing does not advance (the same continuation token again); stopped".into(),
            ));
        }
        let truncated = out.is_truncated().unwrap_or(false);
        if truncated && next.is_none() {
            return Err(StoreError::Objects(
                "S3 ListObjectsV2: a truncated page without a continuation token; stopped".into(),
            ));
        }
        self.token = next;
        self.done = !truncated;
        if page.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(page))
    }

    async fn next_versions(&mut self) -> Result<Option<Vec<Entry>>, StoreError> {
        let s = &self.store;
        let (key_marker, version_marker) = self.markers.take().unwrap_or((None, None));
        let sent = (key_marker.clone(), version_marker.clone());
        let out = s
            .client
            .list_object_versions()
            .bucket(&s.bucket)
            .prefix(&self.prefix)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(|e| s3_error("ListObjectVersions", &e))?;
        // Versions and delete markers come in two lists; merged per key, newest first.
        let mut items: Vec<(String, bool, Version)> = Vec::new();
        for v in out.versions() {
            if let Some(k) = v.key() {
                items.push((
                    k.to_string(),
                    v.is_latest().unwrap_or(false),
                    Version {
                        id: v.version_id().map(str::to_string),
                        last_modified: to_utc(v.last_modified()),
                        marker: false,
                    },
                ));
            }
        }
        for m in out.delete_markers() {
            if let Some(k) = m.key() {
                items.push((
                    k.to_string(),
                    m.is_latest().unwrap_or(false),
                    Version {
                        id: m.version_id().map(str::to_string),
                        last_modified: to_utc(m.last_modified()),
                        marker: true,
                    },
                ));
            }
        }
        items.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.cmp(&a.1))
                .then(b.2.last_modified.cmp(&a.2.last_modified))
        });
        let mut page: Vec<Entry> = self.pending.take().into_iter().collect();
        for (key, _, version) in items {
            match page.last_mut() {
                Some(e) if e.key == key => e.versions.push(version),
                _ => page.push(Entry {
                    key,
                    unnamed: false,
                    versions: vec![version],
                }),
            }
        }
        let truncated = out.is_truncated().unwrap_or(false);
        if truncated {
            let Some(next) = out.next_key_marker() else {
                return Err(StoreError::Objects(
                    "S3 ListObjectVersions: a truncated page without a next marker; stopped".into(),
                ));
            };
            // Without the version marker, the rest of that key's versions would be skipped.
            let Some(version) = out.next_version_id_marker() else {
                return Err(StoreError::Objects(
                    "S3 ListObjectVersions: a truncated page without a version marker; stopped"
                        .into(),
                ));
            };
            let markers = (Some(next.to_string()), Some(version.to_string()));
            if markers == sent {
                return Err(StoreError::Objects(
                    "S3 ListObjectVersions: the listing does not advance (the same markers again); stopped".into(),
                ));
            }
            self.markers = Some(markers);
            // The last key may go on in the next page.
            self.pending = page.pop();
        } else {
            self.done = true;
        }
        if page.is_empty() && self.done && self.pending.is_none() {
            return Ok(None);
        }
        Ok(Some(page))
    }
}
