//! Real-kernel test: `lpmtrace live --plain --format jsonl` on this
//! machine's kernel while cpu1 goes offline and back and an IPI workload
//! runs. Needs root and a second CPU; it says why when it skips.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (BPF and CPU hotplug)".into());
    }
    if !std::path::Path::new("/sys/devices/system/cpu/cpu1/online").exists() {
        return Some("cpu1 cannot be hotplugged on this machine".into());
    }
    None
}

fn our_programs_loaded() -> Vec<String> {
    // Program names as the kernel stores them (truncated to 15 bytes).
    let ours = [
        "cpuhp_enter",
        "cpuhp_exit",
        "cpuhp_multi",
        "ipi_send_cpu",
        "ipi_send_mask",
        "csd_entry",
        "csd_exit",
    ];
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|p| p.name_as_str().map(str::to_string))
        .filter(|n| ours.contains(&n.as_str()))
        .collect()
}

fn set_cpu1(online: bool) {
    std::fs::write("/sys/devices/system/cpu/cpu1/online", if online { "1" } else { "0" }).expect("cpu1 hotplug");
}

#[test]
fn live_plain_sees_hotplug_and_ipis_and_cleans_up() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED live_plain_sees_hotplug_and_ipis_and_cleans_up: {why}");
        return;
    }
    assert!(
        our_programs_loaded().is_empty(),
        "programs from an earlier run are still loaded"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["live", "--plain", "--format", "jsonl", "--duration", "4s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lpmtrace");
    // Read stdout while the workload runs (a full pipe would stall the
    // reader and make the ring overflow), and start once probes are in.
    let running = support::wait_attached(&mut child);
    set_cpu1(false);
    std::thread::sleep(Duration::from_millis(200));
    set_cpu1(true);
    std::thread::sleep(Duration::from_millis(200));
    storm(20_000);

    let stdout = running.stdout.unwrap().join().unwrap();
    let stderr = running.stderr.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "lpmtrace failed: {stderr}");

    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect();
    let hotplug: Vec<&Value> = events
        .iter()
        .filter(|e| e["probe"] == "cpu.hotplug" && e["target_cpu"] == 1)
        .collect();
    let down = hotplug
        .iter()
        .filter(|e| e["event"] == "hotplug-enter" && e["direction"] == "down")
        .count();
    let up = hotplug
        .iter()
        .filter(|e| e["event"] == "hotplug-enter" && e["direction"] == "up")
        .count();
    assert!(
        down > 5 && up > 5,
        "expected cpu1 hotplug steps both ways, got {down} down / {up} up"
    );
    for name in ["sched:active", "online"] {
        assert!(
            hotplug.iter().any(|e| e["state_name"] == name),
            "no hotplug step named {name}"
        );
    }
    // Every event carries the common fields.
    for e in &events {
        for key in ["ts_ns", "cpu", "probe", "phase"] {
            assert!(!e[key].is_null(), "event without {key}: {e}");
        }
    }
    // The storm runs on cpu0 and cpu1: IPIs go both ways and run there.
    let sent_to_1 = events
        .iter()
        .filter(|e| e["probe"] == "ipi.send" && e["target_cpu"] == 1 && e["cpu"] == 0)
        .count();
    let handled_on_1 = events
        .iter()
        .filter(|e| e["probe"] == "ipi.handle" && e["phase"] == "enter" && e["cpu"] == 1)
        .count();
    assert!(sent_to_1 > 1000, "only {sent_to_1} IPIs from cpu0 to cpu1 seen");
    assert!(handled_on_1 > 1000, "only {handled_on_1} IPI handlers on cpu1 seen");
    // Timestamps are in order (the reorder window did its job).
    let ts: Vec<u64> = events.iter().map(|e| e["ts_ns"].as_u64().unwrap()).collect();
    let out_of_order = ts.windows(2).filter(|w| w[1] < w[0]).count();
    assert_eq!(out_of_order, 0, "events out of time order");
    // No loss at this rate with default buffers, and it says so.
    let lost_events: u64 = events
        .iter()
        .filter(|e| e["probe"] == "transport.lost")
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    assert_eq!(lost_events, 0, "lost events: {stderr}");
    assert!(stderr.contains(" 0 lost"), "summary missing: {stderr}");
    // Nothing stays attached.
    assert!(
        our_programs_loaded().is_empty(),
        "programs left loaded: {:?}",
        our_programs_loaded()
    );
}

/// Runs `lpmtrace live --plain --format jsonl` with `extra` arguments while
/// `during` runs, and returns its events and stderr.
fn live_events(extra: &[&str], during: impl FnOnce()) -> (Vec<Value>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["live", "--plain", "--format", "jsonl", "--duration", "5s"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lpmtrace");
    let running = support::wait_attached(&mut child);
    during();
    let stdout = running.stdout.unwrap().join().unwrap();
    let stderr = running.stderr.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "lpmtrace failed: {stderr}");
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect();
    (events, stderr)
}

fn storm(iterations: u32) {
    let out = Command::new(env!("CARGO_BIN_EXE_lpmtrace-stress"))
        .args(["ipi-storm", "--iterations", &iterations.to_string()])
        .output()
        .expect("ipi storm");
    assert!(
        out.status.success(),
        "ipi-storm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Recorded IPI sends from cpu0 to cpu1 and handler entries on cpu1.
fn recorded_ipis(events: &[Value], since_ts: u64) -> (usize, usize) {
    let after = |e: &&Value| e["ts_ns"].as_u64().unwrap() >= since_ts;
    let sent = events
        .iter()
        .filter(after)
        .filter(|e| e["probe"] == "ipi.send" && e["target_cpu"] == 1 && e["cpu"] == 0)
        .count();
    let handled = events
        .iter()
        .filter(after)
        .filter(|e| e["probe"] == "ipi.handle" && e["phase"] == "enter" && e["cpu"] == 1)
        .count();
    (sent, handled)
}

/// Tallied (sent, handled) per CPU.
fn tallied(events: &[Value], cpu: u64) -> (u64, u64) {
    events
        .iter()
        .filter(|e| e["probe"] == "ipi.tally" && e["cpu"] == cpu)
        .fold((0, 0), |(s, h), e| {
            (s + e["sent"].as_u64().unwrap(), h + e["handled"].as_u64().unwrap())
        })
}

#[test]
fn ipis_outside_the_window_are_counted_and_hotplug_opens_the_window() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED ipis_outside_the_window_are_counted_and_hotplug_opens_the_window: {why}");
        return;
    }
    let (events, stderr) = live_events(&[], || {
        // No migration, no hotplug yet: the window is closed.
        storm(20_000);
        set_cpu1(false);
        std::thread::sleep(Duration::from_millis(100));
        set_cpu1(true);
        // Within the 2 s after the hotplug events: recorded one by one.
        storm(20_000);
    });
    let online_ts = events
        .iter()
        .filter(|e| e["probe"] == "cpu.hotplug" && e["target_cpu"] == 1)
        .map(|e| e["ts_ns"].as_u64().unwrap())
        .next()
        .expect("no hotplug events for cpu1");
    // Before the hotplug the storm was counted, not recorded.
    let before: Vec<Value> = events
        .iter()
        .filter(|e| e["ts_ns"].as_u64().unwrap() < online_ts)
        .cloned()
        .collect();
    let (sent_before, handled_before) = recorded_ipis(&before, 0);
    assert!(
        sent_before + handled_before < 100,
        "{sent_before} sends / {handled_before} handlers recorded outside the window"
    );
    let (tally_sent_0, _) = tallied(&events, 0);
    let (_, tally_handled_1) = tallied(&events, 1);
    assert!(
        tally_sent_0 > 1000 && tally_handled_1 > 1000,
        "the storm outside the window was not counted: cpu0 sent {tally_sent_0}, cpu1 handled {tally_handled_1}"
    );
    // After it, the second storm's IPIs are there one by one.
    let (sent_after, handled_after) = recorded_ipis(&events, online_ts);
    assert!(
        sent_after > 1000 && handled_after > 1000,
        "inside the window only {sent_after} sends / {handled_after} handlers recorded"
    );
    assert!(stderr.contains(" 0 lost"), "summary missing: {stderr}");
}

#[test]
fn ipis_all_records_every_ipi_and_counts_none() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED ipis_all_records_every_ipi_and_counts_none: {why}");
        return;
    }
    let (events, _) = live_events(&["--ipis", "all"], || storm(20_000));
    let (sent, handled) = recorded_ipis(&events, 0);
    assert!(
        sent > 1000 && handled > 1000,
        "--ipis all recorded only {sent} sends / {handled} handlers"
    );
    assert!(
        !events.iter().any(|e| e["probe"] == "ipi.tally"),
        "--ipis all still counted IPIs"
    );
}

#[test]
fn without_privileges_it_names_the_missing_capability_and_exits_2() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || which("setpriv").is_none() {
        eprintln!("SKIPPED: needs root and setpriv to drop to an unprivileged user");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["live", "--plain", "--duration", "1s"])
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("CAP_BPF") && stderr.contains("CAP_PERFMON"),
        "message should name the capabilities: {stderr}"
    );
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(cmd))
        .find(|p| p.exists())
}
