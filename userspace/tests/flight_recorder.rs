//! `lpmtrace record --flight-recorder` on this machine's kernel (root):
//! SIGUSR1 writes a dump that `info`, `dump` and `report` read, named with
//! the trigger and marked as a flight-recorder dump in its header; the dump
//! cap deletes the oldest dump and says so. (The critical-finding trigger
//! cannot happen on an x86 host; `record::flight`'s unit tests and
//! `flight_gap` cover the ring and the dump's analysis.)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lpmtrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
}

/// Kills the recorder if the test fails half way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lines(child: &mut Child) -> Receiver<String> {
    let err = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("  | {line}");
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for a stderr line containing `what`; returns it.
fn wait_for(rx: &Receiver<String>, what: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(_) => panic!("no stderr line with {what:?} within {within:?}"),
        }
    }
}

fn usr1(child: &Child) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) }, 0);
}

fn storm() {
    let out = Command::new(env!("CARGO_BIN_EXE_lpmtrace-stress"))
        .args(["ipi-storm", "--iterations", "2000"])
        .output()
        .expect("ipi storm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn json(args: &[&str], file: &Path) -> Value {
    let out = lpmtrace().args(args).arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "lpmtrace {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn dumps(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lpmt"))
        .collect();
    v.sort();
    v
}

#[test]
fn sigusr1_dumps_readable_recordings_and_the_cap_deletes_the_oldest() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (BPF)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("lpmtrace-test-flight-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = lpmtrace()
        .args([
            "record",
            "--flight-recorder",
            // The storm's IPIs one by one: the dump must hold many events.
            "--ipis",
            "all",
            "--window",
            "20s",
            "--tail",
            "1s",
            "--max-dumps",
            "2",
            "-o",
        ])
        .arg(&dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines(&mut child);
    let guard = Guard(child);
    wait_for(&rx, "Ctrl-C to stop", Duration::from_secs(120));

    // Three dumps, one after the other; the cap keeps two.
    let mut written = Vec::new();
    for round in 0..3 {
        storm();
        let before = Instant::now();
        usr1(&guard.0);
        let line = wait_for(&rx, "flight recorder: wrote ", Duration::from_secs(60));
        // The dump waits for its tail (1 s) before it is written.
        assert!(before.elapsed() >= Duration::from_millis(900), "round {round}: no tail");
        let path = line
            .split("wrote ")
            .nth(1)
            .and_then(|r| r.split(" (").next())
            .map(PathBuf::from)
            .expect("path in the line");
        written.push(path);
        if round == 2 {
            let del = wait_for(&rx, "deleted the oldest dump", Duration::from_secs(10));
            let first = written[0].file_name().unwrap().to_string_lossy().into_owned();
            assert!(del.contains(&first), "{del} should name {first}");
        }
        // Names sort by time: a second apart keeps them distinct.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let on_disk = dumps(&dir);
    assert_eq!(on_disk, written[1..].to_vec(), "the cap keeps the two newest");

    for path in &on_disk {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("lpmtrace-") && name.ends_with("Z-manual.lpmt"),
            "{name}"
        );
        let info = json(&["info", "--json"], path);
        let flight = &info["session"]["flight"];
        assert_eq!(flight["triggers"], serde_json::json!(["manual"]), "{info}");
        assert_eq!(flight["window_ns"], 20_000_000_000u64);
        let events = info["events"].as_u64().expect("events in info");
        assert!(events > 1000, "{name}: only {events} events (a storm ran)");
        // `dump` reads every event back; the IPIs of the storm are there.
        let out = lpmtrace()
            .args(["dump", "--format", "jsonl"])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count() as u64, events);
        assert!(text.contains("ipi.send"), "no IPI in {name}");
        // The dump covers the trigger and the tail after it.
        let trigger = flight["trigger_ts_ns"].as_u64().unwrap();
        let last: u64 = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["ts_ns"].as_u64())
            .max()
            .unwrap();
        assert!(last >= trigger, "no tail: last {last} < trigger {trigger}");
        let report = lpmtrace().arg("report").arg(path).output().unwrap();
        assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
        assert!(String::from_utf8_lossy(&report.stderr).contains("flight-recorder dump: triggered by manual"));
    }
    // A clean stop exits 0 and leaves no half-written dump.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(guard.0.id() as i32, libc::SIGINT) }, 0);
    let mut guard = guard;
    let status = guard.0.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!dir
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".partial")));
    let _ = std::fs::remove_dir_all(&dir);
}
