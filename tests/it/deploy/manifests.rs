//! Reading deploy/kubernetes: its documents, the workloads and their pod specs, and what a
//! container gets from Kubernetes (its environment, its expanded arguments).

use super::{deploy, read};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One document of deploy/kubernetes/*.yaml.
#[derive(Debug)]
pub(super) struct Doc {
    pub(super) file: String,
    pub(super) value: Value,
}

impl Doc {
    pub(super) fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub(super) fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub(super) fn what(&self) -> String {
        format!("{} {} ({})", self.kind(), self.name(), self.file)
    }
}

pub(super) fn manifests() -> Vec<Doc> {
    let dir = deploy().join("kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", dir.display());
    let mut docs = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let values: Vec<Value> = serde_saphyr::from_multiple(&read(&path))
            .unwrap_or_else(|e| panic!("{file}: not valid YAML: {e}"));
        assert!(!values.is_empty(), "{file}: no document");
        for value in values {
            docs.push(Doc {
                file: file.clone(),
                value,
            });
        }
    }
    docs
}

/// A workload: a Deployment, Job or CronJob, with its Job spec (if any) and pod spec.
pub(super) struct Workload<'a> {
    pub(super) doc: &'a Doc,
    pub(super) job: Option<&'a Value>,
    pub(super) pod_meta: &'a Value,
    pub(super) pod: &'a Value,
}

pub(super) fn workloads(docs: &[Doc]) -> Vec<Workload<'_>> {
    docs.iter()
        .filter_map(|doc| {
            let spec = &doc.value["spec"];
            let (job, template) = match doc.kind() {
                "Deployment" | "StatefulSet" | "DaemonSet" => (None, &spec["template"]),
                "Job" => (Some(spec), &spec["template"]),
                "CronJob" => (
                    Some(&spec["jobTemplate"]["spec"]),
                    &spec["jobTemplate"]["spec"]["template"],
                ),
                _ => return None,
            };
            assert!(
                template["spec"].is_object(),
                "{}: no pod template",
                doc.what()
            );
            Some(Workload {
                doc,
                job,
                pod_meta: &template["metadata"],
                pod: &template["spec"],
            })
        })
        .collect()
}

pub(super) fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect()
}

pub(super) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| match s {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn find<'a>(docs: &'a [Doc], kind: &str, name: &str) -> Option<&'a Doc> {
    docs.iter().find(|d| d.kind() == kind && d.name() == name)
}

/// The string data of a ConfigMap or Secret (`data` of a ConfigMap, `stringData` of a Secret).
pub(super) fn data_of(doc: &Doc) -> BTreeMap<String, String> {
    let field = if doc.kind() == "Secret" {
        assert!(
            doc.value["data"].is_null(),
            "{}: use stringData in the example (readable)",
            doc.what()
        );
        "stringData"
    } else {
        "data"
    };
    doc.value[field]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The environment a container gets: name -> value (None when Kubernetes computes it).
pub(super) fn container_env(
    docs: &[Doc],
    c: &Value,
    what: &str,
) -> BTreeMap<String, Option<String>> {
    let mut env = BTreeMap::new();
    for from in c["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or_default();
        let (kind, r) = if from["secretRef"].is_object() {
            ("Secret", &from["secretRef"])
        } else {
            ("ConfigMap", &from["configMapRef"])
        };
        let name = r["name"].as_str().unwrap_or_default();
        let doc = find(docs, kind, name).unwrap_or_else(|| {
            panic!("{what}: envFrom names {kind} `{name}`, not in deploy/kubernetes")
        });
        for (k, v) in data_of(doc) {
            env.insert(format!("{prefix}{k}"), Some(v));
        }
    }
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_string();
        let value = if let Some(v) = e["value"].as_str() {
            Some(v.to_string())
        } else if e["valueFrom"]["fieldRef"].is_object()
            || e["valueFrom"]["resourceFieldRef"].is_object()
        {
            None
        } else {
            let (kind, r) = if e["valueFrom"]["secretKeyRef"].is_object() {
                ("Secret", &e["valueFrom"]["secretKeyRef"])
            } else {
                ("ConfigMap", &e["valueFrom"]["configMapKeyRef"])
            };
            let (src, key) = (
                r["name"].as_str().unwrap_or_default(),
                r["key"].as_str().unwrap_or_default(),
            );
            let doc = find(docs, kind, src).unwrap_or_else(|| {
                panic!("{what}: env {name} comes from {kind} `{src}`, not in deploy/kubernetes")
            });
            let value = data_of(doc).get(key).cloned();
            assert!(
                value.is_some(),
                "{what}: env {name}: {kind} `{src}` has no key `{key}`"
            );
            value
        };
        env.insert(name, value);
    }
    env
}

/// The container's arguments after Kubernetes' `$(VAR)` expansion, with `index` as the Job
/// completion index. A reference Kubernetes cannot expand is an error: it would reach lethe
/// verbatim.
pub(super) fn expanded_args(
    w: &Workload<'_>,
    c: &Value,
    env: &BTreeMap<String, Option<String>>,
    index: u64,
) -> Vec<String> {
    let indexed = w.job.is_some_and(|j| j["completionMode"] == "Indexed");
    strings(&c["args"])
        .into_iter()
        .map(|a| {
            let mut out = String::new();
            let mut rest = a.as_str();
            while let Some(at) = rest.find("$(") {
                out.push_str(&rest[..at]);
                let end = rest[at..].find(')').map(|e| at + e).unwrap_or_else(|| panic!("`{a}`"));
                let var = &rest[at + 2..end];
                let value = if var == "JOB_COMPLETION_INDEX" {
                    assert!(
                        indexed,
                        "{}: $(JOB_COMPLETION_INDEX) is only set in an Indexed Job (completionMode: Indexed)",
                        w.doc.what()
                    );
                    index.to_string()
                } else {
                    match env.get(var) {
                        Some(Some(v)) => v.clone(),
                        Some(None) => "0".to_string(),
                        None => panic!("{}: `$({var})` in args is not in the container's env", w.doc.what()),
                    }
                };
                out.push_str(&value);
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}
