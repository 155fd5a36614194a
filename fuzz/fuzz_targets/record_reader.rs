//! Bytes → a `.lpmt` file → open (plain and salvage) → info → every event.
//!
//! The reader works on a `File` (positioned reads), so the input is written
//! to a per-process file under /dev/shm (tmpfs) and reopened each run.
//! Each input is read twice: as it is (checksums and framing must reject
//! it cleanly) and with its checksums recomputed, so mutations reach the
//! session JSON, the block codec and the footer index behind the CRCs.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lpmtrace::record::{FileSource, OpenOptions};
use lpmtrace::source::EventSource;

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("lpmtrace-fuzz-{}.lpmt", std::process::id()))
    })
}

fn read_all(path: &std::path::Path, salvage: bool) {
    let Ok(mut src) = FileSource::open(path, OpenOptions { salvage }) else {
        return;
    };
    let info = src.info().clone();
    let _ = info.recovery_note();
    let _ = info.duration_ns();
    let _ = info.block_bytes();
    let _ = format!("{:?}", src.session());
    // Every error names the file; with salvage a damaged block is skipped
    // and the stream continues, without it the first error ends the read.
    let mut events = 0u64;
    loop {
        match src.next_event() {
            // A skipped block is one loss record, not an indexed event.
            Ok(Some(ev)) if ev.cpu == lpmtrace::events::DAMAGED_BLOCK_CPU => {}
            Ok(Some(_)) => events += 1,
            Ok(None) => break,
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&path.display().to_string()),
                    "error without the file name: {msg}"
                );
                if !salvage {
                    break;
                }
            }
        }
    }
    assert!(
        events <= info.events,
        "more events ({events}) than the index counts ({})",
        info.events
    );
    // Seeking uses the index the same way the TUI does.
    if let Some(t) = info.first_ts_ns {
        src.seek_to(t.saturating_add(info.duration_ns() / 2));
        while let Ok(Some(_)) = src.next_event() {}
    }
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write the scratch file");
    read_all(path, false);
    read_all(path, true);
    let mut fixed = data.to_vec();
    if lpmtrace_fuzz::fix_checksums(&mut fixed) {
        std::fs::write(path, &fixed).expect("write the scratch file");
        read_all(path, false);
        read_all(path, true);
    }
});
