//! A local or mounted folder as an object store: keys are paths relative to the folder with `/`
//! separators, the clock is the file's modification time. Symbolic links are neither followed
//! nor deleted (deleting a link would not delete the data it points to), and a prefix that leads
//! through one is refused.

use super::{Deleted, Doomed, Entry, Version};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// Files per listing page.
const PAGE: usize = 1000;

/// A folder.
#[derive(Debug, Clone)]
pub struct DirStore {
    /// The store's name in lethe.yaml.
    pub name: String,
    /// The folder.
    pub root: PathBuf,
}

fn io_code(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "AccessDenied".into(),
        std::io::ErrorKind::NotFound => "NotFound".into(),
        k => format!("{k:?}"),
    }
}

impl DirStore {
    /// Opens a folder, which must exist.
    pub fn open(name: &str, root: &Path) -> Result<DirStore, StoreError> {
        let root = std::fs::canonicalize(root)
            .ok()
            .filter(|r| r.is_dir())
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "store `{name}`: folder `{}` does not exist or is not a folder",
                    root.display()
                ))
            })?;
        Ok(DirStore {
            name: name.to_string(),
            root,
        })
    }

    /// Walks the files whose relative path starts with `prefix`.
    pub fn lister(&self, prefix: &str) -> DirLister {
        // Start in the deepest folder the prefix names, so a narrow prefix reads little.
        let base = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        DirLister {
            root: self.root.clone(),
            prefix: prefix.to_string(),
            stack: vec![(self.root.join(base), base.to_string())],
            open: None,
        }
    }

    /// Removes files. A file already gone counts as deleted (another run removed it). Emptied
    /// folders are removed up to the folder of the policy's prefix.
    pub async fn delete(&self, doomed: &[Doomed], prefix: &str) -> Result<Deleted, StoreError> {
        // Folders are removed only below the policy's prefix (`leads/2020/` for `leads/`).
        let floor = self.root.join(match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        });
        let mut out = Deleted::default();
        for d in doomed {
            let path = self.root.join(&d.key);
            match tokio::fs::symlink_metadata(&path).await {
                Ok(m) if !m.is_file() => {
                    *out.errors.entry("NotAFile".into()).or_insert(0) += 1;
                    out.refused.push(d.clone());
                    continue;
                }
                // Rewritten since it was judged: its new modification time is judged next run.
                Ok(m)
                    if d.listed.is_some()
                        && m.modified().ok().map(DateTime::<Utc>::from) != d.listed =>
                {
                    out.changed.push(d.clone());
                    continue;
                }
                _ => {}
            }
            match tokio::fs::remove_file(&path).await {
                Ok(()) => out.deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.deleted += 1,
                Err(e) => {
                    *out.errors.entry(io_code(&e)).or_insert(0) += 1;
                    out.refused.push(d.clone());
                    continue;
                }
            }
            let mut dir = path.parent().map(Path::to_path_buf);
            while let Some(d) = dir.filter(|d| d.starts_with(&floor) && *d != floor) {
                // Fails (and stops) when the folder is not empty.
                if tokio::fs::remove_dir(&d).await.is_err() {
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
        }
        Ok(out)
    }
}

/// A folder walk, depth first, one open folder at a time.
pub struct DirLister {
    root: PathBuf,
    prefix: String,
    /// Folders still to read: (path, key of the folder).
    stack: Vec<(PathBuf, String)>,
    open: Option<(tokio::fs::ReadDir, String)>,
}

impl DirLister {
    /// The next page of files.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Entry>>, StoreError> {
        let mut page = Vec::new();
        while page.len() < PAGE {
            let Some((dir, base)) = &mut self.open else {
                let Some((path, base)) = self.stack.pop() else {
                    break;
                };
                // The folder a prefix names must lie inside the store, not behind a link.
                match tokio::fs::canonicalize(&path).await {
                    Ok(real) if !real.starts_with(&self.root) => {
                        return Err(StoreError::Objects(format!(
                            "store folder `{}`: the prefix leads through a link out of the folder; refused",
                            self.root.display()
                        )))
                    }
                    // A link inside the folder is not followed either: its files would be
                    // listed, and deleted, under a second name.
                    Ok(real) if real != path => {
                        return Err(StoreError::Objects(format!(
                            "store folder `{}`: the prefix leads through a link; links are not followed, refused",
                            self.root.display()
                        )))
                    }
                    _ => {}
                }
                match tokio::fs::read_dir(&path).await {
                    Ok(rd) => self.open = Some((rd, base)),
                    // The prefix's folder does not exist: nothing under it.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(StoreError::Objects(format!(
                            "store folder `{}`: cannot read a folder: {}",
                            self.root.display(),
                            io_code(&e)
                        )))
                    }
                }
                continue;
            };
            let next = dir.next_entry().await.map_err(|e| {
                StoreError::Objects(format!(
                    "store folder `{}`: cannot read a folder: {}",
                    self.root.display(),
                    io_code(&e)
                ))
            })?;
            let Some(entry) = next else {
                self.open = None;
                continue;
            };
            let os_name = entry.file_name();
            let unnamed = os_name.to_str().is_none();
            let name = os_name.to_string_lossy().into_owned();
            let key = if base.is_empty() {
                name
            } else {
                format!("{base}/{name}")
            };
            let Ok(meta) = tokio::fs::symlink_metadata(entry.path()).await else {
                continue;
            };
            if meta.is_dir() && unnamed {
                // Its files could not be named safely: not entered (they are kept).
                tracing::warn!(store = %self.root.display(), "a folder whose name is not valid UTF-8 is skipped; its files are kept");
            } else if meta.is_dir() {
                // Only folders that can hold keys under the prefix.
                let folder = format!("{key}/");
                if folder.starts_with(&self.prefix) || self.prefix.starts_with(&folder) {
                    self.stack.push((entry.path(), key));
                }
            } else if meta.is_file() && key.starts_with(&self.prefix) {
                let modified = meta.modified().ok().map(DateTime::<Utc>::from);
                page.push(Entry {
                    key,
                    unnamed,
                    versions: vec![Version {
                        id: None,
                        last_modified: modified,
                        marker: false,
                    }],
                });
            }
        }
        if page.is_empty() {
            return Ok(None);
        }
        Ok(Some(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_rewritten_since_it_was_judged_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "old").unwrap();
        let store = DirStore::open("files", dir.path()).unwrap();
        let mut lister = store.lister("");
        let page = lister.next_page().await.unwrap().unwrap();
        let listed = page[0].versions[0].last_modified;
        // Rewritten after the listing, with a later modification time.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, "new").unwrap();
        let doomed = Doomed {
            key: "a.csv".into(),
            version: None,
            listed,
        };
        let d = store
            .delete(std::slice::from_ref(&doomed), "")
            .await
            .unwrap();
        assert_eq!((d.deleted, d.changed.len()), (0, 1));
        assert!(file.exists());
        // As listed: deleted.
        let doomed = Doomed {
            listed: std::fs::metadata(&file)
                .unwrap()
                .modified()
                .ok()
                .map(DateTime::<Utc>::from),
            ..doomed
        };
        let d = store.delete(&[doomed], "").await.unwrap();
        assert_eq!((d.deleted, d.changed.len()), (1, 0));
        assert!(!file.exists());
    }

    /// Links to the folder itself or to a parent are not followed: the walk sees each file once
    /// and ends (`ln -s . a; ln -s . b` would otherwise walk exponentially).
    #[tokio::test]
    async fn links_to_folders_are_not_walked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.csv"), "x").unwrap();
        std::fs::write(dir.path().join("sub/b.csv"), "x").unwrap();
        for name in ["a", "b", "c", "d"] {
            std::os::unix::fs::symlink(".", dir.path().join(name)).unwrap();
        }
        std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
        let store = DirStore::open("files", dir.path()).unwrap();
        let mut lister = store.lister("");
        let mut keys = Vec::new();
        while let Some(page) = lister.next_page().await.unwrap() {
            keys.extend(page.into_iter().map(|e| e.key));
        }
        keys.sort();
        assert_eq!(keys, ["a.csv", "sub/b.csv"]);
    }

    /// A prefix through a link inside the folder is refused, not walked under a second name.
    #[tokio::test]
    async fn a_prefix_through_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "x").unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("a")).unwrap();
        let store = DirStore::open("files", dir.path()).unwrap();
        let refused = store.lister("a/a/").next_page().await;
        assert!(
            matches!(&refused, Err(StoreError::Objects(m)) if m.contains("through a link")),
            "{refused:?}"
        );
        let page = store.lister("").next_page().await.unwrap().unwrap();
        assert_eq!(page.len(), 1);
    }
}
