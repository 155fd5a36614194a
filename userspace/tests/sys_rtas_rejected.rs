//! A real capture from a QEMU pseries guest running Debian's 6.12 kernel
//! (`cargo xtask vm-test --kernel 6.12 --scenario migrate-solo`): one
//! migration through /sys/kernel/mobility/migration, then the legacy
//! trigger, rtas(2) with the ibm,suspend-me token, which the kernel's RTAS
//! syscall filter refused ("sys_rtas: RTAS call blocked - exploit attempt?"
//! in the guest's log) with EINVAL. The report must attribute each
//! migration to its trigger and explain the refusal, not call it a generic
//! failure.

use std::process::Command;

use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/guest-6.12-sys-rtas-rejected.lpmt"
);

#[test]
fn a_refused_legacy_trigger_is_explained() {
    let out = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
        .args(["report", "--json", FIXTURE])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "warnings only: exit 0");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = v["migrations"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0]["trigger"].as_str(), m[0]["outcome"].as_str()),
        (Some("sysfs"), Some("completed"))
    );
    assert_eq!(
        (m[1]["trigger"].as_str(), m[1]["outcome"].as_str()),
        (Some("sys-rtas"), Some("failed"))
    );
    assert_eq!(m[1]["result"], -22);
    assert_eq!(m[1]["comm"], "rtas-suspend-me");
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["kind"], "migration-failed");
    assert_eq!(f[0]["variant"], "sys-rtas-rejected");
    assert_eq!(f[0]["migration"], 2);
    let advice = f[0]["next_step"].as_str().unwrap_or_default();
    assert!(advice.contains("/sys/kernel/mobility/migration"), "{advice}");
}
