//! Damaged and hostile files: truncation at every byte, flipped bits,
//! wrong magic, future versions, absurd sizes, directories, unreadable
//! files. The reader must never panic, must name the file (and block and
//! offset for data), and must recover exactly the complete blocks.

mod record_support;

use std::path::Path;

use lpmtrace::events::Event;
use lpmtrace::record::{FileSource, FooterStatus, OpenOptions, RecordError, FORMAT_MAJOR};
use lpmtrace::source::{EventSource, SourceError};
use record_support::*;

const HEADER_FIXED: usize = 28;

/// A small recording of a few blocks; returns its bytes, the events and
/// the block layout (offset, end, events) from the footer.
/// Per block: start offset, end offset, events.
type Layout = Vec<(u64, u64, u64)>;

fn small_recording(dir: &TempDir) -> (Vec<u8>, Vec<Event>, Layout) {
    let path = dir.file("small.lpmt");
    let mut events = every_kind(1_000_000_000);
    // Spread over 40 ms with 10 ms blocks: 4-5 blocks.
    for (i, e) in events.iter_mut().enumerate() {
        e.ts_ns = 1_000_000_000 + i as u64 * 1_200_000;
    }
    write_file(&path, &full_session(), &events, small_blocks());
    let src = FileSource::open(&path, OpenOptions::default()).unwrap();
    let blocks = src
        .info()
        .blocks
        .iter()
        .map(|b| (b.offset, b.offset + 44 + u64::from(b.stored_len), u64::from(b.events)))
        .collect::<Vec<_>>();
    assert!(blocks.len() >= 3, "{blocks:?}");
    (std::fs::read(&path).unwrap(), events, blocks)
}

/// The loss record the reader puts in place of a skipped block.
fn damage_loss(count: u64, first: u64, last: u64) -> Event {
    Event {
        ts_ns: last,
        cpu: lpmtrace::events::DAMAGED_BLOCK_CPU,
        tid: 0,
        kind: lpmtrace::events::EventKind::Lost {
            count,
            first_ts_ns: first,
            last_ts_ns: last,
        },
    }
}

fn try_read_all(path: &Path, opts: OpenOptions) -> Result<(FileSource, Vec<Event>), String> {
    let mut src = FileSource::open(path, opts).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    loop {
        match src.next_event() {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return Ok((src, out)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[test]
fn truncation_at_every_byte_recovers_exactly_the_complete_blocks() {
    let dir = TempDir::new("dmg");
    let (bytes, events, blocks) = small_recording(&dir);
    let path = dir.file("cut.lpmt");
    let data_start = blocks[0].0 as usize;
    for cut in 0..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let result = try_read_all(&path, OpenOptions::default());
        if cut < data_start {
            let err = result.err().unwrap_or_else(|| panic!("cut {cut}: header accepted"));
            assert!(err.contains("cut.lpmt: truncated header"), "cut {cut}: {err}");
            continue;
        }
        let (src, got) = result.unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        let complete: u64 = blocks.iter().filter(|b| b.1 <= cut as u64).map(|b| b.2).sum();
        assert_eq!(got.len() as u64, complete, "cut {cut}");
        assert_eq!(got[..], events[..complete as usize], "cut {cut}");
        assert_eq!(src.info().footer, FooterStatus::Missing, "cut {cut}");
        let note = src.info().recovery_note().unwrap();
        assert!(
            note.contains(&format!("recovered {complete} events")),
            "cut {cut}: {note}"
        );
        assert!(note.contains("the recorder did not finish"), "cut {cut}: {note}");
    }
    // The whole file has its footer.
    std::fs::write(&path, &bytes).unwrap();
    let (src, got) = try_read_all(&path, OpenOptions::default()).unwrap();
    assert_eq!(got, events);
    assert_eq!(src.info().footer, FooterStatus::Present);
}

#[test]
fn a_flipped_bit_in_a_block_names_the_block_and_salvage_recovers_the_rest() {
    let dir = TempDir::new("dmg");
    let (bytes, events, blocks) = small_recording(&dir);
    let path = dir.file("flip.lpmt");
    let (start, end, n) = blocks[1];
    let mut bad = bytes.clone();
    bad[(start + 44 + (end - start - 44) / 2) as usize] ^= 0x10;
    std::fs::write(&path, &bad).unwrap();

    let err = try_read_all(&path, OpenOptions::default()).unwrap_err();
    assert!(err.contains("flip.lpmt: block 1 at byte offset"), "{err}");
    assert!(err.contains(&format!("offset {start}")), "{err}");
    assert!(err.contains("checksum mismatch"), "{err}");

    let (src, got) = try_read_all(&path, OpenOptions { salvage: true }).unwrap();
    let b0 = blocks[0].2 as usize;
    let b1_end = b0 + n as usize;
    // The block's events become one loss record over its time range.
    let mut expected = events[..b0].to_vec();
    expected.push(damage_loss(n, events[b0].ts_ns, events[b1_end - 1].ts_ns));
    expected.extend_from_slice(&events[b1_end..]);
    assert_eq!(got, expected);
    assert_eq!(src.skipped().len(), 1);
    assert_eq!(src.skipped()[0].block, 1);
    assert!(src.skipped()[0].reason.contains("checksum mismatch"));

    // Same damage in a file without footer: the scan reports it at open.
    let footer_at = blocks.last().unwrap().1 as usize;
    std::fs::write(&path, &bad[..footer_at]).unwrap();
    let err = FileSource::open(&path, OpenOptions::default()).unwrap_err().to_string();
    assert!(
        err.contains(&format!("block 1 at byte offset {start}: checksum mismatch")),
        "{err}"
    );
    let (src, got) = try_read_all(&path, OpenOptions { salvage: true }).unwrap();
    assert_eq!(got, expected);
    let note = src.info().recovery_note().unwrap();
    assert!(note.contains("salvage skipped 1 damaged block"), "{note}");
}

#[test]
fn a_damaged_block_header_is_skipped_by_resync_with_salvage() {
    let dir = TempDir::new("dmg");
    let (bytes, events, blocks) = small_recording(&dir);
    let path = dir.file("hdr.lpmt");
    let footer_at = blocks.last().unwrap().1 as usize;
    let mut bad = bytes[..footer_at].to_vec();
    // Corrupt the stored length of block 1: its extent is now unknown.
    bad[blocks[1].0 as usize + 17] ^= 0x7f;
    std::fs::write(&path, &bad).unwrap();
    let err = FileSource::open(&path, OpenOptions::default()).unwrap_err().to_string();
    assert!(
        err.contains("block 1 at byte offset") && err.contains("block header checksum mismatch"),
        "{err}"
    );
    let (_, got) = try_read_all(&path, OpenOptions { salvage: true }).unwrap();
    let b0 = blocks[0].2 as usize;
    let b1_end = b0 + blocks[1].2 as usize;
    // Its header is damaged too: the count is unknown (at least one), the
    // time range lies between the neighbours.
    let mut expected = events[..b0].to_vec();
    expected.push(damage_loss(1, events[b0 - 1].ts_ns, events[b1_end].ts_ns));
    expected.extend_from_slice(&events[b1_end..]);
    assert_eq!(got, expected);
}

#[test]
fn every_single_bit_flip_is_an_error_or_a_salvage_never_a_panic() {
    let dir = TempDir::new("dmg");
    let (bytes, events, _) = small_recording(&dir);
    let path = dir.file("fuzz.lpmt");
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 1 << (i % 8);
        std::fs::write(&path, &bad).unwrap();
        for salvage in [false, true] {
            // Any outcome but a panic is acceptable; a success must not
            // invent events.
            if let Ok((_, got)) = try_read_all(&path, OpenOptions { salvage }) {
                let loss = |e: &Event| e.cpu == lpmtrace::events::DAMAGED_BLOCK_CPU;
                assert!(
                    got.iter().all(|e| events.contains(e) || (salvage && loss(e))),
                    "byte {i}: invented an event"
                );
            }
        }
    }
}

#[test]
fn a_damaged_footer_falls_back_to_scanning() {
    let dir = TempDir::new("dmg");
    let (bytes, events, blocks) = small_recording(&dir);
    let path = dir.file("foot.lpmt");
    let mut bad = bytes.clone();
    let footer_at = blocks.last().unwrap().1 as usize;
    bad[footer_at + 14] ^= 0xff; // inside the footer payload
    std::fs::write(&path, &bad).unwrap();
    let (src, got) = try_read_all(&path, OpenOptions::default()).unwrap();
    assert_eq!(got, events);
    assert!(
        matches!(&src.info().footer, FooterStatus::Corrupt { reason } if reason.contains("footer checksum mismatch"))
    );
    assert!(src.info().recovery_note().unwrap().contains("by scanning the blocks"));
}

fn open_err(bytes: &[u8], name: &str) -> (RecordError, String) {
    let dir = TempDir::new("dmg");
    let path = dir.file(name);
    std::fs::write(&path, bytes).unwrap();
    let e = FileSource::open(&path, OpenOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(name), "the message must name the file: {msg}");
    (e, msg)
}

#[test]
fn wrong_magic_is_not_a_recording() {
    let (e, msg) = open_err(b"{\"ts_ns\": 1}\n{\"ts_ns\": 2}\n and more text", "notes.jsonl");
    assert!(matches!(e, RecordError::BadMagic { .. }));
    assert!(
        msg.contains("not an lpmtrace recording (bad magic: found 7b2274735f6e7322"),
        "{msg}"
    );
    let (_, msg) = open_err(b"", "empty.lpmt");
    assert!(msg.contains("truncated header: the file has 0 bytes"), "{msg}");
    let (_, msg) = open_err(b"\x89LP", "short.lpmt");
    assert!(
        msg.contains("truncated header: the file has 3 bytes, the header needs 28"),
        "{msg}"
    );
}

#[test]
fn a_future_major_version_is_refused_clearly_and_a_newer_minor_is_read() {
    let dir = TempDir::new("dmg");
    let (bytes, events, _) = small_recording(&dir);
    let mut future = bytes.clone();
    future[8..10].copy_from_slice(&(FORMAT_MAJOR + 1).to_le_bytes());
    future[10..12].copy_from_slice(&3u16.to_le_bytes());
    // Past the version fields nothing else is looked at.
    future.truncate(40);
    let (e, msg) = open_err(&future, "future.lpmt");
    assert!(matches!(e, RecordError::FutureVersion { major: 2, minor: 3, .. }));
    assert!(
        msg.contains("format version 2.3 is newer than this lpmtrace supports (major 1)"),
        "{msg}"
    );

    // A newer minor of the same major: same layout plus things old
    // readers ignore. Rewrite the header checksum for the new minor.
    let mut minor = bytes.clone();
    minor[10..12].copy_from_slice(&7u16.to_le_bytes());
    let crc = crc32fast::hash(&minor[0..24]);
    minor[24..28].copy_from_slice(&crc.to_le_bytes());
    let path = dir.file("minor.lpmt");
    std::fs::write(&path, &minor).unwrap();
    let (src, got) = try_read_all(&path, OpenOptions::default()).unwrap();
    assert_eq!(got, events);
    assert_eq!((src.info().format_major, src.info().format_minor), (1, 7));
}

#[test]
fn absurd_sizes_and_bad_checksums_in_the_header() {
    let dir = TempDir::new("dmg");
    let (bytes, _, _) = small_recording(&dir);
    let with_crc = |mut b: Vec<u8>| {
        let crc = crc32fast::hash(&b[0..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        b
    };

    let mut huge = bytes.clone();
    huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    let (_, msg) = open_err(&with_crc(huge), "huge.lpmt");
    assert!(
        msg.contains("corrupt header at byte offset 16: absurd session length 4294967295"),
        "{msg}"
    );

    let mut past_end = bytes[..200].to_vec();
    past_end[16..20].copy_from_slice(&1_000_000u32.to_le_bytes());
    let (e, msg) = open_err(&with_crc(past_end), "past.lpmt");
    assert!(
        matches!(
            e,
            RecordError::TruncatedHeader {
                len: 200,
                need: 1_000_028,
                ..
            }
        ),
        "{msg}"
    );

    let mut flipped = bytes.clone();
    flipped[17] ^= 4;
    let (_, msg) = open_err(&flipped, "hdrcrc.lpmt");
    assert!(
        msg.contains("corrupt header at byte offset 24: header checksum mismatch"),
        "{msg}"
    );

    let mut json = bytes.clone();
    json[HEADER_FIXED + 3] ^= 0x20;
    let (_, msg) = open_err(&json, "json.lpmt");
    assert!(
        msg.contains("corrupt header at byte offset 28: session checksum mismatch"),
        "{msg}"
    );

    let mut endian = bytes.clone();
    endian[12] = b'B';
    let (_, msg) = open_err(&with_crc(endian), "endian.lpmt");
    assert!(msg.contains("little-endian"), "{msg}");

    let mut zero = bytes.clone();
    zero[8..10].copy_from_slice(&0u16.to_le_bytes());
    let (_, msg) = open_err(&zero, "zero.lpmt");
    let minor = u16::from_le_bytes([bytes[10], bytes[11]]);
    assert!(
        msg.contains(&format!("format version 0.{minor} does not exist")),
        "{msg}"
    );
}

#[test]
fn absurd_sizes_in_a_block_header_are_caught_before_allocating() {
    let dir = TempDir::new("dmg");
    let (bytes, _, blocks) = small_recording(&dir);
    let footer_at = blocks.last().unwrap().1 as usize;
    let b1 = blocks[1].0 as usize;
    // raw length 4 GiB with a valid header checksum: rejected by the cap.
    let mut bad = bytes[..footer_at].to_vec();
    bad[b1 + 12..b1 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let crc = crc32fast::hash(&bad[b1..b1 + 40]);
    bad[b1 + 40..b1 + 44].copy_from_slice(&crc.to_le_bytes());
    let (_, msg) = open_err(&bad, "rawlen.lpmt");
    assert!(
        msg.contains(&format!(
            "block 1 at byte offset {b1}: absurd block header field raw length = 4294967295"
        )),
        "{msg}"
    );
}

#[test]
fn directories_and_unreadable_paths_are_clear_errors() {
    let dir = TempDir::new("dmg");
    let e = FileSource::open(dir.path(), OpenOptions::default()).unwrap_err();
    assert!(matches!(e, RecordError::IsDirectory { .. }));
    assert!(
        e.to_string().ends_with("is a directory, not an lpmtrace recording"),
        "{e}"
    );

    let missing = dir.file("missing.lpmt");
    let e = FileSource::open(&missing, OpenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.lpmt: open: No such file or directory"), "{e}");

    // A device is not a recording (and /dev/zero is not read forever).
    for dev in ["/dev/null", "/dev/zero"] {
        let e = FileSource::open(Path::new(dev), OpenOptions::default()).unwrap_err();
        assert!(matches!(e, RecordError::NotAFile { .. }), "{e}");
    }

    // Unreadable file (only meaningful when not root: root reads anyway).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.file("secret.lpmt");
        std::fs::write(&p, b"x").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        let e = FileSource::open(&p, OpenOptions::default()).unwrap_err().to_string();
        assert!(e.contains("secret.lpmt: open: Permission denied"), "{e}");
    }
}

#[test]
fn a_source_error_carries_the_record_error() {
    let dir = TempDir::new("dmg");
    let (bytes, _, blocks) = small_recording(&dir);
    let path = dir.file("src.lpmt");
    let mut bad = bytes.clone();
    bad[blocks[0].0 as usize + 50] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    let mut src = FileSource::open(&path, OpenOptions::default()).unwrap();
    match src.next_event() {
        Err(SourceError::Record(RecordError::BadBlock { block: 0, .. })) => {}
        other => panic!("{other:?}"),
    }
    // The stream goes on with the next block after an error.
    assert!(src.next_event().unwrap().is_some());
}

#[test]
fn a_skipped_block_is_lost_to_the_analysis_and_findings_near_it_are_inconclusive() {
    use lpmtrace::analysis::{analyse, Thresholds};
    let dir = TempDir::new("dmg");
    // A real migration (the demo), one block in its middle damaged.
    let path = dir.file("demo.lpmt");
    std::fs::write(&path, lpmtrace::demo::DEMO_RECORDING).unwrap();
    let src = FileSource::open(&path, OpenOptions::default()).unwrap();
    let blocks = src.info().blocks.clone();
    let session = src.session().clone();
    let (_, clean) = try_read_all(&path, OpenOptions::default()).unwrap();
    let report = analyse(&session, Thresholds::default(), &clean);
    assert_eq!(report.events_lost, 0);
    // The block holding the first finding's time.
    let f0 = report
        .findings
        .iter()
        .find(|f| !f.inconclusive)
        .expect("a conclusive finding");
    let hit = blocks
        .iter()
        .position(|b| b.min_ts_ns <= f0.ts_ns && f0.ts_ns <= b.max_ts_ns)
        .expect("a block covers the finding");
    let b = blocks[hit];
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(b.offset + 44 + u64::from(b.stored_len) / 2) as usize] ^= 0x01;
    let bad = dir.file("bad.lpmt");
    std::fs::write(&bad, &bytes).unwrap();
    let (_, got) = try_read_all(&bad, OpenOptions { salvage: true }).unwrap();
    let damaged = analyse(&session, Thresholds::default(), &got);
    assert_eq!(
        damaged.events_lost,
        u64::from(b.events),
        "the header's lost counts the block"
    );
    let loss = damaged
        .findings
        .iter()
        .find(|f| f.variant.as_deref() == Some("damaged-recording"))
        .expect("an events-lost finding for the damaged block");
    assert!(
        loss.summary.contains("damaged block of the recording"),
        "{}",
        loss.summary
    );
    let same = damaged.findings.iter().find(|f| {
        f.kind == f0.kind && f.ts_ns <= b.max_ts_ns && f.window_start_ns <= b.max_ts_ns && f.ts_ns >= b.min_ts_ns
    });
    if let Some(f) = same {
        assert!(
            f.inconclusive,
            "{:?} overlaps the damaged block but is conclusive",
            f.kind
        );
    }
    assert!(
        damaged.findings.iter().any(|f| f.inconclusive),
        "no finding near the damaged block is marked inconclusive"
    );
}
