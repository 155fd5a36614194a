//! The demo recording is a real capture from a QEMU pseries guest (Debian
//! 6.1, 4 vCPUs, `cargo xtask vm-test --scenario migrate-smp`); its guest
//! kernel log sits next to it. The report must agree with that log.
//! Regression: a CPU's last H_JOIN after the wake-up (it read `done` just
//! before it was set) used to open a sixth attempt.

use std::process::Command;

use serde_json::Value;

const DMESG: &str = include_str!("fixtures/demo-6.1-migrate-smp.dmesg");

fn report(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .arg("report")
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn demo_report_matches_the_guest_kernel_log() {
    let (code, json) = report(&["--demo", "--json"]);
    assert_eq!(code, Some(1), "a rejected cancel is critical: exit 1");
    let v: Value = serde_json::from_str(&json).unwrap();
    let migrations = v["migrations"].as_array().unwrap();
    // Three triggers: the kernel log has three runs of "attempt 1 of 5" or success.
    assert_eq!(migrations.len(), 3);
    // Kernel log: migration 2 failed 5 times then H_VASI_SIGNAL error -2.
    let failures = DMESG
        .lines()
        .filter(|l| l.contains("Partition suspend attempt"))
        .count();
    let attempts: usize = migrations.iter().map(|m| m["attempts"].as_array().unwrap().len()).sum();
    let successes = migrations.iter().filter(|m| m["outcome"] == "completed").count();
    assert_eq!(
        attempts,
        failures + successes,
        "one attempt per kernel 'attempt N of 5' line plus each success"
    );
    let m2 = &migrations[1];
    assert_eq!(m2["attempts"].as_array().unwrap().len(), 5);
    assert_eq!(m2["outcome"], "cancel-rejected");
    assert!(DMESG.contains("H_VASI_SIGNAL error: -2"));
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"cancel-rejected"));
    assert!(kinds.contains(&"suspend-retries-exhausted"));
    assert!(
        !kinds.contains(&"unterminated-migration"),
        "a rejected cancel is not an unterminated migration"
    );
    for m in [&migrations[0], &migrations[2]] {
        assert_eq!(m["outcome"], "completed");
    }
}

#[test]
fn demo_is_accepted_by_every_reader() {
    for sub in ["info", "dump"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
            .args([sub, "--demo"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sub} --demo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty());
    }
}

/// The verdict oracle (xtask/oracle, the same code `cargo xtask vm-test`
/// runs on every guest) over the demo and its kernel log: every finding the
/// log implies is there, none that it rules out. Before the premature-join
/// fix the demo had ten `premature-join/unhandled` warnings on a 6.1 kernel
/// whose log says `retrying` for each CPU.
#[test]
fn demo_findings_agree_with_the_kernel_log() {
    use lpmtrace_oracle::oracle;
    let (_, json) = report(&["--demo", "--json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    let info = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["info", "--demo", "--json"])
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    let release = info["session"]["kernel_release"].as_str().unwrap();
    let old = info["session"]["generation"].as_str() == Some("old-path");
    let acc = oracle::account(release, old, DMESG, &oracle::ScriptLogs::default());
    assert_eq!(acc.migrations.len(), 3, "{acc:#?}");
    let v = oracle::judge(&acc, &report);
    assert!(
        v.ok(),
        "the demo's report contradicts its kernel log:\n{}",
        v.violations.join("\n")
    );
    for want in [
        "no premature-join/unhandled on migration 1",
        "cancel-rejected on migration 2",
        "migration 3 (log-3) completed",
    ] {
        assert!(
            v.checked.iter().any(|c| c.contains(want)),
            "{want:?} not checked: {:#?}",
            v.checked
        );
    }
    // Every finding rests on QEMU's answers here: each says so.
    for f in report["findings"].as_array().unwrap() {
        assert!(f["platform_note"].as_str().is_some_and(|n| n.contains("QEMU")), "{f}");
    }
}
