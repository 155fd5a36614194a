//! `lpmtrace report --html`: the page is self-contained (no address, no
//! script, nothing fetched), and headless Chromium (Debian's `chromium`,
//! installed by `cargo xtask setup`) renders it: the DOM after layout has
//! the timelines, every CPU join bar and every finding with non-zero size,
//! and the screenshot shows the colours of joins, suspends and the
//! critical finding.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2400;

/// A folder per test: tests run in parallel and each removes its own.
fn tmp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lpmtrace-html-test-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_page(args: &[&str], out: &Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .arg("report")
        .args(args)
        .arg("--html")
        .arg(out)
        .output()
        .unwrap();
    assert!(out.exists(), "no page written: {}", String::from_utf8_lossy(&o.stderr));
    (o.status.code(), std::fs::read_to_string(out).unwrap())
}

fn report_json(args: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .arg("report")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Runs headless Chromium with the flags that keep it off the network and
/// returns its stdout; fails the test (never skips) when it is missing.
fn chromium(extra: &[String], page: &Path, dir: &Path) -> String {
    let profile = dir.join(format!("profile-{}", extra.len()));
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run chromium ({e}): `cargo xtask setup` installs Debian's chromium"));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

/// Measures the laid-out page from inside (added to a copy of the page
/// only: the page itself has no script) and writes the results as JSON
/// into the DOM that `--dump-dom` prints.
const PROBE: &str = r#"<script>
(function () {
  function box(e) { var r = e.getBoundingClientRect(); return { w: r.width, h: r.height }; }
  function sized(sel) {
    var all = Array.prototype.slice.call(document.querySelectorAll(sel));
    return { count: all.length, sized: all.filter(function (e) { var b = box(e); return b.w > 0 && b.h > 0; }).length };
  }
  var findings = Array.prototype.slice.call(document.querySelectorAll('div.finding')).map(function (d) {
    var b = box(d);
    return { kind: d.getAttribute('data-kind'), text: d.textContent, w: b.w, h: b.h };
  });
  var svgs = Array.prototype.slice.call(document.querySelectorAll('svg.timeline')).map(function (s) {
    var b = box(s); return { cls: s.getAttribute('class'), w: b.w, h: b.h, rows: s.querySelectorAll('.row-label').length };
  });
  var out = {
    svgs: svgs,
    joins: sized('svg.timeline rect.join'),
    suspends: sized('svg.timeline rect.phase-suspend'),
    markers: sized('svg.timeline polygon[data-kind]'),
    findings: findings,
    summary: document.getElementById('summary').textContent,
    facts: document.getElementById('facts').textContent,
    coverage_rows: document.querySelectorAll('table.coverage tr').length,
    resources: performance.getEntriesByType('resource').length,
    linked: document.querySelectorAll('[src],[href],link,iframe,img,object,embed').length
  };
  var pre = document.createElement('pre');
  pre.id = 'layout-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"#;

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn demo_page_renders_in_headless_chromium() {
    let dir = tmp_dir("demo");
    let page = dir.join("demo.html");
    let (code, html) = write_page(&["--demo"], &page);
    assert_eq!(code, Some(1), "exit status as report without --html (critical finding)");
    let report = report_json(&["--demo"]);

    // Self-contained: no address, no script, no external resource.
    for banned in [
        "http:", "https:", "ftp:", "//", "<script", "<link", "<img", "<iframe", " src=", " href=", "url(", "@import",
    ] {
        assert!(!html.contains(banned), "the page contains {banned:?}");
    }

    // The rendered DOM, measured from inside a copy of the page.
    let probed = dir.join("demo-probed.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let dom = chromium(&["--dump-dom".to_string()], &probed, &dir);
    let start = dom.find("<pre id=\"layout-check\">").expect("the probe ran") + "<pre id=\"layout-check\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let m: Value = serde_json::from_str(&unescape(&dom[start..end])).unwrap();

    assert_eq!(m["resources"], 0, "nothing was fetched");
    assert_eq!(m["linked"], 0, "no element points anywhere");
    let migrations = report["migrations"].as_array().unwrap();
    let svgs = m["svgs"].as_array().unwrap();
    assert_eq!(svgs.len(), 1 + migrations.len(), "overview + one per migration");
    for s in svgs {
        assert!(
            s["w"].as_f64().unwrap() > 900.0 && s["h"].as_f64().unwrap() > 80.0,
            "{s}"
        );
        // axis rows: migrations/phases + findings/attempts + CPU lanes
        assert!(s["rows"].as_u64().unwrap() >= 2 + 4, "{s}");
    }
    // Every CPU join is drawn twice (overview and its migration), each
    // with a real size.
    let joins: u64 = migrations
        .iter()
        .flat_map(|m| m["attempts"].as_array().unwrap())
        .map(|a| a["joins"].as_array().unwrap().len() as u64)
        .sum();
    assert_eq!(m["joins"]["count"], 2 * joins);
    assert_eq!(m["joins"]["sized"], 2 * joins);
    let suspends: u64 = migrations
        .iter()
        .flat_map(|m| m["attempts"].as_array().unwrap())
        .filter(|a| a["phases"].as_array().unwrap().iter().any(|p| p["name"] == "suspend"))
        .count() as u64;
    assert_eq!(m["suspends"]["sized"], suspends);
    let findings = report["findings"].as_array().unwrap();
    // Markers: all findings on the overview, each again on its migration.
    let in_migrations = findings.iter().filter(|f| !f["migration"].is_null()).count() as u64;
    assert_eq!(m["markers"]["sized"], findings.len() as u64 + in_migrations);
    let rendered = m["findings"].as_array().unwrap();
    assert_eq!(rendered.len(), findings.len());
    for (f, r) in findings.iter().zip(rendered) {
        assert_eq!(r["kind"], f["kind"]);
        assert!(r["w"].as_f64().unwrap() > 0.0 && r["h"].as_f64().unwrap() > 0.0);
        let text = r["text"].as_str().unwrap();
        assert!(text.contains(f["explanation"].as_str().unwrap()), "{text}");
        assert!(text.contains("What to do:"), "{text}");
        assert!(text.contains(f["next_step"].as_str().unwrap()), "{text}");
    }
    assert!(m["summary"].as_str().unwrap().contains("CRITICAL"), "{}", m["summary"]);
    assert!(
        m["facts"].as_str().unwrap().contains("6.1.0-54-powerpc64le"),
        "{}",
        m["facts"]
    );
    assert!(m["facts"].as_str().unwrap().contains("161474"), "{}", m["facts"]);
    assert!(m["coverage_rows"].as_u64().unwrap() > 10, "a row per probe");

    // The screenshot of the page itself.
    let png_path = dir.join("demo.png");
    chromium(&[format!("--screenshot={}", png_path.display())], &page, &dir);
    let decoder = png::Decoder::new(std::fs::File::open(&png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let near = |c: [u8; 3], want: [u8; 3]| c.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 6);
    let count = |want: [u8; 3]| pixels.iter().filter(|&&p| near(p, want)).count();
    let white = count([255, 255, 255]);
    assert!(
        white < pixels.len() * 95 / 100,
        "not a blank page ({white} white pixels)"
    );
    // Colours from the page's CSS: joins, suspends, the critical badge.
    let join = count([0x26, 0xa6, 0x9a]);
    let suspend = count([0xef, 0x6c, 0x00]);
    let critical = count([0xc6, 0x28, 0x28]);
    assert!(join > 5_000, "join bars visible: {join} px");
    assert!(suspend > 1_000, "suspend bars visible: {suspend} px");
    assert!(critical > 200, "critical badge visible: {critical} px");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_scenario_page_marks_lost_events() {
    let dir = tmp_dir("lost");
    let scn = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/lost-in-migration.scn");
    let page = dir.join("lost.html");
    let (_, html) = write_page(&["--scenario", scn.to_str().unwrap()], &page);
    assert!(html.contains("class=\"lost\""), "lost window drawn");
    assert!(html.contains("<table class=\"coverage\">"), "coverage table");
    assert!(
        html.contains("[inconclusive]"),
        "the unterminated finding is inconclusive"
    );
    assert!(html.contains("events-lost"), "the events-lost finding is listed");
    let _ = std::fs::remove_dir_all(dir);
}
