//! Inputs the fuzzers (fuzz/, docs/reliability.md) found or that pin down
//! a corner of a parser, run through the same public entry points as the
//! fuzz targets: `userspace/tests/fuzz-corpus/<target>/<file>`.
//!
//! - `record_reader`: `FileSource::open` (plain and salvage), every event,
//!   and the `info --json` / `dump --salvage` binaries;
//! - `ring_decode`: `events::decode::decode`;
//! - `scenario_parse`: `scenario::parse`, then the analysis.
//!
//! Every input must finish within [`LIMIT`] without a panic; errors must be
//! clear (they name the file, or the scenario line). A file `<name>.expect`
//! next to an input holds text the error for that input must contain.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use lpmtrace::events::DAMAGED_BLOCK_CPU;
use lpmtrace::record::{FileSource, OpenOptions};
use lpmtrace::source::EventSource;

/// Longest a single input may take (generous: debug build, loaded machine).
const LIMIT: Duration = Duration::from_secs(60);

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "expect"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no inputs", dir.display());
    files
}

fn expectation(input: &Path) -> Option<String> {
    let mut name = input.as_os_str().to_owned();
    name.push(".expect");
    std::fs::read_to_string(name).ok().map(|s| s.trim().to_string())
}

/// Runs `f` on a thread: `Err` with the panic message, or a timeout.
fn guarded<F>(f: F) -> Result<Option<String>, String>
where
    F: FnOnce() -> Option<String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(LIMIT) {
        Ok(Ok(error)) => Ok(error),
        Ok(Err(p)) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("?")
        )),
        Err(_) => Err(format!("still running after {LIMIT:?} (hang?)")),
    }
}

/// Runs every input of `target`; fails listing each input that panicked,
/// hung or broke its expectation.
fn run_all(target: &str, one: fn(PathBuf) -> Option<String>) {
    let mut failures = Vec::new();
    let files = corpus(target);
    for input in &files {
        let expect = expectation(input);
        let path = input.clone();
        match guarded(move || one(path)) {
            Err(problem) => failures.push(format!("{}: {problem}", input.display())),
            Ok(error) => {
                if let Some(want) = expect {
                    match error {
                        Some(e) if e.contains(&want) => {}
                        other => failures.push(format!(
                            "{}: expected an error with {want:?}, got {other:?}",
                            input.display()
                        )),
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Reads the whole file the way `dump` does; returns the first error.
fn read_recording(path: &Path, salvage: bool) -> Option<String> {
    let name = path.display().to_string();
    let mut src = match FileSource::open(path, OpenOptions { salvage }) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(&name), "error without the file name: {msg}");
            return Some(msg);
        }
    };
    let info = src.info().clone();
    let _ = info.recovery_note();
    let mut first_error = None;
    let mut events = 0u64;
    loop {
        match src.next_event() {
            // A skipped block comes back as one loss record
            // (DAMAGED_BLOCK_CPU): not an event the index counts.
            Ok(Some(ev)) if ev.cpu == DAMAGED_BLOCK_CPU => {}
            Ok(Some(_)) => events += 1,
            Ok(None) => break,
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&name), "error without the file name: {msg}");
                first_error.get_or_insert(msg);
                if !salvage {
                    break;
                }
            }
        }
    }
    assert!(
        events <= info.events,
        "read {events} events, the index counts {}",
        info.events
    );
    first_error
}

#[test]
fn record_reader_inputs() {
    run_all("record_reader", |path| {
        let salvaged = read_recording(&path, true);
        let plain = read_recording(&path, false);
        // The binaries on the same file: exit 0, 1 (`info` found damaged
        // blocks) or 2 (error), never a panic (101) or a signal.
        for args in [&["info", "--json"][..], &["dump", "--salvage"]] {
            let out = Command::new(env!("CARGO_BIN_EXE_lpmtrace"))
                .args(args)
                .arg(&path)
                .output()
                .expect("run lpmtrace");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0..=2)) && !stderr.contains("panicked"),
                "lpmtrace {args:?}: {:?}: {stderr}",
                out.status
            );
        }
        plain.or(salvaged)
    });
}

#[test]
fn ring_decode_inputs() {
    run_all("ring_decode", |path| {
        let bytes = std::fs::read(&path).unwrap();
        match lpmtrace::events::decode::decode(&bytes) {
            Ok(event) => {
                let _ = format!("{event:?}");
                None
            }
            Err(e) => Some(e.to_string()),
        }
    });
}

#[test]
fn scenario_parse_inputs() {
    run_all("scenario_parse", |path| {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        match lpmtrace::scenario::parse(&text) {
            Ok(s) => {
                let report = s.analyse();
                let _ = s.check(&report);
                None
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("line "), "scenario error without a line: {msg}");
                Some(msg)
            }
        }
    });
}
