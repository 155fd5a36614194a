//! Helpers shared by the fuzz targets and the seed generator.
//!
//! Every part of a `.lpmt` file carries a CRC-32 (docs/file-format.md), so
//! almost every mutation of a valid recording is rejected at the first
//! checksum. [`fix_checksums`] recomputes the CRCs of whatever structure the
//! bytes still have, which lets the fuzzer reach the session JSON, the block
//! codec and the footer index decoder with mutated contents.

const FILE_MAGIC: &[u8; 8] = b"\x89LPMT\r\n\x1a";
const FILE_HEADER_LEN: usize = 28;
const BLOCK_MAGIC: &[u8; 4] = b"LPMB";
const BLOCK_HEADER_LEN: usize = 44;
const FOOTER_MAGIC: &[u8; 4] = b"LPMF";
const FOOTER_HEADER_LEN: usize = 12;
const TRAILER_MAGIC: &[u8; 8] = b"LPMTEND\n";
const TRAILER_LEN: usize = 16;

fn crc(bytes: &[u8]) -> [u8; 4] {
    crc32fast::hash(bytes).to_le_bytes()
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Rewrites the header, session, block and footer checksums of `data` in
/// place, following the layout as far as it is intact. Returns whether
/// anything changed.
pub fn fix_checksums(data: &mut [u8]) -> bool {
    let before = crc32fast::hash(data);
    let len = data.len();
    if len < FILE_HEADER_LEN || &data[..8] != FILE_MAGIC {
        return false;
    }
    let session_len = le32(data, 16);
    let data_start = FILE_HEADER_LEN.saturating_add(session_len);
    if data_start <= len {
        let c = crc(&data[FILE_HEADER_LEN..data_start]);
        data[20..24].copy_from_slice(&c);
    }
    let c = crc(&data[..24]);
    data[24..28].copy_from_slice(&c);

    // Blocks, back to back from the end of the session.
    let mut pos = data_start;
    while pos.saturating_add(BLOCK_HEADER_LEN) <= len && &data[pos..pos + 4] == BLOCK_MAGIC {
        let stored = le32(data, pos + 16);
        let end = pos + BLOCK_HEADER_LEN + stored;
        if end > len {
            break;
        }
        let c = crc(&data[pos + BLOCK_HEADER_LEN..end]);
        data[pos + 36..pos + 40].copy_from_slice(&c);
        let c = crc(&data[pos..pos + 40]);
        data[pos + 40..pos + 44].copy_from_slice(&c);
        pos = end;
    }

    // The footer the trailer points at.
    if len >= TRAILER_LEN && &data[len - 8..] == TRAILER_MAGIC {
        let mut off = [0u8; 8];
        off.copy_from_slice(&data[len - TRAILER_LEN..len - 8]);
        if let Ok(off) = usize::try_from(u64::from_le_bytes(off)) {
            if off.saturating_add(FOOTER_HEADER_LEN) <= len - TRAILER_LEN && &data[off..off + 4] == FOOTER_MAGIC {
                let f = le32(data, off + 4);
                let end = off + FOOTER_HEADER_LEN + f;
                if end <= len {
                    let c = crc(&data[off + FOOTER_HEADER_LEN..end]);
                    data[off + 8..off + 12].copy_from_slice(&c);
                }
            }
        }
    }
    crc32fast::hash(data) != before
}
