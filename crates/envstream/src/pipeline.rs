//! The parallel chunk engine: a reader stage (the calling thread), chunk
//! workers and an in-order writer, connected by bounded queues.
//!
//! Work moves in batches of whole chunks (about 1 MiB), so each hand-off
//! and each system call covers many small chunks: the reader fills a batch
//! with one vectored read, a worker seals or opens its chunks in place, and
//! the writer emits the batch with one (vectored) write. Memory is bounded
//! by a fixed pool of `2 × workers + 2` batch buffers, whatever the stream
//! length. An input that fits in one batch is processed on the calling
//! thread without starting any thread.

use std::collections::BTreeMap;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::backend::Aead;
use crate::error::Error;
use crate::format::{CHUNK_TAG_LEN, MAX_CHUNK_INDEX};
use crate::keys::{open_chunk, seal_chunk};

/// What a finished run processed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Plaintext bytes sealed or opened.
    pub plaintext_bytes: u64,
    /// Chunks processed, the final chunk included.
    pub chunks: u64,
}

/// The most worker threads an engine runs. Memory is a pool of
/// `2 × threads + 2` batches, so this also bounds memory: with 64 KiB chunks
/// a batch is about 1 MiB, and with larger chunks it is one chunk.
pub const MAX_THREADS: usize = 64;

/// Worker threads used when the caller asks for 0 ("automatic"): one per
/// available core, at most [`MAX_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
}

/// Target bytes per batch.
const BATCH_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Seal,
    Open,
}

/// A batch buffer; it holds plaintext at times, so it is cleared on drop.
type Buf = Zeroizing<Vec<u8>>;

/// A batch read by the reader: `full` whole chunks, then, if this batch
/// ends the stream, the final chunk of `tail` input bytes.
struct Job {
    index: u64,
    buf: Buf,
    full: usize,
    tail: Option<usize>,
}

/// A processed batch: `pieces` (offset, length) of `buf` to write in order,
/// then `err` if a chunk failed (the pieces are the verified chunks before it).
struct Done {
    index: u64,
    buf: Buf,
    pieces: Vec<(usize, usize)>,
    err: Option<Error>,
    plain: u64,
    chunks: u64,
    last: bool,
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, Error> {
    crate::stream::read_full(r, buf).map_err(Error::Io)
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
}

impl Engine<'_> {
    fn stride(&self) -> usize {
        self.chunk_size + CHUNK_TAG_LEN
    }

    /// Chunks per batch.
    fn per_batch(&self) -> usize {
        (BATCH_BYTES / self.chunk_size).max(1)
    }

    fn new_buf(&self) -> Buf {
        Zeroizing::new(vec![0u8; self.per_batch() * self.stride()])
    }

    /// Reads the next batch starting at chunk `index` into `buf`. The second
    /// value is an error to report after this batch's chunks have been
    /// checked (truncation found while reading it).
    fn read_batch<R: Read>(
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
                    let n = match input.read_vectored(&mut slices) {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::Io(e)),
                    };
                    if n == 0 {
                        eof = true;
                        break;
                    }
                    let total = off + n;
                    slot += total / self.chunk_size;
                    off = total % self.chunk_size;
                }
                // Full chunks are never final; at EOF the chunk in progress
                // (possibly empty) is the final one.
                let tail = eof.then_some(off);
                // Every full chunk must leave an index for the final chunk.
                if index + slot as u64 > MAX_CHUNK_INDEX {
                    return Err(Error::CounterOverflow);
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
                let n = read_full(input, &mut buf[..want])?;
                let (full, rest) = (n / stride, n % stride);
                let (tail, deferred) = if n == want {
                    (None, None)
                } else if rest >= CHUNK_TAG_LEN {
                    (Some(rest), None)
                } else if rest == 0 {
                    (None, Some(Error::Truncated("the final chunk is missing")))
                } else {
                    (
                        None,
                        Some(Error::Truncated("the final chunk is shorter than its tag")),
                    )
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
    fn process(&self, job: Job) -> Done {
        let Job {
            index,
            mut buf,
            full,
            tail,
        } = job;
        let stride = self.stride();
        let mut pieces = Vec::with_capacity(full + 1);
        let (mut plain, mut chunks, mut err) = (0u64, 0u64, None);
        let slots = (0..full)
            .map(|i| (i, self.input_len_full(), false))
            .chain(tail.map(|t| (full, t, true)));
        for (i, len, last) in slots {
            let chunk_index = index + i as u64;
            let at = i * stride;
            match self.process_chunk(&mut buf[at..at + stride], len, chunk_index, last) {
                Ok((out, p)) => {
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
                let tag = seal_chunk(self.aead, &mut slot[..len], index, last)?;
                slot[len..len + CHUNK_TAG_LEN].copy_from_slice(&tag);
                Ok((len + CHUNK_TAG_LEN, len))
            }
            Direction::Open => {
                let plain = open_chunk(self.aead, slot, len, index, last)?;
                Ok((plain, plain))
            }
        }
    }

    /// Runs the whole body from `input` to `output`.
    pub(crate) fn run<R: Read + Send, W: Write>(
        &self,
        mut input: R,
        mut output: W,
        threads: usize,
    ) -> Result<(W, StreamStats), Error> {
        let threads = match threads {
            0 => default_threads(),
            n if n > MAX_THREADS => {
                return Err(Error::InvalidOptions(format!(
                    "{n} worker threads asked for; at most {MAX_THREADS} are allowed"
                )))
            }
            n => n,
        };
        let (job, deferred) = self.read_batch(&mut input, self.new_buf(), self.start)?;
        if job.tail.is_some() || deferred.is_some() {
            // The whole (rest of the) stream is one batch: no thread start-up.
            let done = self.process(job);
            let stats = Self::emit(&mut output, &done)?;
            if let Some(e) = done.err.or(deferred) {
                return Err(e);
            }
            output.flush()?;
            return Ok((output, stats));
        }
        self.run_parallel(input, output, threads, job)
    }

    /// Writes a processed batch's pieces with one vectored write.
    fn emit<W: Write>(output: &mut W, done: &Done) -> Result<StreamStats, Error> {
        let mut slices: Vec<IoSlice<'_>> = done
            .pieces
            .iter()
            .map(|&(a, l)| IoSlice::new(&done.buf[a..a + l]))
            .collect();
        write_all_vectored(output, &mut slices)?;
        Ok(StreamStats {
            plaintext_bytes: done.plain,
            chunks: done.chunks,
        })
    }

    /// `threads` workers each take the input in turn, read one batch, then
    /// seal or open it while it is still hot in their core's cache; the
    /// calling thread writes the batches in order.
    fn run_parallel<R: Read + Send, W: Write>(
        &self,
        input: R,
        mut output: W,
        threads: usize,
        first: Job,
    ) -> Result<(W, StreamStats), Error> {
        let pool_size = 2 * threads + 2;
        let (free_tx, free_rx) = channel::<Buf>();
        for _ in 1..pool_size {
            // The receiver is alive, so this send cannot fail.
            let _ = free_tx.send(self.new_buf());
        }
        let free_rx = Mutex::new(free_rx);
        let state = Mutex::new(ReadState {
            input,
            next: self.start + first.full as u64,
            first: Some(first),
            finished: false,
            error: None,
        });
        let (done_tx, done_rx) = sync_channel::<Done>(pool_size);

        std::thread::scope(|s| {
            for _ in 0..threads {
                let done_tx = done_tx.clone();
                let (state, free_rx) = (&state, &free_rx);
                s.spawn(move || self.worker(state, free_rx, done_tx));
            }
            drop(done_tx);
            let written = Self::writer(&mut output, self.start, done_rx, free_tx);
            if written.is_err() {
                // Stop the readers; they finish their current batch and exit.
                if let Ok(mut st) = state.lock() {
                    st.finished = true;
                }
            }
            match written {
                Ok(stats) => Ok(stats),
                // A failure met in stream order: what a sequential reader
                // would have reported first.
                Err(Some(e)) => Err(e),
                // The workers stopped before the final chunk: the read error.
                Err(None) => Err(state
                    .lock()
                    .ok()
                    .and_then(|mut st| st.error.take())
                    .unwrap_or_else(|| {
                        Error::Io(std::io::Error::other(
                            "the stream stopped before its final chunk",
                        ))
                    })),
            }
        })
        .map(|stats| (output, stats))
    }

    fn worker<R: Read>(
        &self,
        state: &Mutex<ReadState<R>>,
        free: &Mutex<Receiver<Buf>>,
        done: SyncSender<Done>,
    ) {
        loop {
            let job = {
                let Ok(mut st) = state.lock() else { return };
                if let Some(job) = st.first.take() {
                    job
                } else {
                    if st.finished {
                        return;
                    }
                    // Taking a buffer while holding the input keeps batches
                    // in order; the pool bounds memory.
                    let buf = match free.lock().map(|rx| rx.recv()) {
                        Ok(Ok(b)) => b,
                        _ => {
                            st.finished = true;
                            return;
                        }
                    };
                    let index = st.next;
                    match self.read_batch(&mut st.input, buf, index) {
                        Ok((job, deferred)) => {
                            st.next += job.full as u64;
                            if job.tail.is_some() {
                                st.finished = true;
                            }
                            if let Some(e) = deferred {
                                st.finished = true;
                                st.error = Some(e);
                            }
                            if job.full == 0 && job.tail.is_none() {
                                return;
                            }
                            job
                        }
                        Err(e) => {
                            st.finished = true;
                            st.error = Some(e);
                            return;
                        }
                    }
                }
            };
            if done.send(self.process(job)).is_err() {
                if let Ok(mut st) = state.lock() {
                    st.finished = true;
                }
                return;
            }
        }
    }

    /// Writes finished batches in order. `Err(None)` means the workers
    /// stopped before the final chunk (the read error is in the state).
    fn writer<W: Write>(
        output: &mut W,
        start: u64,
        done: Receiver<Done>,
        free: Sender<Buf>,
    ) -> Result<StreamStats, Option<Error>> {
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next = start;
        let mut stats = StreamStats::default();
        loop {
            while let Some(d) = pending.remove(&next) {
                // Batches are released strictly in order, each chunk only
                // after its own tag verified; a failure stops all later output.
                let s = Self::emit(output, &d).map_err(Some)?;
                stats.plaintext_bytes += s.plaintext_bytes;
                stats.chunks += s.chunks;
                if let Some(e) = d.err {
                    return Err(Some(e));
                }
                next += d.chunks;
                if d.last {
                    output.flush().map_err(|e| Some(Error::Io(e)))?;
                    return Ok(stats);
                }
                let _ = free.send(d.buf);
            }
            match done.recv() {
                Ok(d) => {
                    pending.insert(d.index, d);
                }
                Err(_) => return Err(None),
            }
        }
    }
}

/// The input side shared by the workers.
struct ReadState<R> {
    input: R,
    /// Index of the next chunk to read.
    next: u64,
    /// The batch read before the workers started.
    first: Option<Job>,
    /// No more batches: EOF, an error, or the writer stopped.
    finished: bool,
    /// The read error to report, if reading failed.
    error: Option<Error>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    fn engine(aead: &Aead, start: u64, direction: Direction) -> Engine<'_> {
        Engine {
            aead,
            start,
            chunk_size: 4096,
            direction,
        }
    }

    #[test]
    fn seal_refuses_full_chunks_that_leave_no_index_for_the_final_chunk() {
        let aead = Backend::default().aead(&[7; 32]);
        // Two full chunks from MAX-1: the second would take index MAX.
        let e = engine(&aead, MAX_CHUNK_INDEX - 1, Direction::Seal);
        let err = e
            .run(&vec![0u8; 2 * 4096 + 1][..], Vec::new(), 1)
            .expect_err("overflow");
        assert!(matches!(err, Error::CounterOverflow), "{err}");
        // One full chunk at MAX-1, then the final chunk at MAX: allowed.
        let (out, stats) = e
            .run(&vec![0u8; 4096 + 5][..], Vec::new(), 1)
            .expect("fits");
        assert_eq!(stats.chunks, 2);
        assert_eq!(out.len(), 4096 + 5 + 2 * CHUNK_TAG_LEN);
    }

    #[test]
    fn open_rejects_chunk_indexes_beyond_the_counter() {
        let aead = Backend::default().aead(&[7; 32]);
        let e = engine(&aead, MAX_CHUNK_INDEX + 1, Direction::Open);
        let err = e.run(&[0u8; 100][..], Vec::new(), 1).expect_err("too many");
        assert!(matches!(err, Error::TooManyChunks), "{err}");
    }

    #[test]
    fn parallel_and_inline_paths_agree_with_each_other() {
        let aead = Backend::default().aead(&[9; 32]);
        let plain: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7) as u8).collect();
        let seal = engine(&aead, 0, Direction::Seal);
        let (one, _) = seal.run(&plain[..], Vec::new(), 1).expect("1 thread");
        let (four, stats) = seal.run(&plain[..], Vec::new(), 4).expect("4 threads");
        assert_eq!(one, four, "deterministic for a fixed key");
        assert_eq!(stats.chunks, plain.len() as u64 / 4096 + 1);
        let open = engine(&aead, 0, Direction::Open);
        let (back, _) = open.run(&four[..], Vec::new(), 3).expect("open");
        assert_eq!(back, plain);
        // A flipped bit in the middle: the chunks before it are released,
        // nothing after it is.
        let mut bad = four.clone();
        let victim = 300;
        bad[victim * (4096 + 16) + 10] ^= 1;
        let mut out = Vec::new();
        let err = open.run(&bad[..], &mut out, 2).expect_err("tampered");
        assert!(
            matches!(err, Error::ChunkAuthentication { chunk } if chunk == victim as u64),
            "{err}"
        );
        assert_eq!(out, &plain[..victim * 4096]);
    }
}
