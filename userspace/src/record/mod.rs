//! The `.lpmt` recording format: a [`Writer`] the `record` command feeds
//! with events, and a [`FileSource`] that replays a recording as an
//! [`EventSource`](crate::source::EventSource) for `dump`, `info`, the
//! report and the TUI.
//!
//! A file is a header (magic, format version, endianness, the
//! [`SessionInfo`](crate::events::session::SessionInfo) as checksummed
//! JSON), then compressed blocks of compactly encoded events (one block per
//! 250 ms of trace at most, each with its event count, time range and
//! CRC-32s), then a footer indexing the blocks and a trailer pointing at
//! the footer. docs/file-format.md is the normative description and states
//! the version policy: a reader reads every older version of its major
//! version and refuses a newer major with a clear error.
//!
//! Invariants:
//! - The writer never leaves the file unreadable: after a crash or a write
//!   error, everything up to the last complete block can be recovered.
//! - The reader never panics and never allocates more than the file size or
//!   a fixed cap because of a length field; every error names the file, and
//!   errors about data name the block and byte offset.
//!
//! ```no_run
//! use std::path::Path;
//! use lpmtrace::events::session::{KernelGeneration, SessionInfo};
//! use lpmtrace::record::{FileSource, OpenOptions, Writer, WriterOptions};
//! use lpmtrace::source::EventSource;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let session = SessionInfo::synthetic("ppc64le", 8, KernelGeneration::NewPath);
//! let mut w = Writer::create(Path::new("t.lpmt"), &session, WriterOptions::default())?;
//! // w.push(&event)? for every event, w.flush_due(Instant::now())? on ticks
//! let summary = w.finish()?;
//! let mut r = FileSource::open(&summary.path, OpenOptions::default())?;
//! while let Some(event) = r.next_event()? {
//!     println!("{event:?}");
//! }
//! # Ok(())
//! # }
//! ```

mod codec;
pub mod durable;
mod error;
pub mod flight;
mod format;
mod read_ahead;
mod reader;
pub mod spool;
mod writer;

pub use durable::SyncStats;
pub use error::{BlockProblem, DecodeError, RecordError};
pub use format::{FORMAT_MAJOR, FORMAT_MINOR};
pub use reader::{BlockInfo, FileInfo, FileSource, FooterStatus, OpenOptions, SkippedBlock};
pub use writer::{
    WriteSummary, Writer, WriterOptions, DEFAULT_BLOCK_INTERVAL, DEFAULT_BLOCK_RAW_LIMIT, DEFAULT_COMPRESSION_LEVEL,
};

/// File name extension of recordings.
pub const EXTENSION: &str = "lpmt";

/// A kernel timestamp as `seconds.nanoseconds`.
pub fn format_ts(ts_ns: u64) -> String {
    format!("{}.{:09}", ts_ns / 1_000_000_000, ts_ns % 1_000_000_000)
}

/// A duration in nanoseconds as seconds with millisecond precision (`1.250s`).
pub fn format_duration(ns: u64) -> String {
    let ms = ns / 1_000_000;
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_without_floats() {
        assert_eq!(format_ts(1_500_000_001), "1.500000001");
        assert_eq!(format_duration(1_250_999_999), "1.250s");
        assert_eq!(format_duration(0), "0.000s");
    }
}
