//! The Kubernetes manifests on their own: well-formed documents, commands the CLI accepts, a
//! daemon probed and scraped on its port, Jobs that never overlap, pods that run as non-root.

use super::dockerfile::image;
use super::manifests::{
    container_env, containers, expanded_args, manifests, strings, workloads, Doc,
};
use super::{command_name, flag, listen_addr, parse_cli};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn kubernetes_manifests_are_well_formed() {
    let docs = manifests();
    let mut seen = BTreeSet::new();
    for d in &docs {
        let v = &d.value;
        assert!(
            v["apiVersion"].as_str().is_some_and(|s| !s.is_empty()),
            "{}: apiVersion",
            d.file
        );
        assert!(
            v["kind"].as_str().is_some_and(|s| !s.is_empty()),
            "{}: kind",
            d.file
        );
        let name = d.name();
        // A DNS-1123 label, short enough for every kind (CronJob names: at most 52).
        assert!(
            !name.is_empty()
                && name.len() <= 52
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !name.starts_with('-')
                && !name.ends_with('-'),
            "{}: metadata.name `{name}`",
            d.file
        );
        assert!(
            seen.insert((d.kind().to_string(), name.to_string())),
            "{} twice",
            d.what()
        );
    }
    let kinds: BTreeSet<&str> = docs.iter().map(Doc::kind).collect();
    for kind in ["ConfigMap", "Secret", "CronJob", "Deployment", "Job"] {
        assert!(kinds.contains(kind), "no {kind} in deploy/kubernetes");
    }
    // The Secret is an example: its file says so, and no workload file carries secret values.
    for d in docs.iter().filter(|d| d.kind() == "Secret") {
        assert!(
            d.file.contains("example"),
            "{}: a Secret belongs in *.example.yaml",
            d.what()
        );
    }
}

#[test]
fn every_container_runs_a_command_the_cli_accepts() {
    let docs = manifests();
    let img = image();
    let ws = workloads(&docs);
    assert!(
        ws.len() >= 4,
        "check Job, CronJob, indexed CronJob, Deployment"
    );
    let mut images = BTreeSet::new();
    for w in &ws {
        for c in containers(w.pod) {
            let what = format!("{} container {}", w.doc.what(), c["name"]);
            images.insert(c["image"].as_str().unwrap_or_default().to_string());
            // The image's ENTRYPOINT is lethe; a `command` would replace it.
            let command = strings(&c["command"]);
            assert!(
                command.is_empty() || command == img.entrypoint,
                "{what}: command {command:?} replaces the image's ENTRYPOINT {:?}; give args only",
                img.entrypoint
            );
            assert!(
                c["args"].is_array(),
                "{what}: no args (the image's CMD is the daemon)"
            );
            let env = container_env(&docs, c, &what);
            let indices = match w.job {
                Some(j) if j["completionMode"] == "Indexed" => {
                    let n = j["completions"]
                        .as_u64()
                        .expect("completions of an Indexed Job");
                    vec![0, n - 1]
                }
                _ => vec![0],
            };
            for index in indices {
                let args = expanded_args(w, c, &env, index);
                let cli = parse_cli(&args).unwrap_or_else(|e| panic!("{what}: args {args:?}: {e}"));
                match (command_name(&cli), w.doc.kind()) {
                    ("daemon", "Deployment") => {}
                    ("daemon", kind) => {
                        panic!("{what}: a {kind} must not run the daemon (it never ends)")
                    }
                    (cmd, "Deployment") => {
                        panic!("{what}: a Deployment runs the daemon, not `{cmd}`")
                    }
                    ("apply", _) => assert!(
                        args.iter().any(|a| a == "--yes" || a == "-y"),
                        "{what}: apply without a person needs --yes"
                    ),
                    ("check", _) => {}
                    (cmd, kind) => panic!("{what}: unexpected `{cmd}` in a {kind}"),
                }
                // The shards of one run: N must be the number of completions.
                if let Some(shard) = flag(&args, "shard") {
                    let job = w
                        .job
                        .unwrap_or_else(|| panic!("{what}: --shard outside a Job"));
                    assert_eq!(
                        job["completionMode"], "Indexed",
                        "{what}: --shard needs an Indexed Job"
                    );
                    let n: u64 = shard
                        .split('/')
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .unwrap();
                    assert_eq!(
                        Some(n),
                        job["completions"].as_u64(),
                        "{what}: --shard {shard}: N must equal completions, or shards are missing or overlap"
                    );
                }
            }
        }
    }
    assert_eq!(
        images.len(),
        1,
        "every workload runs the same image: {images:?}"
    );
    assert!(!images.contains(""), "a container without image");
}

#[test]
fn the_daemon_is_probed_and_scraped_on_its_listen_port() {
    let docs = manifests();
    let mut daemons = 0;
    for w in workloads(&docs)
        .iter()
        .filter(|w| w.doc.kind() == "Deployment")
    {
        let spec = &w.doc.value["spec"];
        assert_eq!(spec["replicas"], 1, "{}: one daemon", w.doc.what());
        assert_eq!(
            spec["strategy"]["type"],
            "Recreate",
            "{}: the old daemon must stop before the new one starts",
            w.doc.what()
        );
        for c in containers(w.pod) {
            let what = format!("{} container {}", w.doc.what(), c["name"]);
            let args = strings(&c["args"]);
            let addr = listen_addr(&args);
            assert!(
                addr.ip().is_unspecified(),
                "{what}: the daemon listens on {addr}: probes and Prometheus cannot reach it"
            );
            let port = addr.port();
            let ports = c["ports"].as_array().cloned().unwrap_or_default();
            let named = |name: &str| {
                ports
                    .iter()
                    .find(|p| p["name"] == name)
                    .and_then(|p| p["containerPort"].as_u64())
            };
            assert_eq!(
                named("metrics"),
                Some(u64::from(port)),
                "{what}: containerPort `metrics`"
            );
            for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
                let get = &c[probe]["httpGet"];
                assert_eq!(get["path"], path, "{what}: {probe} path");
                let probed = match &get["port"] {
                    Value::String(name) => named(name),
                    other => other.as_u64(),
                };
                assert_eq!(probed, Some(u64::from(port)), "{what}: {probe} port");
            }
            let ann = &w.pod_meta["annotations"];
            assert_eq!(
                ann["prometheus.io/scrape"], "true",
                "{what}: scrape annotation"
            );
            assert_eq!(
                ann["prometheus.io/port"],
                port.to_string(),
                "{what}: scrape port"
            );
            assert_eq!(ann["prometheus.io/path"], "/metrics", "{what}: scrape path");
            daemons += 1;
        }
    }
    assert_eq!(daemons, 1, "one daemon container in deploy/kubernetes");
    // A Service in front of the daemon targets the same port.
    for svc in docs.iter().filter(|d| d.kind() == "Service") {
        for p in svc.value["spec"]["ports"].as_array().into_iter().flatten() {
            assert!(
                p["targetPort"] == "metrics" || p["targetPort"] == 9187,
                "{}: targetPort {}",
                svc.what(),
                p["targetPort"]
            );
        }
    }
}

#[test]
fn jobs_never_overlap_and_fail_fast_on_usage_errors() {
    let docs = manifests();
    for w in workloads(&docs) {
        let Some(job) = w.job else { continue };
        let what = w.doc.what();
        if w.doc.kind() == "CronJob" {
            let spec = &w.doc.value["spec"];
            assert_eq!(
                spec["concurrencyPolicy"], "Forbid",
                "{what}: concurrencyPolicy"
            );
            assert!(
                spec["startingDeadlineSeconds"].is_u64(),
                "{what}: startingDeadlineSeconds"
            );
            let fields = spec["schedule"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .count();
            assert_eq!(
                fields, 5,
                "{what}: Kubernetes cron has five fields (lethe's has six)"
            );
        }
        assert!(job["backoffLimit"].is_u64(), "{what}: backoffLimit");
        assert_eq!(w.pod["restartPolicy"], "Never", "{what}: restartPolicy");
        let names: BTreeSet<String> = containers(w.pod)
            .iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect();
        for rule in job["podFailurePolicy"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(name) = rule["onExitCodes"]["containerName"].as_str() {
                assert!(
                    names.contains(name),
                    "{what}: podFailurePolicy names container `{name}`"
                );
            }
        }
    }
}

#[test]
fn pods_run_as_non_root_with_a_read_only_root_and_a_writable_workdir() {
    let docs = manifests();
    let img = image();
    for w in workloads(&docs) {
        let grace = w.pod["terminationGracePeriodSeconds"].as_u64();
        assert!(
            grace.is_some_and(|g| g >= 30),
            "{}: terminationGracePeriodSeconds (time to finish a batch on SIGTERM)",
            w.doc.what()
        );
        let volumes: BTreeMap<String, &Value> = w.pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| (v["name"].as_str().unwrap_or_default().to_string(), v))
            .collect();
        for c in containers(w.pod) {
            let what = format!("{} container {}", w.doc.what(), c["name"]);
            let setting = |key: &str| {
                let own = &c["securityContext"][key];
                if own.is_null() {
                    w.pod["securityContext"][key].clone()
                } else {
                    own.clone()
                }
            };
            assert_eq!(setting("runAsNonRoot"), true, "{what}: runAsNonRoot");
            assert_eq!(
                setting("readOnlyRootFilesystem"),
                true,
                "{what}: readOnlyRootFilesystem"
            );
            if let Some(uid) = setting("runAsUser").as_u64() {
                assert_eq!(
                    uid,
                    u64::from(img.uid),
                    "{what}: runAsUser differs from the image's USER"
                );
            }
            // The working directory is writable: a volume, not the read-only root.
            let work = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["mountPath"] == img.workdir.as_str())
                .unwrap_or_else(|| panic!("{what}: no volume at the WORKDIR {}", img.workdir));
            let vol = volumes[work["name"].as_str().unwrap_or_default()];
            assert!(
                vol["emptyDir"].is_object(),
                "{what}: {} is not an emptyDir",
                img.workdir
            );
            assert_ne!(work["readOnly"], true, "{what}: {} read-only", img.workdir);
        }
    }
}
