//! `deploy/`: what a platform engineer copies (the Dockerfile, the Kubernetes manifests, the
//! systemd units) must start lethe with arguments the real command line accepts, on the ports,
//! paths and users the image provides, with a configuration that loads as the pods will see it.
//! No Docker engine or cluster is needed: the files are parsed and checked against each other
//! and against the `lethe` library (its CLI parser, its configuration loader, its metrics).

use clap::Parser;
use lethe::cli::{Cli, Command};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A valid HMAC key for the simulated pods. The example Secret's key is a placeholder that lethe
/// refuses on purpose (see `the_example_secret_fails_closed`).
const TEST_HMAC_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Parses `args` (without the program name) with lethe's real command line.
fn parse_cli(args: &[String]) -> Result<Cli, String> {
    Cli::try_parse_from(std::iter::once("lethe".to_string()).chain(args.iter().cloned()))
        .map_err(|e| e.to_string())
}

fn command_name(cli: &Cli) -> &'static str {
    match cli.command {
        Command::Check(_) => "check",
        Command::Plan(_) => "plan",
        Command::Apply(_) => "apply",
        Command::Daemon(_) => "daemon",
        Command::Holds(_) => "holds",
        Command::Residency(_) => "residency",
        Command::Audit(_) => "audit",
        Command::Demo(_) => "demo",
        Command::Schema(_) => "schema",
    }
}

/// The value of `--NAME VALUE` or `--NAME=VALUE` in raw arguments.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let eq = format!("--{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == long {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(&eq)
        }
    })
}

/// The address `lethe daemon` listens on with these arguments (its documented default when
/// `--listen` is absent).
fn listen_addr(args: &[String]) -> SocketAddr {
    flag(args, "listen")
        .unwrap_or("127.0.0.1:9187")
        .parse()
        .unwrap_or_else(|e| panic!("--listen in {args:?}: {e}"))
}

// ------------------------------------------------------------------------------------------
// The Dockerfile
// ------------------------------------------------------------------------------------------

/// One instruction: keyword (upper case) and the rest, continuation lines joined.
#[derive(Debug, Clone)]
struct Instr {
    key: String,
    rest: String,
}

/// A build stage: its base image, its name (`AS name`) and its instructions.
#[derive(Debug)]
struct Stage {
    from: String,
    name: Option<String>,
    instrs: Vec<Instr>,
}

impl Stage {
    fn all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + 'a {
        let key = key.to_string();
        self.instrs
            .iter()
            .filter(move |i| i.key == key)
            .map(|i| i.rest.as_str())
    }

    fn last<'a>(&'a self, key: &str) -> Option<&'a str> {
        self.all(key).last()
    }
}

fn dockerfile_stages(text: &str) -> Vec<Stage> {
    let mut instrs = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        // Comments (and parser directives) are dropped, also inside continued instructions.
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body.trim_end());
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (key, rest) = cur.split_once(char::is_whitespace).unwrap_or((&cur, ""));
        instrs.push(Instr {
            key: key.to_uppercase(),
            rest: rest.trim().to_string(),
        });
        cur.clear();
    }
    assert!(cur.is_empty(), "Dockerfile ends inside a continued line");
    let mut stages: Vec<Stage> = Vec::new();
    for i in instrs {
        if i.key == "FROM" {
            let words: Vec<&str> = i
                .rest
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                [_] => None,
                _ => panic!("unexpected FROM line: FROM {}", i.rest),
            };
            stages.push(Stage {
                from: words[0].to_string(),
                name,
                instrs: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .unwrap_or_else(|| panic!("`{}` before the first FROM", i.key))
                .instrs
                .push(i);
        }
    }
    stages
}

/// An exec-form (JSON array) instruction argument.
fn exec_form(key: &str, rest: &str) -> Vec<String> {
    serde_json::from_str(rest)
        .unwrap_or_else(|e| panic!("{key} must be a JSON array (exec form, so lethe is PID 1 and gets SIGTERM), got `{rest}`: {e}"))
}

/// `ENV K=V [K2=V2 ...]` or the legacy `ENV K V`.
fn env_of(stage: &Stage) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for rest in stage.all("ENV") {
        if rest
            .split_whitespace()
            .next()
            .is_some_and(|w| w.contains('='))
        {
            for w in rest.split_whitespace() {
                let (k, v) = w.split_once('=').unwrap_or_else(|| panic!("ENV `{rest}`"));
                env.insert(k.to_string(), v.trim_matches('"').to_string());
            }
        } else if let Some((k, v)) = rest.split_once(char::is_whitespace) {
            env.insert(k.to_string(), v.trim().trim_matches('"').to_string());
        }
    }
    env
}

/// What the final image provides, from deploy/Dockerfile.
#[derive(Debug)]
struct Image {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    uid: u32,
    workdir: String,
    env: BTreeMap<String, String>,
    expose: Vec<u16>,
}

fn image() -> Image {
    let stages = dockerfile_stages(&read(&deploy().join("Dockerfile")));
    let last = stages.last().expect("a FROM in deploy/Dockerfile");
    let user = last.last("USER").expect("the final stage sets USER");
    let uid_text = user.split(':').next().unwrap_or_default();
    let uid: u32 = uid_text.parse().unwrap_or_else(|_| {
        panic!("USER `{user}` must be numeric, or Kubernetes cannot verify runAsNonRoot")
    });
    Image {
        entrypoint: exec_form("ENTRYPOINT", last.last("ENTRYPOINT").expect("ENTRYPOINT")),
        cmd: exec_form("CMD", last.last("CMD").expect("CMD")),
        uid,
        workdir: last.last("WORKDIR").expect("WORKDIR").to_string(),
        env: env_of(last),
        expose: last
            .all("EXPOSE")
            .flat_map(str::split_whitespace)
            .map(|p| {
                p.trim_end_matches("/tcp")
                    .parse()
                    .unwrap_or_else(|_| panic!("EXPOSE {p}"))
            })
            .collect(),
    }
}

/// Folders and files the build stage must copy: the manifest, the lock file, the sources, and
/// every folder that `sqlx::migrate!` embeds at compile time.
fn build_inputs() -> BTreeSet<String> {
    let mut needed: BTreeSet<String> = ["Cargo.toml", "Cargo.lock", "src"]
        .into_iter()
        .map(String::from)
        .collect();
    fn walk(d: &Path, needed: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, needed);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = read(&p);
                for part in text.split("migrate!(\"./").skip(1) {
                    if let Some(first) = part.split(['/', '"']).next() {
                        needed.insert(first.to_string());
                    }
                }
            }
        }
    }
    walk(&repo().join("src"), &mut needed);
    needed
}

#[test]
fn dockerfile_builds_in_two_stages_and_runs_lethe_as_non_root() {
    let stages = dockerfile_stages(&read(&deploy().join("Dockerfile")));
    assert!(
        stages.len() >= 2,
        "a multi-stage build: builder, then a small runtime image"
    );
    let builder = &stages[0];
    let runtime = stages.last().unwrap();
    assert!(
        builder.from.starts_with("rust:"),
        "builder FROM {}",
        builder.from
    );
    assert!(
        !runtime.from.starts_with("rust:"),
        "the runtime image must not be the Rust toolchain image: FROM {}",
        runtime.from
    );
    assert!(
        builder
            .all("RUN")
            .any(|r| r.contains("cargo build --release --locked")),
        "the builder runs `cargo build --release --locked`"
    );

    // Every build input is copied from the context, and none is hidden by .dockerignore.
    let copied: BTreeSet<String> = builder
        .all("COPY")
        .flat_map(|rest| {
            let words: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            words[..words.len().saturating_sub(1)]
                .iter()
                .map(|w| w.trim_start_matches("./").trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for source in &copied {
        assert!(
            repo().join(source).exists(),
            "COPY {source}: not in the repository"
        );
    }
    let missing: Vec<_> = build_inputs().difference(&copied).cloned().collect();
    assert!(
        missing.is_empty(),
        "the builder stage does not COPY {missing:?}"
    );
    let ignored: BTreeSet<String> = read(&repo().join(".dockerignore"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_matches('/').to_string())
        .collect();
    for must in ["target", "var", ".git"] {
        assert!(
            ignored.contains(must),
            ".dockerignore must exclude `{must}`"
        );
    }
    for input in build_inputs() {
        assert!(
            !ignored.contains(&input),
            ".dockerignore excludes the build input `{input}`"
        );
    }

    // The binary reaches the runtime stage on PATH, from the named builder.
    let builder_name = builder
        .name
        .as_deref()
        .expect("the builder stage is named (AS ...)");
    assert!(
        runtime
            .all("COPY")
            .any(|c| c.contains(&format!("--from={builder_name}"))
                && c.split_whitespace().last() == Some("/usr/local/bin/lethe")),
        "the runtime stage copies the binary from `{builder_name}` to /usr/local/bin/lethe"
    );

    let img = image();
    assert!(img.uid != 0, "USER must not be root");
    assert_eq!(img.entrypoint, ["lethe"], "ENTRYPOINT");
    assert_eq!(img.workdir, "/var/lib/lethe", "WORKDIR");
    assert_eq!(
        img.env.get("LETHE_CONFIG").map(String::as_str),
        Some("/etc/lethe/policies"),
        "ENV LETHE_CONFIG"
    );
    let cli = parse_cli(&img.cmd).unwrap_or_else(|e| panic!("CMD {:?}: {e}", img.cmd));
    assert_eq!(
        command_name(&cli),
        "daemon",
        "the default command is the daemon"
    );
    let addr = listen_addr(&img.cmd);
    assert!(
        addr.ip().is_unspecified(),
        "CMD must listen on all interfaces in a container, not {addr}"
    );
    assert!(
        img.expose.contains(&addr.port()),
        "EXPOSE {:?} must include the daemon's port {}",
        img.expose,
        addr.port()
    );
}

// ------------------------------------------------------------------------------------------
// The Kubernetes manifests
// ------------------------------------------------------------------------------------------

/// One document of deploy/kubernetes/*.yaml.
#[derive(Debug)]
struct Doc {
    file: String,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    fn what(&self) -> String {
        format!("{} {} ({})", self.kind(), self.name(), self.file)
    }
}

fn manifests() -> Vec<Doc> {
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
struct Workload<'a> {
    doc: &'a Doc,
    job: Option<&'a Value>,
    pod_meta: &'a Value,
    pod: &'a Value,
}

fn workloads(docs: &[Doc]) -> Vec<Workload<'_>> {
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

fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
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

fn find<'a>(docs: &'a [Doc], kind: &str, name: &str) -> Option<&'a Doc> {
    docs.iter().find(|d| d.kind() == kind && d.name() == name)
}

/// The string data of a ConfigMap or Secret (`data` of a ConfigMap, `stringData` of a Secret).
fn data_of(doc: &Doc) -> BTreeMap<String, String> {
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
fn container_env(docs: &[Doc], c: &Value, what: &str) -> BTreeMap<String, Option<String>> {
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
fn expanded_args(
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

// ------------------------------------------------------------------------------------------
// The configuration as the pods see it
// ------------------------------------------------------------------------------------------

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

/// Replaces `${VAR}` and `${VAR:-default}` with the container's environment, as lethe would.
fn interpolate(text: &str, env: &BTreeMap<String, Option<String>>, what: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = at
            + rest[at..]
                .find('}')
                .unwrap_or_else(|| panic!("{what}: unclosed ${{"));
        let inner = &rest[at + 2..end];
        let (var, default) = match inner.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (inner, None),
        };
        match (env.get(var), default) {
            (Some(Some(v)), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            _ => panic!(
                "{what}: the configuration uses ${{{var}}}, which the container's env does not set"
            ),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
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
        if is_config {
            for (k, text) in data.iter_mut() {
                *text = rooted(
                    &interpolate(text, &env, &format!("{what}, {}", k)),
                    &mount_paths,
                    root.path(),
                );
            }
        }
        write_volume(&at, &data, m["subPath"].as_str());
    }
    let dir = root.path().join(config_dir.trim_start_matches('/'));
    let loaded = lethe::config::load(&dir, &lethe::config::process_env());
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

// ------------------------------------------------------------------------------------------
// systemd and the deploy guide
// ------------------------------------------------------------------------------------------

#[test]
fn systemd_units_start_commands_the_cli_accepts() {
    let dir = deploy().join("systemd");
    let mut checked = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "service") {
            continue;
        }
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let text = read(&path);
        let setting = |key: &str| {
            text.lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix(&format!("{key}=")))
                .map(str::to_string)
        };
        let starts: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("ExecStart="))
            .map(String::from)
            .collect();
        assert_eq!(starts.len(), 1, "{file}: one ExecStart");
        // systemd prefixes (-, @, +, !) and the binary path, then lethe's arguments.
        let line = starts[0].trim_start_matches(['-', '@', '+', '!', ':']);
        let mut words = line.split_whitespace().map(String::from);
        let bin = words.next().unwrap_or_default();
        assert!(
            bin.starts_with('/') && bin.ends_with("/lethe"),
            "{file}: ExecStart runs `{bin}`"
        );
        let args: Vec<String> = words.collect();
        let cli = parse_cli(&args).unwrap_or_else(|e| panic!("{file}: ExecStart {args:?}: {e}"));
        let cmd = command_name(&cli);
        match cmd {
            "daemon" => {
                assert_eq!(setting("Type").as_deref(), Some("simple"), "{file}: Type");
                assert_eq!(
                    setting("Restart").as_deref(),
                    Some("on-failure"),
                    "{file}: Restart"
                );
                assert_eq!(
                    setting("KillSignal").as_deref(),
                    Some("SIGTERM"),
                    "{file}: KillSignal"
                );
                assert!(
                    setting("TimeoutStopSec").is_some(),
                    "{file}: TimeoutStopSec"
                );
                listen_addr(&args);
            }
            "apply" => {
                assert_eq!(setting("Type").as_deref(), Some("oneshot"), "{file}: Type");
                assert!(
                    args.iter().any(|a| a == "--yes" || a == "-y"),
                    "{file}: apply needs --yes"
                );
            }
            other => panic!("{file}: unexpected `{other}`"),
        }
        checked.insert(cmd, file);
    }
    assert!(checked.contains_key("apply"), "a service for `lethe apply`");
    assert!(
        checked.contains_key("daemon"),
        "a service for `lethe daemon`"
    );
}

#[test]
fn the_deploy_guide_lists_exactly_the_metrics_the_daemon_exposes() {
    // Every family gets a sample (families without one are not shown), then the names as
    // Prometheus sees them: counters get `_total`.
    let metrics = lethe::daemon::Metrics::new();
    let outcome: lethe::apply::PolicyOutcome = serde_json::from_value(serde_json::json!({
        "name": "p", "store": "crm", "target": "crm.t", "action": "delete",
        "eligible": 1, "held": 0, "holds": [], "undated": 0, "cutoff": "2026-01-01T00:00:00Z",
        "deleted": 1, "anonymized": 0, "failed": 0, "remaining": 0, "batches": 1
    }))
    .expect("a PolicyOutcome");
    metrics.applied(&outcome, 1);
    metrics.not_run("q", "enforce", "refused");
    metrics.batch("p", std::time::Duration::from_millis(5));
    metrics.lease_busy();
    metrics.run_error();
    let text = metrics.encode();
    let exposed: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let mut w = l.split_whitespace();
            let (name, kind) = (w.next().unwrap(), w.next().unwrap_or_default());
            if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            }
        })
        .collect();
    assert!(!exposed.is_empty(), "no metrics in:\n{text}");
    // The guide's metrics table: rows that start with | `lethe_...
    let guide = read(&deploy().join("README.md"));
    let documented: BTreeSet<String> = guide
        .lines()
        .filter_map(|l| l.trim().strip_prefix("| `lethe_"))
        .map(|rest| format!("lethe_{}", rest.split(['`', '{']).next().unwrap()))
        .collect();
    assert_eq!(
        documented, exposed,
        "deploy/README.md's metrics table vs /metrics"
    );
    // Every file in deploy/kubernetes is explained in the guide.
    for e in std::fs::read_dir(deploy().join("kubernetes")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            guide.contains(&format!("`kubernetes/{name}`")),
            "deploy/README.md does not explain kubernetes/{name}"
        );
    }
}
