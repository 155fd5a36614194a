//! The 5.10 guest kernel, built from Debian's source tarball.
//!
//! Kernels with the old (≤5.10) LPM path are no longer shipped as Debian
//! ppc64el binaries, so `--kernel 5.10` builds one: the orig tarball of
//! bullseye's linux 5.10.223 from the archive's pool (SHA-256 pinned here),
//! `pseries_le_defconfig` plus the fragment xtask/guest/kernel-5.10.config,
//! `make vmlinux` and `make modules_prepare` (the build tree is kept so the
//! test-only fault-injection module can be built against it).
//!
//! Cache layout (under the vm-test cache folder):
//! - `src/linux_5.10.223.orig.tar.xz`: the tarball, checked on every use;
//! - `src/linux-5.10.223/`: the unpacked source (`.unpacked` marks it whole);
//! - `kernels/linux-5.10.223-<key>/`: the build tree (`make O=`), where `key`
//!   hashes the tarball's SHA-256, the fragment and [`RECIPE`]; `.complete`
//!   marks a finished build. A changed fragment gets a new folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::debian::{self, Cache, Kernel};
use super::util;
use super::FetchMethod;

const VERSION: &str = "5.10.223";
const TARBALL: &str = "linux_5.10.223.orig.tar.xz";
/// Path in the archive (same on every Debian mirror).
const POOL_PATH: &str = "pool/main/l/linux/linux_5.10.223.orig.tar.xz";
/// From the Checksums-Sha256 field of linux_5.10.223-1.dsc.
const TARBALL_SHA256: &str = "5272175427d036677539b9ef88a6bc30e455aca2d4fe9a942b2926ef7967ad20";
const TARBALL_SIZE: u64 = 122_005_648;
/// The config fragment, kept in the repository.
pub const FRAGMENT: &str = include_str!("../../guest/kernel-5.10.config");
/// Bumped when the build steps below change in a way that changes the image.
const RECIPE: &str = "1";
const ARCH: &str = "powerpc";
pub const CROSS_COMPILE: &str = "powerpc64le-linux-gnu-";

/// Options the guest cannot do without; the build fails naming any that the
/// fragment asked for but Kconfig did not keep.
const REQUIRED: &[&str] = &[
    "CONFIG_PPC_PSERIES=y",
    "CONFIG_PPC_SPLPAR=y",
    "CONFIG_HOTPLUG_CPU=y",
    "CONFIG_KPROBES=y",
    "CONFIG_KRETPROBES=y",
    "CONFIG_BPF_SYSCALL=y",
    "CONFIG_BPF_EVENTS=y",
    "CONFIG_PERF_EVENTS=y",
    "CONFIG_MODULES=y",
    "CONFIG_BLK_DEV_INITRD=y",
    "CONFIG_HVC_CONSOLE=y",
    "CONFIG_PPC_OF_BOOT_TRAMPOLINE=y",
    "CONFIG_KALLSYMS_ALL=y",
    "CONFIG_VIRTIO_BLK=y",
    "CONFIG_EXT4_FS=y",
];

/// A built 5.10 tree: the bootable kernel and what modules build against.
#[derive(Clone, Debug)]
pub struct SourceKernel {
    pub kernel: Kernel,
    /// The unpacked source (`make -C`).
    pub src: PathBuf,
    /// The build tree (`make O=`).
    pub out: PathBuf,
    /// `uname -r` of the built kernel.
    pub release: String,
}

/// The cache key of a build: tarball, fragment and recipe.
fn build_key() -> String {
    util::sha256_bytes(format!("{TARBALL_SHA256}\n{RECIPE}\n{FRAGMENT}").as_bytes())[..16].to_string()
}

/// Returns the 5.10 kernel, building it when the cache has no finished build.
pub fn kernel_510(cache: &Cache, method: FetchMethod) -> Result<SourceKernel> {
    let out = cache
        .root
        .join("kernels")
        .join(format!("linux-{VERSION}-{}", build_key()));
    let src = cache.root.join("src").join(format!("linux-{VERSION}"));
    if out.join(".complete").exists() {
        println!("vm-test: kernel 5.10: built from source (cached in {})", out.display());
        return finished(&src, &out);
    }
    let started = Instant::now();
    let tarball = tarball(cache, method)?;
    unpack(&tarball, &src)?;
    build(&src, &out)?;
    fs::write(out.join(".complete"), format!("{}\n", started.elapsed().as_secs()))?;
    println!(
        "vm-test: kernel 5.10: built {} in {:.0}s -> {}",
        VERSION,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    // Builds for an older fragment are no longer needed.
    if let Ok(rd) = fs::read_dir(cache.root.join("kernels")) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with(&format!("linux-{VERSION}-")) && e.path() != out {
                println!("vm-test: removing superseded {}", e.path().display());
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    finished(&src, &out)
}

fn finished(src: &Path, out: &Path) -> Result<SourceKernel> {
    let vmlinux = out.join("vmlinux");
    if !vmlinux.is_file() {
        bail!(
            "{} is missing although the build is marked complete; remove {} to rebuild",
            vmlinux.display(),
            out.display()
        );
    }
    let release = fs::read_to_string(out.join("include/config/kernel.release"))
        .with_context(|| format!("reading {}/include/config/kernel.release", out.display()))?
        .trim()
        .to_string();
    Ok(SourceKernel {
        kernel: Kernel {
            label: "5.10".into(),
            package: format!("linux-{VERSION} (source build, fragment {})", build_key()),
            version: VERSION.into(),
            vmlinux,
            config: out.join(".config"),
        },
        src: src.to_path_buf(),
        out: out.to_path_buf(),
        release,
    })
}

/// The tarball in the cache, downloaded if absent; its size and SHA-256 are
/// checked every time (a bad file is removed, so the next run fetches it
/// again).
fn tarball(cache: &Cache, method: FetchMethod) -> Result<PathBuf> {
    let dir = cache.root.join("src");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(TARBALL);
    if !path.exists() {
        if method == FetchMethod::Offline {
            bail!("--fetch offline: {} is not in the cache", path.display());
        }
        let url = format!("{}/{POOL_PATH}", debian::mirror());
        println!("vm-test: downloading {url}");
        debian::http_get(&url, &path)?;
    }
    let size = fs::metadata(&path)?.len();
    let sum = util::sha256_file(&path)?;
    if size != TARBALL_SIZE || sum != TARBALL_SHA256 {
        let _ = fs::remove_file(&path);
        bail!(
            "{}: size {size} SHA-256 {sum}, expected {TARBALL_SIZE} {TARBALL_SHA256} (removed; run again to download it anew)",
            path.display()
        );
    }
    Ok(path)
}

fn unpack(tarball: &Path, src: &Path) -> Result<()> {
    if src.join(".unpacked").exists() {
        return Ok(());
    }
    let parent = src.parent().context("source folder has no parent")?;
    if src.exists() {
        fs::remove_dir_all(src).with_context(|| format!("removing the partial {}", src.display()))?;
    }
    let t = Instant::now();
    util::output(Command::new("tar").arg("-xJf").arg(tarball).arg("-C").arg(parent))?;
    if !src.join("Makefile").is_file() {
        bail!("{} did not unpack into {}", tarball.display(), src.display());
    }
    fs::write(src.join(".unpacked"), "")?;
    println!(
        "vm-test: unpacked {} in {:.0}s",
        tarball.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `make` in the source with the build tree and the cross compiler.
fn make(src: &Path, out: &Path) -> Command {
    let mut c = Command::new("make");
    c.arg("-C")
        .arg(src)
        .arg(format!("O={}", out.display()))
        .arg(format!("ARCH={ARCH}"))
        .arg(format!("CROSS_COMPILE={CROSS_COMPILE}"));
    c
}

fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<()> {
    let f = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let status = cmd
        .stdout(f.try_clone()?)
        .stderr(f)
        .status()
        .with_context(|| format!("cannot start make for {what}"))?;
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        bail!(
            "{what} failed ({status}); last lines of {}:\n{}",
            log.display(),
            util::tail(&text, 15)
        );
    }
    Ok(())
}

fn build(src: &Path, out: &Path) -> Result<()> {
    for tool in ["make", "flex", "bison", "bc", "powerpc64le-linux-gnu-gcc"] {
        if which::which(tool).is_err() {
            bail!("building the 5.10 kernel needs {tool} (cargo xtask setup installs it)");
        }
    }
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("removing the unfinished {}", out.display()))?;
    }
    fs::create_dir_all(out)?;
    let fragment = out.join("lpmtrace-fragment.config");
    fs::write(&fragment, FRAGMENT)?;
    run_logged(
        make(src, out).arg("pseries_le_defconfig"),
        &out.join("defconfig.log"),
        "make pseries_le_defconfig",
    )?;
    run_logged(
        Command::new(src.join("scripts/kconfig/merge_config.sh"))
            .current_dir(out)
            .env("ARCH", ARCH)
            .env("CROSS_COMPILE", CROSS_COMPILE)
            .args(["-m", ".config"])
            .arg(&fragment),
        &out.join("merge.log"),
        "merge_config.sh with xtask/guest/kernel-5.10.config",
    )?;
    run_logged(
        make(src, out).arg("olddefconfig"),
        &out.join("olddefconfig.log"),
        "make olddefconfig",
    )?;
    let config = fs::read_to_string(out.join(".config"))?;
    let lost: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|o| !config.lines().any(|l| l == *o))
        .collect();
    if !lost.is_empty() {
        bail!(
            "{}/.config lacks {} after merging xtask/guest/kernel-5.10.config (see {}/merge.log)",
            out.display(),
            lost.join(", "),
            out.display()
        );
    }
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    println!("vm-test: building linux {VERSION} for ppc64le pseries (make -j{jobs} vmlinux; ~3 min on 2 cores)");
    run_logged(
        make(src, out).arg(format!("-j{jobs}")).arg("vmlinux"),
        &out.join("build.log"),
        "make vmlinux",
    )?;
    run_logged(
        make(src, out).arg(format!("-j{jobs}")).arg("modules_prepare"),
        &out.join("modules_prepare.log"),
        "make modules_prepare",
    )?;
    // External modules link against the exported symbols of vmlinux.
    if out.join("vmlinux.symvers").exists() && !out.join("Module.symvers").exists() {
        fs::copy(out.join("vmlinux.symvers"), out.join("Module.symvers"))?;
    }
    println!("vm-test: vmlinux built in {:.0}s", t.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_keeps_what_the_guest_needs() {
        // Every required option is asked for by the fragment itself, so a
        // Kconfig change that drops one fails the build with its name.
        for opt in REQUIRED {
            assert!(FRAGMENT.lines().any(|l| l == *opt), "fragment lacks {opt}");
        }
        assert_eq!(build_key().len(), 16);
    }
}
