//! A write that fails mid-recording (disk full, file size limit) is an
//! error naming the file, the writer takes no more events, and the file on
//! disk stays readable up to the last complete block.
//!
//! The failure is made real with RLIMIT_FSIZE (EFBIG once the file would
//! grow past the limit, SIGXFSZ ignored), which takes the same error path
//! as ENOSPC. This binary holds a single test because the limit applies to
//! the whole process.

mod record_support;

use lpmtrace::record::{FileSource, FooterStatus, OpenOptions, RecordError, Writer, WriterOptions};
use lpmtrace::source::EventSource;
use record_support::*;

const LIMIT: u64 = 48 * 1024;

fn set_fsize_limit(limit: u64) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls with valid pointers; SIGXFSZ is ignored so the
    // write fails with EFBIG instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        let new = libc::rlimit {
            rlim_cur: limit.min(old.rlim_max),
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &new), 0);
    }
    old
}

#[test]
fn a_failed_write_is_reported_and_the_file_stays_valid() {
    let dir = TempDir::new("werr");
    let path = dir.file("full.lpmt");
    let events = ipi_stream(40_000, 9);
    let opts = WriterOptions {
        block_raw_limit: 8 * 1024,
        compression_level: 0,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(&path, &full_session(), opts).unwrap();

    let old = set_fsize_limit(LIMIT);
    let mut failure = None;
    for e in &events {
        if let Err(err) = w.push(e) {
            failure = Some(err);
            break;
        }
    }
    let written = w.events_written();
    let again = w.push(&events[0]);
    let finish = w.finish();
    // SAFETY: restores the limit read above.
    unsafe {
        libc::setrlimit(libc::RLIMIT_FSIZE, &old);
    }

    let err = failure.expect("the size limit was never hit");
    let msg = err.to_string();
    assert!(matches!(err, RecordError::Io { .. }), "{err:?}");
    assert!(msg.contains("full.lpmt: write block"), "{msg}");
    assert!(matches!(again, Err(RecordError::WriterFailed { .. })));
    let finish_msg = finish.unwrap_err().to_string();
    assert!(
        finish_msg.contains("full.lpmt: the writer stopped after an earlier error: "),
        "{finish_msg}"
    );

    // Cut back to the last complete block: readable, without footer.
    assert!(std::fs::metadata(&path).unwrap().len() <= LIMIT);
    let mut src = FileSource::open(&path, OpenOptions::default()).unwrap();
    assert_eq!(src.info().footer, FooterStatus::Missing);
    assert_eq!(src.info().trailing_bytes, 0);
    assert_eq!(src.info().events, written);
    let mut got = Vec::new();
    while let Some(e) = src.next_event().unwrap() {
        got.push(e);
    }
    assert!(written > 0);
    assert_eq!(got[..], events[..written as usize]);
}
