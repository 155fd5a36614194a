//! Real-kernel recording tests (root, this machine's kernel):
//! - `live --plain --record` prints exactly the events it records;
//! - a recorder killed with SIGKILL leaves a readable file missing at most
//!   the last 250 ms.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (BPF and CPU hotplug)");
    }
    if !std::path::Path::new("/sys/devices/system/cpu/cpu1/online").exists() {
        return Some("cpu1 cannot be hotplugged on this machine");
    }
    None
}

fn lpmtrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
}

fn set_cpu1(online: bool) {
    std::fs::write("/sys/devices/system/cpu/cpu1/online", if online { "1" } else { "0" }).expect("cpu1 hotplug");
}

fn storm(iterations: u32) {
    let out = Command::new(env!("CARGO_BIN_EXE_lpmtrace-stress"))
        .args(["ipi-storm", "--iterations", &iterations.to_string()])
        .output()
        .expect("ipi storm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lpmtrace-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn live_stream_and_recording_hold_the_same_events() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let dir = tmpdir("same");
    let file = dir.join("live.lpmt");
    let mut child = lpmtrace()
        .args([
            "live",
            "--plain",
            "--format",
            "jsonl",
            "--duration",
            "4s",
            "--ipis",
            "all",
            "--record",
        ])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let running = support::wait_attached(&mut child);
    set_cpu1(false);
    std::thread::sleep(Duration::from_millis(150));
    set_cpu1(true);
    storm(10_000);
    let live = running.stdout.unwrap().join().unwrap();
    let status = child.wait().unwrap();
    let stderr = running.stderr.join().unwrap();
    assert!(status.success(), "{stderr}");
    // Every block was synced to disk, on the sync thread, and it says so.
    let synced = stderr
        .lines()
        .find_map(|l| l.split("synced to disk after each block: ").nth(1))
        .unwrap_or_else(|| panic!("no sync summary: {stderr}"));
    let syncs: u64 = synced.split(' ').next().unwrap().parse().unwrap();
    assert!(
        syncs >= 5,
        "4 s of 100 ms blocks under a storm, {syncs} syncs: {stderr}"
    );

    let dump = lpmtrace()
        .args(["dump", "--format", "jsonl"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(dump.status.success(), "dump: {}", String::from_utf8_lossy(&dump.stderr));
    let dumped = String::from_utf8(dump.stdout).unwrap();
    let live: Vec<Value> = live.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let dumped: Vec<Value> = dumped.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(live.len() > 10_000, "too few events: {}", live.len());
    assert!(live.iter().any(|e| e["probe"] == "cpu.hotplug" && e["target_cpu"] == 1));
    assert_eq!(
        live.len(),
        dumped.len(),
        "live printed {} events, file holds {}",
        live.len(),
        dumped.len()
    );
    for (i, (a, b)) in live.iter().zip(&dumped).enumerate() {
        assert_eq!(a, b, "event {i} differs");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_loses_at_most_the_last_250_ms() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let dir = tmpdir("kill");
    let file = dir.join("killed.lpmt");
    let mut child = lpmtrace()
        .args(["record", "-q", "--ipis", "all", "-o"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // Keep events flowing right up to the kill, and remember when the last
    // CLOCK_BOOTTIME moment before the kill was.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        storm(2_000);
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime into a local.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let kill_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let info = lpmtrace().args(["info", "--json"]).arg(&file).output().unwrap();
    assert!(
        info.status.success(),
        "info on a killed recording: {}",
        String::from_utf8_lossy(&info.stderr)
    );
    let dump = lpmtrace()
        .args(["dump", "--format", "jsonl"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(dump.status.success(), "dump: {}", String::from_utf8_lossy(&dump.stderr));
    let stderr = String::from_utf8_lossy(&dump.stderr);
    assert!(
        stderr.contains("no footer"),
        "the reader should say the recorder did not finish: {stderr}"
    );
    let last_ts = String::from_utf8(dump.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["ts_ns"].as_u64())
        .max()
        .expect("events recovered");
    let gap_ms = kill_ns.saturating_sub(last_ts) as f64 / 1e6;
    eprintln!("SIGKILL: last recovered event {gap_ms:.1} ms before the kill");
    assert!(gap_ms <= 250.0, "recovered events end {gap_ms:.1} ms before the kill");
    let _ = std::fs::remove_dir_all(&dir);
}
