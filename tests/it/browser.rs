//! The HTML pages people read (the period report, the plan and apply reports) rendered in a
//! real browser: headless Chromium loads each page, reports no console message and no failed
//! load, shows the charts, and leaves a screenshot in `target/tmp/browser/` to look at.

use crate::support::{run, Backend, TestDb};
use std::path::{Path, PathBuf};
use std::process::Command;

const POLICY: &str = "kind: RetentionPolicy\nname: stale-leads\nstore: crm\ntable: leads\nkey: id\nclock: { column: created_at }\nkeep: 30d\naction: delete\nguard: { max_fraction: 1 }\n";
const HOLD: &str = "kind: LegalHold\nname: dispute-7\nbasis: litigation with customer 7\nstore: crm\ntable: leads\nmatch: { customer_id: 7 }\n";

/// The Chromium binary: `LETHE_TEST_CHROMIUM`, else `chromium` on the PATH. Absent, the test
/// fails under `CI=true` and says so loudly otherwise.
pub(crate) fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("LETHE_TEST_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join("chromium"))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("Chromium is required under CI=true; run ./scripts/test.sh");
        }
        eprintln!("\n!!! SKIPPED: Chromium not found. Run ./scripts/test.sh to install it. !!!\n");
    }
    found
}

/// Runs headless Chromium on `page` with `args`; returns its stdout and stderr.
fn chromium_on(browser: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new("timeout")
        .arg("90")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("start chromium");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "chromium on {}: {stderr}",
        page.display()
    );
    (String::from_utf8_lossy(&out.stdout).to_string(), stderr)
}

/// Loads `page`, checks the console and the DOM, and keeps a screenshot.
pub(crate) fn render(browser: &Path, page: &Path, name: &str, svgs: usize) {
    let (dom, log) = chromium_on(browser, page, &["--dump-dom"]);
    for bad in [
        "CONSOLE",
        "Uncaught",
        "Failed to load resource",
        "Refused to",
    ] {
        assert!(
            !log.contains(bad),
            "{name}: `{bad}` in the browser's log:\n{log}"
        );
    }
    assert!(dom.contains("<table"), "{name}: no table in the DOM");
    assert_eq!(
        dom.matches("<svg").count(),
        svgs,
        "{name}: charts in the DOM"
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&shot);
    chromium_on(
        browser,
        page,
        &[
            "--window-size=1280,1800",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{name}: no screenshot: {e}"));
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    assert!(
        png.len() > 20_000,
        "{name}: a blank page? {} bytes",
        png.len()
    );
    eprintln!("browser: {name} rendered, screenshot {}", shot.display());
}

#[tokio::test]
async fn html_pages_render_in_a_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    db.crm_schema().await;
    for id in 1..=60 {
        let customer = if id % 6 == 0 { 7 } else { 1 };
        let day = 1 + (id - 1) / 10;
        db.exec(&format!(
            "INSERT INTO leads (id, customer_id, email, status, created_at) VALUES ({id}, {customer}, 'browser-{id}@example.test', 'new', '2026-04-0{day} 03:00:00')"
        ))
        .await;
    }
    let cfg = db.policies("", &[("p.yaml", POLICY), ("hold.yaml", HOLD)]);
    let dir = db.dir.path();
    let plan = dir.join("plan.html");
    let r = run(db.lethe(&cfg).args([
        "plan",
        "--as-of",
        "2026-05-03T02:00:00Z",
        "--format",
        "html",
        "--out",
        plan.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut last = None;
    for day in 2..=7 {
        let out = dir.join(format!("apply-{day}.html"));
        let r = run(db.lethe(&cfg).args([
            "apply",
            "--yes",
            "--as-of",
            &format!("2026-05-0{day}T02:00:00Z"),
            "--format",
            "html",
            "--out",
            out.to_str().unwrap(),
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        last = Some(out);
    }
    let report = dir.join("report.html");
    let r = run(db.lethe(&cfg).args([
        "report",
        "--since",
        "2026-05-01",
        "--until",
        "2026-05-07",
        "--format",
        "html",
        "--out",
        report.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);

    render(&browser, &report, "period-report", 2);
    render(&browser, &plan, "plan", 0);
    render(&browser, &last.unwrap(), "apply", 0);
    db.drop_db().await;
}
