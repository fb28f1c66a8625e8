//! deploy/Dockerfile: a multi-stage build whose runtime stage runs lethe as a non-root user,
//! with every build input copied and none hidden by .dockerignore.

use super::{command_name, deploy, listen_addr, parse_cli, read, repo};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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
pub(super) struct Image {
    pub(super) entrypoint: Vec<String>,
    pub(super) cmd: Vec<String>,
    pub(super) uid: u32,
    pub(super) workdir: String,
    pub(super) env: BTreeMap<String, String>,
    pub(super) expose: Vec<u16>,
}

pub(super) fn image() -> Image {
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
