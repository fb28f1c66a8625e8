//! The store the contract suite is written against: a folder, a bucket on moto or a bucket on
//! Garage behind one small interface. A store is made fresh for each test (a temp folder or a
//! bucket with a random name) and dropped at its end.

use super::s3::{Server, TestBucket};
use crate::support::{lethe_in, run, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tempfile::TempDir;

/// A kind of object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A local folder (`kind: dir`).
    Dir,
    /// A bucket on moto server.
    Moto,
    /// A bucket on Garage.
    Garage,
}

/// A fresh, empty store.
pub struct Store {
    inner: Inner,
}

enum Inner {
    Dir { _tmp: TempDir, root: PathBuf },
    S3(TestBucket),
}

/// The metadata key the S3 stores keep an object's date in.
pub const DATE_KEY: &str = "uploaded-at";

impl Store {
    /// A fresh store of `kind`, or `None` (loudly) when its server is not configured outside CI.
    pub async fn new(kind: Kind) -> Option<Store> {
        let inner = match kind {
            Kind::Dir => {
                let tmp = tempfile::tempdir().unwrap();
                let root = tmp.path().join("store");
                std::fs::create_dir_all(&root).unwrap();
                Inner::Dir { _tmp: tmp, root }
            }
            Kind::Moto => Inner::S3(TestBucket::new(Server::Moto, false, false).await?),
            Kind::Garage => Inner::S3(TestBucket::new(Server::Garage, false, false).await?),
        };
        Some(Store { inner })
    }

    /// A fresh versioned bucket on moto, with Object Lock if `lock` (only moto has them).
    pub async fn versioned_moto(lock: bool) -> Option<Store> {
        let b = TestBucket::new(Server::Moto, true, lock).await?;
        Some(Store {
            inner: Inner::S3(b),
        })
    }

    /// The bucket underneath (for what only S3 has: a proxy in front, tags, the raw client).
    pub fn bucket(&self) -> &TestBucket {
        match &self.inner {
            Inner::S3(b) => b,
            Inner::Dir { .. } => panic!("a folder store has no bucket"),
        }
    }

    /// The clock that reads the date `put_aged` gives an object, as policy YAML: the file's
    /// modification time in a folder, the `uploaded-at` metadata in a bucket (S3 cannot set
    /// LastModified).
    pub fn clock(&self) -> &'static str {
        match self.inner {
            Inner::Dir { .. } => "{ last_modified: true }",
            Inner::S3(_) => "{ metadata: uploaded-at }",
        }
    }

    /// Puts an object dated `days_ago` days back on `clock()`.
    pub async fn put_aged(&self, key: &str, days_ago: i64) {
        match &self.inner {
            Inner::Dir { root, .. } => {
                let path = root.join(key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, "personal data").unwrap();
                set_age(&path, days_ago);
            }
            Inner::S3(b) => b.put(key, &[(DATE_KEY, &super::day(days_ago))]).await,
        }
    }

    /// Puts an object written now, with no date but its modification time.
    pub async fn put(&self, key: &str) {
        match &self.inner {
            Inner::Dir { .. } => self.put_aged(key, 0).await,
            Inner::S3(b) => b.put(key, &[]).await,
        }
    }

    /// Puts an object with user metadata (a bucket only: a folder has none).
    pub async fn put_meta(&self, key: &str, meta: &[(&str, &str)]) {
        self.bucket().put(key, meta).await
    }

    /// Removes one object (as another program would).
    pub async fn remove(&self, key: &str) {
        match &self.inner {
            Inner::Dir { root, .. } => std::fs::remove_file(root.join(key)).unwrap(),
            Inner::S3(b) => {
                b.client
                    .delete_object()
                    .bucket(&b.bucket)
                    .key(key)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// Every key under `prefix` that is still there, sorted (a fresh listing of the store, not
    /// of lethe).
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        match &self.inner {
            Inner::Dir { root, .. } => {
                let mut out = Vec::new();
                walk(root, "", &mut out);
                out.retain(|k| k.starts_with(prefix));
                out.sort();
                out
            }
            Inner::S3(b) => b.keys(prefix).await,
        }
    }

    /// What each key under `prefix` holds now, for before/after comparisons: a file's
    /// modification time in nanoseconds; every version (`v:ID`) and delete marker (`m:ID`) of a
    /// bucket's key.
    pub async fn snapshot(&self, prefix: &str) -> BTreeMap<String, Vec<String>> {
        match &self.inner {
            Inner::Dir { root, .. } => {
                let mut keys = Vec::new();
                walk(root, "", &mut keys);
                keys.into_iter()
                    .filter(|k| k.starts_with(prefix))
                    // A file deleted since the walk (lethe may be at work) is gone.
                    .filter_map(|k| {
                        let meta = std::fs::symlink_metadata(root.join(&k)).ok()?;
                        let since = meta
                            .modified()
                            .unwrap()
                            .duration_since(SystemTime::UNIX_EPOCH);
                        Some((k, vec![since.unwrap().as_nanos().to_string()]))
                    })
                    .collect()
            }
            Inner::S3(b) => b.all_versions(prefix).await,
        }
    }

    /// The store's entry under `stores:` in lethe.yaml, named `name`.
    pub fn store_yaml(&self, name: &str) -> String {
        match &self.inner {
            Inner::Dir { root, .. } => format!(
                "  {name}: {{ kind: dir, path: \"{}\", country: NL }}\n",
                root.display()
            ),
            Inner::S3(b) => b.store_yaml(name, &b.endpoint),
        }
    }

    /// The bucket's entry under `stores:`, reached at `endpoint` (a proxy in front of it).
    pub fn store_yaml_at(&self, name: &str, endpoint: &str) -> String {
        self.bucket().store_yaml(name, endpoint)
    }

    /// Runs `lethe --config CFG ARGS` in `cwd` with this store's credentials.
    pub fn lethe(&self, cwd: &Path, cfg: &Path, args: &[&str]) -> Run {
        let mut cmd = lethe_in(cwd, cfg);
        if let Inner::S3(b) = &self.inner {
            b.creds(&mut cmd);
        }
        run(cmd.args(args))
    }

    /// `lethe apply --yes --format json`, which must exit 0; the run and its first policy's
    /// outcome.
    pub fn apply_ok(&self, cwd: &Path, cfg: &Path) -> (Run, serde_json::Value) {
        let apply = self.lethe(cwd, cfg, &["apply", "--yes", "--format", "json"]);
        assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
        let a = apply.json()["policies"][0].clone();
        (apply, a)
    }

    /// `lethe --config CFG ARGS` in `cwd` with this store's credentials, to start in the
    /// background (stdout piped).
    pub fn spawn(&self, cwd: &Path, cfg: &Path, args: &[&str]) -> std::process::Child {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lethe"));
        cmd.current_dir(cwd).arg("--config").arg(cfg).args(args);
        if let Inner::S3(b) = &self.inner {
            cmd.env("AWS_ACCESS_KEY_ID", &b.key_id)
                .env("AWS_SECRET_ACCESS_KEY", &b.secret)
                .env("AWS_EC2_METADATA_DISABLED", "true");
        }
        cmd.stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start lethe")
    }

    /// Removes the bucket (a folder goes with its temp folder).
    pub async fn drop_store(self) {
        if let Inner::S3(b) = self.inner {
            b.drop_bucket().await;
        }
    }
}

/// Sets a file's modification time `days` days back.
pub fn set_age(path: &Path, days: i64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days as u64 * 86400))
        .unwrap();
}

/// The keys of every entry that is not a folder under `dir` (links included, not followed).
fn walk(dir: &Path, base: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = if base.is_empty() {
            name
        } else {
            format!("{base}/{name}")
        };
        if entry.file_type().unwrap().is_dir() {
            walk(&entry.path(), &key, out);
        } else {
            out.push(key);
        }
    }
}
