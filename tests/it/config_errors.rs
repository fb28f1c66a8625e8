//! Bad policy folders: each error reported with file:line:col, exit code 2, nothing touched.
//!
//! Every folder under `tests/fixtures/bad/` is one case: a complete policies folder (a
//! `lethe.yaml` and policy files, or deliberately not) plus `expected.txt`, which lists, one per
//! line, every problem `lethe check` must report:
//!
//! ```text
//! leads.yaml:14:7: invalid duration `90x`; expected a number and a unit
//! lethe.yaml: missing `lethe.yaml`; every policies folder needs one
//! ```
//!
//! The file is relative to the case folder; a problem with a whole file has no line and column.
//! The place must match exactly, the message is a substring in which ` ... ` stands for any
//! text. Blank lines and lines starting with `#` are ignored. lethe runs in an empty scratch
//! folder, where the fixtures' relative `sqlite://` URLs point; afterwards that folder must still
//! be empty and the case folder unchanged. Each case must finish within 5 s and 512 MiB of
//! address space (see `hostile` for the cases that cannot be committed as folders).

use crate::support::lethe_bounded;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A case that takes longer than this (an alias bomb, a hang) fails.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The address space lethe may use in a case (`ulimit -v`); more fails the case.
const MEMORY_KIB: u64 = 512 * 1024;

/// Variables the fixtures rely on being unset (besides every `LETHE_*`, which `lethe_bounded` removes).
const UNSET_VARS: &[&str] = &["CRM_DATABASE_URL"];

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One line of `expected.txt`.
struct Expected {
    line: String,
    place: String,
    pieces: Vec<String>,
}

impl Expected {
    fn parse(line: &str) -> Expected {
        let (place, message) = split_place(line);
        Expected {
            line: line.to_string(),
            place: place.to_string(),
            pieces: message.split(" ... ").map(str::to_string).collect(),
        }
    }

    fn matches(&self, place: &str, message: &str) -> bool {
        if place != self.place {
            return false;
        }
        let mut rest = message;
        for piece in &self.pieces {
            match rest.find(piece.as_str()) {
                Some(i) => rest = &rest[i + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

/// `file:line:col: message` or `file: message` -> (place, message).
fn split_place(line: &str) -> (&str, &str) {
    line.split_once(": ").unwrap_or((line, ""))
}

/// Words that only a Rust programmer would understand: type names, serde's wording, Debug output.
fn rust_leak(line: &str) -> Option<String> {
    const PHRASES: &[&str] = &[
        "untagged enum",
        "panicked",
        "RUST_BACKTRACE",
        "serde",
        "saphyr",
    ];
    const TOKENS: &[&str] = &[
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64", "String", "Vec", "Option", "Some", "None", "BTreeMap", "HashMap",
    ];
    if let Some(p) = PHRASES.iter().find(|p| line.contains(*p)) {
        return Some(format!("`{p}`"));
    }
    let words: Vec<&str> = line
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(t) = words.iter().find(|w| TOKENS.contains(w)) {
        return Some(format!("the Rust type `{t}`"));
    }
    if let Some(t) = words.iter().find(|w| {
        w.strip_prefix("Raw")
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_uppercase()))
    }) {
        return Some(format!("the Rust type `{t}`"));
    }
    // Debug output of a struct: `Nodes { nodes: 250001 }`.
    for (i, _) in line.match_indices(" { ") {
        let word = line[..i]
            .rsplit(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        if word.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Some(format!("Rust debug output `{word} {{ ... }}`"));
        }
    }
    None
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs one case; returns what is wrong with lethe's answer (empty: the case passes).
fn check_case(case: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let expected: Vec<Expected> = match std::fs::read_to_string(case.join("expected.txt")) {
        Ok(text) => text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(Expected::parse)
            .collect(),
        Err(e) => return vec![format!("cannot read expected.txt: {e}")],
    };
    if expected.is_empty() {
        return vec!["expected.txt lists no problem".into()];
    }
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return vec![format!("cannot create a scratch folder: {e}")],
    };
    let case_files = files_under(case);

    let mut cmd = lethe_bounded(scratch.path(), case, MEMORY_KIB);
    cmd.arg("check").timeout(TIMEOUT);
    for var in UNSET_VARS {
        cmd.env_remove(var);
    }
    let started = Instant::now();
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => return vec![format!("cannot run lethe: {e}")],
    };
    if started.elapsed() >= TIMEOUT {
        problems.push(format!(
            "lethe took {:.1} s and was killed; at most {} s allowed",
            started.elapsed().as_secs_f64(),
            TIMEOUT.as_secs()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("{}{}", case.display(), std::path::MAIN_SEPARATOR);
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&prefix, "");

    match out.status.code() {
        Some(2) => {}
        code => problems.push(format!("exit code {code:?}, expected 2")),
    }
    if !stdout.is_empty() {
        problems.push(format!("stdout is not empty:\n{stdout}"));
    }

    let mut lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if let Some(first) = lines.first_mut() {
        *first = first.strip_prefix("error: ").unwrap_or(first);
    }
    let n = expected.len();
    let summary = format!(
        "{n} problem{} in the configuration; nothing was touched",
        if n == 1 { "" } else { "s" }
    );
    match lines.pop() {
        Some(last) if last == summary => {}
        last => problems.push(format!(
            "last line of stderr is {last:?}, expected {summary:?}"
        )),
    }
    for line in &lines {
        if let Some(leak) = rust_leak(line) {
            problems.push(format!("message shows {leak} to the user: {line}"));
        }
    }
    let mut unmatched: Vec<(&str, &str)> = lines.iter().map(|l| split_place(l)).collect();
    for exp in &expected {
        match unmatched.iter().position(|(p, m)| exp.matches(p, m)) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => problems.push(format!("not reported: {}", exp.line)),
        }
    }
    for (place, message) in &unmatched {
        problems.push(format!("not expected: {place}: {message}"));
    }

    let created = files_under(scratch.path());
    if !created.is_empty() {
        problems.push(format!(
            "lethe created files in its working folder: {created:?}"
        ));
    }
    let after = files_under(case);
    if after != case_files {
        let new: Vec<_> = after.difference(&case_files).collect();
        let gone: Vec<_> = case_files.difference(&after).collect();
        problems.push(format!(
            "the case folder changed: new {new:?}, removed {gone:?}"
        ));
    }
    if !problems.is_empty() {
        problems.push(format!(
            "lethe printed on stderr:\n    {}",
            stderr.trim_end().replace('\n', "\n    ")
        ));
    }
    problems
}

/// Every bad folder is refused before any connection, with every problem at its place.
#[test]
fn every_bad_config_is_reported_at_its_place() {
    let root = crate_dir().join("tests/fixtures/bad");
    let mut cases: Vec<PathBuf> = match std::fs::read_dir(&root) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => Vec::from([root.join(format!("(cannot read: {e})"))]),
    };
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected the bad-config cases under {}, found {cases:?}",
        root.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let problems = check_case(case);
        if !problems.is_empty() {
            let name = case.file_name().unwrap_or_default().to_string_lossy();
            failures.push(format!("{name}:\n  - {}", problems.join("\n  - ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad-config cases failed:\n\n{}\n",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Set in the child process of `repository_policies_load`.
const CHILD: &str = "LETHE_IT_POLICIES_CHILD";

/// The repository's own `policies/` folder loads, in a fresh clone too (no `var/` folder).
///
/// Its `lethe.yaml` reads `hmac_key_file: ${LETHE_HMAC_KEY_FILE:-var/demo/hmac.key}` (and the
/// signing key likewise). Changing
/// the environment of this multi-threaded test process is unsound, so the test runs itself again
/// as a child process with `LETHE_HMAC_KEY_FILE` pointing at a scratch key, every other
/// `LETHE_*` removed, in an empty working folder; the child calls `lethe::config::load`.
#[test]
fn repository_policies_load() {
    let policies = crate_dir().join("policies");
    if std::env::var_os(CHILD).is_some() {
        let loaded = lethe::config::load(&policies, &lethe::config::process_env());
        assert!(
            loaded.is_ok(),
            "{} does not load:\n{}",
            policies.display(),
            loaded
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        let n = loaded.map(|c| c.policies.len()).unwrap_or_default();
        assert!(n > 0, "{} holds no policies", policies.display());
        return;
    }

    let scratch = tempfile::tempdir();
    assert!(scratch.is_ok(), "tempdir: {:?}", scratch.err());
    let Ok(scratch) = scratch else { return };
    let key = scratch.path().join("hmac.key");
    let written = std::fs::write(&key, format!("{}\n", "5a".repeat(32)));
    assert!(
        written.is_ok(),
        "write {}: {:?}",
        key.display(),
        written.err()
    );
    let signing = scratch.path().join("signing.pem");
    let pem = lethe::certificate::Signer::generate().and_then(|s| s.private_pem());
    assert!(pem.is_ok(), "signing key: {:?}", pem.err());
    let written = std::fs::write(&signing, pem.unwrap_or_default());
    assert!(
        written.is_ok(),
        "write {}: {:?}",
        signing.display(),
        written.err()
    );
    let exe = std::env::current_exe();
    assert!(exe.is_ok(), "current_exe: {:?}", exe.err());
    let Ok(exe) = exe else { return };

    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "config_errors::repository_policies_load",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .current_dir(scratch.path());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("LETHE_") || UNSET_VARS.contains(&k.as_ref()) {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.env("LETHE_HMAC_KEY_FILE", &key)
        .env("LETHE_SIGNING_KEY_FILE", &signing)
        .env(CHILD, "1");
    let out = cmd.output();
    assert!(out.is_ok(), "cannot run the child test: {:?}", out.err());
    let Ok(out) = out else { return };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
