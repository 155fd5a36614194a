//! `cargo xtask setup`: makes a fresh Debian machine able to build and test
//! lpmtrace. Every step checks first and only acts when something is
//! missing, so running it again is cheap; each says what it did.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::run_cmd;

/// Debian packages the build, the tests and the POWER guests need.
const APT_PACKAGES: &[(&str, &str)] = &[
    ("gcc-powerpc64le-linux-gnu", "cross-linking the ppc64le lpmtrace"),
    ("libc6-dev-ppc64el-cross", "the ppc64le C library for the static binary"),
    ("qemu-system-ppc", "booting pseries guests (qemu-system-ppc64)"),
    ("qemu-user-static", "running ppc64le tools on the host"),
    ("cpio", "building guest initramfs images"),
    ("xz-utils", "unpacking Debian package indexes"),
    (
        "e2fsprogs",
        "the power-loss guest's disk: mkfs.ext4 formats it, e2fsck and debugfs read it back",
    ),
    ("tmux", "terminal tests of the TUI"),
    (
        "chromium",
        "rendering the report --html page headless in its test (screenshot and DOM)",
    ),
    (
        "prometheus",
        "the --metrics test scrapes lpmtrace with a real Prometheus and checks the exposition with promtool",
    ),
    (
        "systemd",
        "systemd-analyze verify/security on the flight-recorder unit (packaging/)",
    ),
    (
        "rpm",
        "building the .rpm packages (rpmbuild) and listing them in tests (rpm -qlp)",
    ),
    (
        "man-db",
        "rendering the generated man pages in the packaging tests (man -l)",
    ),
    (
        "groff-base",
        "the roff formatter man -l runs; the tests also check pages with groff -ww",
    ),
    (
        "make",
        "building the 5.10 guest kernel and the test-only lpm-faultinject module",
    ),
    ("flex", "Kconfig of the 5.10 guest kernel built from source"),
    ("bison", "Kconfig of the 5.10 guest kernel built from source"),
    ("bc", "the 5.10 guest kernel build (timeconst)"),
    (
        "libssl-dev",
        "host tools of the 5.10 guest kernel build (certs/extract-cert, scripts/sign-file)",
    ),
    (
        "libelf-dev",
        "host tools of the 5.10 guest kernel build (objtool when a config asks for it)",
    ),
];

/// The nightly toolchain aya-build drives for the eBPF crate.
const NIGHTLY: &str = "nightly";

fn ok(step: &str, what: &str) {
    eprintln!("setup: {step:<14} ok ({what})");
}

fn did(step: &str, what: &str) {
    eprintln!("setup: {step:<14} done: {what}");
}

fn missing(step: &str, what: &str) {
    eprintln!("setup: {step:<14} MISSING: {what}");
}

fn output(cmd: &mut Command) -> Option<String> {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Runs every step; with `check`, only reports.
pub fn run(check: bool) -> Result<()> {
    let mut gaps = 0;
    gaps += step_nightly(check)?;
    gaps += step_rust_src(check)?;
    gaps += step_ppc_target(check)?;
    gaps += step_apt(check)?;
    gaps += step_bpf_linker(check)?;
    gaps += step_cargo_fuzz(check)?;
    gaps += step_tracefs(check)?;
    if check && gaps > 0 {
        bail!("{gaps} set-up step(s) missing; run `cargo xtask setup`");
    }
    Ok(())
}

fn step_nightly(check: bool) -> Result<usize> {
    if let Some(v) = output(Command::new("rustc").args([&format!("+{NIGHTLY}"), "--version"])) {
        ok("nightly", v.trim());
        return Ok(0);
    }
    if check {
        missing("nightly", "no nightly toolchain");
        return Ok(1);
    }
    run_cmd(Command::new("rustup").args(["toolchain", "install", NIGHTLY, "--profile", "minimal"]))
        .context("installing the nightly toolchain failed; install it by hand: rustup toolchain install nightly")?;
    did("nightly", "installed the nightly toolchain");
    Ok(0)
}

fn step_rust_src(check: bool) -> Result<usize> {
    let installed = output(Command::new("rustup").args(["component", "list", "--installed", "--toolchain", NIGHTLY]))
        .unwrap_or_default();
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        ok("rust-src", "nightly rust-src installed (build-std=core for bpfel)");
        return Ok(0);
    }
    if check {
        missing("rust-src", "nightly rust-src");
        return Ok(1);
    }
    run_cmd(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", NIGHTLY]))
        .context("fix by hand: rustup component add rust-src --toolchain nightly")?;
    did("rust-src", "added nightly rust-src");
    Ok(0)
}

fn step_ppc_target(check: bool) -> Result<usize> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == "powerpc64le-unknown-linux-gnu") {
        ok("ppc64le target", "powerpc64le-unknown-linux-gnu installed");
        return Ok(0);
    }
    if check {
        missing("ppc64le target", "powerpc64le-unknown-linux-gnu");
        return Ok(1);
    }
    run_cmd(Command::new("rustup").args(["target", "add", "powerpc64le-unknown-linux-gnu"]))
        .context("fix by hand: rustup target add powerpc64le-unknown-linux-gnu")?;
    did("ppc64le target", "added powerpc64le-unknown-linux-gnu");
    Ok(0)
}

fn dpkg_installed(pkg: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]))
        .is_some_and(|s| s.contains("install ok installed"))
}

fn step_apt(check: bool) -> Result<usize> {
    let absent: Vec<&str> = APT_PACKAGES
        .iter()
        .filter(|(p, _)| !dpkg_installed(p))
        .map(|(p, _)| *p)
        .collect();
    if absent.is_empty() {
        ok("apt packages", &format!("{} packages present", APT_PACKAGES.len()));
        return Ok(0);
    }
    if check {
        for p in &absent {
            let why = APT_PACKAGES.iter().find(|(n, _)| n == p).map(|(_, w)| *w).unwrap_or("");
            missing("apt packages", &format!("{p} ({why})"));
        }
        return Ok(absent.len());
    }
    let hint = format!("fix by hand: apt-get update && apt-get install -y {}", absent.join(" "));
    // A stale or half-synced index for one suite should not stop us: the
    // install below fails clearly if a package really cannot be had.
    if let Err(e) = run_cmd(Command::new("apt-get").args(["update", "-q"])) {
        eprintln!("setup: apt-get update reported a problem ({e:#}); trying the install anyway");
    }
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&absent)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context(hint)?;
    did("apt packages", &format!("installed {}", absent.join(" ")));
    Ok(0)
}

fn nightly_libllvm() -> Result<(PathBuf, String)> {
    let sysroot = output(Command::new("rustc").args([&format!("+{NIGHTLY}"), "--print", "sysroot"]))
        .context("cannot ask the nightly rustc for its sysroot")?;
    let lib = Path::new(sysroot.trim()).join("lib");
    for entry in std::fs::read_dir(&lib).with_context(|| format!("cannot list {}", lib.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        // libLLVM.so.22.1-rust-1.97.0-nightly
        if let Some(rest) = name.strip_prefix("libLLVM.so.") {
            let major = rest.split('.').next().unwrap_or("").to_string();
            return Ok((lib.join(&name), major));
        }
    }
    bail!("no libLLVM.so.* in {}", lib.display())
}

/// bpf-linker must link against the same LLVM as the nightly rustc that
/// emits the bitcode; its default LLVM feature is newer, so build it
/// against the nightly's own libLLVM (docs/development.md).
fn step_bpf_linker(check: bool) -> Result<usize> {
    // It links the nightly's libLLVM dynamically: run it the way rustc does.
    if let Some(v) = output(Command::new("rustup").args(["run", NIGHTLY, "bpf-linker", "--version"])) {
        ok("bpf-linker", v.trim());
        return Ok(0);
    }
    if check {
        missing("bpf-linker", "not on PATH");
        return Ok(1);
    }
    let (libllvm, major) = nightly_libllvm()?;
    let prefix = std::env::temp_dir().join(format!("lpmtrace-llvm{major}"));
    let libdir = prefix.join("lib");
    std::fs::create_dir_all(&libdir).with_context(|| format!("cannot create {}", libdir.display()))?;
    let link = libdir.join("libLLVM.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&libllvm, &link).with_context(|| format!("cannot link {}", link.display()))?;
    run_cmd(
        Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                "0.13.0",
                "--no-default-features",
                "--features",
                &format!("llvm-{major}"),
            ])
            .env("LLVM_PREFIX", &prefix),
    )
    .with_context(|| {
        format!(
            "building bpf-linker failed; by hand: mkdir -p {0}/lib && ln -sf {1} {0}/lib/libLLVM.so && \
             LLVM_PREFIX={0} cargo install bpf-linker --no-default-features --features llvm-{major}",
            prefix.display(),
            libllvm.display()
        )
    })?;
    did("bpf-linker", &format!("built against the nightly's LLVM {major}"));
    Ok(0)
}

/// cargo-fuzz drives the libFuzzer targets of fuzz/ (the CI smoke run,
/// docs/reliability.md).
fn step_cargo_fuzz(check: bool) -> Result<usize> {
    if let Some(v) = output(Command::new("cargo").args(["fuzz", "--version"])) {
        ok("cargo-fuzz", v.trim());
        return Ok(0);
    }
    if check {
        missing("cargo-fuzz", "not installed (the fuzz smoke run needs it)");
        return Ok(1);
    }
    run_cmd(Command::new("cargo").args(["install", "cargo-fuzz", "--version", "0.13.2", "--locked"]))
        .context("installing cargo-fuzz failed; by hand: cargo install cargo-fuzz --locked")?;
    did("cargo-fuzz", "installed cargo-fuzz 0.13.2");
    Ok(0)
}

fn step_tracefs(check: bool) -> Result<usize> {
    if Path::new("/sys/kernel/tracing/available_events").exists() {
        ok("tracefs", "mounted at /sys/kernel/tracing");
        return Ok(0);
    }
    if check {
        missing("tracefs", "not mounted (lpmtrace mounts it itself when run as root)");
        return Ok(0);
    }
    match run_cmd(Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])) {
        Ok(()) => did("tracefs", "mounted at /sys/kernel/tracing"),
        Err(e) => eprintln!("setup: tracefs        could not mount ({e:#}); tracepoint probes will be unavailable"),
    }
    Ok(0)
}
