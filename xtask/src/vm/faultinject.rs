//! Builds the test-only guest module xtask/guest/lpm-faultinject (see its
//! README) against a guest kernel's build tree.
//!
//! The module rewrites platform answers (H_VASI_STATE, H_VASI_SIGNAL,
//! ibm,suspend-me) and can hold a CPU out of the join, so the scenarios can
//! drive the kernel's real failure paths under QEMU. It is part of the test
//! harness only: lpmtrace never loads or needs it.
//!
//! Built modules are cached next to the kernel tree, keyed by the module's
//! source, so a changed module is rebuilt (a build takes seconds).
//!
//! For the 5.10 kernel built from source the tree is the build itself. For
//! Debian's 6.1 kernel it is Debian's linux-headers packages; their kbuild
//! tools (fixdep, modpost, genksyms) are ppc64el programs, which run through
//! qemu-ppc64le-static registered in binfmt_misc for the duration of the
//! build ([`Binfmt`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::debian::Headers;
use super::kernel_build::{SourceKernel, CROSS_COMPILE};
use super::util;

const SOURCE: &str = include_str!("../../guest/lpm-faultinject/lpm_faultinject.c");
const KBUILD: &str = include_str!("../../guest/lpm-faultinject/Kbuild");

/// A module built for one kernel release.
#[derive(Clone, Debug)]
pub struct Module {
    /// `uname -r` of the kernel it was built for; the guest loads
    /// /lpmt/ko/<release>/lpm_faultinject.ko.
    pub release: String,
    pub ko: PathBuf,
}

fn source_key() -> String {
    util::sha256_bytes(format!("{KBUILD}\n{SOURCE}").as_bytes())[..16].to_string()
}

/// Builds (or takes from the cache) the module for a kernel built from
/// source ([`super::kernel_build`]).
pub fn for_source_kernel(k: &SourceKernel) -> Result<Module> {
    let dir = k.out.join(format!("lpm-faultinject-{}", source_key()));
    let mut make = Command::new("make");
    make.arg("-C").arg(&k.src).arg(format!("O={}", k.out.display()));
    build(&dir, &k.release, make)
}

/// Builds (or takes from the cache) the module for a Debian 6.1 kernel,
/// against its unpacked headers.
pub fn for_debian_headers(h: &Headers, cache_root: &Path) -> Result<Module> {
    let dir = h.root.join(format!("lpm-faultinject-{}", source_key()));
    if dir.join("lpm_faultinject.ko").is_file() {
        return build(&dir, &h.release, Command::new("true"));
    }
    let prefix = ppc64el_prefix(cache_root)?;
    let _binfmt = Binfmt::register()?;
    let mut make = Command::new("make");
    make.arg("-C").arg(&h.dir).env("QEMU_LD_PREFIX", &prefix);
    build(&dir, &h.release, make)
}

fn build(dir: &Path, release: &str, mut make: Command) -> Result<Module> {
    let ko = dir.join("lpm_faultinject.ko");
    if !ko.is_file() {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::write(dir.join("lpm_faultinject.c"), SOURCE)?;
        fs::write(dir.join("Kbuild"), KBUILD)?;
        let out = make
            .arg(format!("M={}", dir.display()))
            .arg("ARCH=powerpc")
            .arg(format!("CROSS_COMPILE={CROSS_COMPILE}"))
            .arg("modules")
            .output()
            .context("cannot start make for lpm-faultinject")?;
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = fs::write(dir.join("build.log"), &log);
        if !out.status.success() || !ko.is_file() {
            bail!(
                "building xtask/guest/lpm-faultinject for {release} failed ({}); {}:\n{}",
                out.status,
                dir.join("build.log").display(),
                util::tail(&log, 15)
            );
        }
        println!("vm-test: lpm-faultinject built for {release} -> {}", ko.display());
    }
    Ok(Module {
        release: release.to_string(),
        ko,
    })
}

/// A folder qemu-ppc64le can use as its `-L` prefix: ppc64el programs ask
/// for /lib64/ld64.so.2, which the cross libc package keeps in
/// /usr/powerpc64le-linux-gnu/lib.
fn ppc64el_prefix(cache_root: &Path) -> Result<PathBuf> {
    let libs = Path::new("/usr/powerpc64le-linux-gnu/lib");
    if !libs.join("ld64.so.2").exists() {
        bail!(
            "{}/ld64.so.2 is missing: apt-get install libc6-ppc64el-cross (cargo xtask setup)",
            libs.display()
        );
    }
    let prefix = cache_root.join("ppc64el-prefix");
    fs::create_dir_all(&prefix)?;
    for link in ["lib64", "lib"] {
        let p = prefix.join(link);
        if fs::read_link(&p).ok().as_deref() != Some(libs) {
            let _ = fs::remove_file(&p);
            std::os::unix::fs::symlink(libs, &p).with_context(|| format!("creating {}", p.display()))?;
        }
    }
    Ok(prefix)
}

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";
const BINFMT_NAME: &str = "lpmt-ppc64le";

/// A binfmt_misc entry that runs ppc64le ELF programs with
/// qemu-ppc64le-static, removed again on drop. None is registered when one
/// for ppc64le is already there (e.g. from binfmt-support).
struct Binfmt {
    ours: bool,
}

impl Binfmt {
    fn register() -> Result<Self> {
        let qemu = Path::new("/usr/bin/qemu-ppc64le-static");
        if !qemu.exists() {
            bail!(
                "{} is missing: apt-get install qemu-user-static (cargo xtask setup)",
                qemu.display()
            );
        }
        if !Path::new(BINFMT).join("register").exists() {
            util::output(Command::new("mount").args(["-t", "binfmt_misc", "binfmt_misc", BINFMT]))
                .context("mounting binfmt_misc (needed to run Debian's ppc64el kbuild tools)")?;
        }
        let existing = fs::read_dir(BINFMT)?
            .flatten()
            .filter(|e| e.file_name() != "register" && e.file_name() != "status")
            .any(|e| {
                let t = fs::read_to_string(e.path()).unwrap_or_default();
                t.starts_with("enabled") && t.contains("qemu-ppc64le") && !t.contains(BINFMT_NAME)
            });
        if existing {
            return Ok(Binfmt { ours: false });
        }
        let own = Path::new(BINFMT).join(BINFMT_NAME);
        if own.exists() {
            let _ = fs::write(&own, "-1");
        }
        // The ELF header of a ppc64le executable (machine 21), as qemu's
        // own binfmt configuration describes it; F opens the interpreter now.
        let rule = format!(
            ":{BINFMT_NAME}:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x15\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:{}:F",
            qemu.display()
        );
        fs::write(Path::new(BINFMT).join("register"), rule)
            .context("registering qemu-ppc64le-static in binfmt_misc")?;
        Ok(Binfmt { ours: true })
    }
}

impl Drop for Binfmt {
    fn drop(&mut self) {
        if self.ours {
            let _ = fs::write(Path::new(BINFMT).join(BINFMT_NAME), "-1");
        }
    }
}
