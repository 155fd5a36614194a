//! Round trips through `.lpmt` files: every event kind, every header field,
//! many blocks, seeking, the footer totals, and the writer's file handling
//! (refusing existing files, mode 0600, no symlink following, flushing on
//! time, recovery of an unfinished file).

mod record_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use lpmtrace::events::{Event, EventKind, IpiSendVia};
use lpmtrace::record::{FileSource, FooterStatus, OpenOptions, RecordError, Writer, WriterOptions};
use lpmtrace::source::EventSource;
use record_support::*;

#[test]
fn every_event_kind_and_header_field_round_trips() {
    let dir = TempDir::new("rt");
    let path = dir.file("all.lpmt");
    let session = full_session();
    let events = every_kind(1_000_000_000);
    let summary = write_file(&path, &session, &events, WriterOptions::default());
    assert_eq!(summary.events, events.len() as u64);
    assert_eq!(summary.lost_records, 1);
    assert_eq!(summary.lost_events, 17);
    assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());

    let (src, back) = read_all(&path, OpenOptions::default());
    assert_eq!(src.session(), &session);
    assert_eq!(back, events);
    let info = src.info();
    assert_eq!(info.footer, FooterStatus::Present);
    assert_eq!(info.events, events.len() as u64);
    // 1.1: ipi-tally extension records and the session's ipi_detail.
    assert_eq!((info.format_major, info.format_minor), (1, 1));
    assert_eq!(info.lost_records, 1);
    assert_eq!(info.lost_events, 17);
    assert_eq!(info.first_ts_ns, Some(1_000_000_000));
    assert_eq!(info.last_ts_ns, events.last().map(|e| e.ts_ns));
    assert!(info.recovery_note().is_none());
    // Per-probe counts agree with the model's probe names.
    for (probe, count) in &info.probe_counts {
        let expected = events.iter().filter(|e| e.kind.probe() == probe).count() as u64;
        assert_eq!(*count, expected, "{probe}");
    }
    assert_eq!(info.probe_counts.values().sum::<u64>(), events.len() as u64);
}

#[test]
fn many_blocks_out_of_order_events_and_seeking() {
    let dir = TempDir::new("rt");
    let path = dir.file("many.lpmt");
    let mut events = ipi_stream(3000, 7);
    // A late straggler and a Lost record reported after the fact.
    events.insert(
        500,
        Event {
            ts_ns: events[400].ts_ns,
            cpu: 1,
            tid: 9,
            kind: EventKind::MigrateEnter { handle: 1 },
        },
    );
    events.push(Event {
        ts_ns: events.last().unwrap().ts_ns + 1,
        cpu: 0,
        tid: 0,
        kind: EventKind::Lost {
            count: 5,
            first_ts_ns: events[10].ts_ns,
            last_ts_ns: events[20].ts_ns,
        },
    });
    let summary = write_file(&path, &full_session(), &events, small_blocks());
    assert!(summary.blocks >= 4, "{summary:?}");
    let (mut src, back) = read_all(&path, OpenOptions::default());
    assert_eq!(back, events);
    assert_eq!(src.info().blocks.len() as u64, summary.blocks);

    // Seek into the middle: the next event is the first at or after t.
    let t = events[4000].ts_ns;
    src.seek_to(t);
    let first = src.next_event().unwrap().unwrap();
    let expected = events.iter().filter(|e| e.ts_ns >= t).copied().collect::<Vec<_>>();
    assert_eq!(first, expected[0]);
    let mut rest = vec![first];
    while let Some(e) = src.next_event().unwrap() {
        rest.push(e);
    }
    assert_eq!(rest, expected);
    // Past the end, then back to the start.
    src.seek_to(u64::MAX);
    assert_eq!(src.next_event().unwrap(), None);
    src.rewind();
    assert_eq!(src.next_event().unwrap(), Some(events[0]));
}

#[test]
fn blocks_close_on_event_time() {
    let dir = TempDir::new("rt");
    let path = dir.file("time.lpmt");
    // 2 s of events 10 ms apart with the default 250 ms interval.
    let events: Vec<Event> = (0..200u64)
        .map(|i| Event {
            ts_ns: 1_000_000_000 + i * 10_000_000,
            cpu: 0,
            tid: 1,
            kind: EventKind::IpiSend {
                target_cpu: 1,
                callback: 0,
                via: IpiSendVia::Tracepoint,
            },
        })
        .collect();
    write_file(&path, &full_session(), &events, WriterOptions::default());
    let src = FileSource::open(&path, OpenOptions::default()).unwrap();
    let blocks = &src.info().blocks;
    assert_eq!(blocks.len(), 8);
    for b in blocks {
        assert!(b.max_ts_ns - b.min_ts_ns < 250_000_000, "{b:?}");
    }
}

#[test]
fn flush_due_hands_blocks_to_the_os_and_an_unfinished_file_is_recovered() {
    let dir = TempDir::new("rt");
    let path = dir.file("live.lpmt");
    let opts = WriterOptions {
        block_interval: Duration::from_millis(250),
        ..WriterOptions::default()
    };
    let mut w = Writer::create(&path, &full_session(), opts).unwrap();
    let header_len = w.bytes_written();
    let events = every_kind(2_000_000_000);
    for e in &events[..10] {
        w.push(e).unwrap();
    }
    assert_eq!(w.pending_events(), 10);
    // Not due yet: nothing written.
    w.flush_due(Instant::now()).unwrap();
    assert_eq!(w.bytes_written(), header_len);
    // 250 ms of wall time later it is.
    w.flush_due(Instant::now() + Duration::from_millis(260)).unwrap();
    assert_eq!(w.events_written(), 10);
    assert_eq!(w.pending_events(), 0);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), w.bytes_written());

    // A reader sees the flushed block while the writer is still running.
    let (src, back) = read_all(&path, OpenOptions::default());
    assert_eq!(back, events[..10]);
    assert_eq!(src.info().footer, FooterStatus::Missing);
    let note = src.info().recovery_note().unwrap();
    assert!(
        note.starts_with("no footer: recovered 10 events up to 2.009000000"),
        "{note}"
    );
    assert!(note.ends_with("the recorder did not finish"), "{note}");

    // Dropped without finish: the open block still reaches the file.
    for e in &events[10..] {
        w.push(e).unwrap();
    }
    drop(w);
    let (src, back) = read_all(&path, OpenOptions::default());
    assert_eq!(back, events);
    assert_eq!(src.info().footer, FooterStatus::Missing);
}

#[test]
fn refuses_existing_files_unless_forced_and_creates_0600() {
    let dir = TempDir::new("rt");
    let path = dir.file("x.lpmt");
    std::fs::write(&path, b"precious").unwrap();
    let err = Writer::create(&path, &full_session(), WriterOptions::default()).unwrap_err();
    assert!(matches!(err, RecordError::Exists { .. }));
    assert!(err.to_string().contains("x.lpmt: file exists (use --force"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");

    let w = Writer::create(
        &path,
        &full_session(),
        WriterOptions {
            force: true,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    w.finish().unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let err = Writer::create(
        dir.path(),
        &full_session(),
        WriterOptions {
            force: true,
            ..WriterOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn a_symlink_is_never_followed() {
    let dir = TempDir::new("rt");
    let target = dir.file("victim");
    std::fs::write(&target, b"keep me").unwrap();
    let link = dir.file("link.lpmt");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(matches!(
        Writer::create(&link, &full_session(), WriterOptions::default()),
        Err(RecordError::Exists { .. })
    ));
    // With force the link itself is replaced; the target is untouched.
    let w = Writer::create(
        &link,
        &full_session(),
        WriterOptions {
            force: true,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    w.finish().unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    // A dangling symlink is not followed to create its target either.
    let dangling = dir.file("dangling.lpmt");
    let nowhere = dir.file("nowhere");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    assert!(Writer::create(&dangling, &full_session(), WriterOptions::default()).is_err());
    assert!(!nowhere.exists());
}

#[test]
fn max_size_makes_the_writer_full() {
    let dir = TempDir::new("rt");
    let path = dir.file("cap.lpmt");
    let opts = WriterOptions {
        max_size: Some(64 * 1024),
        block_raw_limit: 16 * 1024,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(&path, &full_session(), opts).unwrap();
    let mut pushed = 0;
    for e in ipi_stream(200_000, 3) {
        if w.is_full() {
            break;
        }
        w.push(&e).unwrap();
        pushed += 1;
    }
    assert!(w.is_full());
    let summary = w.finish().unwrap();
    assert_eq!(summary.events, pushed);
    // At most one block (16 KiB raw) plus the footer past the limit.
    assert!(summary.bytes < 64 * 1024 + 20 * 1024, "{summary:?}");
    let (_, back) = read_all(&path, OpenOptions::default());
    assert_eq!(back.len() as u64, pushed);
}

#[test]
fn an_empty_recording_is_valid() {
    let dir = TempDir::new("rt");
    let path = dir.file("empty.lpmt");
    let summary = write_file(&path, &full_session(), &[], WriterOptions::default());
    assert_eq!((summary.events, summary.blocks, summary.time_range), (0, 0, None));
    let (src, back) = read_all(&path, OpenOptions::default());
    assert!(back.is_empty());
    assert_eq!(src.info().footer, FooterStatus::Present);
    assert_eq!(src.info().duration_ns(), 0);
}

#[test]
fn uncompressed_blocks_read_the_same() {
    let dir = TempDir::new("rt");
    let path = dir.file("stored.lpmt");
    let events = ipi_stream(500, 11);
    let opts = WriterOptions {
        compression_level: 0,
        ..WriterOptions::default()
    };
    write_file(&path, &full_session(), &events, opts);
    assert_eq!(read_all(&path, OpenOptions::default()).1, events);
}
