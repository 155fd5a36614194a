//! The flight recorder's systemd unit (packaging/lpmtrace-flight-recorder.service):
//! - `systemd-analyze verify` accepts it without a warning (unknown keys
//!   are only warnings there, so any stderr output fails the test);
//! - `systemd-analyze security --offline` rates its exposure at most 5.0;
//! - its ExecStart, run with exactly its CapabilityBoundingSet (through
//!   setpriv, as root), attaches probes and records on this kernel, so the
//!   hardening leaves lpmtrace what it needs.
//!
//! systemd is not PID 1 in the CI container, so the unit cannot be started
//! for real; these are the checks that run without a service manager.

use std::path::{Path, PathBuf};
use std::process::Command;

fn unit_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging/lpmtrace-flight-recorder.service")
}

fn unit() -> String {
    std::fs::read_to_string(unit_path()).expect("packaging/lpmtrace-flight-recorder.service")
}

fn key<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name}= missing in the unit"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lpmtrace-test-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The unit with ExecStart pointing at the binary under test (verify
/// checks that the program exists).
fn local_copy(dir: &Path) -> PathBuf {
    let text = unit().replace("/usr/bin/lpmtrace", env!("CARGO_BIN_EXE_lpmtrace"));
    let path = dir.join("lpmtrace-flight-recorder.service");
    std::fs::write(&path, text).unwrap();
    path
}

fn systemd_analyze() -> Command {
    assert!(
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "systemd-analyze missing: run `cargo xtask setup` (Debian package systemd)"
    );
    Command::new("systemd-analyze")
}

#[test]
fn the_unit_verifies_without_warnings() {
    let dir = scratch("verify");
    let path = local_copy(&dir);
    // --man=no: the man page is installed by the package, not here.
    let out = systemd_analyze()
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "systemd-analyze verify:\n{err}"
    );
    // The check itself catches a misspelt key (it would pass silently otherwise).
    std::fs::write(
        &path,
        unit()
            .replace("NoNewPrivileges=", "NoNewPrivilegez=")
            .replace("/usr/bin/lpmtrace", env!("CARGO_BIN_EXE_lpmtrace")),
    )
    .unwrap();
    let out = systemd_analyze()
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoNewPrivilegez"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_unit_is_hardened() {
    let dir = scratch("security");
    let path = local_copy(&dir);
    let out = systemd_analyze()
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}{}", String::from_utf8_lossy(&out.stderr)));
    eprintln!("exposure level {level}");
    assert!(level <= 5.0, "exposure {level} (10 = unprotected):\n{text}");
    let unit = unit();
    assert_eq!(key(&unit, "ProtectSystem"), "strict");
    assert_eq!(key(&unit, "StateDirectory"), "lpmtrace");
    assert_eq!(key(&unit, "Restart"), "on-failure");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_start_records_with_only_the_units_capabilities() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root (BPF)");
        return;
    }
    let unit = unit();
    let caps: Vec<String> = key(&unit, "CapabilityBoundingSet")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_ascii_lowercase()))
        .collect();
    assert!(
        caps.contains(&"+bpf".to_string()) && caps.contains(&"+perfmon".to_string()),
        "{caps:?}"
    );
    let dir = scratch("caps");
    let mut args: Vec<String> = key(&unit, "ExecStart").split_whitespace().map(String::from).collect();
    assert_eq!(args[0], "/usr/bin/lpmtrace");
    args[0] = env!("CARGO_BIN_EXE_lpmtrace").into();
    let o = args.iter().position(|a| a == "-o").expect("-o in ExecStart");
    assert_eq!(args[o + 1], "/var/lib/lpmtrace");
    args[o + 1] = dir.display().to_string();
    args.extend(["--duration".into(), "3s".into()]);
    let out = Command::new("setpriv")
        .arg(format!("--bounding-set=-all,{}", caps.join(",")))
        .arg("--")
        .args(&args)
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} under {caps:?}:\n{err}");
    assert!(err.contains("flight recorder: keeping 10m"), "{err}");
    // "..., 3 of 12 probes attached; ..."
    let attached: usize = err
        .split(" probes attached")
        .next()
        .and_then(|s| s.rsplit(" of ").nth(1))
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(attached >= 1, "no probe attached with the unit's capabilities:\n{err}");
    // And the bounding set is what makes it work: without CAP_PERFMON the
    // same command is refused, naming the capability.
    let fewer: Vec<&String> = caps.iter().filter(|c| *c != "+perfmon").collect();
    let out = Command::new("setpriv")
        .arg(format!(
            "--bounding-set=-all,{}",
            fewer.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
        ))
        .arg("--")
        .args(&args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CAP_PERFMON"));
    let _ = std::fs::remove_dir_all(&dir);
}
