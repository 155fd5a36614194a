//! On-disk size of an IPI-heavy recording: IPI send + csd entry + csd exit
//! triplets between two CPUs at ~65k IPIs/s, alternating CPUs. The goal of
//! the format is at most 8 bytes per event on disk (whole file: header,
//! block headers and footer included). This is a size property of the
//! encoding, not a timing, so it is asserted.

mod record_support;

use lpmtrace::record::{FileSource, OpenOptions, WriterOptions};
use record_support::*;

#[test]
fn ipi_heavy_stream_takes_at_most_8_bytes_per_event() {
    let dir = TempDir::new("size");
    let path = dir.file("ipi.lpmt");
    // 2 s of trace: 130k IPIs, 390k events, 8 blocks of 250 ms.
    let events = ipi_stream(130_000, 42);
    let summary = write_file(&path, &full_session(), &events, WriterOptions::default());
    let file_len = std::fs::metadata(&path).unwrap().len();
    let per_event = file_len as f64 / events.len() as f64;
    let raw_per_event = summary.raw_bytes as f64 / events.len() as f64;
    let in_memory = std::mem::size_of_val(&events[0]) as f64;
    eprintln!(
        "IPI stream: {} events, {} blocks, {file_len} bytes on disk = {per_event:.2} bytes/event \
         (encoded {raw_per_event:.2} bytes/event before zstd, ratio {:.2}x; {:.0}x smaller than {in_memory} in-memory bytes)",
        events.len(),
        summary.blocks,
        raw_per_event / per_event,
        in_memory / per_event,
    );
    assert!(per_event <= 8.0, "{per_event:.2} bytes/event");
    assert!(summary.blocks >= 8, "{summary:?}");
    let src = FileSource::open(&path, OpenOptions::default()).unwrap();
    assert_eq!(src.info().events, events.len() as u64);
}
