//! Reading with the read-ahead worker (userspace/src/record/read_ahead.rs)
//! gives exactly the events of the file in order, across seeks, rewinds and
//! a damaged block.

use std::path::{Path, PathBuf};

use lpmtrace::events::{Event, EventKind};
use lpmtrace::record::{FileSource, OpenOptions};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo-6.1-migrate-smp.lpmt");

fn all(src: &mut FileSource) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(e) = src.next_record().expect("read") {
        v.push(e);
    }
    v
}

/// Events block by block, each block decoded on its own (no worker: a
/// fresh source seeked to every block start in reverse order).
fn reference(path: &Path) -> Vec<Event> {
    let src = FileSource::open(path, OpenOptions::default()).unwrap();
    let blocks = src.info().blocks.clone();
    let mut per_block = Vec::new();
    for b in blocks.iter().rev() {
        let mut one = FileSource::open(path, OpenOptions::default()).unwrap();
        one.seek_to(b.min_ts_ns);
        let mut got = Vec::new();
        for _ in 0..b.events {
            got.push(one.next_record().unwrap().unwrap());
        }
        per_block.push(got);
    }
    per_block.into_iter().rev().flatten().collect()
}

#[test]
fn sequential_reads_equal_block_by_block_decoding() {
    let path = PathBuf::from(DEMO);
    let mut src = FileSource::open(&path, OpenOptions::default()).unwrap();
    assert!(src.info().blocks.len() > 10, "the demo recording has many blocks");
    let seq = all(&mut src);
    assert_eq!(seq.len() as u64, src.info().events);
    assert_eq!(seq, reference(&path));
}

#[test]
fn seeks_and_rewinds_in_the_middle_of_read_ahead() {
    let path = PathBuf::from(DEMO);
    let mut src = FileSource::open(&path, OpenOptions::default()).unwrap();
    let whole = all(&mut src);
    src.rewind();
    // Half way, then back to a point in the first third, then to the end.
    for _ in 0..whole.len() / 2 {
        src.next_record().unwrap();
    }
    let t = whole[whole.len() / 3].ts_ns;
    src.seek_to(t);
    let after: Vec<Event> = all(&mut src);
    let want: Vec<Event> = whole.iter().copied().filter(|e| e.ts_ns >= t).collect();
    assert_eq!(after, want);
    src.rewind();
    assert_eq!(all(&mut src), whole);
}

#[test]
fn a_damaged_block_is_reported_in_order_and_salvage_skips_only_it() {
    let dir = std::env::temp_dir().join(format!("lpmtrace-read-ahead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("damaged.lpmt");
    let mut bytes = std::fs::read(DEMO).unwrap();
    let src = FileSource::open(Path::new(DEMO), OpenOptions::default()).unwrap();
    let blocks = src.info().blocks.clone();
    let victim = blocks.len() / 2;
    // A byte inside the victim's payload: its CRC no longer matches.
    let at = blocks[victim].offset as usize + 64 + 8;
    bytes[at] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();

    let mut plain = FileSource::open(&path, OpenOptions::default()).unwrap();
    let mut before = 0u64;
    let err = loop {
        match plain.next_record() {
            Ok(Some(_)) => before += 1,
            Ok(None) => panic!("the damaged block was not noticed"),
            Err(e) => break e.to_string(),
        }
    };
    let expected_before: u64 = blocks[..victim].iter().map(|b| u64::from(b.events)).sum();
    assert_eq!(before, expected_before, "{err}");
    assert!(err.contains(&format!("block {victim}")), "{err}");

    let mut salvage = FileSource::open(&path, OpenOptions { salvage: true }).unwrap();
    let got = all(&mut salvage);
    // The skipped block comes back as one loss record over its events.
    let (lost, kept): (Vec<Event>, Vec<Event>) = got
        .into_iter()
        .partition(|e| e.cpu == lpmtrace::events::DAMAGED_BLOCK_CPU);
    assert_eq!(kept.len() as u64, src.info().events - u64::from(blocks[victim].events));
    assert!(
        matches!(lost[..], [Event { kind: EventKind::Lost { count, .. }, .. }] if count == u64::from(blocks[victim].events)),
        "{lost:?}"
    );
    assert_eq!(salvage.skipped().len(), 1);
    assert_eq!(salvage.skipped()[0].block, victim as u64);
    let _ = std::fs::remove_dir_all(&dir);
}
