//! `FileSource::bytes_read` / `total_bytes` (what drives the progress bar
//! of report, dump and export): 0 before reading, grows block by block,
//! ends at the last block's end, follows a seek; and `EventSource::progress`
//! reports the same.

mod record_support;

use lpmtrace::record::{FileSource, OpenOptions};
use lpmtrace::source::EventSource;
use record_support::*;

#[test]
fn bytes_read_follows_the_blocks_to_the_end() {
    let dir = TempDir::new("progress");
    let path = dir.file("ipi.lpmt");
    let events = ipi_stream(20_000, 7);
    write_file(&path, &full_session(), &events, small_blocks());
    let size = std::fs::metadata(&path).unwrap().len();

    let mut src = FileSource::open(&path, OpenOptions::default()).unwrap();
    let blocks = src.info().blocks.clone();
    assert!(blocks.len() >= 5, "want several blocks, got {}", blocks.len());
    assert_eq!(src.total_bytes(), size);
    assert_eq!(src.bytes_read(), 0);
    assert_eq!(src.progress(), Some((0, size)));

    let mut positions = vec![];
    while src.next_event().unwrap().is_some() {
        let p = src.bytes_read();
        if positions.last() != Some(&p) {
            positions.push(p);
        }
    }
    // One step per block, each at the start of the next block.
    assert_eq!(positions.len(), blocks.len());
    for (i, p) in positions.iter().enumerate() {
        if let Some(next) = blocks.get(i + 1) {
            assert_eq!(*p, next.offset, "after block {i}");
        }
    }
    let end = *positions.last().unwrap();
    assert!(end < size, "the footer comes after the last block");
    assert!(size - end < 4096, "only the footer is left: {} bytes", size - end);
    assert_eq!(src.progress(), Some((end, size)));

    // A seek to the middle starts counting from there.
    let mid = blocks[blocks.len() / 2];
    src.seek_to(mid.min_ts_ns);
    src.next_event().unwrap().unwrap();
    assert_eq!(src.bytes_read(), blocks[blocks.len() / 2 + 1].offset);
    src.rewind();
    assert_eq!(src.bytes_read(), 0);
}
