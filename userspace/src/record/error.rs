//! Errors of the recording layer. Every [`RecordError`] names the file, and
//! the ones about data also name the block number and byte offset, so a
//! message alone tells an SRE where a recording is damaged.

use std::io;
use std::path::PathBuf;

/// Why a recording could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An I/O call failed (open, write, read, ...), e.g. disk full.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The recording.
        path: PathBuf,
        /// What was being done ("create", "write block 3", "read footer").
        op: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The output file exists and `force` was not given.
    #[error("{}: file exists (use --force to overwrite it)", path.display())]
    Exists {
        /// The recording.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("{}: is a directory, not an lpmtrace recording", path.display())]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// The path is a FIFO, device or socket.
    #[error("{}: not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file does not start with the `.lpmt` magic.
    #[error("{}: not an lpmtrace recording (bad magic: found {found}, expected {expected})", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The bytes found, in hex.
        found: String,
        /// The magic expected, in hex.
        expected: String,
    },
    /// The file was written by a newer lpmtrace with an incompatible layout.
    #[error(
        "{}: format version {major}.{minor} is newer than this lpmtrace supports (major {supported}); \
         read it with a newer lpmtrace",
        path.display()
    )]
    FutureVersion {
        /// The file.
        path: PathBuf,
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
        /// Newest major version this build reads.
        supported: u16,
    },
    /// The file ends inside the header.
    #[error("{}: truncated header: the file has {len} bytes, the header needs {need}", path.display())]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// File length.
        len: u64,
        /// Bytes the header needs.
        need: u64,
    },
    /// The header is damaged or holds absurd values.
    #[error("{}: corrupt header at byte offset {offset}: {problem}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// Offset of the bad field.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// A block is damaged (checksum, sizes, undecodable events).
    #[error("{}: block {block} at byte offset {offset}: {problem}", path.display())]
    BadBlock {
        /// The file.
        path: PathBuf,
        /// Block number (0-based, in file order).
        block: u64,
        /// Byte offset of the block header.
        offset: u64,
        /// What is wrong.
        problem: BlockProblem,
    },
    /// The writer failed earlier (see that error) and takes no more events;
    /// the file stays readable up to the last complete block.
    #[error("{}: the writer stopped after an earlier error: {first}", path.display())]
    WriterFailed {
        /// The recording.
        path: PathBuf,
        /// The first error, as text.
        first: String,
    },
    /// The session could not be serialized.
    #[error("{}: cannot encode the session header: {source}", path.display())]
    EncodeSession {
        /// The recording.
        path: PathBuf,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

/// What is wrong with one block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockProblem {
    /// The header does not start with `LPMB`.
    #[error("no block header here (bad block magic)")]
    Magic,
    /// The header's own checksum does not match.
    #[error("block header checksum mismatch")]
    HeaderChecksum,
    /// A header field is out of range.
    #[error("absurd block header field {field} = {value}")]
    Field {
        /// Field name.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// The block extends past the end of the file.
    #[error("truncated: the block needs {need} bytes, the file has {have} left")]
    Truncated {
        /// Bytes the block needs.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// The payload checksum does not match.
    #[error("checksum mismatch (stored crc32 {expected:#010x}, computed {actual:#010x})")]
    Checksum {
        /// CRC in the header.
        expected: u32,
        /// CRC of the bytes read.
        actual: u32,
    },
    /// The payload does not decompress to the announced size.
    #[error("cannot decompress: {0}")]
    Decompress(String),
    /// The events do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The footer index and the block header disagree.
    #[error("block header does not match the footer index ({0})")]
    IndexMismatch(&'static str),
}

/// Why encoded bytes (events of a block, a footer) do not decode. Offsets
/// are relative to the decoded block payload or the footer payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The data ends inside a value.
    #[error("event data ends early at payload offset {offset} (needs {need} more bytes)")]
    Eof {
        /// Where.
        offset: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("bad varint at payload offset {offset}")]
    VarintOverflow {
        /// Where.
        offset: usize,
    },
    /// A value does not fit its field.
    #[error("{what} = {value} is out of range at payload offset {offset}")]
    OutOfRange {
        /// Field.
        what: &'static str,
        /// Value read.
        value: u64,
        /// Where.
        offset: usize,
    },
    /// An event tag this version does not know (and not an extension record).
    #[error("unknown event tag {tag:#04x} at payload offset {offset}")]
    UnknownTag {
        /// The tag byte.
        tag: u8,
        /// Where.
        offset: usize,
    },
    /// A back-reference (same CPU, same thread, address) with nothing to refer to.
    #[error("dangling {what} reference at payload offset {offset}")]
    Dangling {
        /// Which kind of reference.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// The block holds a different number of events than its header says.
    #[error("the header announces {expected} events, the payload holds {found}")]
    Count {
        /// From the header.
        expected: u32,
        /// Decoded.
        found: u64,
    },
    /// An event's timestamp falls outside the block's time range.
    #[error("event at payload offset {offset} has timestamp {ts_ns} outside the block's range")]
    TimeRange {
        /// The timestamp.
        ts_ns: u64,
        /// Where.
        offset: usize,
    },
}
