//! Batches: the unit of work of the parallel engine. A batch buffer holds
//! whole chunks; one vectored read fills it, its chunks are sealed or
//! opened in place, and one vectored write emits the verified pieces.

use std::io::{IoSlice, IoSliceMut, Read, Write};

use zeroize::Zeroize;

use super::read::read_full as read_full_io;
use crate::crypto::{open_chunk, seal_chunk, Aead};
use crate::error::{Error, LocalError};
use crate::format::{final_chunk_len, CHUNK_TAG_LEN, MAX_CHUNK_INDEX};

/// What a finished run processed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Plaintext bytes sealed or opened.
    pub plaintext_bytes: u64,
    /// Chunks processed, the final chunk included.
    pub chunks: u64,
    /// Whether a signed stream's signature verified (opening, read whole).
    pub signature_verified: bool,
}

/// Target bytes per batch. Measured on a 2-vCPU EPYC (VAES+AVX2): with the
/// hand-off-free engine, 1 MiB and 2 MiB batches seal and open a 2 GiB file
/// at the same speed within the noise, and smaller ones pay the per-batch
/// hand-off; as a pipe stage, 1 MiB batches (the size the CLI gives its
/// pipes) ran at 0.99x/1.0x a `cat` stage where 2 MiB ran at 0.79x/0.89x,
/// because a batch then moves through a pipe in one piece.
const BATCH_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Seal,
    Open,
}

/// A batch buffer. It holds plaintext at times, so it is cleared on drop,
/// but only as far as it was ever written: a fresh buffer is zero pages the
/// kernel has not mapped yet, and clearing all 1 MiB of them for a 1 KiB
/// input cost more than the rest of a small seal.
pub(super) struct Buf {
    bytes: Vec<u8>,
    /// Bytes `[0, used)` may have been written.
    pub(super) used: usize,
}

impl Buf {
    fn zeroed(len: usize) -> Buf {
        Buf {
            bytes: vec![0u8; len],
            used: 0,
        }
    }

    /// Records that `[0, end)` may hold data.
    pub(super) fn touch(&mut self, end: usize) {
        self.used = self.used.max(end.min(self.bytes.len()));
    }
}

impl std::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::ops::DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let used = self.used;
        self.bytes[..used].zeroize();
    }
}

/// A batch read by the reader: `full` whole chunks, then, if this batch
/// ends the stream, the final chunk of `tail` input bytes.
pub(super) struct Job {
    pub(super) index: u64,
    pub(super) buf: Buf,
    pub(super) full: usize,
    pub(super) tail: Option<usize>,
}

/// A processed batch: `pieces` (offset, length) of `buf` to write in order,
/// then `err` if a chunk failed (the pieces are the verified chunks before it).
pub(super) struct Done {
    pub(super) index: u64,
    pub(super) buf: Buf,
    pub(super) pieces: Vec<(usize, usize)>,
    pub(super) err: Option<Error>,
    pub(super) plain: u64,
    pub(super) chunks: u64,
    pub(super) last: bool,
    /// The BLAKE3 leaf of each chunk in `pieces` (signed streams only):
    /// the hash of its bytes as stored, ciphertext and tag.
    pub(super) leaves: Vec<[u8; 32]>,
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, Error> {
    read_full_io(r, buf).map_err(Error::from)
}

/// The hash of each chunk's leaf. The format uses BLAKE3 (FORMAT.md
/// section 15.3); SHA-256 exists only so that the benchmarks can measure
/// the choice in the engine itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafHash {
    Blake3,
    #[cfg(feature = "aws-lc")]
    Sha256,
}

impl LeafHash {
    /// The leaf of one stored chunk (ciphertext and tag).
    pub(crate) fn leaf(self, chunk: &[u8]) -> [u8; 32] {
        match self {
            LeafHash::Blake3 => crate::format::chunk_leaf(chunk),
            #[cfg(feature = "aws-lc")]
            LeafHash::Sha256 => {
                let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, chunk);
                let mut out = [0u8; 32];
                out.copy_from_slice(d.as_ref());
                out
            }
        }
    }
}

/// Writes every slice, retrying short writes.
fn write_all_vectored<W: Write>(w: &mut W, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match w.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(crate) struct Engine<'a> {
    pub(crate) aead: &'a Aead,
    /// Index of the first chunk to read.
    pub(crate) start: u64,
    pub(crate) chunk_size: usize,
    pub(crate) direction: Direction,
    /// How to hash each chunk (a signed stream's body digest), if at all.
    pub(crate) leaves: Option<LeafHash>,
}

impl Engine<'_> {
    pub(super) fn stride(&self) -> usize {
        self.chunk_size + CHUNK_TAG_LEN
    }

    /// Chunks per batch.
    pub(super) fn per_batch(&self) -> usize {
        (BATCH_BYTES / self.chunk_size).max(1)
    }

    pub(super) fn new_buf(&self) -> Buf {
        Buf::zeroed(self.per_batch() * self.stride())
    }

    /// Reads the next batch starting at chunk `index` into `buf`. The second
    /// value is an error to report after this batch's chunks have been
    /// checked (truncation found while reading it).
    pub(super) fn read_batch<R: Read>(
        &self,
        input: &mut R,
        mut buf: Buf,
        index: u64,
    ) -> Result<(Job, Option<Error>), Error> {
        let k = self.per_batch();
        let stride = self.stride();
        match self.direction {
            Direction::Seal => {
                // Fill k plaintext slots of chunk_size, leaving room for each
                // tag, with vectored reads straight into place.
                let (mut slot, mut off, mut eof) = (0usize, 0usize, false);
                while slot < k {
                    let mut slices: Vec<IoSliceMut<'_>> = buf
                        .chunks_mut(stride)
                        .take(k)
                        .skip(slot)
                        .enumerate()
                        .map(|(i, c)| {
                            IoSliceMut::new(&mut c[if i == 0 { off } else { 0 }..self.chunk_size])
                        })
                        .collect();
                    let read = input.read_vectored(&mut slices);
                    drop(slices);
                    let n = match read {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            // What was read so far is plaintext: clear it on drop.
                            buf.touch((slot + 1) * stride);
                            return Err(Error::Io(e));
                        }
                    };
                    if n == 0 {
                        eof = true;
                        break;
                    }
                    let total = off + n;
                    slot += total / self.chunk_size;
                    off = total % self.chunk_size;
                }
                // Read data, and the final chunk's tag after it.
                buf.touch(slot * stride + off + CHUNK_TAG_LEN);
                // Full chunks are never final; at EOF the chunk in progress
                // (possibly empty) is the final one.
                let tail = eof.then_some(off);
                // Every full chunk must leave an index for the final chunk.
                if index + slot as u64 > MAX_CHUNK_INDEX {
                    return Err(Error::Local(LocalError::CounterOverflow));
                }
                Ok((
                    Job {
                        index,
                        buf,
                        full: slot,
                        tail,
                    },
                    None,
                ))
            }
            Direction::Open => {
                let want = k * stride;
                let n = read_full(input, &mut buf[..want]);
                // A failed read may have filled part of the buffer.
                buf.touch(match n {
                    Ok(n) => n,
                    Err(_) => want,
                });
                let n = n?;
                let (full, rest) = (n / stride, n % stride);
                // Short of a full batch: the input ended, so the last
                // partial stride is the final chunk (or the stream is truncated).
                let (tail, deferred) = if n == want {
                    (None, None)
                } else {
                    match final_chunk_len(rest as u64) {
                        Ok(_) => (Some(rest), None),
                        Err(e) => (None, Some(e)),
                    }
                };
                Ok((
                    Job {
                        index,
                        buf,
                        full,
                        tail,
                    },
                    deferred,
                ))
            }
        }
    }

    /// Seals or opens every chunk of a batch in place.
    pub(super) fn process(&self, job: Job) -> Done {
        let Job {
            index,
            mut buf,
            full,
            tail,
        } = job;
        let stride = self.stride();
        let mut pieces = Vec::with_capacity(full + 1);
        let mut leaves = Vec::with_capacity(if self.leaves.is_some() { full + 1 } else { 0 });
        let (mut plain, mut chunks, mut err) = (0u64, 0u64, None);
        let slots = (0..full)
            .map(|i| (i, self.input_len_full(), false))
            .chain(tail.map(|t| (full, t, true)));
        for (i, len, last) in slots {
            let chunk_index = index + i as u64;
            let at = i * stride;
            // Opening decrypts in place: hash the stored bytes first.
            let stored_leaf = match (self.leaves, self.direction) {
                (Some(h), Direction::Open) => Some(h.leaf(&buf[at..at + len])),
                _ => None,
            };
            match self.process_chunk(&mut buf[at..at + stride], len, chunk_index, last) {
                Ok((out, p)) => {
                    if let Some(h) = self.leaves {
                        leaves.push(stored_leaf.unwrap_or_else(|| h.leaf(&buf[at..at + out])));
                    }
                    // Seal output is contiguous: merge with the previous piece.
                    match pieces.last_mut() {
                        Some((start, l)) if *start + *l == at => *l += out,
                        _ => pieces.push((at, out)),
                    }
                    plain += p as u64;
                    chunks += 1;
                }
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        Done {
            index,
            buf,
            pieces,
            err,
            plain,
            chunks,
            last: tail.is_some(),
            leaves,
        }
    }

    /// Input bytes of a full chunk.
    fn input_len_full(&self) -> usize {
        match self.direction {
            Direction::Seal => self.chunk_size,
            Direction::Open => self.stride(),
        }
    }

    /// One chunk in place: returns (bytes to write, plaintext bytes).
    fn process_chunk(
        &self,
        slot: &mut [u8],
        len: usize,
        index: u64,
        last: bool,
    ) -> Result<(usize, usize), Error> {
        match self.direction {
            Direction::Seal => {
                let tag = seal_chunk(self.aead, &mut slot[..len], index, last, self.chunk_size)?;
                slot[len..len + CHUNK_TAG_LEN].copy_from_slice(&tag);
                Ok((len + CHUNK_TAG_LEN, len))
            }
            Direction::Open => {
                let plain = open_chunk(self.aead, slot, len, index, last)?;
                Ok((plain, plain))
            }
        }
    }

    /// Writes a processed batch's pieces with one vectored write.
    pub(super) fn emit<W: Write>(output: &mut W, done: &Done) -> Result<StreamStats, Error> {
        let mut slices: Vec<IoSlice<'_>> = done
            .pieces
            .iter()
            .map(|&(a, l)| IoSlice::new(&done.buf[a..a + l]))
            .collect();
        write_all_vectored(output, &mut slices)?;
        Ok(StreamStats {
            plaintext_bytes: done.plain,
            chunks: done.chunks,
            signature_verified: false,
        })
    }

    /// A placeholder buffer for a batch that holds no chunk.
    pub(super) fn new_empty_buf(&self) -> Buf {
        Buf::zeroed(0)
    }
}
