//! The body layout: where each chunk sits, how long the plaintext is, and
//! which chunk holds a plaintext offset. Pure arithmetic, no I/O; every
//! reader (blocking, async, parallel) and the CLI use this one copy.

use super::header::Header;
use super::limits::{CHUNK_TAG_LEN, MAX_CHUNK_INDEX};
use crate::error::{Error, FormatError};

/// The body of one stream: chunks of `chunk_size` plaintext bytes plus a
/// 16-byte tag each, from the end of the header on; the final chunk is
/// strictly shorter than `chunk_size` (possibly empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLayout {
    header_len: u64,
    chunk_size: u32,
    /// Bytes after the body: a signed stream's trailer, else 0.
    trailer_len: u64,
}

/// Where a plaintext offset lives ([`BodyLayout::locate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The offset, clipped to the end of the plaintext.
    pub offset: u64,
    /// The chunk that holds it.
    pub index: u64,
    /// Plaintext bytes of that chunk before it.
    pub skip: usize,
}

/// The final chunk of a file, by its length alone ([`BodyLayout::final_chunk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalChunk {
    /// Its chunk index.
    pub index: u64,
    /// Its file offset.
    pub offset: u64,
    /// Its length in the file: ciphertext and tag, less than a stride.
    pub len: u64,
    /// The plaintext length of the whole stream, if this chunk verifies.
    pub plaintext_size: u64,
}

/// How a body's last, partial stride ends (the truncation rules, in one place).
pub(crate) fn final_chunk_len(rest: u64) -> Result<u64, Error> {
    if rest == 0 {
        Err(Error::Format(FormatError::Truncated(
            "the final chunk is missing",
        )))
    } else if rest < CHUNK_TAG_LEN as u64 {
        Err(Error::Format(FormatError::Truncated(
            "the final chunk is shorter than its tag",
        )))
    } else {
        Ok(rest)
    }
}

impl BodyLayout {
    /// The layout of the body that follows `header`.
    pub fn new(header: &Header) -> Self {
        BodyLayout {
            header_len: header.len() as u64,
            chunk_size: header.chunk_size(),
            trailer_len: header
                .signer()
                .map_or(0, |s| s.algorithm().trailer_len() as u64),
        }
    }

    /// Bytes after the body: a signed stream's trailer (FORMAT.md section
    /// 15.2), or 0.
    pub fn trailer_len(&self) -> u64 {
        self.trailer_len
    }

    /// The body length of a whole file of `file_len` bytes: what lies
    /// between the header and the trailer. Too short is truncation.
    pub fn body_len(&self, file_len: u64) -> Result<u64, Error> {
        file_len
            .checked_sub(self.header_len)
            .and_then(|b| b.checked_sub(self.trailer_len))
            .ok_or(Error::Format(FormatError::Truncated(
                "the input ends inside the header or the trailer",
            )))
    }

    #[cfg(test)]
    pub(crate) fn for_test(header_len: u64, chunk_size: u32) -> Self {
        BodyLayout {
            header_len,
            chunk_size,
            trailer_len: 0,
        }
    }

    /// Plaintext bytes in a full chunk.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes a full chunk takes in the file: plaintext plus tag.
    pub fn stride(&self) -> u64 {
        u64::from(self.chunk_size) + CHUNK_TAG_LEN as u64
    }

    /// File offset of chunk `index` (checked arithmetic).
    pub fn chunk_offset(&self, index: u64) -> Option<u64> {
        index
            .checked_mul(self.stride())?
            .checked_add(self.header_len)
    }

    /// How many chunks a body of `body_len` bytes holds: every chunk, the
    /// final one included, takes at most a stride and at least a tag.
    /// Nothing is authenticated.
    pub fn chunk_count(&self, body_len: u64) -> u64 {
        body_len.div_ceil(self.stride())
    }

    /// The plaintext length of a whole file of `file_len` bytes, from the
    /// length alone. A body that cannot end with a valid final chunk is
    /// truncated; one with more chunks than the counter allows is refused.
    pub fn plaintext_size(&self, file_len: u64) -> Result<u64, Error> {
        let body = self.body_len(file_len)?;
        let (full, rest) = (body / self.stride(), body % self.stride());
        let last = final_chunk_len(rest)?;
        if full > MAX_CHUNK_INDEX {
            return Err(Error::Format(FormatError::TooManyChunks));
        }
        Ok(full * u64::from(self.chunk_size) + last - CHUNK_TAG_LEN as u64)
    }

    /// Where the final chunk of a whole file of `file_len` bytes sits, and
    /// the plaintext length the file's length implies. Nothing is
    /// authenticated: a file cut at a chunk boundary plus 16 bytes has a
    /// plausible length, so a reader that acts on the length (an
    /// end-relative seek) must first open this chunk as the final one.
    pub fn final_chunk(&self, file_len: u64) -> Result<FinalChunk, Error> {
        let plaintext_size = self.plaintext_size(file_len)?;
        let index = plaintext_size / u64::from(self.chunk_size);
        let offset = self
            .chunk_offset(index)
            .ok_or(Error::Format(FormatError::TooManyChunks))?;
        Ok(FinalChunk {
            index,
            offset,
            len: file_len - self.trailer_len - offset,
            plaintext_size,
        })
    }

    /// Where plaintext offset `pos` lives in a stream of `total` plaintext
    /// bytes: the chunk and the bytes to skip inside its plaintext.
    /// Offsets past the end are clipped to the end (the final chunk,
    /// skipped entirely), so reading there verifies the final chunk and
    /// returns nothing.
    pub fn locate(&self, pos: u64, total: u64) -> Location {
        let chunk = u64::from(self.chunk_size);
        let offset = pos.min(total);
        let index = (offset / chunk).min(total / chunk);
        // Invariant: offset - index * chunk < chunk <= 16 MiB, so it fits.
        let skip = usize::try_from(offset - index * chunk).unwrap_or(usize::MAX);
        Location {
            offset,
            index,
            skip,
        }
    }

    /// The file offset just past the last chunk that plaintext
    /// `[start, end)` needs (`end` `None`: to the end), in a file of
    /// `file_len` bytes, so that a ranged reader fetches nothing else. A
    /// range that reaches the final chunk needs the whole file.
    pub fn range_end(&self, file_len: u64, start: u64, end: Option<u64>) -> Result<u64, Error> {
        let total = self.plaintext_size(file_len)?;
        let stop = end.unwrap_or(total).min(total);
        let last_byte = if stop > start { stop - 1 } else { start };
        let last = self.locate(last_byte, total).index;
        let final_index = self.locate(total, total).index;
        if stop == total || last >= final_index {
            return Ok(file_len);
        }
        Ok(self
            .chunk_offset(last + 1)
            .map_or(file_len, |o| o.min(file_len)))
    }

    /// An upper bound on the sealed size of `plaintext` bytes in chunks of
    /// `chunk_size`, with the largest header the format allows and the
    /// longest trailer: what an uploader sizes its parts for before the
    /// header exists.
    pub fn sealed_size_bound(chunk_size: u32, plaintext: u64) -> u64 {
        let chunks = plaintext / u64::from(chunk_size.max(1)) + 1;
        plaintext
            .saturating_add(chunks.saturating_mul(CHUNK_TAG_LEN as u64))
            .saturating_add(super::limits::MAX_HEADER_LEN as u64)
            .saturating_add(super::signer::MAX_TRAILER_LEN as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> BodyLayout {
        BodyLayout {
            header_len: 100,
            chunk_size: 4096,
            trailer_len: 0,
        }
    }

    #[test]
    fn sizes_offsets_and_locations() {
        let l = layout();
        assert_eq!(l.stride(), 4112);
        assert_eq!(l.chunk_offset(0), Some(100));
        assert_eq!(l.chunk_offset(2), Some(100 + 2 * 4112));
        assert_eq!(l.chunk_offset(u64::MAX), None);
        // Empty plaintext: one empty final chunk (its tag).
        assert_eq!(l.plaintext_size(116).expect("size"), 0);
        // Exactly one full chunk: it is followed by an empty final chunk.
        assert_eq!(l.plaintext_size(100 + 4112 + 16).expect("size"), 4096);
        assert_eq!(l.plaintext_size(100 + 4112 + 26).expect("size"), 4106);
        let f = l.final_chunk(100 + 4112 + 26).expect("final");
        assert_eq!(
            (f.index, f.offset, f.len, f.plaintext_size),
            (1, 4212, 26, 4106)
        );
        let f = l.final_chunk(100 + 16).expect("final");
        assert_eq!(
            (f.index, f.offset, f.len, f.plaintext_size),
            (0, 100, 16, 0)
        );
        assert!(matches!(
            l.plaintext_size(99),
            Err(Error::Format(FormatError::Truncated(_)))
        ));
        assert!(matches!(
            l.plaintext_size(100),
            Err(Error::Format(FormatError::Truncated(_)))
        ));
        assert!(matches!(
            l.plaintext_size(100 + 4112),
            Err(Error::Format(FormatError::Truncated(_)))
        ));
        assert!(matches!(
            l.plaintext_size(110),
            Err(Error::Format(FormatError::Truncated(_)))
        ));
        assert_eq!(l.chunk_count(0), 0);
        assert_eq!(l.chunk_count(16), 1);
        assert_eq!(l.chunk_count(4112 + 16), 2);
        let at = |pos, total| {
            let loc = l.locate(pos, total);
            (loc.offset, loc.index, loc.skip)
        };
        assert_eq!(at(0, 10_000), (0, 0, 0));
        assert_eq!(at(4096, 10_000), (4096, 1, 0));
        assert_eq!(at(4097, 10_000), (4097, 1, 1));
        // Past the end: clipped to the end, inside the final chunk.
        assert_eq!(at(99_999, 10_000), (10_000, 2, 10_000 - 8192));
        // A total that is a multiple of the chunk size: the empty final chunk.
        assert_eq!(at(8192, 8192), (8192, 2, 0));
        // Range ends: a file of 3 chunks (2 full, 1808 bytes final).
        let file = 100 + 2 * 4112 + 1808 + 16;
        assert_eq!(l.range_end(file, 0, Some(10)).expect("end"), 100 + 4112);
        assert_eq!(
            l.range_end(file, 4000, Some(4200)).expect("end"),
            100 + 2 * 4112
        );
        assert_eq!(l.range_end(file, 9000, None).expect("end"), file);
        assert_eq!(l.range_end(file, 0, Some(u64::MAX)).expect("end"), file);
        assert_eq!(
            BodyLayout::sealed_size_bound(4096, 8192),
            8192 + 3 * 16 + 65536 + 136
        );
    }

    #[test]
    fn more_chunks_than_the_counter_allows_are_refused() {
        let l = layout();
        let huge = 100 + (MAX_CHUNK_INDEX + 1) * l.stride() + 16;
        assert!(matches!(
            l.plaintext_size(huge),
            Err(Error::Format(FormatError::TooManyChunks))
        ));
    }
}
