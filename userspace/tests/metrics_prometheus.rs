//! `--metrics` against a real Prometheus server (Debian's `prometheus`,
//! installed by `cargo xtask setup`): lpmtrace records on this machine's
//! kernel (root) and serves /metrics on loopback; Prometheus scrapes it
//! every second; the test asks Prometheus's HTTP API for
//! `lpmtrace_events_total` and the probe coverage, and checks a scraped
//! body with `promtool check metrics`. Every process is killed at the end,
//! pass or fail (the guard).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills and reaps the children and removes the scratch folder.
struct Guard {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A plain HTTP/1.1 GET; returns (status line, body).
fn get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("").to_string();
    // Prometheus answers chunked; the JSON body is one chunk here, so cut
    // the chunk framing off when present.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((len, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn query(port: u16, q: &str) -> Option<Vec<Value>> {
    let (status, body) = get(port, &format!("/api/v1/query?query={q}")).ok()?;
    if !status.contains(" 200") {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    (v["status"] == "success").then(|| v["data"]["result"].as_array().cloned().unwrap_or_default())
}

fn value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn prometheus_scrapes_lpmtrace_and_answers_a_query() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (BPF)");
        return;
    }
    assert!(
        Command::new("prometheus")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "prometheus is not installed: run `cargo xtask setup` (Debian package prometheus)"
    );
    let dir = std::env::temp_dir().join(format!("lpmtrace-test-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let mut guard = Guard {
        children: Vec::new(),
        dir: dir.clone(),
    };

    let metrics_port = free_port();
    let mut rec = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["record", "--metrics", &format!("127.0.0.1:{metrics_port}"), "-o"])
        .arg(dir.join("rec.lpmt"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = rec.stderr.take().unwrap();
    guard.children.push(rec);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("  lpmtrace | {line}");
            if line.contains("Ctrl-C to stop") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120)).expect("lpmtrace attached");

    // The exposition itself passes promtool's checks (format and lints).
    let (status, body) = get(metrics_port, "/metrics").unwrap();
    assert!(status.contains(" 200"), "{status}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (package prometheus)");
    promtool.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics:\n{}{}\n--- body ---\n{body}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let prom_port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: lpmtrace\n    \
             static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus");
    guard.children.push(prom);

    // Scrapes every second: give it up to 60 s on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    let events = loop {
        if let Some(r) = query(prom_port, "lpmtrace_events_total") {
            if let Some(s) = r.first() {
                if value(s) > 0.0 {
                    break r;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had a positive lpmtrace_events_total; its log:\n{}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["metric"]["job"], "lpmtrace");
    // The target is up, and the coverage and the other families arrived.
    let up = query(prom_port, "up%7Bjob%3D%22lpmtrace%22%7D").unwrap();
    assert_eq!(value(&up[0]), 1.0);
    let attached = query(prom_port, "lpmtrace_probes%7Bstate%3D%22attached%22%7D").unwrap();
    assert!(value(&attached[0]) >= 1.0, "no probe attached: {attached:?}");
    let probes = query(prom_port, "lpmtrace_probe_attached").unwrap();
    assert!(
        probes
            .iter()
            .any(|p| p["metric"]["probe"] == "ipi.send" && value(p) == 1.0),
        "{probes:?}"
    );
    for family in [
        "lpmtrace_migrations_total",
        "lpmtrace_findings_total",
        "lpmtrace_migration_in_progress",
        "lpmtrace_events_lost_total",
        "lpmtrace_build_info",
    ] {
        let r = query(prom_port, family).unwrap();
        assert!(!r.is_empty(), "{family} not in Prometheus");
    }
    let in_progress = query(prom_port, "lpmtrace_migration_in_progress").unwrap();
    assert_eq!(value(&in_progress[0]), 0.0, "no migration on this host");
}

#[test]
fn the_documented_alert_rules_pass_promtool() {
    // The rules in docs/metrics.md are what SREs copy: they must load.
    let doc = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md")).unwrap();
    let marker = "# rules/lpmtrace.yml\n";
    let start = doc.find(marker).expect("rules block in docs/metrics.md") + marker.len();
    let end = start + doc[start..].find("```").expect("end of the block");
    let dir = std::env::temp_dir().join(format!("lpmtrace-test-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lpmtrace.yml");
    std::fs::write(&file, &doc[start..end]).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (package prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success() && text.contains("SUCCESS: 7 rules found"),
        "{text}"
    );
}
