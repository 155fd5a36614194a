//! Small static ppc64le programs the guest scenarios need and busybox lacks
//! (test harness only, like lpm-faultinject): today `rtas-suspend-me`, the
//! legacy drmgr trigger (the rtas(2) system call with ibm,suspend-me).
//!
//! Built with the cross compiler that links the guest lpmtrace, cached under
//! the VM cache keyed by the source, so a changed tool is rebuilt.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::kernel_build::CROSS_COMPILE;
use super::util;

const RTAS_SUSPEND_ME: &str = include_str!("../../guest/rtas-suspend-me/rtas_suspend_me.c");

/// A tool to install as /bin/<name> in the initramfs.
#[derive(Clone, Debug)]
pub struct Tool {
    pub name: &'static str,
    pub path: PathBuf,
}

/// Builds (or takes from the cache) every guest tool.
pub fn build_all(cache_root: &Path) -> Result<Vec<Tool>> {
    Ok(vec![build_c(cache_root, "rtas-suspend-me", RTAS_SUSPEND_ME)?])
}

fn build_c(cache_root: &Path, name: &'static str, source: &str) -> Result<Tool> {
    let key = &util::sha256_bytes(source.as_bytes())[..16];
    let dir = cache_root.join("tools").join(format!("{name}-{key}"));
    let out = dir.join(name);
    if out.is_file() {
        return Ok(Tool { name, path: out });
    }
    let gcc = format!("{CROSS_COMPILE}gcc");
    if which::which(&gcc).is_err() {
        bail!("building the guest tool {name} needs {gcc}: apt-get install gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross (or run `cargo xtask setup`)");
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let src = dir.join(format!("{name}.c"));
    fs::write(&src, source)?;
    let tmp = dir.join(format!("{name}.tmp"));
    util::output(
        Command::new(&gcc)
            .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&tmp)
            .arg(&src),
    )
    .with_context(|| format!("cross-compiling the guest tool {name}"))?;
    fs::rename(&tmp, &out)?;
    println!("vm-test: guest tool {name} built -> {}", out.display());
    Ok(Tool { name, path: out })
}
