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

/// The demo recording as a file that exists only in this process's memory
/// (a sealed `memfd`, read through `/proc/self/fd`): nothing is written to
/// a shared folder, so nothing planted there can pose as the demo, and
/// nothing is left behind.
pub fn path() -> std::io::Result<PathBuf> {
    crate::record::spool::memory_file("lpmtrace-demo", DEMO_RECORDING)
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
