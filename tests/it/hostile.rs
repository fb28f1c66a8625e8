//! Hostile configurations that cannot be committed as fixture folders: pipes, sockets, devices,
//! links that loop, files of gigabytes, hundreds of thousands of documents. Each case builds a
//! policies folder in a scratch place and runs the real binary, which must refuse it with exit 2
//! and every problem at its place, within [`TIMEOUT`], within [`MEMORY_KIB`] of address space (an
//! unbounded read is killed and fails the case), touching nothing. Together with the folders
//! under `tests/fixtures/bad/` (see `config_errors`) they are the hostile-configuration corpus.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

/// A case that takes longer than this (a blocking read, a walk that explodes) fails.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The address space lethe may use (`ulimit -v`); reading `/dev/zero` to the end exceeds it.
const MEMORY_KIB: u64 = 512 * 1024;

/// A valid `lethe.yaml` whose SQLite files must never be created.
const SETTINGS: &str = "state: sqlite://state-must-not-exist.db
stores:
  crm:
    kind: sql
    url: sqlite://crm-must-not-exist.db
    region: eu-central-1
hmac_key: 4f1c2a9e7b3d5f60818293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8
";

/// A policy with one fault, at `leads.yaml:7:7`.
const BAD_POLICY: &str = "kind: RetentionPolicy
name: leads
store: crm
table: leads
key: id
clock: { column: created_at }
keep: 90x
action: delete
";
const BAD_POLICY_PLACE: &str = "leads.yaml:7:7: invalid duration `90x`";

/// A correct policy.
const GOOD_POLICY: &str = "kind: RetentionPolicy
name: leads
store: crm
table: leads
key: id
clock: { column: created_at }
keep: 90d
action: delete
";

/// One hostile case.
struct Case {
    name: &'static str,
    /// Builds the case in the policies folder (`dir`) and a folder beside it (`aside`).
    setup: fn(dir: &Path, aside: &Path),
    /// The command after `--config DIR`; `{aside}` stands for the folder beside it.
    args: &'static [&'static str],
    /// Every problem: `place: piece of message`, the place relative to the policies folder; or
    /// `~pieces`, found anywhere in a line (plan files, named by their full path).
    expected: &'static [&'static str],
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// A file of `len` bytes without writing them (a sparse file: zeros).
fn sparse(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// `lethe.yaml` with `line` instead of the `hmac_key` line.
fn settings_with(dir: &Path, line: &str) {
    let text = SETTINGS.replace(
        "hmac_key: 4f1c2a9e7b3d5f60818293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8",
        line,
    );
    write(&dir.join("lethe.yaml"), &text);
}

/// `lethe.yaml` whose store reads its URL from `file`.
fn url_file(dir: &Path, file: &str) {
    let text = SETTINGS.replace(
        "url: sqlite://crm-must-not-exist.db",
        &format!("url_file: {file}"),
    );
    write(&dir.join("lethe.yaml"), &text);
}

fn base(dir: &Path) {
    write(&dir.join("lethe.yaml"), SETTINGS);
    write(&dir.join("leads.yaml"), GOOD_POLICY);
}

fn base_bad(dir: &Path) {
    write(&dir.join("lethe.yaml"), SETTINGS);
    write(&dir.join("leads.yaml"), BAD_POLICY);
}

/// A plan file beside the folder.
const PLAN: &[&str] = &["apply", "--yes", "--plan", "{aside}/plan.json"];
const CHECK: &[&str] = &["check"];

fn cases() -> Vec<Case> {
    vec![
        // Pipes, sockets and devices.
        Case {
            name: "pipe named x.yaml",
            setup: |d, _| {
                base(d);
                mkfifo(&d.join("x.yaml"));
            },
            args: CHECK,
            expected: &["x.yaml: cannot read the file: it is not a regular file"],
        },
        Case {
            name: "pipe named x.yml in a subfolder",
            setup: |d, _| {
                base(d);
                std::fs::create_dir(d.join("sub")).unwrap();
                mkfifo(&d.join("sub/x.yml"));
            },
            args: CHECK,
            expected: &["sub/x.yml: cannot read the file: it is not a regular file"],
        },
        Case {
            name: "lethe.yaml is a pipe",
            setup: |d, _| {
                write(&d.join("leads.yaml"), GOOD_POLICY);
                mkfifo(&d.join("lethe.yaml"));
            },
            args: CHECK,
            expected: &["lethe.yaml: cannot read the file: it is not a regular file"],
        },
        Case {
            name: "socket named x.yaml",
            setup: |d, _| {
                base(d);
                let l = std::os::unix::net::UnixListener::bind(d.join("x.yaml")).unwrap();
                // The socket file stays after the listener is gone.
                drop(l);
            },
            args: CHECK,
            expected: &["x.yaml: cannot read the file: it is not a regular file"],
        },
        Case {
            name: "x.yaml links to /dev/zero",
            setup: |d, _| {
                base(d);
                symlink("/dev/zero", d.join("x.yaml")).unwrap();
            },
            args: CHECK,
            expected: &["x.yaml: cannot read the file: it is not a regular file"],
        },
        Case {
            name: "x.yaml links to /dev/urandom",
            setup: |d, _| {
                base(d);
                symlink("/dev/urandom", d.join("x.yaml")).unwrap();
            },
            args: CHECK,
            expected: &["x.yaml: cannot read the file: it is not a regular file"],
        },
        Case {
            name: "lethe.yaml links to /dev/zero",
            setup: |d, _| {
                write(&d.join("leads.yaml"), GOOD_POLICY);
                symlink("/dev/zero", d.join("lethe.yaml")).unwrap();
            },
            args: CHECK,
            expected: &["lethe.yaml: cannot read the file: it is not a regular file"],
        },
        Case {
            name: "url_file is a pipe",
            setup: |d, a| {
                url_file(d, &a.join("url").display().to_string());
                write(&d.join("leads.yaml"), GOOD_POLICY);
                mkfifo(&a.join("url"));
            },
            args: CHECK,
            expected: &["lethe.yaml:5:15: store `crm`: cannot read secret file ... not a regular file"],
        },
        Case {
            name: "url_file is /dev/urandom",
            setup: |d, _| {
                url_file(d, "/dev/urandom");
                write(&d.join("leads.yaml"), GOOD_POLICY);
            },
            args: CHECK,
            expected: &["lethe.yaml:5:15: store `crm`: cannot read secret file `/dev/urandom`: it is not a regular file"],
        },
        Case {
            name: "url_file is a socket",
            setup: |d, a| {
                url_file(d, &a.join("url").display().to_string());
                write(&d.join("leads.yaml"), GOOD_POLICY);
                drop(std::os::unix::net::UnixListener::bind(a.join("url")).unwrap());
            },
            args: CHECK,
            expected: &["lethe.yaml:5:15: store `crm`: cannot read secret file ... not a regular file"],
        },
        Case {
            name: "hmac_key_file is a pipe",
            setup: |d, a| {
                settings_with(d, &format!("hmac_key_file: {}", a.join("key").display()));
                write(&d.join("leads.yaml"), GOOD_POLICY);
                mkfifo(&a.join("key"));
            },
            args: CHECK,
            expected: &["lethe.yaml:7:16: hmac_key_file: cannot read secret file ... not a regular file"],
        },
        Case {
            name: "hmac_key_file is /dev/zero",
            setup: |d, _| {
                settings_with(d, "hmac_key_file: /dev/zero");
                write(&d.join("leads.yaml"), GOOD_POLICY);
            },
            args: CHECK,
            expected: &["lethe.yaml:7:16: hmac_key_file: cannot read secret file `/dev/zero`: it is not a regular file"],
        },
        Case {
            name: "hmac_key_file is /dev/null",
            setup: |d, _| {
                settings_with(d, "hmac_key_file: /dev/null");
                write(&d.join("leads.yaml"), GOOD_POLICY);
            },
            args: CHECK,
            expected: &["lethe.yaml:7:16: hmac_key_file: cannot read secret file `/dev/null`: it is not a regular file"],
        },
        Case {
            name: "hmac_key_file links to /dev/zero",
            setup: |d, a| {
                settings_with(d, &format!("hmac_key_file: {}", a.join("key").display()));
                write(&d.join("leads.yaml"), GOOD_POLICY);
                symlink("/dev/zero", a.join("key")).unwrap();
            },
            args: CHECK,
            expected: &["lethe.yaml:7:16: hmac_key_file: cannot read secret file ... not a regular file"],
        },
        // Files too large.
        Case {
            name: "policy file one byte over 1 MiB",
            setup: |d, _| {
                base(d);
                sparse(&d.join("big.yaml"), 1024 * 1024 + 1);
            },
            args: CHECK,
            expected: &["big.yaml: the file is larger than 1048576 bytes"],
        },
        Case {
            name: "policy file of 4 GiB",
            setup: |d, _| {
                base(d);
                sparse(&d.join("big.yaml"), 4 << 30);
            },
            args: CHECK,
            expected: &["big.yaml: the file is larger than 1048576 bytes"],
        },
        Case {
            name: "lethe.yaml of 2 GiB",
            setup: |d, _| {
                write(&d.join("leads.yaml"), GOOD_POLICY);
                sparse(&d.join("lethe.yaml"), 2 << 30);
            },
            args: CHECK,
            expected: &["lethe.yaml: the file is larger than 1048576 bytes"],
        },
        Case {
            name: "secret file one byte over 64 KiB",
            setup: |d, a| {
                settings_with(d, &format!("hmac_key_file: {}", a.join("key").display()));
                write(&d.join("leads.yaml"), GOOD_POLICY);
                write(&a.join("key"), &"a".repeat(64 * 1024 + 1));
            },
            args: CHECK,
            expected: &["lethe.yaml:7:16: hmac_key_file: cannot read secret file ... larger than 65536 bytes"],
        },
        Case {
            name: "secret file of 2 GiB",
            setup: |d, a| {
                url_file(d, &a.join("url").display().to_string());
                write(&d.join("leads.yaml"), GOOD_POLICY);
                sparse(&a.join("url"), 2 << 30);
            },
            args: CHECK,
            expected: &["lethe.yaml:5:15: store `crm`: cannot read secret file ... larger than 65536 bytes"],
        },
        // Documents.
        Case {
            name: "100,000 empty documents",
            setup: |d, _| {
                base(d);
                write(&d.join("many.yaml"), &"---\n".repeat(100_000));
            },
            args: CHECK,
            expected: &["many.yaml:1001:1: more than 1000 documents in one file"],
        },
        Case {
            name: "20,000 documents after a policy",
            setup: |d, _| {
                base(d);
                write(
                    &d.join("many.yaml"),
                    &format!("{}{}", GOOD_POLICY, "--- \n".repeat(20_000)),
                );
            },
            args: CHECK,
            expected: &["many.yaml:1008:1: more than 1000 documents in one file"],
        },
        Case {
            name: "1000 documents are allowed, the last one's fault at its line",
            setup: |d, _| {
                base(d);
                write(
                    &d.join("many.yaml"),
                    &format!("{}---\n{}", "---\n".repeat(998), BAD_POLICY.replace("leads", "other")),
                );
            },
            args: CHECK,
            expected: &["many.yaml:1006:7: invalid duration `90x`"],
        },
        // Links.
        Case {
            name: "two links to the folder itself",
            setup: |d, _| {
                base_bad(d);
                symlink(".", d.join("a")).unwrap();
                symlink(".", d.join("b")).unwrap();
            },
            args: CHECK,
            expected: &[BAD_POLICY_PLACE],
        },
        Case {
            name: "five links to the folder and one to its parent in a subfolder",
            setup: |d, _| {
                base_bad(d);
                for n in ["a", "b", "c", "d", "e"] {
                    symlink(".", d.join(n)).unwrap();
                }
                std::fs::create_dir(d.join("sub")).unwrap();
                symlink("..", d.join("sub/up")).unwrap();
                symlink("../sub", d.join("sub/again")).unwrap();
            },
            args: CHECK,
            expected: &[BAD_POLICY_PLACE],
        },
        Case {
            name: "two policy files linked to each other",
            setup: |d, _| {
                base(d);
                symlink("y.yaml", d.join("x.yaml")).unwrap();
                symlink("x.yaml", d.join("y.yaml")).unwrap();
            },
            args: CHECK,
            expected: &[
                "x.yaml: cannot read the file: ",
                "y.yaml: cannot read the file: ",
            ],
        },
        Case {
            name: "lethe.yaml is a broken link",
            setup: |d, _| {
                write(&d.join("leads.yaml"), GOOD_POLICY);
                symlink("nowhere.yaml", d.join("lethe.yaml")).unwrap();
            },
            args: CHECK,
            expected: &["lethe.yaml: cannot read the file: "],
        },
        Case {
            name: "lethe.yaml links to a folder",
            setup: |d, a| {
                write(&d.join("leads.yaml"), GOOD_POLICY);
                symlink(a, d.join("lethe.yaml")).unwrap();
            },
            args: CHECK,
            expected: &["lethe.yaml: `lethe.yaml` is a folder"],
        },
        // Text.
        Case {
            name: "lethe.yaml in UTF-16",
            setup: |d, _| {
                write(&d.join("leads.yaml"), GOOD_POLICY);
                let mut bytes = vec![0xff, 0xfe];
                bytes.extend(SETTINGS.encode_utf16().flat_map(u16::to_le_bytes));
                std::fs::write(d.join("lethe.yaml"), bytes).unwrap();
            },
            args: CHECK,
            expected: &["lethe.yaml:1:1: this byte is not UTF-8 text"],
        },
        Case {
            name: "a NUL-free Latin-1 byte deep in a policy",
            setup: |d, _| {
                write(&d.join("lethe.yaml"), SETTINGS);
                let mut bytes = GOOD_POLICY.as_bytes().to_vec();
                bytes.extend(b"purpose: na\xefve\n");
                std::fs::write(d.join("leads.yaml"), bytes).unwrap();
            },
            args: CHECK,
            expected: &["leads.yaml:9:12: this byte is not UTF-8 text"],
        },
        // Tags.
        Case {
            name: "a tag on a mapping",
            setup: |d, _| {
                write(&d.join("lethe.yaml"), SETTINGS);
                write(
                    &d.join("leads.yaml"),
                    &GOOD_POLICY.replace("clock: {", "clock: !!map {"),
                );
            },
            args: CHECK,
            expected: &["leads.yaml:6:8: YAML tag `!!map` is not accepted"],
        },
        Case {
            name: "a tag declared by a %TAG directive",
            setup: |d, _| {
                write(&d.join("lethe.yaml"), SETTINGS);
                write(
                    &d.join("leads.yaml"),
                    &format!(
                        "%TAG !e! tag:example.com,2000:\n---\n{}",
                        GOOD_POLICY.replace("keep: 90d", "keep: !e!days 90")
                    ),
                );
            },
            args: CHECK,
            // Documents are read one by one, so the directive stays in a document of its own:
            // the tag's handle is undeclared where it is used. Refused at both places.
            expected: &[
                "leads.yaml:1:1: YAML `%TAG` directive is not accepted",
                "leads.yaml:9:7: YAML tag with an undeclared handle; YAML tags are not accepted",
            ],
        },
        Case {
            name: "a tag in the second document",
            setup: |d, _| {
                write(&d.join("lethe.yaml"), SETTINGS);
                write(
                    &d.join("leads.yaml"),
                    &format!(
                        "{GOOD_POLICY}---\n{}",
                        GOOD_POLICY
                            .replace("name: leads", "name: other")
                            .replace("keep: 90d", "keep: !!str 1d")
                    ),
                );
            },
            args: CHECK,
            expected: &["leads.yaml:16:7: YAML tag `!!str` is not accepted"],
        },
        Case {
            name: "100,000 tags in one document",
            setup: |d, _| {
                write(&d.join("lethe.yaml"), SETTINGS);
                let tags = vec!["!t 1"; 100_000].join(", ");
                write(
                    &d.join("leads.yaml"),
                    &format!("kind: RetentionPolicy\nx: [{tags}]\n"),
                );
            },
            args: CHECK,
            // The first ten are shown.
            expected: &[
                "leads.yaml:2:5: YAML tag `!t`",
                "leads.yaml:2:11: YAML tag `!t`",
                "leads.yaml:2:17: YAML tag `!t`",
                "leads.yaml:2:23: YAML tag `!t`",
                "leads.yaml:2:29: YAML tag `!t`",
                "leads.yaml:2:35: YAML tag `!t`",
                "leads.yaml:2:41: YAML tag `!t`",
                "leads.yaml:2:47: YAML tag `!t`",
                "leads.yaml:2:53: YAML tag `!t`",
                "leads.yaml:2:59: YAML tag `!t`",
            ],
        },
        // Depth.
        Case {
            name: "200,000 nested brackets",
            setup: |d, _| {
                write(&d.join("lethe.yaml"), SETTINGS);
                let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
                write(
                    &d.join("leads.yaml"),
                    &GOOD_POLICY.replace("keep: 90d", &format!("keep: {deep}")),
                );
            },
            args: CHECK,
            expected: &["leads.yaml:7:7: expected a text value"],
        },
        Case {
            name: "1000 nested block lists",
            setup: |d, _| {
                write(&d.join("lethe.yaml"), SETTINGS);
                let deep: String = (1..=1000).map(|i| format!("{}- \n", " ".repeat(i))).collect();
                write(
                    &d.join("leads.yaml"),
                    &GOOD_POLICY.replace("keep: 90d", &format!("keep:\n{deep}")),
                );
            },
            args: CHECK,
            expected: &["leads.yaml:8:2: expected a text value"],
        },
        // Schedules.
        Case {
            name: "a default schedule on 30 February",
            setup: |d, _| {
                write(
                    &d.join("lethe.yaml"),
                    &format!("{SETTINGS}schedule: \"0 0 0 30 2 *\"\n"),
                );
                write(&d.join("leads.yaml"), GOOD_POLICY);
            },
            args: CHECK,
            expected: &["lethe.yaml:8:11: cron schedule `0 0 0 30 2 *` never fires"],
        },
        Case {
            name: "a policy schedule on 31 April",
            setup: |d, _| {
                write(&d.join("lethe.yaml"), SETTINGS);
                write(
                    &d.join("leads.yaml"),
                    &format!("{GOOD_POLICY}schedule: \"0 0 0 31 4 *\"\n"),
                );
            },
            args: CHECK,
            expected: &["leads.yaml:9:11: cron schedule `0 0 0 31 4 *` never fires"],
        },
        // Plan files (`apply --plan`), read before the configuration.
        Case {
            name: "plan file is /dev/zero",
            setup: |d, a| {
                base(d);
                symlink("/dev/zero", a.join("plan.json")).unwrap();
            },
            args: PLAN,
            expected: &["~cannot read plan file ... not a regular file"],
        },
        Case {
            name: "plan file is a pipe",
            setup: |d, a| {
                base(d);
                mkfifo(&a.join("plan.json"));
            },
            args: PLAN,
            expected: &["~cannot read plan file ... not a regular file"],
        },
        Case {
            name: "plan file of 1 GiB",
            setup: |d, a| {
                base(d);
                sparse(&a.join("plan.json"), 1 << 30);
            },
            args: PLAN,
            expected: &["~cannot read plan file ... larger than the limit of 16777216 bytes"],
        },
        Case {
            name: "plan file is a folder",
            setup: |d, a| {
                base(d);
                std::fs::create_dir(a.join("plan.json")).unwrap();
            },
            args: PLAN,
            expected: &["~cannot read plan file ... it is a folder"],
        },
        Case {
            name: "plan file is not UTF-8",
            setup: |d, a| {
                base(d);
                std::fs::write(a.join("plan.json"), b"{\n  \"version\": \"\xff\"\n}\n").unwrap();
            },
            args: PLAN,
            expected: &["~plan.json:2:15: not a lethe plan file: this byte is not UTF-8 text"],
        },
    ]
}

/// Runs one case; returns what is wrong (empty: it passes) and how long lethe took.
fn run_case(case: &Case) -> (Vec<String>, Duration) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("policies");
    let aside = root.path().join("aside");
    let scratch = root.path().join("cwd");
    for d in [&dir, &aside, &scratch] {
        std::fs::create_dir(d).unwrap();
    }
    (case.setup)(&dir, &aside);
    let aside_text = aside.display().to_string();
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{aside}", &aside_text))
        .collect();

    let mut sh = crate::support::lethe_bounded(&scratch, &dir, MEMORY_KIB);
    sh.args(&args).timeout(TIMEOUT);
    let started = Instant::now();
    let out = sh.output().unwrap();
    let took = started.elapsed();

    let mut problems = Vec::new();
    if took >= TIMEOUT {
        problems.push(format!("took {took:?}; at most {TIMEOUT:?} allowed"));
    }
    if out.status.code() != Some(2) {
        problems.push(format!("exit {:?}, expected 2", out.status));
    }
    let prefix = format!("{}/", dir.display());
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&prefix, "");
    let lines: Vec<&str> = stderr
        .lines()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    for exp in case.expected {
        let (place, message) = match exp.strip_prefix('~') {
            Some(anywhere) => ("", anywhere),
            None => exp.split_once(": ").unwrap_or((exp, "")),
        };
        let found = lines.iter().any(|l| {
            let Some(rest) = l.strip_prefix(place) else {
                return false;
            };
            let mut rest = rest;
            for piece in message.split(" ... ") {
                match rest.find(piece) {
                    Some(i) => rest = &rest[i + piece.len()..],
                    None => return false,
                }
            }
            true
        });
        if !found {
            problems.push(format!("not reported: {exp}"));
        }
    }
    // Configuration cases report exactly the expected problems (a file read twice through a
    // link would be reported twice).
    if case.args == CHECK {
        let n = case.expected.len();
        let summary = format!(
            "{n} problem{} in the configuration; nothing was touched",
            if n == 1 { "" } else { "s" }
        );
        if lines.last() != Some(&summary.as_str()) {
            problems.push(format!("last line is not {summary:?}"));
        }
    }
    if std::fs::read_dir(&scratch).unwrap().next().is_some() {
        problems.push("lethe created files in its working folder".into());
    }
    if !problems.is_empty() {
        problems.push(format!(
            "stderr:\n    {}",
            stderr.trim_end().replace('\n', "\n    ")
        ));
    }
    (problems, took)
}

/// Every hostile case is refused at its place with exit 2, quickly and in bounded memory.
#[test]
fn hostile_configurations_are_refused_at_their_place() {
    let cases = cases();
    let fixtures =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad"))
            .unwrap()
            .count();
    assert!(
        cases.len() + fixtures >= 60,
        "the hostile corpus has {} generated cases and {fixtures} fixtures; at least 60 in all",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    for case in &cases {
        let (problems, took) = run_case(case);
        slowest = slowest.max(took);
        if !problems.is_empty() {
            failures.push(format!("{}:\n  - {}", case.name, problems.join("\n  - ")));
        }
    }
    eprintln!(
        "{} hostile cases ({fixtures} more as fixtures), the slowest took {slowest:?}",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n\n{}\n",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
