//! The recording reader: [`FileSource`] opens a `.lpmt` file, finds its
//! blocks through the footer index or, when the recorder did not finish,
//! by scanning, and delivers the events as an [`EventSource`].
//!
//! Invariants:
//! - Nothing in the file is trusted before it is checked: lengths are
//!   capped by the file size and hard limits before any allocation, and
//!   every header, block and footer carries a CRC-32 that is verified.
//! - Without `salvage`, a damaged block is an error naming the file, the
//!   block and its byte offset; with `salvage` the block is skipped and
//!   listed in [`FileSource::skipped`].
//! - A file without a footer (the recorder was killed) is recovered up to
//!   its last complete block, and [`FileInfo::recovery_note`] says so.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::codec::decode_block;
use super::error::{BlockProblem, RecordError};
use super::format::{
    crc32, decode_footer, BlockHeader, BlockHeaderProblem, FooterTotals, IndexEntry, BLOCK_HEADER_LEN, BLOCK_MAGIC,
    CODEC_ZSTD, ENDIAN_LITTLE, FILE_HEADER_LEN, FILE_MAGIC, FOOTER_HEADER_LEN, FOOTER_MAGIC, FORMAT_MAJOR,
    MAX_FOOTER_LEN, MAX_SESSION_LEN, TRAILER_LEN, TRAILER_MAGIC,
};
use super::read_ahead::ReadAhead;
use crate::events::{session::SessionInfo, Event, EventKind};
use crate::source::{EventSource, SourceError};

/// How to open a recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Skip damaged blocks (listing them) instead of failing on the first.
    pub salvage: bool,
}

/// One block as the index (footer or scan) describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BlockInfo {
    /// Byte offset of the block header.
    pub offset: u64,
    /// Smallest timestamp in the block.
    pub min_ts_ns: u64,
    /// Largest timestamp in the block.
    pub max_ts_ns: u64,
    /// Events in the block.
    pub events: u32,
    /// Compressed payload size.
    pub stored_len: u32,
}

/// Whether the recorder finished the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum FooterStatus {
    /// Footer and trailer present and valid.
    Present,
    /// No trailer: the recorder did not finish (killed, crashed, disk full).
    Missing,
    /// A trailer is there but the footer is damaged; blocks were found by
    /// scanning.
    Corrupt {
        /// What is wrong with it.
        reason: String,
    },
}

/// A damaged block that salvage skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedBlock {
    /// Block number (0-based, in file order).
    pub block: u64,
    /// Byte offset where it starts.
    pub offset: u64,
    /// Bytes skipped.
    pub bytes: u64,
    /// Why.
    pub reason: String,
    /// Events it held, when its (checksummed) header or the index says.
    pub events: Option<u64>,
    /// Time range its events covered: from its header or the index, else
    /// the end of the block before it and the start of the one after.
    pub first_ts_ns: Option<u64>,
    /// See `first_ts_ns`.
    pub last_ts_ns: Option<u64>,
}

impl SkippedBlock {
    /// The loss record that stands for this block in the event stream:
    /// its events count as lost over its time range, on
    /// [`DAMAGED_BLOCK_CPU`](crate::events::DAMAGED_BLOCK_CPU), so the
    /// analysis marks findings near it inconclusive. A block whose count is
    /// unknown counts as at least one event.
    pub fn loss_event(&self) -> Option<Event> {
        let first = self.first_ts_ns.or(self.last_ts_ns)?;
        let last = self.last_ts_ns.unwrap_or(first).max(first);
        Some(Event {
            ts_ns: last,
            cpu: crate::events::DAMAGED_BLOCK_CPU,
            tid: 0,
            kind: crate::events::EventKind::Lost {
                count: self.events.unwrap_or(1).max(1),
                first_ts_ns: first,
                last_ts_ns: last,
            },
        })
    }
}

/// What a recording holds, from its header and footer (or a scan).
#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    /// The file.
    pub path: PathBuf,
    /// Format major version of the file.
    pub format_major: u16,
    /// Format minor version of the file.
    pub format_minor: u16,
    /// File size in bytes.
    pub file_size: u64,
    /// Footer state.
    pub footer: FooterStatus,
    /// Readable blocks, in file order.
    pub blocks: Vec<BlockInfo>,
    /// Events in the readable blocks (lost records included).
    pub events: u64,
    /// Events per logical probe name.
    pub probe_counts: BTreeMap<String, u64>,
    /// `Lost` records.
    pub lost_records: u64,
    /// Events the kernel reported lost (sum of the `Lost` counts).
    pub lost_events: u64,
    /// Earliest timestamp.
    pub first_ts_ns: Option<u64>,
    /// Latest timestamp.
    pub last_ts_ns: Option<u64>,
    /// Blocks skipped at open (salvage of a file without footer).
    pub skipped_blocks: Vec<SkippedBlock>,
    /// Bytes after the last complete block that are neither a block nor a
    /// valid footer (a torn write at a crash).
    pub trailing_bytes: u64,
}

impl FileInfo {
    /// Time between the first and the last event.
    pub fn duration_ns(&self) -> u64 {
        match (self.first_ts_ns, self.last_ts_ns) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        }
    }

    /// Bytes of compressed blocks (headers included).
    pub fn block_bytes(&self) -> u64 {
        self.blocks
            .iter()
            .map(|b| BLOCK_HEADER_LEN as u64 + u64::from(b.stored_len))
            .sum()
    }

    /// A sentence for the user when the file was not finished properly or
    /// blocks were skipped; `None` for a complete, intact file.
    pub fn recovery_note(&self) -> Option<String> {
        let upto = match self.last_ts_ns {
            Some(t) => format!(
                "up to {} (+{})",
                crate::record::format_ts(t),
                crate::record::format_duration(self.duration_ns())
            ),
            None => "(no complete block)".to_string(),
        };
        let mut note = match &self.footer {
            FooterStatus::Present => String::new(),
            FooterStatus::Missing => {
                format!(
                    "no footer: recovered {} events {upto}; the recorder did not finish",
                    self.events
                )
            }
            FooterStatus::Corrupt { reason } => {
                format!(
                    "footer unreadable ({reason}): recovered {} events {upto} by scanning the blocks",
                    self.events
                )
            }
        };
        if self.trailing_bytes > 0 && self.footer != FooterStatus::Present {
            note.push_str(&format!(
                " ({} bytes after the last complete block ignored)",
                self.trailing_bytes
            ));
        }
        if !self.skipped_blocks.is_empty() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            let bytes: u64 = self.skipped_blocks.iter().map(|s| s.bytes).sum();
            note.push_str(&format!(
                "salvage skipped {} damaged block(s), {bytes} bytes",
                self.skipped_blocks.len()
            ));
        }
        (!note.is_empty()).then_some(note)
    }
}

/// A recording opened for reading; an [`EventSource`].
pub struct FileSource {
    path: PathBuf,
    file: File,
    session: SessionInfo,
    info: FileInfo,
    salvage: bool,
    next_block: usize,
    events: Vec<Event>,
    pos: usize,
    min_ts: Option<u64>,
    skipped: Vec<SkippedBlock>,
    /// Decodes the blocks after the current one (sequential reads).
    ahead: Option<ReadAhead>,
    /// The loss record of a block just skipped, returned next.
    pending_loss: Option<Event>,
    /// Blocks skipped at open (`info.skipped_blocks`) whose loss records
    /// have been returned.
    scan_losses_done: usize,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("next_block", &self.next_block)
            .finish_non_exhaustive()
    }
}

/// A failure to read one block: I/O, or bad data.
pub(super) enum BlockFail {
    Io(io::Error),
    Bad(BlockProblem),
}

impl From<BlockProblem> for BlockFail {
    fn from(p: BlockProblem) -> Self {
        BlockFail::Bad(p)
    }
}

fn header_problem(p: BlockHeaderProblem) -> BlockProblem {
    match p {
        BlockHeaderProblem::Magic => BlockProblem::Magic,
        BlockHeaderProblem::Checksum => BlockProblem::HeaderChecksum,
        BlockHeaderProblem::Field(field, value) => BlockProblem::Field { field, value },
    }
}

fn io_err(path: &Path, op: impl Into<String>, source: io::Error) -> RecordError {
    RecordError::Io {
        path: path.to_path_buf(),
        op: op.into(),
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing (empty file)".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads exactly `len` bytes at `offset`; `len` was checked against the
/// file size by the caller.
fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Reads, checks, decompresses and decodes the block at `offset`.
pub(super) fn read_block(
    file: &File,
    file_len: u64,
    offset: u64,
    out: &mut Vec<Event>,
) -> Result<BlockHeader, BlockFail> {
    let have = file_len.saturating_sub(offset);
    if have < BLOCK_HEADER_LEN as u64 {
        return Err(BlockProblem::Truncated {
            need: BLOCK_HEADER_LEN as u64,
            have,
        }
        .into());
    }
    let mut hb = [0u8; BLOCK_HEADER_LEN];
    file.read_exact_at(&mut hb, offset).map_err(BlockFail::Io)?;
    let h = BlockHeader::decode(&hb).map_err(header_problem)?;
    if h.total_len() > have {
        return Err(BlockProblem::Truncated {
            need: h.total_len(),
            have,
        }
        .into());
    }
    let stored = read_at(file, offset + BLOCK_HEADER_LEN as u64, h.stored_len as usize).map_err(BlockFail::Io)?;
    let actual = crc32(&stored);
    if actual != h.payload_crc {
        return Err(BlockProblem::Checksum {
            expected: h.payload_crc,
            actual,
        }
        .into());
    }
    let raw = if h.codec == CODEC_ZSTD {
        let raw =
            zstd::bulk::decompress(&stored, h.raw_len as usize).map_err(|e| BlockProblem::Decompress(e.to_string()))?;
        if raw.len() != h.raw_len as usize {
            return Err(BlockProblem::Decompress(format!("{} bytes instead of {}", raw.len(), h.raw_len)).into());
        }
        raw
    } else {
        if h.stored_len != h.raw_len {
            return Err(BlockProblem::Field {
                field: "stored length",
                value: u64::from(h.stored_len),
            }
            .into());
        }
        stored
    };
    decode_block(&raw, h.count, h.min_ts, h.max_ts, out).map_err(BlockProblem::Decode)?;
    Ok(h)
}

/// Offset of the next plausible block header (valid magic and checksum)
/// at or after `from`, if any.
fn find_next_block(file: &File, from: u64, file_len: u64) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 1 << 16;
    let mut start = from;
    while start + BLOCK_HEADER_LEN as u64 <= file_len {
        let len = CHUNK.min(file_len - start) as usize;
        let chunk = read_at(file, start, len)?;
        for i in 0..chunk.len().saturating_sub(3) {
            if chunk[i..i + 4] != BLOCK_MAGIC {
                continue;
            }
            let at = start + i as u64;
            if at + BLOCK_HEADER_LEN as u64 > file_len {
                return Ok(None);
            }
            let mut hb = [0u8; BLOCK_HEADER_LEN];
            file.read_exact_at(&mut hb, at)?;
            if BlockHeader::decode(&hb).is_ok() {
                return Ok(Some(at));
            }
        }
        // Overlap by 3 bytes so a magic across chunks is found.
        start += (len as u64).saturating_sub(3).max(1);
    }
    Ok(None)
}

struct Scan {
    blocks: Vec<BlockInfo>,
    skipped: Vec<SkippedBlock>,
    trailing: u64,
    counts: Counts,
}

#[derive(Default)]
struct Counts {
    events: u64,
    probes: BTreeMap<String, u64>,
    lost_records: u64,
    lost_events: u64,
}

impl Counts {
    fn add(&mut self, events: &[Event]) {
        for e in events {
            self.events += 1;
            *self.probes.entry(e.kind.probe().to_string()).or_default() += 1;
            if let EventKind::Lost { count, .. } = e.kind {
                self.lost_records += 1;
                self.lost_events = self.lost_events.saturating_add(count);
            }
        }
    }
}

impl FileSource {
    /// Opens a recording: checks the header, then reads the footer index,
    /// or scans the blocks when the footer is missing or damaged.
    ///
    /// `-` reads the recording from standard input, and a pipe or FIFO
    /// (`<(ssh lpar cat f)`) is read to its end first:
    /// both are copied into an anonymous file of this process
    /// ([`super::spool`]), since the reader needs to seek. Messages name
    /// them as given (`-` is `standard input`).
    pub fn open(path: &Path, opts: OpenOptions) -> Result<FileSource, RecordError> {
        if path == Path::new("-") {
            let name = Path::new("standard input");
            let file =
                super::spool::spool(std::io::stdin().lock(), &FILE_MAGIC).map_err(|e| io_err(name, "read", e))?;
            return Self::from_file(file, name, opts);
        }
        let meta = std::fs::metadata(path).map_err(|e| io_err(path, "open", e))?;
        if meta.is_dir() {
            return Err(RecordError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        let file = File::open(path).map_err(|e| io_err(path, "open", e))?;
        if !meta.is_file() {
            use std::os::unix::fs::FileTypeExt;
            let t = meta.file_type();
            // A pipe or FIFO ends; a device (/dev/zero) might not.
            if !(t.is_fifo() || t.is_socket()) {
                return Err(RecordError::NotAFile {
                    path: path.to_path_buf(),
                });
            }
            let file = super::spool::spool(file, &FILE_MAGIC).map_err(|e| io_err(path, "read", e))?;
            return Self::from_file(file, path, opts);
        }
        Self::from_file(file, path, opts)
    }

    /// [`FileSource::open`] on an open, seekable file; `path` names it in
    /// messages.
    fn from_file(file: File, path: &Path, opts: OpenOptions) -> Result<FileSource, RecordError> {
        let len = file.metadata().map_err(|e| io_err(path, "stat", e))?.len();
        let (session, major, minor, data_start) = read_header(&file, path, len)?;

        let (footer, index) = match read_footer(&file, len, data_start) {
            Ok(found) => (FooterStatus::Present, Some(found)),
            Err(FooterFail::Io(e)) => return Err(io_err(path, "read footer", e)),
            Err(FooterFail::Missing) => (FooterStatus::Missing, None),
            Err(FooterFail::Corrupt(reason)) => (FooterStatus::Corrupt { reason }, None),
        };
        let info = match index {
            Some((index, totals)) => info_from_footer(path, len, major, minor, &index, totals),
            None => {
                let scan = scan(&file, path, len, data_start, opts.salvage)?;
                FileInfo {
                    path: path.to_path_buf(),
                    format_major: major,
                    format_minor: minor,
                    file_size: len,
                    footer,
                    first_ts_ns: scan.blocks.iter().map(|b| b.min_ts_ns).min(),
                    last_ts_ns: scan.blocks.iter().map(|b| b.max_ts_ns).max(),
                    blocks: scan.blocks,
                    events: scan.counts.events,
                    probe_counts: scan.counts.probes,
                    lost_records: scan.counts.lost_records,
                    lost_events: scan.counts.lost_events,
                    skipped_blocks: scan.skipped,
                    trailing_bytes: scan.trailing,
                }
            }
        };
        Ok(FileSource {
            path: path.to_path_buf(),
            file,
            session,
            skipped: info.skipped_blocks.clone(),
            info,
            salvage: opts.salvage,
            next_block: 0,
            events: Vec::new(),
            pos: 0,
            min_ts: None,
            ahead: None,
            pending_loss: None,
            scan_losses_done: 0,
        })
    }

    /// Header, footer state, blocks, counts.
    pub fn info(&self) -> &FileInfo {
        &self.info
    }

    /// Blocks skipped so far (at open and while reading), with salvage.
    pub fn skipped(&self) -> &[SkippedBlock] {
        &self.skipped
    }

    /// Positions the stream so the next event is the first with
    /// `ts_ns >= ts_ns`, using the block index; later events older than
    /// `ts_ns` (stragglers) are skipped too.
    pub fn seek_to(&mut self, ts_ns: u64) {
        self.next_block = self
            .info
            .blocks
            .iter()
            .position(|b| b.max_ts_ns >= ts_ns)
            .unwrap_or(self.info.blocks.len());
        self.events.clear();
        self.pos = 0;
        self.min_ts = Some(ts_ns);
        self.ahead = None;
        self.pending_loss = None;
        let from = self.info.blocks.get(self.next_block).map_or(u64::MAX, |b| b.offset);
        self.scan_losses_done = self.info.skipped_blocks.iter().filter(|s| s.offset < from).count();
    }

    /// Byte offset the reading has reached: the end of the last block
    /// loaded (or skipped), 0 before the first. Drives progress bars with
    /// [`total_bytes`](Self::total_bytes); after [`seek_to`](Self::seek_to)
    /// it starts at the block sought to.
    pub fn bytes_read(&self) -> u64 {
        match self.next_block.checked_sub(1).and_then(|i| self.info.blocks.get(i)) {
            Some(b) => b.offset + BLOCK_HEADER_LEN as u64 + u64::from(b.stored_len),
            None => 0,
        }
    }

    /// The file's size in bytes (what [`bytes_read`](Self::bytes_read)
    /// runs up to, footer aside).
    pub fn total_bytes(&self) -> u64 {
        self.info.file_size
    }

    /// Reads and checks every block of the index (checksums, decoding, the
    /// index's counts and times) without keeping the events; returns the
    /// damaged ones and rewinds. I/O errors other than damage end it.
    pub fn verify_blocks(&mut self) -> Result<Vec<SkippedBlock>, RecordError> {
        let mut damaged = Vec::new();
        for i in 0..self.info.blocks.len() {
            match self.load_block(i) {
                Ok(()) => {}
                Err(e @ RecordError::BadBlock { .. }) => {
                    let b = self.info.blocks[i];
                    damaged.push(SkippedBlock {
                        block: i as u64,
                        offset: b.offset,
                        bytes: BLOCK_HEADER_LEN as u64 + u64::from(b.stored_len),
                        reason: e.to_string(),
                        events: Some(u64::from(b.events)),
                        first_ts_ns: Some(b.min_ts_ns),
                        last_ts_ns: Some(b.max_ts_ns),
                    });
                }
                Err(e) => {
                    self.rewind();
                    return Err(e);
                }
            }
        }
        self.rewind();
        Ok(damaged)
    }

    /// Back to the first event, without a time filter.
    pub fn rewind(&mut self) {
        self.next_block = 0;
        self.events.clear();
        self.pos = 0;
        self.min_ts = None;
        self.ahead = None;
        self.pending_loss = None;
        self.scan_losses_done = 0;
    }

    fn load_block(&mut self, i: usize) -> Result<(), RecordError> {
        let b = self.info.blocks[i];
        self.events.clear();
        self.pos = 0;
        let bad = |problem| RecordError::BadBlock {
            path: self.path.clone(),
            block: i as u64,
            offset: b.offset,
            problem,
        };
        let result = match self.ahead.as_mut().and_then(|a| a.take(i)) {
            Some(r) => r,
            None => {
                // First block, or after a seek: decode the rest ahead from
                // here on (when there is a rest), this one inline.
                let rest: Vec<(usize, u64)> = (i + 1..self.info.blocks.len())
                    .map(|j| (j, self.info.blocks[j].offset))
                    .collect();
                self.ahead = ReadAhead::start(&self.file, self.info.file_size, rest);
                let mut events = std::mem::take(&mut self.events);
                read_block(&self.file, self.info.file_size, b.offset, &mut events).map(|h| (h, events))
            }
        };
        let result = result.map(|(h, events)| {
            let done = std::mem::replace(&mut self.events, events);
            if let Some(a) = &self.ahead {
                a.recycle(done);
            }
            h
        });
        match result {
            Ok(h) => {
                let mismatch = if h.count != b.events {
                    Some("event count")
                } else if h.stored_len != b.stored_len {
                    Some("length")
                } else if h.min_ts != b.min_ts_ns || h.max_ts != b.max_ts_ns {
                    Some("time range")
                } else {
                    None
                };
                match mismatch {
                    Some(what) => {
                        self.events.clear();
                        Err(bad(BlockProblem::IndexMismatch(what)))
                    }
                    None => Ok(()),
                }
            }
            Err(BlockFail::Bad(p)) => {
                self.events.clear();
                Err(bad(p))
            }
            Err(BlockFail::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.events.clear();
                Err(bad(BlockProblem::Truncated {
                    need: u64::from(b.stored_len),
                    have: 0,
                }))
            }
            Err(BlockFail::Io(e)) => Err(io_err(&self.path, format!("read block {i}"), e)),
        }
    }

    /// The next event, or a [`RecordError`] for a damaged block. After an
    /// error the stream continues with the next block if called again.
    ///
    /// With salvage, a skipped block is followed by its
    /// [loss record](SkippedBlock::loss_event), in file order.
    pub fn next_record(&mut self) -> Result<Option<Event>, RecordError> {
        loop {
            if let Some(e) = self.pending_loss.take() {
                return Ok(Some(e));
            }
            if let Some(&e) = self.events.get(self.pos) {
                self.pos += 1;
                if self.min_ts.is_some_and(|t| e.ts_ns < t) {
                    continue;
                }
                return Ok(Some(e));
            }
            // Blocks skipped at open that lie before the next good block.
            let next_offset = self.info.blocks.get(self.next_block).map_or(u64::MAX, |b| b.offset);
            if let Some(s) = self.info.skipped_blocks.get(self.scan_losses_done) {
                if s.offset < next_offset {
                    self.scan_losses_done += 1;
                    self.pending_loss = s.loss_event();
                    continue;
                }
            }
            if self.next_block >= self.info.blocks.len() {
                return Ok(None);
            }
            let i = self.next_block;
            self.next_block += 1;
            match self.load_block(i) {
                Ok(()) => {}
                Err(e @ RecordError::BadBlock { .. }) if self.salvage => {
                    let b = self.info.blocks[i];
                    let skipped = SkippedBlock {
                        block: i as u64,
                        offset: b.offset,
                        bytes: BLOCK_HEADER_LEN as u64 + u64::from(b.stored_len),
                        reason: e.to_string(),
                        events: Some(u64::from(b.events)),
                        first_ts_ns: Some(b.min_ts_ns),
                        last_ts_ns: Some(b.max_ts_ns),
                    };
                    self.pending_loss = skipped.loss_event();
                    self.skipped.push(skipped);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl EventSource for FileSource {
    fn session(&self) -> &SessionInfo {
        &self.session
    }

    fn next_event(&mut self) -> Result<Option<Event>, SourceError> {
        Ok(self.next_record()?)
    }

    fn progress(&self) -> Option<(u64, u64)> {
        Some((self.bytes_read(), self.total_bytes()))
    }
}

/// Checks the fixed header and reads the session; returns it with the
/// version and the offset of the first block.
fn read_header(file: &File, path: &Path, len: u64) -> Result<(SessionInfo, u16, u16, u64), RecordError> {
    let p = || path.to_path_buf();
    let avail = len.min(FILE_HEADER_LEN as u64) as usize;
    let head = read_at(file, 0, avail).map_err(|e| io_err(path, "read header", e))?;
    let m = avail.min(FILE_MAGIC.len());
    if head[..m] != FILE_MAGIC[..m] {
        return Err(RecordError::BadMagic {
            path: p(),
            found: hex(&head[..m]),
            expected: hex(&FILE_MAGIC),
        });
    }
    let truncated = |need: u64| RecordError::TruncatedHeader { path: p(), len, need };
    if avail < 12 {
        return Err(truncated(FILE_HEADER_LEN as u64));
    }
    let major = u16::from_le_bytes([head[8], head[9]]);
    let minor = u16::from_le_bytes([head[10], head[11]]);
    if major > FORMAT_MAJOR {
        return Err(RecordError::FutureVersion {
            path: p(),
            major,
            minor,
            supported: FORMAT_MAJOR,
        });
    }
    let bad = |offset: u64, problem: String| RecordError::BadHeader {
        path: p(),
        offset,
        problem,
    };
    if major == 0 {
        return Err(bad(8, format!("format version {major}.{minor} does not exist")));
    }
    if avail < FILE_HEADER_LEN {
        return Err(truncated(FILE_HEADER_LEN as u64));
    }
    let le32 = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    if crc32(&head[0..24]) != le32(24) {
        return Err(bad(24, "header checksum mismatch".into()));
    }
    if head[12] != ENDIAN_LITTLE {
        return Err(bad(
            12,
            format!(
                "endianness marker {:#04x}: version 1 files are little-endian ('L')",
                head[12]
            ),
        ));
    }
    let session_len = le32(16);
    if session_len > MAX_SESSION_LEN {
        return Err(bad(
            16,
            format!("absurd session length {session_len} (limit {MAX_SESSION_LEN})"),
        ));
    }
    let data_start = FILE_HEADER_LEN as u64 + u64::from(session_len);
    if data_start > len {
        return Err(truncated(data_start));
    }
    let json =
        read_at(file, FILE_HEADER_LEN as u64, session_len as usize).map_err(|e| io_err(path, "read header", e))?;
    if crc32(&json) != le32(20) {
        return Err(bad(FILE_HEADER_LEN as u64, "session checksum mismatch".into()));
    }
    let session: SessionInfo =
        serde_json::from_slice(&json).map_err(|e| bad(FILE_HEADER_LEN as u64, format!("session JSON: {e}")))?;
    Ok((session, major, minor, data_start))
}

enum FooterFail {
    Io(io::Error),
    Missing,
    Corrupt(String),
}

/// Finds the footer through the trailer and checks it against the file.
fn read_footer(file: &File, len: u64, data_start: u64) -> Result<(Vec<IndexEntry>, FooterTotals), FooterFail> {
    if len < data_start + TRAILER_LEN as u64 {
        return Err(FooterFail::Missing);
    }
    let trailer = read_at(file, len - TRAILER_LEN as u64, TRAILER_LEN).map_err(FooterFail::Io)?;
    if trailer[8..16] != TRAILER_MAGIC {
        return Err(FooterFail::Missing);
    }
    let mut off = [0u8; 8];
    off.copy_from_slice(&trailer[0..8]);
    let footer_offset = u64::from_le_bytes(off);
    let footer_end = len - TRAILER_LEN as u64;
    if footer_offset < data_start || footer_offset.saturating_add(FOOTER_HEADER_LEN as u64) > footer_end {
        return Err(FooterFail::Corrupt(format!(
            "footer offset {footer_offset} out of range"
        )));
    }
    let fh = read_at(file, footer_offset, FOOTER_HEADER_LEN).map_err(FooterFail::Io)?;
    if fh[0..4] != FOOTER_MAGIC {
        return Err(FooterFail::Corrupt(format!("no footer at byte offset {footer_offset}")));
    }
    let payload_len = u64::from(u32::from_le_bytes([fh[4], fh[5], fh[6], fh[7]]));
    let expected_len = footer_end - footer_offset - FOOTER_HEADER_LEN as u64;
    if payload_len != expected_len || payload_len > MAX_FOOTER_LEN {
        return Err(FooterFail::Corrupt(format!(
            "footer length {payload_len} does not fit the file"
        )));
    }
    let payload =
        read_at(file, footer_offset + FOOTER_HEADER_LEN as u64, payload_len as usize).map_err(FooterFail::Io)?;
    if crc32(&payload) != u32::from_le_bytes([fh[8], fh[9], fh[10], fh[11]]) {
        return Err(FooterFail::Corrupt(format!(
            "footer checksum mismatch at byte offset {footer_offset}"
        )));
    }
    let (index, totals) = decode_footer(&payload).map_err(|e| FooterFail::Corrupt(e.to_string()))?;
    let mut next_free = data_start;
    let mut events: u64 = 0;
    for (i, e) in index.iter().enumerate() {
        let end = e
            .offset
            .saturating_add(BLOCK_HEADER_LEN as u64 + u64::from(e.stored_len));
        if e.offset < next_free || end > footer_offset || e.min_ts > e.max_ts {
            return Err(FooterFail::Corrupt(format!(
                "index entry {i} (offset {}) is inconsistent",
                e.offset
            )));
        }
        next_free = end;
        events += u64::from(e.count);
    }
    if events != totals.events {
        return Err(FooterFail::Corrupt(format!(
            "index holds {events} events, totals say {}",
            totals.events
        )));
    }
    Ok((index, totals))
}

fn info_from_footer(
    path: &Path,
    len: u64,
    major: u16,
    minor: u16,
    index: &[IndexEntry],
    totals: FooterTotals,
) -> FileInfo {
    let blocks: Vec<BlockInfo> = index
        .iter()
        .map(|e| BlockInfo {
            offset: e.offset,
            min_ts_ns: e.min_ts,
            max_ts_ns: e.max_ts,
            events: e.count,
            stored_len: e.stored_len,
        })
        .collect();
    let mut probe_counts = BTreeMap::new();
    for (name, n) in totals.probe_counts {
        let count: &mut u64 = probe_counts.entry(name).or_default();
        // A corrupt footer may repeat a probe with huge counts (found by fuzzing).
        *count = count.saturating_add(n);
    }
    FileInfo {
        path: path.to_path_buf(),
        format_major: major,
        format_minor: minor,
        file_size: len,
        footer: FooterStatus::Present,
        first_ts_ns: blocks.iter().map(|b| b.min_ts_ns).min(),
        last_ts_ns: blocks.iter().map(|b| b.max_ts_ns).max(),
        blocks,
        events: totals.events,
        probe_counts,
        lost_records: totals.lost_records,
        lost_events: totals.lost_events,
        skipped_blocks: Vec::new(),
        trailing_bytes: 0,
    }
}

/// Walks the blocks from `data_start`, verifying each one. A block that
/// runs past the end of the file, or bytes that hold no further valid
/// block, end the scan (the torn tail of a killed recorder).
fn scan(file: &File, path: &Path, len: u64, data_start: u64, salvage: bool) -> Result<Scan, RecordError> {
    let mut s = Scan {
        blocks: Vec::new(),
        skipped: Vec::new(),
        trailing: 0,
        counts: Counts::default(),
    };
    let mut off = data_start;
    let mut block: u64 = 0;
    let mut events = Vec::new();
    let io = |e: io::Error| io_err(path, "scan blocks", e);
    while off < len {
        let remaining = len - off;
        let magic = read_at(file, off, 4.min(remaining) as usize).map_err(io)?;
        if magic == FOOTER_MAGIC {
            // A footer the trailer does not (or no longer) point to.
            s.trailing = remaining;
            break;
        }
        events.clear();
        match read_block(file, len, off, &mut events) {
            Ok(h) => {
                s.counts.add(&events);
                s.blocks.push(BlockInfo {
                    offset: off,
                    min_ts_ns: h.min_ts,
                    max_ts_ns: h.max_ts,
                    events: h.count,
                    stored_len: h.stored_len,
                });
                off += h.total_len();
            }
            Err(BlockFail::Bad(BlockProblem::Truncated { .. })) => {
                s.trailing = remaining;
                break;
            }
            Err(BlockFail::Io(e)) => return Err(io(e)),
            Err(BlockFail::Bad(problem)) => {
                let header_ok = matches!(
                    problem,
                    BlockProblem::Checksum { .. } | BlockProblem::Decompress(_) | BlockProblem::Decode(_)
                );
                let header = if header_ok {
                    let mut hb = [0u8; BLOCK_HEADER_LEN];
                    file.read_exact_at(&mut hb, off).map_err(io)?;
                    BlockHeader::decode(&hb).ok()
                } else {
                    None
                };
                let next = match &header {
                    // The length is trustworthy (checked header): the next
                    // block follows this one.
                    Some(h) => Some(off + h.total_len()),
                    None if header_ok => None,
                    None => find_next_block(file, off + 1, len).map_err(io)?,
                };
                match next {
                    // Garbage up to the end (e.g. zeros after a power cut).
                    None if !header_ok => {
                        s.trailing = remaining;
                        break;
                    }
                    _ if !salvage => {
                        return Err(RecordError::BadBlock {
                            path: path.to_path_buf(),
                            block,
                            offset: off,
                            problem,
                        });
                    }
                    next => {
                        let next = next.unwrap_or(len);
                        s.skipped.push(SkippedBlock {
                            block,
                            offset: off,
                            bytes: next - off,
                            reason: RecordError::BadBlock {
                                path: path.to_path_buf(),
                                block,
                                offset: off,
                                problem,
                            }
                            .to_string(),
                            events: header.as_ref().map(|h| u64::from(h.count)),
                            first_ts_ns: header.as_ref().map(|h| h.min_ts),
                            last_ts_ns: header.as_ref().map(|h| h.max_ts),
                        });
                        off = next;
                    }
                }
            }
        }
        block += 1;
    }
    // A block whose header was damaged too lies between its neighbours.
    for sk in s.skipped.iter_mut().filter(|sk| sk.first_ts_ns.is_none()) {
        sk.first_ts_ns = s
            .blocks
            .iter()
            .filter(|b| b.offset < sk.offset)
            .map(|b| b.max_ts_ns)
            .max();
        sk.last_ts_ns = s
            .blocks
            .iter()
            .filter(|b| b.offset > sk.offset)
            .map(|b| b.min_ts_ns)
            .min();
    }
    Ok(s)
}
