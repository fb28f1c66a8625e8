//! `lethe schema`: the JSON Schema editors check policy files with.
//!
//! - The committed `docs/reference/lethe.schema.json` is what `lethe schema` prints, and every
//!   document of the example files under `policies/` names it at its top and passes it.
//! - The bad fixtures whose fault shows in the document itself (an unknown key, a value of the
//!   wrong type, a name outside a closed set) fail it, at the faulty document only.
//! - What the schema adds to the raw shapes (the keys each kind requires and refuses, the closed
//!   sets) is what `lethe check` says too.
//! - Every key the schema knows appears in the reference pages, `docs/reference/*.md`.
//!
//! YAML is read into JSON with serde-saphyr, the loader's own parser, without replacing
//! `${VAR}` references: an editor sees the file as written.

use crate::support::{lethe_in, run};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The committed schema, relative to the repository.
const SCHEMA_FILE: &str = "docs/reference/lethe.schema.json";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `lethe schema` with `args`: its stdout, after checking that it succeeded.
fn lethe_schema(args: &[&str]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = lethe_in(scratch.path(), scratch.path());
    cmd.arg("schema").args(args);
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "lethe schema {args:?}: {}", r.stderr);
    r.stdout
}

fn schema() -> Value {
    serde_json::from_str(&lethe_schema(&[])).unwrap()
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft7::new(schema).unwrap_or_else(|e| panic!("the schema does not compile: {e}"))
}

/// The documents of a YAML file, empty ones left out (as the loader does).
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Every problem the schema finds in `doc`, one line each.
fn problems(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Every `*.yaml` file under `dir`, in path order.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn the_committed_schema_is_what_lethe_schema_prints() {
    let printed = lethe_schema(&[]);
    let committed = std::fs::read_to_string(repo().join(SCHEMA_FILE)).unwrap_or_default();
    assert!(
        printed == committed,
        "{SCHEMA_FILE} is not what `lethe schema` prints; regenerate it:\n  cargo run -q -- schema > {SCHEMA_FILE}"
    );
}

#[test]
fn the_schema_is_a_valid_draft_07_schema() {
    for document in ["any", "settings", "policy", "hold"] {
        let s: Value = serde_json::from_str(&lethe_schema(&["--document", document])).unwrap();
        assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
        if let Err(e) = jsonschema::draft7::meta::validate(&s) {
            panic!("--document {document}: not a draft-07 schema: {e}");
        }
        validator(&s);
    }
}

#[test]
fn one_document_kind_at_a_time() {
    let schema_of = |d: &str| -> jsonschema::Validator {
        validator(&serde_json::from_str(&lethe_schema(&["--document", d])).unwrap())
    };
    let settings = documents(&repo().join("policies/lethe.yaml")).remove(0);
    let policy = documents(&repo().join("policies/invoices.yaml")).remove(0);
    let hold = documents(&repo().join("policies/holds/fiscal.yaml")).remove(0);
    for (d, good, bad) in [
        ("settings", &settings, &policy),
        ("policy", &policy, &hold),
        ("hold", &hold, &policy),
    ] {
        let v = schema_of(d);
        assert!(v.is_valid(good), "--document {d}: {:?}", problems(&v, good));
        assert!(!v.is_valid(bad), "--document {d} accepts {bad}");
    }
}

#[test]
fn the_help_teaches_the_modeline() {
    let scratch = tempfile::tempdir().unwrap();
    let r = run(lethe_in(scratch.path(), scratch.path()).args(["schema", "--help"]));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("# yaml-language-server: $schema="),
        "{}",
        r.stdout
    );
}

/// The modeline of each document of `text`: yaml-language-server reads it among the comments
/// at the top of each document, so a file of several documents repeats it after each `---`.
fn modelines(text: &str) -> Vec<Option<&str>> {
    let mut out = Vec::new();
    let mut header = true;
    for (i, line) in text.lines().enumerate() {
        if i == 0 || line == "---" || line.starts_with("--- ") {
            out.push(None);
            header = true;
            if i > 0 {
                continue;
            }
        }
        if !(line.is_empty() || line.starts_with('#')) {
            header = false;
        }
        if let (true, Some(target)) = (
            header,
            line.strip_prefix("# yaml-language-server: $schema="),
        ) {
            if let Some(last) = out.last_mut() {
                last.get_or_insert(target);
            }
        }
    }
    out
}

#[test]
fn every_example_policy_file_names_the_schema_and_passes_it() {
    let v = validator(&schema());
    let dir = repo().join("policies");
    let files = yaml_files(&dir);
    assert!(files.len() >= 5, "examples: {files:?}");
    let schema_file = repo().join(SCHEMA_FILE).canonicalize().unwrap();
    let mut failures = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(repo()).unwrap().display().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        let docs = documents(file);
        assert!(!docs.is_empty(), "{rel}: no document");
        let modelines = modelines(&text);
        assert_eq!(modelines.len(), docs.len(), "{rel}: documents");
        for (i, (doc, modeline)) in docs.iter().zip(modelines).enumerate() {
            let at = format!("{rel}, document {}", i + 1);
            match modeline {
                // A path relative to the file that reaches the schema.
                Some(target) => {
                    let resolved = file.parent().unwrap().join(target).canonicalize().ok();
                    if resolved.as_ref() != Some(&schema_file) {
                        failures.push(format!(
                            "{at}: the modeline points at `{target}`, not at {SCHEMA_FILE}"
                        ));
                    }
                }
                None => failures.push(format!(
                    "{at}: no `# yaml-language-server: $schema=...` line at its top"
                )),
            }
            for p in problems(&v, doc) {
                failures.push(format!("{at}: {p}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A document with a fault: its file, its 1-based index in the file, and a piece of the schema's
/// answer that names the fault.
type Fault = (&'static str, usize, &'static str);

/// Bad fixtures whose fault the schema sees, and the documents that must fail it. Every other
/// document of these fixtures must pass. The other fixtures' faults need more than one document
/// (`lethe.yaml`'s stores, the live tables) or are YAML syntax errors.
const SCHEMA_FAULTS: &[(&str, &[Fault])] = &[
    // Unknown keys.
    ("unknown-key-in-policy", &[("leads.yaml", 1, "'colour'")]),
    (
        "unknown-key-in-settings",
        &[("lethe.yaml", 1, "'batchsize'")],
    ),
    (
        "unknown-key-beside-variables",
        &[("lethe.yaml", 1, "'colour'")],
    ),
    // Values of the wrong type.
    (
        "wrong-types",
        &[
            ("contracts.yaml", 1, "/batch_size: \"lots\""),
            ("leads.yaml", 1, r#"/key: {"column":"id"}"#),
            ("lethe.yaml", 1, "/batch_size: \"many\""),
        ],
    ),
    // `sha256` and `purge` are outside the closed sets; `anonymise:` is an unknown key.
    (
        "unknown-strategy-and-action",
        &[
            ("leads.yaml", 1, "/action/anonymize/email: \"sha256\""),
            ("leads.yaml", 2, "/action: \"purge\""),
            ("leads.yaml", 3, "anonymise"),
        ],
    ),
    // Names outside a closed set, and a key the kind refuses.
    (
        "unknown-kind",
        &[
            ("contracts.yaml", 1, "/kind: \"Something\""),
            ("invoices.yaml", 1, "/kind: \"Something\""),
        ],
    ),
    (
        "unknown-store-kind",
        &[("lethe.yaml", 1, "/stores/sessions/kind: \"mongodb\"")],
    ),
    (
        "policy-mode",
        &[
            ("leads.yaml", 1, "/mode: \"dry_run\""),
            ("leads.yaml", 2, "'mode'"),
        ],
    ),
    (
        "residency-settings",
        &[("lethe.yaml", 1, "/stores/crm/provider: \"alibaba\"")],
    ),
];

#[test]
fn fixtures_with_a_fault_of_shape_fail_the_schema_at_that_document() {
    let v = validator(&schema());
    let root = repo().join("tests/fixtures/bad");
    let mut wrong = Vec::new();
    for (case, faulty) in SCHEMA_FAULTS {
        let dir = root.join(case);
        assert!(dir.is_dir(), "no fixture {case}");
        for file in yaml_files(&dir) {
            let name = file.strip_prefix(&dir).unwrap().display().to_string();
            for (i, doc) in documents(&file).iter().enumerate() {
                let at = format!("{case}/{name}, document {}", i + 1);
                let found = problems(&v, doc).join("\n    ");
                let fault = faulty.iter().find(|(f, n, _)| *f == name && *n == i + 1);
                match fault {
                    Some((_, _, piece)) if !found.contains(piece) => wrong.push(format!(
                        "{at}: the schema does not see its fault ({piece}):\n    {found}"
                    )),
                    None if !found.is_empty() => wrong.push(format!(
                        "{at}: fails the schema, but its fault is elsewhere:\n    {found}"
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// `lethe check` on a folder with `lethe.yaml` (one SQLite store `crm`, `store` lines added to
/// it or after it, and `extra` settings), `leads.yaml` holding `policy`, and `stop.yaml`, whose
/// policy has a fault of its own: lethe never gets past the configuration. Returns stderr.
fn check(store: &str, extra: &str, policy: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policies");
    std::fs::create_dir(&cfg).unwrap();
    std::fs::write(
        cfg.join("lethe.yaml"),
        format!(
            "state: sqlite://state-must-not-exist.db\nstores:\n  crm:\n    kind: sql\n    url: sqlite://crm-must-not-exist.db\n    country: NL\n{store}{extra}"
        ),
    )
    .unwrap();
    std::fs::write(cfg.join("leads.yaml"), policy).unwrap();
    std::fs::write(
        cfg.join("stop.yaml"),
        "kind: RetentionPolicy\nname: stop\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 0d\naction: delete\n",
    )
    .unwrap();
    let r = run(lethe_in(dir.path(), &cfg).arg("check"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 1,
        "lethe created files beside the policies"
    );
    r.stderr
}

const POLICY: &str = "kind: RetentionPolicy\nname: p\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\n";
const HOLD: &str = "kind: LegalHold\nname: h\nbasis: a case\nstore: crm\ntable: leads\n";
const EXEMPTION: &str =
    "kind: Exemption\nname: e\nreason: proof of consent\nstore: crm\ntable: leads\n";

/// A value lethe reads for `key` in a document.
fn sample(key: &str) -> &'static str {
    match key {
        "key" => "id",
        "key_template" => "\"exports/{customer_id}/\"",
        "action" => "delete",
        "schedule" => "\"0 0 3 * * *\"",
        "mode" => "enforce",
        "guard" => "{ max_rows: 10 }",
        "batch_size" => "10",
        "batch_target" => "100ms",
        "max_replica_lag" => "5s",
        "max_throttle_wait" => "1m",
        "max_rows_per_second" => "100",
        "basis" => "a case",
        "until" => "2030-01-01",
        "purpose" => "a purpose",
        "clause" => "art. 17",
        "clock" => "{ column: created_at }",
        "keep" => "30d",
        "match" => "{ status: lead }",
        "columns" => "[email]",
        "reason" => "proof of consent",
        other => panic!("no sample value for `{other}`"),
    }
}

/// `text` without its line `key: ...`.
fn without(text: &str, key: &str) -> String {
    let prefix = format!("{key}:");
    text.lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn keys_of(definition: &Value) -> BTreeSet<String> {
    definition["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_keys_each_kind_requires_and_refuses_are_the_loaders() {
    let s = schema();
    let defs = &s["definitions"];
    let kinds = [
        ("RetentionPolicy", POLICY),
        ("LegalHold", HOLD),
        ("Exemption", EXEMPTION),
    ];
    let all: BTreeSet<String> = kinds.iter().flat_map(|(k, _)| keys_of(&defs[k])).collect();
    for (kind, base) in kinds {
        let allowed = keys_of(&defs[kind]);
        for key in all.difference(&allowed) {
            let doc = format!("{base}{key}: {}\n", sample(key));
            let err = check("", "", &doc);
            let article = if kind.starts_with('E') { "an" } else { "a" };
            let said = format!("`{key}` does not belong in {article} {kind}");
            assert!(
                err.contains(&said),
                "the schema refuses `{key}` in a {kind}, lethe does not:\n{err}"
            );
        }
        for key in strings(&defs[kind]["required"]) {
            let err = check("", "", &without(base, &key));
            assert!(
                err.contains(&format!("missing `{key}`"))
                    || err.contains(&format!("missing field `{key}`"))
                    || (key == "kind" && err.contains("without `kind`")),
                "the schema requires `{key}` in a {kind}, lethe does not:\n{err}"
            );
        }
        for (key, others) in defs[kind]["dependencies"].as_object().into_iter().flatten() {
            let doc = format!(
                "{base}{key}: {}\n",
                if key == "clock" {
                    "{ column: issued_at }"
                } else {
                    "7y"
                }
            );
            let err = check("", "", &doc);
            for other in strings(others) {
                assert!(
                    err.contains(&format!("`{other}`")) && err.contains("together"),
                    "the schema wants `{other}` beside `{key}` in a {kind}, lethe does not:\n{err}"
                );
            }
        }
    }
}

#[test]
fn the_closed_sets_of_the_schema_are_the_loaders() {
    let s = schema();
    let defs = &s["definitions"];
    let store = &defs["Store"]["properties"];
    for kind in strings(&store["kind"]["enum"]) {
        let err = check(&format!("  other:\n    kind: {kind}\n"), "", POLICY);
        assert!(
            !err.contains("unknown store kind"),
            "store kind `{kind}`:\n{err}"
        );
    }
    for provider in strings(&store["provider"]["enum"]) {
        let err = check(
            &format!("    provider: {provider}\n    region: eu-central-1\n"),
            "",
            POLICY,
        );
        assert!(
            !err.contains("unknown provider"),
            "provider `{provider}`:\n{err}"
        );
    }
    for mode in strings(&defs["RetentionPolicy"]["properties"]["mode"]["enum"]) {
        let err = check("", "", &format!("{POLICY}mode: {mode}\n"));
        assert!(!err.contains("unknown mode"), "mode `{mode}`:\n{err}");
    }
    let names = strings(&defs["Action"]["else"]["enum"]);
    assert!(!names.is_empty());
    for action in names {
        let err = check(
            "",
            "",
            &format!("{}action: {action}\n", without(POLICY, "action")),
        );
        assert!(!err.contains("unknown action"), "action `{action}`:\n{err}");
    }
    let names = strings(&defs["Strategy"]["else"]["enum"]);
    assert!(!names.is_empty());
    let columns: String = (names.iter().enumerate())
        .map(|(i, n)| format!("    c{i}: \"{n}\"\n"))
        .collect();
    let err = check(
        "",
        "hmac_key: 0123456789abcdef0123456789abcdef\n",
        &format!(
            "{}action:\n  anonymize:\n{columns}",
            without(POLICY, "action")
        ),
    );
    assert!(
        !err.contains("unknown strategy"),
        "strategies {names:?}:\n{err}"
    );
}

/// Every property name anywhere in `v`.
fn property_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Object(p)) = o.get("properties") {
                out.extend(p.keys().cloned());
            }
            o.values().for_each(|v| property_names(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| property_names(v, out)),
        _ => {}
    }
}

/// The words inside code in Markdown: inline `code` and fenced blocks.
fn code_words(markdown: &str) -> BTreeSet<String> {
    let mut code = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            code.push_str(line);
            code.push('\n');
        } else {
            for (i, span) in line.split('`').enumerate() {
                if i % 2 == 1 {
                    code.push_str(span);
                    code.push('\n');
                }
            }
        }
    }
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_reference_names_every_key_of_the_schema() {
    let mut keys = BTreeSet::new();
    property_names(&schema(), &mut keys);
    assert!(
        keys.contains("max_fraction") && keys.contains("is_null"),
        "{keys:?}"
    );
    let dir = repo().join("docs/reference");
    let pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect()
        })
        .unwrap_or_default();
    let mut documented = BTreeSet::new();
    for page in &pages {
        documented.extend(code_words(&std::fs::read_to_string(page).unwrap()));
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !documented.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "keys of the configuration that no page of docs/reference/*.md names in code ({} pages read):\n  {}",
        pages.len(),
        missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    );
}
