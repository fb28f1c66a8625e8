//! The house keeps its shape: no module under src/ uses a module above it in the layer order
//! written in src/lib.rs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers of src/lib.rs's `# Layout` list, top to bottom.
fn layers(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("//! - [`"))
        .filter_map(|l| l.split_once("`]").map(|(m, _)| m.to_string()))
        .collect()
}

/// The top-level modules a file of lethe names: `crate::x`, `$crate::x` and
/// `use crate::{x, y::z}`.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                for part in inner.split(',') {
                    let name = ident(part.trim());
                    if !name.is_empty() && name != "self" {
                        out.insert(name);
                    }
                }
            } else {
                let name = ident(after);
                if !name.is_empty() {
                    out.insert(name);
                }
            }
            rest = after;
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every import that runs upward: (file, its module, the module it uses).
fn upward_imports(src: &Path, order: &[String]) -> Vec<(String, String, String)> {
    let rank = |m: &str| order.iter().position(|x| x == m);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let module = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = rank(&module) else {
            continue; // lib.rs and main.rs sit above every layer
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in used_modules(&text) {
            if let Some(r) = rank(&used) {
                if r < own {
                    out.push((rel.display().to_string(), module.clone(), used));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_module_uses_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let order = layers(&lib);
    // Every module is in the layout, and every layer is a module.
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    assert_eq!(
        declared,
        order.iter().cloned().collect::<BTreeSet<_>>(),
        "src/lib.rs: the `# Layout` list and the `pub mod` lines name different modules"
    );
    let upward = upward_imports(&src, &order);
    assert!(
        upward.is_empty(),
        "imports against the layer order of src/lib.rs ({}):\n{}",
        order.join(" > "),
        upward
            .iter()
            .map(|(f, m, u)| format!("  src/{f}: `{m}` uses `{u}`, which is above it"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_check_sees_every_way_of_naming_a_module() {
    let text = "use crate::store::{Link, SqlStore};\nuse crate::{config, report::Format};\n\
                let x = crate::engine::prepare();\nmacro_rules! m { () => { $crate::cli::out(\"\") } }\n\
                // crate::daemon in a comment is no import\n";
    let found = used_modules(text);
    let expected: BTreeSet<String> = ["store", "config", "report", "engine", "cli"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn an_upward_import_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("store")).unwrap();
    std::fs::create_dir_all(src.join("engine")).unwrap();
    std::fs::write(src.join("engine/mod.rs"), "use crate::store::SqlStore;\n").unwrap();
    std::fs::write(src.join("store/mod.rs"), "use crate::engine::Prepared;\n").unwrap();
    let order = vec!["engine".to_string(), "store".to_string()];
    assert_eq!(
        upward_imports(src, &order),
        vec![(
            "store/mod.rs".to_string(),
            "store".to_string(),
            "engine".to_string()
        )]
    );
}
