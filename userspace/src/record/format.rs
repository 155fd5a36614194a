//! The fixed byte layouts of a `.lpmt` file: file header, block header,
//! footer and trailer, plus the varint and bounds-checked cursor helpers the
//! event codec shares. docs/file-format.md is the normative description;
//! this module and that document must agree byte for byte.
//!
//! Invariants:
//! - Every integer is little-endian; the file header's endianness byte says
//!   so (`b'L'`) and a reader refuses anything else.
//! - The first 12 bytes (magic, major, minor) never change layout across
//!   versions, so any reader can tell "not a recording" from "too new".
//! - Parsing never trusts a length: every length is checked against the
//!   bytes actually present and a hard maximum before anything is allocated.

use super::error::DecodeError;

/// File magic: `\x89LPMT\r\n\x1a` (high bit and line endings catch
/// text-mode transfers, as in PNG).
pub const FILE_MAGIC: [u8; 8] = *b"\x89LPMT\r\n\x1a";
/// Major format version this build writes and the newest it reads.
pub const FORMAT_MAJOR: u16 = 1;
/// Minor format version this build writes.
pub const FORMAT_MINOR: u16 = 1;
/// Endianness marker of little-endian files (the only kind written).
pub const ENDIAN_LITTLE: u8 = b'L';
/// Size of the fixed part of the file header.
pub const FILE_HEADER_LEN: usize = 28;
/// Largest session JSON a reader accepts (a hard cap on the allocation).
pub const MAX_SESSION_LEN: u32 = 64 << 20;

/// Block magic.
pub const BLOCK_MAGIC: [u8; 4] = *b"LPMB";
/// Size of a block header.
pub const BLOCK_HEADER_LEN: usize = 44;
/// Largest decoded (raw) block a reader accepts.
pub const MAX_BLOCK_RAW: u32 = 16 << 20;
/// Payload stored as is.
pub const CODEC_STORED: u8 = 0;
/// Payload compressed with zstd.
pub const CODEC_ZSTD: u8 = 1;

/// Footer record magic.
pub const FOOTER_MAGIC: [u8; 4] = *b"LPMF";
/// Size of the footer record header (magic, length, crc).
pub const FOOTER_HEADER_LEN: usize = 12;
/// Size of one block index entry in the footer.
pub const INDEX_ENTRY_LEN: usize = 32;
/// Trailer magic (last 8 bytes of a finished file).
pub const TRAILER_MAGIC: [u8; 8] = *b"LPMTEND\n";
/// Size of the trailer (footer offset + magic).
pub const TRAILER_LEN: usize = 16;

/// CRC-32 (IEEE) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zigzag-maps a signed value so small magnitudes give small varints.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// A bounds-checked reader over a byte slice; every read fails cleanly
/// with the offset instead of panicking.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Eof {
                offset: self.pos,
                need: n,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Little-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Little-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Little-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Unsigned LEB128 varint (at most 10 bytes, no overflow).
    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        // Most varints in a block (timestamp deltas, CPUs, dictionary
        // indices) are one byte: take that path without the loop.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(DecodeError::VarintOverflow { offset: start });
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintOverflow { offset: start })
    }

    /// A varint that must fit in a u32.
    pub fn uvarint32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let offset = self.pos;
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| DecodeError::OutOfRange { what, value: v, offset })
    }

    /// A zigzag varint.
    pub fn ivarint(&mut self) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.uvarint()?))
    }

    /// A zigzag varint that must fit in an i32.
    pub fn ivarint32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let offset = self.pos;
        let v = self.ivarint()?;
        i32::try_from(v).map_err(|_| DecodeError::OutOfRange {
            what,
            value: v as u64,
            offset,
        })
    }
}

/// The fixed part of the file header (the session JSON follows it).
///
/// Layout (28 bytes): magic `[8]`, major `u16`, minor `u16`, endianness `u8`,
/// flags `u8` (0), reserved `u16` (0), session length `u32`, session CRC-32
/// `u32`, CRC-32 of the preceding 24 bytes `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// Format major version.
    pub major: u16,
    /// Format minor version.
    pub minor: u16,
    /// Length of the session JSON that follows.
    pub session_len: u32,
    /// CRC-32 of the session JSON.
    pub session_crc: u32,
}

impl FileHeader {
    /// Serializes the header (current version, little-endian).
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..8].copy_from_slice(&FILE_MAGIC);
        b[8..10].copy_from_slice(&self.major.to_le_bytes());
        b[10..12].copy_from_slice(&self.minor.to_le_bytes());
        b[12] = ENDIAN_LITTLE;
        b[16..20].copy_from_slice(&self.session_len.to_le_bytes());
        b[20..24].copy_from_slice(&self.session_crc.to_le_bytes());
        let crc = crc32(&b[0..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        b
    }
}

/// A block header.
///
/// Layout (44 bytes): magic `LPMB`, codec `u8`, 3 reserved bytes (0), event
/// count `u32`, raw length `u32`, stored length `u32`, min timestamp `u64`,
/// max timestamp `u64`, CRC-32 of the stored payload `u32`, CRC-32 of the
/// preceding 40 header bytes `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// [`CODEC_STORED`] or [`CODEC_ZSTD`].
    pub codec: u8,
    /// Events in the block.
    pub count: u32,
    /// Length of the encoded events before compression.
    pub raw_len: u32,
    /// Length of the payload on disk.
    pub stored_len: u32,
    /// Smallest event timestamp in the block.
    pub min_ts: u64,
    /// Largest event timestamp in the block.
    pub max_ts: u64,
    /// CRC-32 of the stored payload.
    pub payload_crc: u32,
}

/// Why a block header could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockHeaderProblem {
    /// The magic is not `LPMB`.
    Magic,
    /// The header checksum does not match.
    Checksum,
    /// A field is out of range (the name and value).
    Field(&'static str, u64),
}

impl BlockHeader {
    /// Serializes the header.
    pub fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0..4].copy_from_slice(&BLOCK_MAGIC);
        b[4] = self.codec;
        b[8..12].copy_from_slice(&self.count.to_le_bytes());
        b[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.stored_len.to_le_bytes());
        b[20..28].copy_from_slice(&self.min_ts.to_le_bytes());
        b[28..36].copy_from_slice(&self.max_ts.to_le_bytes());
        b[36..40].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32(&b[0..40]);
        b[40..44].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and validates a header (magic, checksum, sane sizes).
    pub fn decode(b: &[u8; BLOCK_HEADER_LEN]) -> Result<Self, BlockHeaderProblem> {
        if b[0..4] != BLOCK_MAGIC {
            return Err(BlockHeaderProblem::Magic);
        }
        let le32 = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let le64 = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        if crc32(&b[0..40]) != le32(40) {
            return Err(BlockHeaderProblem::Checksum);
        }
        let h = BlockHeader {
            codec: b[4],
            count: le32(8),
            raw_len: le32(12),
            stored_len: le32(16),
            min_ts: le64(20),
            max_ts: le64(28),
            payload_crc: le32(36),
        };
        if h.codec > CODEC_ZSTD {
            return Err(BlockHeaderProblem::Field("codec", u64::from(h.codec)));
        }
        if h.raw_len > MAX_BLOCK_RAW {
            return Err(BlockHeaderProblem::Field("raw length", u64::from(h.raw_len)));
        }
        if h.stored_len > MAX_BLOCK_RAW {
            return Err(BlockHeaderProblem::Field("stored length", u64::from(h.stored_len)));
        }
        // Every event takes at least two bytes (tag and timestamp delta).
        if u64::from(h.count) * 2 > u64::from(h.raw_len) || h.count == 0 {
            return Err(BlockHeaderProblem::Field("event count", u64::from(h.count)));
        }
        if h.min_ts > h.max_ts {
            return Err(BlockHeaderProblem::Field("time range", h.min_ts));
        }
        Ok(h)
    }

    /// Bytes the block occupies on disk (header and payload).
    pub fn total_len(&self) -> u64 {
        BLOCK_HEADER_LEN as u64 + u64::from(self.stored_len)
    }
}

/// One entry of the footer's block index.
///
/// Layout (32 bytes): offset `u64`, min timestamp `u64`, max timestamp
/// `u64`, event count `u32`, stored length `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Byte offset of the block header.
    pub offset: u64,
    /// Smallest timestamp.
    pub min_ts: u64,
    /// Largest timestamp.
    pub max_ts: u64,
    /// Events.
    pub count: u32,
    /// Stored payload length.
    pub stored_len: u32,
}

/// Totals the footer carries after the index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FooterTotals {
    /// Events in all blocks (lost records included).
    pub events: u64,
    /// `Lost` records.
    pub lost_records: u64,
    /// Sum of the `count` of the `Lost` records.
    pub lost_events: u64,
    /// Events per logical probe name.
    pub probe_counts: Vec<(String, u64)>,
}

/// Largest footer payload a reader accepts.
pub const MAX_FOOTER_LEN: u64 = 256 << 20;

/// Serializes the footer payload: `u32` block count, the index entries,
/// `u64` events, `u64` lost records, `u64` lost events, `u32` probe count,
/// then per probe a `u16` name length, the name and a `u64` count. Bytes a
/// newer minor version appends after this are ignored by readers.
pub fn encode_footer(index: &[IndexEntry], totals: &FooterTotals) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + index.len() * INDEX_ENTRY_LEN + 64);
    p.extend_from_slice(&(index.len() as u32).to_le_bytes());
    for e in index {
        p.extend_from_slice(&e.offset.to_le_bytes());
        p.extend_from_slice(&e.min_ts.to_le_bytes());
        p.extend_from_slice(&e.max_ts.to_le_bytes());
        p.extend_from_slice(&e.count.to_le_bytes());
        p.extend_from_slice(&e.stored_len.to_le_bytes());
    }
    p.extend_from_slice(&totals.events.to_le_bytes());
    p.extend_from_slice(&totals.lost_records.to_le_bytes());
    p.extend_from_slice(&totals.lost_events.to_le_bytes());
    p.extend_from_slice(&(totals.probe_counts.len() as u32).to_le_bytes());
    for (name, count) in &totals.probe_counts {
        let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
        p.extend_from_slice(&(name.len() as u16).to_le_bytes());
        p.extend_from_slice(name);
        p.extend_from_slice(&count.to_le_bytes());
    }
    p
}

/// Parses a footer payload (see [`encode_footer`]).
pub fn decode_footer(payload: &[u8]) -> Result<(Vec<IndexEntry>, FooterTotals), DecodeError> {
    let mut c = Cursor::new(payload);
    let n = c.u32()? as usize;
    if n.saturating_mul(INDEX_ENTRY_LEN) > c.remaining() {
        return Err(DecodeError::OutOfRange {
            what: "block count",
            value: n as u64,
            offset: 0,
        });
    }
    let mut index = Vec::with_capacity(n);
    for _ in 0..n {
        index.push(IndexEntry {
            offset: c.u64()?,
            min_ts: c.u64()?,
            max_ts: c.u64()?,
            count: c.u32()?,
            stored_len: c.u32()?,
        });
    }
    let mut totals = FooterTotals {
        events: c.u64()?,
        lost_records: c.u64()?,
        lost_events: c.u64()?,
        probe_counts: Vec::new(),
    };
    let probes = c.u32()? as usize;
    // Each entry takes at least 10 bytes: a cap before allocating.
    if probes.saturating_mul(10) > c.remaining() {
        return Err(DecodeError::OutOfRange {
            what: "probe count",
            value: probes as u64,
            offset: c.pos(),
        });
    }
    for _ in 0..probes {
        let len = c.u16()? as usize;
        let name = String::from_utf8_lossy(c.bytes(len)?).into_owned();
        totals.probe_counts.push((name, c.u64()?));
    }
    Ok((index, totals))
}

/// The footer record header: magic, payload length, payload CRC-32.
pub fn encode_footer_header(payload: &[u8]) -> [u8; FOOTER_HEADER_LEN] {
    let mut b = [0u8; FOOTER_HEADER_LEN];
    b[0..4].copy_from_slice(&FOOTER_MAGIC);
    b[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    b[8..12].copy_from_slice(&crc32(payload).to_le_bytes());
    b
}

/// The trailer: footer offset and magic.
pub fn encode_trailer(footer_offset: u64) -> [u8; TRAILER_LEN] {
    let mut b = [0u8; TRAILER_LEN];
    b[0..8].copy_from_slice(&footer_offset.to_le_bytes());
    b[8..16].copy_from_slice(&TRAILER_MAGIC);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert!(b.len() <= 10);
            assert_eq!(Cursor::new(&b).uvarint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -300] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert!(zigzag(-1) == 1 && zigzag(1) == 2);
    }

    #[test]
    fn overlong_or_overflowing_varints_are_errors() {
        let eleven = [0x80u8; 11];
        assert!(matches!(
            Cursor::new(&eleven).uvarint(),
            Err(DecodeError::VarintOverflow { .. })
        ));
        let mut ten = [0xffu8; 10];
        ten[9] = 0x02; // would need a 65th bit
        assert!(matches!(
            Cursor::new(&ten).uvarint(),
            Err(DecodeError::VarintOverflow { .. })
        ));
        assert!(matches!(Cursor::new(&[0x80]).uvarint(), Err(DecodeError::Eof { .. })));
    }

    #[test]
    fn block_header_round_trips_and_rejects_damage() {
        let h = BlockHeader {
            codec: CODEC_ZSTD,
            count: 3,
            raw_len: 20,
            stored_len: 9,
            min_ts: 5,
            max_ts: 9,
            payload_crc: 77,
        };
        let b = h.encode();
        assert_eq!(BlockHeader::decode(&b), Ok(h));
        let mut bad = b;
        bad[13] ^= 1;
        assert_eq!(BlockHeader::decode(&bad), Err(BlockHeaderProblem::Checksum));
        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(BlockHeader::decode(&bad), Err(BlockHeaderProblem::Magic));
        let absurd = BlockHeader { raw_len: u32::MAX, ..h }.encode();
        assert!(matches!(
            BlockHeader::decode(&absurd),
            Err(BlockHeaderProblem::Field("raw length", _))
        ));
    }

    #[test]
    fn footer_round_trips_and_caps_counts() {
        let index = vec![IndexEntry {
            offset: 100,
            min_ts: 1,
            max_ts: 2,
            count: 3,
            stored_len: 4,
        }];
        let totals = FooterTotals {
            events: 3,
            lost_records: 1,
            lost_events: 9,
            probe_counts: vec![("ipi.send".into(), 2)],
        };
        let p = encode_footer(&index, &totals);
        assert_eq!(decode_footer(&p).unwrap(), (index, totals));
        let mut absurd = p.clone();
        absurd[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_footer(&absurd),
            Err(DecodeError::OutOfRange {
                what: "block count",
                ..
            })
        ));
    }
}
