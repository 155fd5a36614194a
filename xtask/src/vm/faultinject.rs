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
//! Debian's 6.1 and 6.12 kernels it is Debian's linux-headers packages; their
//! kbuild tools (fixdep, modpost, genksyms) are ppc64el programs, which run
//! through qemu-ppc64le-static registered in binfmt_misc for the duration of
//! the build ([`Binfmt`]), with the host's cross libc (6.1) or trixie's
//! (6.12, fetched with the headers) as qemu's library prefix.
//!
//! Debian built 6.12 with gcc-14; the host's cross compiler is bookworm's
//! gcc-12. What that needs is in [`compiler_overrides`].

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

/// Builds (or takes from the cache) the module for a Debian 6.1 or 6.12
/// kernel, against its unpacked headers.
pub fn for_debian_headers(h: &Headers, cache_root: &Path) -> Result<Module> {
    let config_path = h.dir.join(".config");
    let config = fs::read_to_string(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let host_gcc = cross_gcc_major()?;
    let overrides = compiler_overrides(&config, host_gcc);
    // The make variables are part of the build's identity.
    let key = if overrides.is_empty() {
        source_key()
    } else {
        util::sha256_bytes(format!("{}\n{}", source_key(), overrides.join(" ")).as_bytes())[..16].to_string()
    };
    let dir = h.root.join(format!("lpm-faultinject-{key}"));
    if dir.join("lpm_faultinject.ko").is_file() {
        return build(&dir, &h.release, Command::new("true"));
    }
    let prefix = match &h.ppc64el_libc {
        // trixie's glibc, unpacked next to the headers.
        Some(libs) => ppc64el_prefix(
            libs,
            &h.root.join("ppc64el-prefix"),
            "fetched with the headers from trixie's libc6-ppc64el-cross; delete the folder to fetch it again",
        )?,
        None => ppc64el_prefix(
            Path::new(HOST_CROSS_LIBC),
            &cache_root.join("ppc64el-prefix"),
            "apt-get install libc6-ppc64el-cross (cargo xtask setup)",
        )?,
    };
    if !overrides.is_empty() {
        println!(
            "vm-test: lpm-faultinject for {}: {CROSS_COMPILE}gcc {host_gcc} instead of the kernel's ({}); make {}",
            h.release,
            config_value(&config, "CONFIG_CC_VERSION_TEXT")
                .unwrap_or("?")
                .trim_matches('"'),
            overrides.join(" ")
        );
    }
    let _binfmt = Binfmt::register()?;
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(&h.dir)
        .args(&overrides)
        .env("QEMU_LD_PREFIX", &prefix);
    build(&dir, &h.release, make)
}

/// The major version of the host's ppc64le cross gcc.
fn cross_gcc_major() -> Result<u32> {
    let gcc = format!("{CROSS_COMPILE}gcc");
    let out = util::output(Command::new(&gcc).arg("-dumpversion")).with_context(|| {
        format!("{gcc} -dumpversion (apt-get install gcc-powerpc64le-linux-gnu; cargo xtask setup)")
    })?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    text.split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{gcc} -dumpversion printed {text:?}"))
}

fn config_value<'a>(config: &'a str, key: &str) -> Option<&'a str> {
    config
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// make variables (command-line variables override both auto.conf and
/// Debian's .kernelvariables) for building against a kernel configured for a
/// newer gcc than the host's cross compiler (`host_gcc`, a major version):
///
/// - `CC=powerpc64le-linux-gnu-gcc`: Debian's .kernelvariables names the
///   kernel's own compiler (`…-gcc-14` for 6.12), which bookworm lacks.
/// - `CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=`: makes Kbuild use
///   `-falign-functions=N` instead of gcc-14's `-fmin-function-alignment=N`.
/// - `CONFIG_DEBUG_INFO_BTF_MODULES=`: no BTF for the module (it would need
///   pahole and the kbuild's resolve_btfids, and nothing needs the module's
///   BTF).
/// - `CC_FLAGS_FTRACE=` (gcc < 13 against a kernel using
///   -fpatchable-function-entry): no ftrace call sites in the module; see
///   the comment below.
///
/// The other compiler-dependent flags come from `cc-option` tests, which
/// Kbuild runs with the compiler it is given. Empty when the host's gcc is
/// at least the kernel's (6.1: both gcc-12).
pub fn compiler_overrides(config: &str, host_gcc: u32) -> Vec<String> {
    let kernel_gcc = config_value(config, "CONFIG_GCC_VERSION")
        .and_then(|v| v.parse::<u32>().ok())
        .map(|v| v / 10000);
    let Some(kernel_gcc) = kernel_gcc.filter(|&k| k > host_gcc) else {
        return Vec::new();
    };
    let mut out = vec![format!("CC={CROSS_COMPILE}gcc")];
    let set = |k: &str| config_value(config, k) == Some("y");
    // -fmin-function-alignment is new in gcc 14.
    if set("CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT") && host_gcc < 14 && kernel_gcc >= 14 {
        out.push("CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=".into());
    }
    if set("CONFIG_DEBUG_INFO_BTF_MODULES") {
        out.push("CONFIG_DEBUG_INFO_BTF_MODULES=".into());
    }
    // Before gcc 13, -fpatchable-function-entry on ppc64le puts the NOPs
    // before the ELFv2 global entry point. The module loader rewrites the
    // entry's `ld r2,…(r12); add r2,r2,r12` (R_PPC64_ENTRY) assuming it is
    // the first instruction, so r2 ends up 8 bytes off and the first call
    // through a stub jumps to garbage (seen: Oops in fi_init on 6.12). The
    // module is built without ftrace call sites instead.
    if set("CONFIG_ARCH_USING_PATCHABLE_FUNCTION_ENTRY") && host_gcc < 13 {
        out.push("CC_FLAGS_FTRACE=".into());
    }
    out
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

/// Where the host's libc6-ppc64el-cross keeps the ppc64el libraries.
const HOST_CROSS_LIBC: &str = "/usr/powerpc64le-linux-gnu/lib";

/// A folder `prefix` qemu-ppc64le can use as its `-L` prefix: ppc64el
/// programs ask for /lib64/ld64.so.2, which a cross libc package keeps in
/// usr/powerpc64le-linux-gnu/lib (`libs`). `hint` says how to get `libs`.
fn ppc64el_prefix(libs: &Path, prefix: &Path, hint: &str) -> Result<PathBuf> {
    if !libs.join("ld64.so.2").exists() {
        bail!("{}/ld64.so.2 is missing: {hint}", libs.display());
    }
    let prefix = prefix.to_path_buf();
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
            // Our own entry's file is named BINFMT_NAME (its text does not
            // say so): one left behind by a killed run is replaced below.
            .filter(|e| !matches!(e.file_name().to_str(), Some("register" | "status" | BINFMT_NAME)))
            .any(|e| {
                let t = fs::read_to_string(e.path()).unwrap_or_default();
                t.starts_with("enabled") && t.contains("qemu-ppc64le")
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

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG_612: &str = "CONFIG_CC_VERSION_TEXT=\"powerpc64le-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0\"\n\
        CONFIG_CC_IS_GCC=y\nCONFIG_GCC_VERSION=140200\nCONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=y\n\
        CONFIG_DEBUG_INFO_BTF=y\nCONFIG_DEBUG_INFO_BTF_MODULES=y\nCONFIG_ARCH_USING_PATCHABLE_FUNCTION_ENTRY=y\n";
    const CONFIG_61: &str = "CONFIG_CC_IS_GCC=y\nCONFIG_GCC_VERSION=120200\n# CONFIG_DEBUG_INFO_BTF is not set\n";

    #[test]
    fn gcc_14_kernel_with_gcc_12() {
        assert_eq!(
            compiler_overrides(CONFIG_612, 12),
            [
                "CC=powerpc64le-linux-gnu-gcc",
                "CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=",
                "CONFIG_DEBUG_INFO_BTF_MODULES=",
                "CC_FLAGS_FTRACE="
            ]
        );
    }

    #[test]
    fn same_or_newer_host_gcc_changes_nothing() {
        assert!(compiler_overrides(CONFIG_61, 12).is_empty());
        assert!(compiler_overrides(CONFIG_612, 14).is_empty());
        assert!(compiler_overrides("", 12).is_empty());
    }

    #[test]
    fn gcc_13_host_keeps_ftrace_sites() {
        assert_eq!(
            compiler_overrides(CONFIG_612, 13),
            [
                "CC=powerpc64le-linux-gnu-gcc",
                "CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=",
                "CONFIG_DEBUG_INFO_BTF_MODULES="
            ]
        );
    }
}
