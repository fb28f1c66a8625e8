//! The configuration as the pods see it: each container's volumes (ConfigMaps and Secrets laid
//! out as kubelet does) under a temporary root, its environment, and lethe's real loader.

use super::dockerfile::image;
use super::manifests::{
    container_env, containers, data_of, find, manifests, workloads, Doc, Workload,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A valid HMAC key for the simulated pods. The example Secret's key is a placeholder that lethe
/// refuses on purpose (see `the_example_secret_fails_closed`).
const TEST_HMAC_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Writes one ConfigMap or Secret volume as kubelet does: with `subPath`, one plain file;
/// otherwise the atomic-writer layout (the files in a hidden timestamped folder, `..data`
/// pointing at it, and one symlink per key).
fn write_volume(at: &Path, files: &BTreeMap<String, String>, sub_path: Option<&str>) {
    if let Some(sub) = sub_path {
        let text = files
            .get(sub)
            .unwrap_or_else(|| panic!("subPath `{sub}` is not a key of the volume"));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
        return;
    }
    let stamp = "..2026_01_01_00_00_00.000000000";
    std::fs::create_dir_all(at.join(stamp)).unwrap();
    for (k, text) in files {
        std::fs::write(at.join(stamp).join(k), text).unwrap();
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(stamp, at.join("..data")).unwrap();
        for k in files.keys() {
            std::os::unix::fs::symlink(format!("..data/{k}"), at.join(k)).unwrap();
        }
    }
    #[cfg(not(unix))]
    for (k, text) in files {
        std::fs::create_dir_all(at.join("..data")).unwrap();
        std::fs::write(at.join("..data").join(k), text).unwrap();
        std::fs::write(at.join(k), text).unwrap();
    }
}

/// Replaces every absolute mount path in `text` with its place under `root`, in one pass.
fn rooted(text: &str, mounts: &[String], root: &Path) -> String {
    let mut sorted: Vec<&String> = mounts.iter().collect();
    sorted.sort_by_key(|m| std::cmp::Reverse(m.len()));
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        match sorted.iter().find(|m| text[i..].starts_with(m.as_str())) {
            Some(m) => {
                out.push_str(&root.join(m.trim_start_matches('/')).to_string_lossy());
                i += m.len();
            }
            None => {
                let ch = text[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// Builds the file system a container sees (its volumes under a temporary root) and loads the
/// configuration from its LETHE_CONFIG with the real loader. `secret_override` replaces Secret
/// values (the example's placeholders).
fn load_as_pod(
    docs: &[Doc],
    w: &Workload<'_>,
    c: &Value,
    secret_override: &BTreeMap<&str, &str>,
) -> (
    tempfile::TempDir,
    Result<lethe::config::Config, lethe::config::ConfigErrors>,
) {
    let what = format!("{} container {}", w.doc.what(), c["name"]);
    let img = image();
    let root = tempfile::tempdir().unwrap();
    let mut env = container_env(docs, c, &what);
    for (k, v) in secret_override {
        if env.contains_key(*k) {
            env.insert(k.to_string(), Some(v.to_string()));
        }
    }
    let config_dir = match env.get("LETHE_CONFIG") {
        Some(Some(dir)) => dir.clone(),
        _ => img.env.get("LETHE_CONFIG").cloned().expect("LETHE_CONFIG"),
    };
    let mounts: Vec<&Value> = c["volumeMounts"].as_array().into_iter().flatten().collect();
    let mount_paths: Vec<String> = mounts
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap_or_default().to_string())
        .collect();
    for m in &mounts {
        let name = m["name"].as_str().unwrap_or_default();
        let vol = w.pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{what}: volumeMount `{name}` has no volume"));
        let at = root
            .path()
            .join(m["mountPath"].as_str().unwrap().trim_start_matches('/'));
        let (doc, is_config) = if vol["configMap"].is_object() {
            let n = vol["configMap"]["name"].as_str().unwrap_or_default();
            (
                find(docs, "ConfigMap", n)
                    .unwrap_or_else(|| panic!("{what}: ConfigMap `{n}` missing")),
                true,
            )
        } else if vol["secret"].is_object() {
            let n = vol["secret"]["secretName"].as_str().unwrap_or_default();
            (
                find(docs, "Secret", n).unwrap_or_else(|| panic!("{what}: Secret `{n}` missing")),
                false,
            )
        } else {
            std::fs::create_dir_all(&at).unwrap();
            continue;
        };
        let source = if is_config {
            &vol["configMap"]
        } else {
            &vol["secret"]
        };
        let mut data = data_of(doc);
        for (k, v) in secret_override {
            if !is_config && data.contains_key(*k) {
                data.insert(k.to_string(), v.to_string());
            }
        }
        // `items` picks keys and renames them.
        if let Some(items) = source["items"].as_array() {
            data = items
                .iter()
                .map(|i| {
                    let key = i["key"].as_str().unwrap_or_default();
                    let text = data
                        .get(key)
                        .unwrap_or_else(|| panic!("{what}: {} has no key `{key}`", doc.what()))
                        .clone();
                    (i["path"].as_str().unwrap_or(key).to_string(), text)
                })
                .collect();
        }
        // The files keep their `${VAR}` references: lethe's loader fills them in.
        if is_config {
            for text in data.values_mut() {
                *text = rooted(text, &mount_paths, root.path());
            }
        }
        write_volume(&at, &data, m["subPath"].as_str());
    }
    // The process environment lethe gets: the image's ENV, then the container's `env` and
    // `envFrom` over it. A value Kubernetes computes (a `fieldRef`) is unknown here and left
    // out, so a configuration that needs it does not load. Mount paths in values move under
    // the root like the files.
    let process_env: HashMap<String, String> = img
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .chain(env)
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, rooted(&v, &mount_paths, root.path()))))
        .collect();
    let dir = root.path().join(config_dir.trim_start_matches('/'));
    let loaded = lethe::config::load(&dir, &process_env);
    (root, loaded)
}

#[test]
fn the_configuration_loads_as_every_pod_sees_it() {
    let docs = manifests();
    let ok = BTreeMap::from([("hmac.key", TEST_HMAC_KEY)]);
    for w in workloads(&docs) {
        for c in containers(w.pod) {
            let what = format!("{} container {}", w.doc.what(), c["name"]);
            let (_root, loaded) = load_as_pod(&docs, &w, c, &ok);
            let config =
                loaded.unwrap_or_else(|e| panic!("{what}: the configuration does not load:\n{e}"));
            assert!(!config.policies.is_empty(), "{what}: no policy");
            // PostgreSQL: a SQLite state database in a pod's emptyDir would lose the audit trail.
            let state = config.settings.state_url.expose();
            assert!(
                state.starts_with("postgres://") || state.starts_with("postgresql://"),
                "{what}: the state database in Kubernetes must be PostgreSQL"
            );
            // The daemon only runs policies with a schedule.
            for p in &config.policies {
                assert!(
                    p.schedule.is_some(),
                    "{what}: policy {} has no schedule",
                    p.name
                );
            }
        }
    }
}

#[test]
fn the_example_secret_fails_closed() {
    // Applied as it is, the example Secret must not give a working configuration: its HMAC key
    // is a placeholder that lethe refuses, and its hosts never resolve.
    let docs = manifests();
    let ws = workloads(&docs);
    let w = ws
        .iter()
        .find(|w| w.doc.kind() == "CronJob")
        .expect("a CronJob");
    let c = containers(w.pod)[0];
    let (_root, loaded) = load_as_pod(&docs, w, c, &BTreeMap::new());
    let e = loaded.expect_err("the example Secret's placeholder HMAC key must be refused");
    assert!(e.to_string().contains("hmac"), "{e}");
    let secret = docs.iter().find(|d| d.kind() == "Secret").unwrap();
    for (k, v) in data_of(secret) {
        if v.contains("://") {
            assert!(
                v.contains(".invalid"),
                "{k}: example hosts must be under .invalid"
            );
        }
    }
}

#[test]
fn a_variable_the_pod_does_not_set_stops_the_configuration_at_its_place() {
    // The ConfigMap names `${CRM_DATABASE_URL}`; a CronJob container without it must not load,
    // and lethe's loader says which variable, in which file, on which line and column.
    let mut docs = manifests();
    let cronjob = docs
        .iter_mut()
        .find(|d| d.kind() == "CronJob")
        .expect("a CronJob");
    let env = cronjob
        .value
        .pointer_mut("/spec/jobTemplate/spec/template/spec/containers/0/env")
        .and_then(Value::as_array_mut)
        .expect("the CronJob's container has env");
    let before = env.len();
    env.retain(|e| e["name"] != "CRM_DATABASE_URL");
    assert_eq!(
        env.len(),
        before - 1,
        "CRM_DATABASE_URL in the CronJob's env"
    );

    let settings = data_of(find(&docs, "ConfigMap", "lethe-policies").expect("the ConfigMap"))
        .remove("lethe.yaml")
        .expect("lethe.yaml in the ConfigMap");
    let (line, column) = settings
        .lines()
        .enumerate()
        .find_map(|(n, l)| l.find("${CRM_DATABASE_URL}").map(|c| (n + 1, c + 1)))
        .expect("lethe.yaml uses ${CRM_DATABASE_URL}");

    let ws = workloads(&docs);
    let w = ws.iter().find(|w| w.doc.kind() == "CronJob").unwrap();
    let ok = BTreeMap::from([("hmac.key", TEST_HMAC_KEY)]);
    let (_root, loaded) = load_as_pod(&docs, w, containers(w.pod)[0], &ok);
    let e = loaded.expect_err("a configuration whose variable is not set must not load");
    assert_eq!(e.0.len(), 1, "{e}");
    let err = &e.0[0];
    assert_eq!(
        err.message,
        "environment variable `CRM_DATABASE_URL` is not set (write `${CRM_DATABASE_URL:-default}` to give a default)"
    );
    assert!(err.file.ends_with("lethe.yaml"), "{e}");
    assert_eq!((err.line, err.column), (line as u64, column as u64), "{e}");
}
