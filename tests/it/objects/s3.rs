//! Isolated buckets on moto and Garage, found through the variables `scripts/test.sh` sets.
//! A server that is not configured is a loud skip locally and a failure under `CI=true`.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use std::collections::BTreeMap;

/// Which S3 server a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// moto server: S3 semantics at full breadth.
    Moto,
    /// Garage: a production S3 store (no versioning, no Object Lock, no tagging).
    Garage,
}

/// The region buckets are made in (Garage is configured with the same).
pub const REGION: &str = "eu-central-1";

/// A fresh bucket on a real S3 server.
pub struct TestBucket {
    #[allow(dead_code)]
    pub server: Server,
    pub endpoint: String,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
    pub client: Client,
}

fn missing(what: &str) -> Option<TestBucket> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is required under CI=true but not configured. Run ./scripts/test.sh");
    }
    eprintln!("\n!!! SKIPPED: {what} not configured. Run ./scripts/test.sh to provision it. !!!\n");
    None
}

/// An S3 client for a server, in the test region.
pub fn client(endpoint: &str, key_id: &str, secret: &str) -> Client {
    client_in(endpoint, key_id, secret, REGION)
}

/// An S3 client for a server, signing for `region`.
pub fn client_in(endpoint: &str, key_id: &str, secret: &str, region: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(key_id, secret, None, None, "test"))
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

impl TestBucket {
    /// A new bucket, versioned or with Object Lock as asked; `None` (loudly) without a server
    /// outside CI.
    pub async fn new(server: Server, versioned: bool, lock: bool) -> Option<TestBucket> {
        let (endpoint, key_id, secret) = match server {
            Server::Moto => match std::env::var("LETHE_TEST_S3_URL") {
                Ok(u) => (u, "lethe-test".to_string(), "lethe-test-secret".to_string()),
                Err(_) => return missing("moto server (LETHE_TEST_S3_URL)"),
            },
            Server::Garage => match (
                std::env::var("LETHE_TEST_GARAGE_URL"),
                std::env::var("LETHE_TEST_GARAGE_KEY"),
                std::env::var("LETHE_TEST_GARAGE_SECRET"),
            ) {
                (Ok(u), Ok(k), Ok(s)) => (u, k, s),
                _ => return missing("Garage (LETHE_TEST_GARAGE_URL)"),
            },
        };
        let client = client(&endpoint, &key_id, &secret);
        let bucket = format!(
            "lethe-t-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        client
            .create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .set_object_lock_enabled_for_bucket(lock.then_some(true))
            .send()
            .await
            .expect("create bucket");
        if versioned && !lock {
            client
                .put_bucket_versioning()
                .bucket(&bucket)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .expect("enable versioning");
        }
        Some(TestBucket {
            server,
            endpoint,
            bucket,
            key_id,
            secret,
            client,
        })
    }

    /// Puts an object with user metadata.
    pub async fn put(&self, key: &str, meta: &[(&str, &str)]) {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from_static(b"personal data"));
        for (k, v) in meta {
            req = req.metadata(*k, *v);
        }
        req.send().await.expect("put object");
    }

    /// Every key under `prefix` (current objects only).
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let r = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .expect("list");
            out.extend(
                r.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
            token = r.next_continuation_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
        out.sort();
        out
    }

    /// (versions, delete markers) of the keys under `prefix`.
    pub async fn versions(&self, prefix: &str) -> (usize, usize) {
        let r = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list versions");
        (r.versions().len(), r.delete_markers().len())
    }

    /// Every version (`v:ID`) and delete marker (`m:ID`) of each key under `prefix`, all pages.
    pub async fn all_versions(&self, prefix: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let r = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .expect("list versions");
            let versions = r.versions().iter().map(|v| (v.key(), "v", v.version_id()));
            let markers = r
                .delete_markers()
                .iter()
                .map(|m| (m.key(), "m", m.version_id()));
            for (key, kind, id) in versions.chain(markers) {
                let id = format!("{kind}:{}", id.unwrap_or("null"));
                out.entry(key.unwrap_or_default().to_string())
                    .or_default()
                    .push(id);
            }
            if r.is_truncated() != Some(true) {
                break;
            }
            key_marker = r.next_key_marker().map(String::from);
            version_marker = r.next_version_id_marker().map(String::from);
        }
        for ids in out.values_mut() {
            ids.sort();
        }
        out
    }

    /// The store entry for lethe.yaml (under `stores:`), at `endpoint` (the server or a proxy).
    pub fn store_yaml(&self, name: &str, endpoint: &str) -> String {
        format!(
            "  {name}: {{ kind: s3, bucket: {}, endpoint: \"{endpoint}\", region: {REGION}, country: DE }}\n",
            self.bucket
        )
    }

    /// Gives a `lethe` command this server's credentials (and nothing from the machine).
    pub fn creds(&self, cmd: &mut assert_cmd::Command) {
        cmd.env("AWS_ACCESS_KEY_ID", &self.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
    }

    /// Empties and removes the bucket (best effort: locked versions stay on moto, which forgets
    /// them when it stops).
    pub async fn drop_bucket(self) {
        let ids: Vec<ObjectIdentifier> = match self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(r) => r
                .versions()
                .iter()
                .filter_map(|v| {
                    ObjectIdentifier::builder()
                        .key(v.key()?)
                        .set_version_id(v.version_id().map(String::from))
                        .build()
                        .ok()
                })
                .chain(r.delete_markers().iter().filter_map(|m| {
                    ObjectIdentifier::builder()
                        .key(m.key()?)
                        .set_version_id(m.version_id().map(String::from))
                        .build()
                        .ok()
                }))
                .collect(),
            // Garage has no ListObjectVersions (and no versions): the current keys are all.
            Err(_) => self
                .keys("")
                .await
                .into_iter()
                .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
                .collect(),
        };
        for chunk in ids.chunks(1000) {
            if let Ok(d) = Delete::builder().set_objects(Some(chunk.to_vec())).build() {
                let _ = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(d)
                    .bypass_governance_retention(true)
                    .send()
                    .await;
            }
        }
        let _ = self
            .client
            .delete_bucket()
            .bucket(&self.bucket)
            .send()
            .await;
    }
}
