//! What only a folder has: names that are not UTF-8, links in and out of it, emptied folders
//! removed, prefixes that try to leave it, and the clocks it cannot have (no metadata, no tags).

use super::stores::set_age;
use super::{assert_private, folder, policy, PERSONAL};
use crate::support::{lethe_in, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_folder_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("exports");
    for (rel, age) in [
        (format!("leads/2020/{PERSONAL}.csv"), 400),
        ("leads/2020/b.csv".to_string(), 400),
        ("leads/new.csv".to_string(), 3),
        ("leads/case-9/kept.csv".to_string(), 400),
        ("other/old.csv".to_string(), 400),
    ] {
        let p = root.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "naam;email").unwrap();
        set_age(&p, age);
    }
    // A file whose name is not UTF-8 cannot be named safely: kept (undated), and a file whose
    // name looks the same after lossy decoding is not taken for it.
    use std::os::unix::ffi::OsStrExt;
    let raw = root
        .join("leads")
        .join(std::ffi::OsStr::from_bytes(b"raw\xff.csv"));
    std::fs::write(&raw, "x").unwrap();
    set_age(&raw, 400);
    let lookalike = root.join("leads/raw\u{fffd}.csv");
    std::fs::write(&lookalike, "x").unwrap();
    // A link inside the folder to data outside it is neither followed nor deleted.
    let outside = dir.path().join("outside.csv");
    std::fs::write(&outside, "x").unwrap();
    set_age(&outside, 400);
    std::os::unix::fs::symlink(&outside, root.join("leads/link.csv")).unwrap();
    let cfg = folder(
        dir.path(),
        &format!("  exports: {{ kind: dir, path: \"{}\", country: NL }}\n", root.display()),
        &[
            (
                "leads.yaml",
                &policy("leads", "exports", "prefix: leads/\nclock: { last_modified: true }"),
            ),
            (
                "hold.yaml",
                "kind: LegalHold\nname: case-9\nstore: exports\nprefix: leads/case-9/\nbasis: dispute 9\n",
            ),
        ],
    );
    let mut cmd = lethe_in(dir.path(), &cfg);
    let apply = run(cmd.args(["apply", "--yes", "--format", "json"]));
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let a = &apply.json()["policies"][0];
    assert_eq!(
        (
            a["deleted"].as_u64(),
            a["held"].as_u64(),
            a["remaining"].as_u64(),
            a["undated"].as_u64()
        ),
        (Some(2), Some(1), Some(0), Some(1)),
        "{a}"
    );
    assert_private(&apply);
    assert!(raw.exists() && lookalike.exists());
    assert!(
        !root.join("leads/2020").exists(),
        "the emptied folder is removed"
    );
    assert!(root.join("leads/new.csv").exists() && root.join("leads/case-9/kept.csv").exists());
    assert!(root.join("other/old.csv").exists() && outside.exists());
    assert!(std::fs::symlink_metadata(root.join("leads/link.csv")).is_ok());
    // A prefix that leads through a link out of the folder is refused; a prefix with `..` is
    // a configuration error.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("old.csv"), "x").unwrap();
    set_age(&elsewhere.join("old.csv"), 400);
    std::os::unix::fs::symlink(&elsewhere, root.join("escape")).unwrap();
    std::fs::write(
        cfg.join("escape.yaml"),
        policy(
            "escape",
            "exports",
            "prefix: escape/\nclock: { last_modified: true }",
        ),
    )
    .unwrap();
    let mut cmd = lethe_in(dir.path(), &cfg);
    let out = run(cmd.args(["apply", "--yes", "--policy", "escape"]));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("out of the folder"), "{}", out.stderr);
    assert!(elsewhere.join("old.csv").exists());
    std::fs::write(
        cfg.join("escape.yaml"),
        policy(
            "escape",
            "exports",
            "prefix: leads/../../\nclock: { last_modified: true }",
        ),
    )
    .unwrap();
    let mut cmd = lethe_in(dir.path(), &cfg);
    let out = run(cmd.args(["check"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("escape.yaml:7:9"), "{}", out.stderr);
    std::fs::remove_file(cfg.join("escape.yaml")).unwrap();
    // A metadata or tag clock on a folder is refused before anything runs.
    std::fs::write(
        cfg.join("meta.yaml"),
        policy(
            "meta",
            "exports",
            "prefix: x/\nclock: { metadata: uploaded-at }",
        ),
    )
    .unwrap();
    std::fs::write(
        cfg.join("tag.yaml"),
        policy("tag", "exports", "prefix: x/\nclock: { tag: retain-from }"),
    )
    .unwrap();
    let mut cmd = lethe_in(dir.path(), &cfg);
    let bad = run(cmd.args(["plan"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("meta.yaml:8:20: a folder has no metadata or tags"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr
            .contains("tag.yaml:8:15: a folder has no metadata or tags"),
        "{}",
        bad.stderr
    );
}
