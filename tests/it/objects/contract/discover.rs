//! Discovery on object stores: objects counted per prefix, a prefix governed by a policy, one
//! exempted with its reason, the rest ungoverned; `check --coverage` fails on those; no key in
//! any output.

use crate::discover::{prefix_rows, row};
use crate::objects::stores::{Kind, Store};
use crate::objects::{assert_private, folder, policy, PERSONAL};

pub async fn discover_counts_prefixes_with_their_coverage(kind: Kind) {
    let Some(s) = Store::new(kind).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for k in [
        format!("cvs/{PERSONAL}.pdf"),
        "cvs/2026/b.pdf".to_string(),
        format!("public/{PERSONAL}.png"),
        format!("uploads/{PERSONAL}.pdf"),
        format!("{PERSONAL}.csv"),
    ] {
        s.put(&k).await;
    }
    let cfg = folder(
        dir.path(),
        &s.store_yaml("uploads"),
        &[
            (
                "cvs.yaml",
                &policy("cvs", "uploads", "prefix: cvs/\nclock: { last_modified: true }"),
            ),
            (
                "public.yaml",
                "kind: Exemption\nname: press\nstore: uploads\nprefix: public/\nreason: published with consent\n",
            ),
        ],
    );
    let out = s.lethe(dir.path(), &cfg, &["discover", "--format", "json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_private(&out);
    let report = out.json();
    let prefixes = prefix_rows(&report);
    assert_eq!(
        prefixes,
        [
            row("", 1, "ungoverned"),
            row("cvs/", 2, "governed"),
            row("public/", 1, "exempt"),
            row("uploads/", 1, "ungoverned"),
        ]
    );
    assert_eq!(report["summary"]["exempt_prefixes"], 1, "{report}");
    assert_eq!(report["stores"][0]["listing_cut"], false, "{report}");
    let text = s.lethe(dir.path(), &cfg, &["discover"]);
    assert!(
        text.stdout
            .contains("public/  1 object(s)  exempt by press: published with consent"),
        "{}",
        text.stdout
    );
    assert_private(&text);
    let cov = s.lethe(dir.path(), &cfg, &["check", "--coverage"]);
    assert_eq!(cov.code, 5, "{}\n{}", cov.stdout, cov.stderr);
    assert!(
        cov.stdout
            .contains("UNGOVERNED uploads:uploads/ (1 objects)"),
        "{}",
        cov.stdout
    );
    assert_private(&cov);
    s.drop_store().await;
}
