//! The recording writer: header, then one compressed block every 250 ms of
//! event or wall time (or when a block reaches its size limit), then the
//! footer and trailer on [`Writer::finish`].
//!
//! Crash consistency: each block goes to the OS with one `write` as soon as
//! it is complete, so a SIGKILL loses at most the block being filled (at
//! most one block interval). After a failed write the writer truncates the
//! file back to the last complete block and refuses further events, so the
//! file stays readable (without a footer) up to that block. With
//! [`WriterOptions::sync_in_background`] each block is also synced to disk
//! by a thread of its own (`record/durable.rs`), so a power loss costs
//! about the same.
//!
//! The writer is plain blocking I/O; a tokio task may own it (it is `Send`)
//! or hand it to `spawn_blocking`.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::codec::{kind_id, BlockEncoder, KIND_COUNT};
use super::durable::{BackgroundSync, SyncStats};
use super::error::RecordError;
use super::format::{
    crc32, encode_footer, encode_footer_header, encode_trailer, BlockHeader, FileHeader, FooterTotals, IndexEntry,
    CODEC_STORED, CODEC_ZSTD, FILE_HEADER_LEN, FORMAT_MAJOR, FORMAT_MINOR, MAX_BLOCK_RAW, MAX_SESSION_LEN,
};
use crate::events::{session::SessionInfo, Event, EventKind};

/// Default block interval: what a crash can lose at most.
pub const DEFAULT_BLOCK_INTERVAL: Duration = Duration::from_millis(250);
/// Default size limit of a block's encoded events (before compression).
pub const DEFAULT_BLOCK_RAW_LIMIT: usize = 1 << 20;
/// Default zstd level. Level 1 (zstd's "fast" strategy) instead of 3
/// ("double fast"): compression was a quarter of the recorder's CPU under
/// an IPI storm at level 3, and the varint block encoding leaves so little
/// redundancy that files stay far below the 8 bytes/event budget
/// (docs/benchmarks.md has both figures).
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 1;

/// How [`Writer::create`] opens and fills the file.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Replace an existing file (a symlink at the path is replaced, never
    /// followed).
    pub force: bool,
    /// Stop accepting growth at about this many bytes: once the file
    /// reaches it, [`Writer::is_full`] turns true and the caller stops. The
    /// file may exceed it by at most one block plus the footer.
    pub max_size: Option<u64>,
    /// Close a block after this much event time or wall time.
    pub block_interval: Duration,
    /// Close a block when its encoded events reach this many bytes.
    pub block_raw_limit: usize,
    /// zstd level (1-22); 0 stores blocks uncompressed.
    pub compression_level: i32,
    /// `fdatasync` after every block on a thread of its own
    /// (`record/durable.rs`): survives power loss, not only a killed
    /// process, without the capture loop waiting for the disk. `record`
    /// and `live --record` set it.
    pub sync_in_background: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            force: false,
            max_size: None,
            block_interval: DEFAULT_BLOCK_INTERVAL,
            block_raw_limit: DEFAULT_BLOCK_RAW_LIMIT,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            sync_in_background: false,
        }
    }
}

/// What [`Writer::finish`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteSummary {
    /// The recording.
    pub path: PathBuf,
    /// Events written (lost records included).
    pub events: u64,
    /// Blocks written.
    pub blocks: u64,
    /// File size.
    pub bytes: u64,
    /// Size of the encoded events before compression.
    pub raw_bytes: u64,
    /// Smallest and largest timestamp, when any event was written.
    pub time_range: Option<(u64, u64)>,
    /// `Lost` records written.
    pub lost_records: u64,
    /// Events the kernel reported lost (sum of the `Lost` counts).
    pub lost_events: u64,
    /// The background syncs, when asked for
    /// ([`WriterOptions::sync_in_background`]).
    pub sync: Option<SyncStats>,
}

/// Writes one `.lpmt` recording. See the module docs for the guarantees.
pub struct Writer {
    path: PathBuf,
    file: File,
    opts: WriterOptions,
    enc: BlockEncoder,
    block_opened: Option<Instant>,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
    bytes_written: u64,
    raw_bytes: u64,
    events_written: u64,
    index: Vec<IndexEntry>,
    /// Events per compact kind id, then per extension kind.
    kind_counts: [u64; COUNT_SLOTS],
    lost_records: u64,
    lost_events: u64,
    time_range: Option<(u64, u64)>,
    failed: Option<String>,
    syncer: Option<BackgroundSync>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("bytes_written", &self.bytes_written)
            .field("events_written", &self.events_written)
            .field("pending_events", &self.enc.count())
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path, op: impl Into<String>, source: io::Error) -> RecordError {
    RecordError::Io {
        path: path.to_path_buf(),
        op: op.into(),
        source,
    }
}

fn open_new(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

impl Writer {
    /// Creates `path` (mode 0600, `O_CREAT|O_EXCL|O_NOFOLLOW`) and writes the
    /// header. An existing file is an error unless `opts.force`; a directory,
    /// device, FIFO or socket is always an error (never removed).
    pub fn create(path: &Path, session: &SessionInfo, opts: WriterOptions) -> Result<Writer, RecordError> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(RecordError::IsDirectory {
                    path: path.to_path_buf(),
                })
            }
            Ok(_) if !opts.force => {
                return Err(RecordError::Exists {
                    path: path.to_path_buf(),
                })
            }
            // `--force` replaces a file or a symlink, never a device, FIFO
            // or socket (`-o /dev/null --force` as root must not delete it).
            Ok(m) if !(m.is_file() || m.file_type().is_symlink()) => {
                return Err(RecordError::NotAFile {
                    path: path.to_path_buf(),
                })
            }
            Ok(_) => std::fs::remove_file(path).map_err(|e| io_err(path, "remove the existing file", e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path, "stat", e)),
        }
        let mut file = open_new(path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => RecordError::Exists {
                path: path.to_path_buf(),
            },
            _ => io_err(path, "create", e),
        })?;

        let json = serde_json::to_vec(session).map_err(|source| RecordError::EncodeSession {
            path: path.to_path_buf(),
            source,
        })?;
        let session_len = u32::try_from(json.len()).ok().filter(|&l| l <= MAX_SESSION_LEN);
        let Some(session_len) = session_len else {
            let _ = std::fs::remove_file(path);
            return Err(RecordError::BadHeader {
                path: path.to_path_buf(),
                offset: 16,
                problem: format!(
                    "session header of {} bytes exceeds the {MAX_SESSION_LEN}-byte limit",
                    json.len()
                ),
            });
        };
        let header = FileHeader {
            major: FORMAT_MAJOR,
            minor: FORMAT_MINOR,
            session_len,
            session_crc: crc32(&json),
        }
        .encode();
        let mut buf = Vec::with_capacity(FILE_HEADER_LEN + json.len());
        buf.extend_from_slice(&header);
        buf.extend_from_slice(&json);
        if let Err(e) = file.write_all(&buf) {
            // Nothing useful is in the file yet: do not leave half a header.
            let _ = std::fs::remove_file(path);
            return Err(io_err(path, "write header", e));
        }
        let compressor = if opts.compression_level > 0 {
            Some(zstd::bulk::Compressor::new(opts.compression_level).map_err(|e| io_err(path, "set up zstd", e))?)
        } else {
            None
        };
        let mut opts = opts;
        opts.block_raw_limit = opts.block_raw_limit.clamp(4096, MAX_BLOCK_RAW as usize / 2);
        let syncer = if opts.sync_in_background {
            Some(BackgroundSync::start(&file, path).map_err(|e| io_err(path, "start the sync thread", e))?)
        } else {
            None
        };
        Ok(Writer {
            path: path.to_path_buf(),
            file,
            opts,
            enc: BlockEncoder::new(),
            block_opened: None,
            compressor,
            scratch: Vec::new(),
            bytes_written: buf.len() as u64,
            raw_bytes: 0,
            events_written: 0,
            index: Vec::new(),
            kind_counts: [0; COUNT_SLOTS],
            lost_records: 0,
            lost_events: 0,
            time_range: None,
            failed: None,
            syncer,
        })
    }

    /// The recording's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds one event. Closes and writes the current block first when the
    /// event is more than one block interval after the block's first event,
    /// and after it when the block reached its size limit.
    pub fn push(&mut self, event: &Event) -> Result<(), RecordError> {
        self.check_failed()?;
        if !self.enc.is_empty()
            && event.ts_ns.saturating_sub(self.enc.min_ts()) >= self.opts.block_interval.as_nanos() as u64
        {
            self.write_block()?;
        }
        if self.enc.is_empty() {
            self.block_opened = Some(Instant::now());
        }
        self.enc.push(event);
        self.kind_counts[count_slot(&event.kind)] += 1;
        if let EventKind::Lost { count, .. } = event.kind {
            self.lost_records += 1;
            self.lost_events = self.lost_events.saturating_add(count);
        }
        self.time_range = Some(match self.time_range {
            None => (event.ts_ns, event.ts_ns),
            Some((lo, hi)) => (lo.min(event.ts_ns), hi.max(event.ts_ns)),
        });
        if self.enc.bytes().len() >= self.opts.block_raw_limit || self.enc.count() == u32::MAX {
            self.write_block()?;
        }
        Ok(())
    }

    /// Writes the current block if it was opened at least one block
    /// interval before `now` (wall time). The live loop calls this on every
    /// tick so a quiet trace still reaches the disk within the interval.
    #[doc(alias = "tick")]
    pub fn flush_due(&mut self, now: Instant) -> Result<(), RecordError> {
        self.check_failed()?;
        match self.block_opened {
            Some(opened)
                if !self.enc.is_empty() && now.saturating_duration_since(opened) >= self.opts.block_interval =>
            {
                self.write_block()
            }
            _ => Ok(()),
        }
    }

    /// Writes the current block now, whatever its age.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        self.check_failed()?;
        if self.enc.is_empty() {
            return Ok(());
        }
        self.write_block()
    }

    /// Bytes in the file so far (complete blocks only).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Events in complete blocks on disk.
    pub fn events_written(&self) -> u64 {
        self.events_written
    }

    /// Events accepted but still in the open block.
    pub fn pending_events(&self) -> u64 {
        u64::from(self.enc.count())
    }

    /// True once the file reached `max_size`: the caller should stop and
    /// [`finish`](Self::finish).
    pub fn is_full(&self) -> bool {
        self.opts
            .max_size
            .is_some_and(|max| self.bytes_written + self.enc.bytes().len() as u64 / 4 >= max)
    }

    /// Writes the last block, the footer and the trailer, and syncs the
    /// file to disk.
    pub fn finish(mut self) -> Result<WriteSummary, RecordError> {
        self.check_failed()?;
        if !self.enc.is_empty() {
            self.write_block()?;
        }
        let footer_offset = self.bytes_written;
        let mut probe_counts: Vec<(String, u64)> = Vec::new();
        for (id, &n) in self.kind_counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let probe = probe_of_kind(id as u8);
            match probe_counts.iter_mut().find(|(p, _)| p == probe) {
                Some((_, c)) => *c += n,
                None => probe_counts.push((probe.to_string(), n)),
            }
        }
        let totals = FooterTotals {
            events: self.events_written,
            lost_records: self.lost_records,
            lost_events: self.lost_events,
            probe_counts,
        };
        let payload = encode_footer(&self.index, &totals);
        let mut buf = Vec::with_capacity(payload.len() + 32);
        buf.extend_from_slice(&encode_footer_header(&payload));
        buf.extend_from_slice(&payload);
        buf.extend_from_slice(&encode_trailer(footer_offset));
        self.write_at_end(&buf, "write footer")?;
        let sync = self.syncer.take().map(BackgroundSync::stop);
        self.file.sync_all().map_err(|e| io_err(&self.path, "sync", e))?;
        Ok(WriteSummary {
            path: self.path.clone(),
            events: self.events_written,
            blocks: self.index.len() as u64,
            bytes: self.bytes_written,
            raw_bytes: self.raw_bytes,
            time_range: self.time_range,
            lost_records: self.lost_records,
            lost_events: self.lost_events,
            sync,
        })
    }

    fn check_failed(&self) -> Result<(), RecordError> {
        match &self.failed {
            Some(first) => Err(RecordError::WriterFailed {
                path: self.path.clone(),
                first: first.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Appends `buf`; on failure cuts the file back to the last complete
    /// record and marks the writer failed.
    fn write_at_end(&mut self, buf: &[u8], op: &str) -> Result<(), RecordError> {
        if let Err(e) = self.file.write_all(buf) {
            let _ = self.file.set_len(self.bytes_written);
            let err = io_err(&self.path, op, e);
            self.failed = Some(err.to_string());
            return Err(err);
        }
        self.bytes_written += buf.len() as u64;
        Ok(())
    }

    fn write_block(&mut self) -> Result<(), RecordError> {
        let raw = self.enc.bytes();
        let block_no = self.index.len();
        let (codec, stored): (u8, &[u8]) = match self.compressor.as_mut() {
            Some(c) => match c.compress(raw) {
                Ok(z) if z.len() < raw.len() => {
                    self.scratch = z;
                    (CODEC_ZSTD, &self.scratch)
                }
                Ok(_) => (CODEC_STORED, raw),
                Err(e) => {
                    let err = io_err(&self.path, format!("compress block {block_no}"), e);
                    self.failed = Some(err.to_string());
                    return Err(err);
                }
            },
            None => (CODEC_STORED, raw),
        };
        let header = BlockHeader {
            codec,
            count: self.enc.count(),
            raw_len: raw.len() as u32,
            stored_len: stored.len() as u32,
            min_ts: self.enc.min_ts(),
            max_ts: self.enc.max_ts(),
            payload_crc: crc32(stored),
        };
        let mut buf = Vec::with_capacity(stored.len() + 64);
        buf.extend_from_slice(&header.encode());
        buf.extend_from_slice(stored);
        let entry = IndexEntry {
            offset: self.bytes_written,
            min_ts: header.min_ts,
            max_ts: header.max_ts,
            count: header.count,
            stored_len: header.stored_len,
        };
        self.write_at_end(&buf, &format!("write block {block_no}"))?;
        if let Some(s) = &self.syncer {
            s.request();
        }
        self.index.push(entry);
        self.raw_bytes += u64::from(header.raw_len);
        self.events_written += u64::from(header.count);
        self.enc.reset();
        self.block_opened = None;
        Ok(())
    }
}

impl Drop for Writer {
    /// A writer dropped without [`Writer::finish`] (an error path, a panic
    /// elsewhere) still hands its open block to the OS; the file then has
    /// no footer and readers recover it by scanning.
    fn drop(&mut self) {
        if self.failed.is_none() && !self.enc.is_empty() {
            let _ = self.write_block();
        }
    }
}

/// Slots of the per-kind counts: the compact kind ids, then one per
/// extension kind this writer writes.
const COUNT_SLOTS: usize = KIND_COUNT + 1;

fn count_slot(kind: &EventKind) -> usize {
    match kind {
        EventKind::IpiTally { .. } => KIND_COUNT,
        k => kind_id(k) as usize,
    }
}

/// The logical probe of a count slot ([`count_slot`]).
pub(crate) fn probe_of_kind(id: u8) -> &'static str {
    match id {
        0 => "transport.lost",
        1 | 2 => "lpm.trigger",
        3 | 4 => "lpm.migrate",
        5 | 6 => "lpm.suspend",
        7 | 8 => "lpm.join",
        9 | 10 => "lpm.hcall",
        11 | 12 => "lpm.rtas",
        13 | 14 => "lpm.cpumask",
        15 | 16 => "cpu.hotplug",
        17 | 18 => "cpu.down",
        19 => "cpu.online",
        20 | 21 => "ipi.send",
        22 | 23 => "ipi.handle",
        24 => "ipi.tally",
        _ => "unknown",
    }
}
