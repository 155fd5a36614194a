//! The two lpmtrace binaries of the VM stage: the static ppc64le one that
//! goes into the guest, and the host one that reads the recordings.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use super::util;

const PPC_TARGET: &str = "powerpc64le-unknown-linux-gnu";

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Builds with cargo and returns the path of the `lpmtrace` executable that
/// cargo reports (so CARGO_TARGET_DIR and profiles are honoured).
fn cargo_build_lpmtrace(root: &Path, extra: &[&str]) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args([
            "build",
            "-p",
            "lpmtrace",
            "--bin",
            "lpmtrace",
            "--message-format=json-render-diagnostics",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    println!("vm-test: $ {cmd:?}");
    let out = cmd.output().context("cannot run cargo")?;
    if !out.status.success() {
        bail!("cargo build {} failed ({})", extra.join(" "), out.status);
    }
    let mut exe = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            if v["reason"] == "compiler-artifact" && v["target"]["name"] == "lpmtrace" {
                if let Some(e) = v["executable"].as_str() {
                    exe = Some(PathBuf::from(e));
                }
            }
        }
    }
    exe.ok_or_else(|| anyhow!("cargo did not report an lpmtrace executable"))
}

/// The guest binary: `--lpmtrace PATH` (checked), or a cross build.
pub fn guest_binary(root: &Path, given: Option<&Path>) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => {
            if which::which("powerpc64le-linux-gnu-gcc").is_err() {
                bail!(
                    "cross-building lpmtrace needs powerpc64le-linux-gnu-gcc: apt-get install gcc-powerpc64le-linux-gnu \
                     libc6-dev-ppc64el-cross; rustup target add {PPC_TARGET} (or pass --lpmtrace PATH / --without-lpmtrace)"
                );
            }
            cargo_build_lpmtrace(root, &["--release", "--target", PPC_TARGET])?
        }
    };
    check_ppc64le_static(&path)?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "vm-test: guest lpmtrace {} ({:.1} MB, static ppc64le)",
        path.display(),
        size as f64 / 1e6
    );
    Ok(path)
}

/// Fails unless `path` is a 64-bit little-endian PowerPC ELF executable
/// without a program interpreter (statically linked).
pub fn check_ppc64le_static(path: &Path) -> Result<()> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let what = path.display();
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        bail!("{what} is not an ELF file");
    }
    if b[4] != 2 || b[5] != 1 {
        bail!("{what} is not a 64-bit little-endian ELF");
    }
    let u16le = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u64le = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    if u16le(18) != 21 {
        bail!("{what} is for ELF machine {}, not PowerPC64 (21)", u16le(18));
    }
    let (phoff, phentsize, phnum) = (u64le(32) as usize, u16le(54) as usize, u16le(56) as usize);
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if o + 4 <= b.len() && u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) == 3 {
            bail!("{what} is dynamically linked (has PT_INTERP); the guest has no libc: build with +crt-static");
        }
    }
    Ok(())
}

/// The host lpmtrace and the commands the checks run with it.
#[derive(Clone, Debug)]
pub struct HostLpmtrace {
    pub path: PathBuf,
}

impl HostLpmtrace {
    /// `--host-lpmtrace`, else the newer of target/{release,debug}/lpmtrace,
    /// else a fresh `cargo build -p lpmtrace`.
    pub fn locate(root: &Path, given: Option<&Path>) -> Result<Self> {
        if let Some(p) = given {
            if !p.exists() {
                bail!("--host-lpmtrace {} does not exist", p.display());
            }
            return Ok(HostLpmtrace { path: p.to_path_buf() });
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let target = if target.is_absolute() {
            target
        } else {
            root.join(target)
        };
        let mut found: Vec<(SystemTime, PathBuf)> = ["release", "debug"]
            .iter()
            .map(|p| target.join(p).join("lpmtrace"))
            .filter_map(|p| std::fs::metadata(&p).and_then(|m| m.modified()).ok().map(|t| (t, p)))
            .collect();
        found.sort();
        let path = match found.pop() {
            Some((_, p)) => p,
            None => cargo_build_lpmtrace(root, &[])?,
        };
        println!("vm-test: host lpmtrace {}", path.display());
        Ok(HostLpmtrace { path })
    }

    /// Runs `lpmtrace ARGS` ("{}" = the file), saving stdout/stderr as
    /// `<save>.stdout` / `<save>.stderr`; fails on a non-zero exit.
    fn run(&self, args: &[&str], file: &Path, save: &Path) -> Result<String> {
        self.run_ok(args, file, save, &[0])
    }

    /// Like `run`, accepting the exit codes in `ok`.
    fn run_ok(&self, args: &[&str], file: &Path, save: &Path, ok: &[i32]) -> Result<String> {
        let out = Command::new(&self.path)
            .args(args.iter().map(|a| {
                if *a == "{}" {
                    file.as_os_str()
                } else {
                    std::ffi::OsStr::new(a)
                }
            }))
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        if let Some(dir) = save.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(format!("{}.stdout", save.display()), &out.stdout);
        let _ = std::fs::write(format!("{}.stderr", save.display()), &out.stderr);
        let shown = args.join(" ").replace("{}", &file.display().to_string());
        if !out.status.code().is_some_and(|c| ok.contains(&c)) {
            bail!(
                "`lpmtrace {shown}` failed with {}: {}",
                out.status,
                util::tail(String::from_utf8_lossy(&out.stderr).trim(), 5)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `lpmtrace info FILE --json`, parsed.
    pub fn info(&self, file: &Path, save: &Path) -> Result<Value> {
        let text = self.run(&["info", "{}", "--json"], file, save)?;
        serde_json::from_str(&text).context("`lpmtrace info --json` did not print JSON")
    }

    /// `lpmtrace dump FILE --format jsonl`, one value per line.
    pub fn dump(&self, file: &Path, save: &Path) -> Result<Vec<Value>> {
        let text = self.run(&["dump", "{}", "--format", "jsonl"], file, save)?;
        parse_jsonl(&text).context("`lpmtrace dump --format jsonl`")
    }

    /// Whether this lpmtrace has a subcommand (`lpmtrace SUB --help` works).
    pub fn supports(&self, sub: &str) -> bool {
        Command::new(&self.path)
            .args([sub, "--help"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `lpmtrace report FILE --json`, parsed.
    pub fn report(&self, file: &Path, save: &Path) -> Result<Value> {
        // Exit 1 means "findings at or above --fail-on", not an error.
        let text = self.run_ok(&["report", "{}", "--json"], file, save, &[0, 1])?;
        serde_json::from_str(&text).context("`lpmtrace report --json` did not print JSON")
    }
}

/// Parses JSON lines (blank lines ignored); fails with the first bad line.
pub fn parse_jsonl(text: &str) -> Result<Vec<Value>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "line {} is not JSON: {}",
                    i + 1,
                    l.chars().take(120).collect::<String>()
                )
            })
        })
        .collect()
}

/// Whether a JSON value (anywhere inside) describes an hcall with this
/// opcode: an object with `"opcode": N`, or a string naming it (`"H_JOIN"`).
/// Optionally the same object must carry `retval`/`ret` == `ret`.
pub fn mentions_hcall(v: &Value, opcode: u64, name: &str, ret: Option<i64>) -> bool {
    match v {
        Value::Object(m) => {
            let op_match = m
                .get("opcode")
                .is_some_and(|o| o.as_u64() == Some(opcode) || o.as_str() == Some(name))
                || m.values().any(|x| x.as_str() == Some(name));
            let ret_match = ret.is_none_or(|r| {
                ["retval", "ret", "rc"]
                    .iter()
                    .any(|k| m.get(*k).and_then(Value::as_i64) == Some(r))
            });
            (op_match && ret_match) || m.values().any(|x| mentions_hcall(x, opcode, name, ret))
        }
        Value::Array(a) => a.iter().any(|x| mentions_hcall(x, opcode, name, ret)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hcall_matching() {
        let ev = json!({"ts_ns": 1, "cpu": 0, "kind": {"type": "hcall-exit", "opcode": 664, "retval": 18}});
        assert!(mentions_hcall(&ev, 664, "H_JOIN", None));
        assert!(mentions_hcall(&ev, 664, "H_JOIN", Some(18)));
        assert!(!mentions_hcall(&ev, 664, "H_JOIN", Some(0)));
        assert!(!mentions_hcall(&ev, 672, "H_VASI_SIGNAL", None));
        let named = json!({"event": "hcall", "name": "H_JOIN", "ret": 18});
        assert!(mentions_hcall(&named, 664, "H_JOIN", Some(18)));
    }

    #[test]
    fn elf_check_rejects_host_binary() {
        let me = std::env::current_exe().unwrap();
        assert!(check_ppc64le_static(&me).is_err());
    }
}
