//! The demo recording: a real LPM captured by lpmtrace in a QEMU pseries
//! guest (Debian 6.1, 4 vCPUs): three migrations, one of which fails five
//! times (RTAS_THREADS_ACTIVE → -EAGAIN, premature H_JOIN returns) and is
//! cancelled with H_VASI_SIGNAL, which the platform rejects. Every command
//! that reads a recording accepts `--demo` in place of FILE, so anyone
//! without POWER hardware can see a real migration in the tool.

use std::path::PathBuf;

/// The recording's bytes (userspace/tests/fixtures/demo-6.1-migrate-smp.lpmt).
pub static DEMO_RECORDING: &[u8] = include_bytes!("../tests/fixtures/demo-6.1-migrate-smp.lpmt");

/// Subcommands whose FILE argument `--demo` may replace.
pub const READERS: &[&str] = &["report", "dump", "info", "replay", "export"];

/// Writes the demo recording to the temp folder (once) and returns its path.
pub fn path() -> std::io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!(
        "lpmtrace-demo-{}-{}.lpmt",
        env!("CARGO_PKG_VERSION"),
        DEMO_RECORDING.len()
    ));
    if std::fs::metadata(&path).map(|m| m.len() as usize).ok() != Some(DEMO_RECORDING.len()) {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, DEMO_RECORDING)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}

/// Replaces a `--demo` argument of a reading subcommand with the demo
/// recording's path.
pub fn expand_args(args: Vec<String>) -> std::io::Result<Vec<String>> {
    let reader = args.get(1).is_some_and(|sub| READERS.contains(&sub.as_str()));
    if !reader || !args.iter().any(|a| a == "--demo") {
        return Ok(args);
    }
    let demo = path()?.to_string_lossy().into_owned();
    Ok(args
        .into_iter()
        .map(|a| if a == "--demo" { demo.clone() } else { a })
        .collect())
}
