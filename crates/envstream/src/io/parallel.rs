//! The parallel chunk engine: workers that each read, process and write
//! whole batches, in stream order.
//!
//! Work moves in batches of whole chunks (about 1 MiB), so each hand-off
//! and each system call covers many small chunks: a worker takes the input
//! and fills a batch with one vectored read, seals or opens its chunks in
//! place while they are in its cache, then waits for the batch's turn and
//! writes it with one vectored write. The calling thread is one of the
//! workers, so `threads = 1` starts no thread and hands nothing over.
//! Memory is one batch buffer per worker, whatever the stream length. An
//! input that fits in one batch is processed without any locking.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

use super::batch::{Buf, Direction, Engine, Job, LeafHash, StreamStats};
use super::read::HeldBack;
use super::sync::OpenReader;
use crate::crypto::{already_failed, Next};
use crate::envelope::Sealer;
use crate::error::{Error, StateError, UsageError};
use crate::format::{body_digest_hasher, SignedBody};
use crate::keyring::block_on;

/// The most worker threads an engine runs. Memory is one batch per
/// worker, so this also bounds memory: a batch is about 1 MiB of chunks,
/// or one chunk when chunks are larger.
pub const MAX_THREADS: usize = 64;

/// Worker threads used when the caller asks for 0 ("automatic"): one per
/// available core, at most [`MAX_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
}

impl Engine<'_> {
    /// Runs the whole body from `input` to `output`.
    #[cfg(test)]
    pub(crate) fn run<R: Read + Send, W: Write + Send>(
        &self,
        input: R,
        output: W,
        threads: usize,
    ) -> Result<(W, StreamStats), Error> {
        self.run_hashed(input, output, threads, None)
            .map(|(w, stats, _)| (w, stats))
    }

    /// [`Engine::run`], folding each chunk's leaf (with `leaves` set) into
    /// `outer` in stream order, which it returns: a signed stream's body
    /// digest (FORMAT.md section 15.3) is then one `finalize` away.
    pub(crate) fn run_hashed<R: Read + Send, W: Write + Send>(
        &self,
        mut input: R,
        mut output: W,
        threads: usize,
        outer: Option<blake3::Hasher>,
    ) -> Result<(W, StreamStats, Option<blake3::Hasher>), Error> {
        let threads = match threads {
            0 => default_threads(),
            n if n > MAX_THREADS => {
                return Err(Error::Usage(UsageError::InvalidOptions(format!(
                    "{n} worker threads asked for; at most {MAX_THREADS} are allowed"
                ))))
            }
            n => n,
        };
        let (job, deferred) = self.read_batch(&mut input, self.new_buf(), self.start)?;
        if job.tail.is_some() || deferred.is_some() {
            // The whole (rest of the) stream is one batch: no thread start-up.
            let done = self.process(job);
            let stats = Self::emit(&mut output, &done)?;
            let mut outer = outer;
            fold(&mut outer, &done.leaves);
            if let Some(e) = done.err.or(deferred) {
                return Err(e);
            }
            output.flush()?;
            return Ok((output, stats, outer));
        }
        let (stats, outer) = self.run_parallel(input, &mut output, threads, job, outer)?;
        Ok((output, stats, outer))
    }

    /// `threads` workers (the calling thread is one of them) each take the
    /// input in turn and read one batch, seal or open it while it is still
    /// hot in their core's cache, then wait for the batch's turn and write
    /// it themselves. There is no separate writer thread and no buffer
    /// queue: a batch changes hands only through the two locks, so a worker
    /// that finds the output free writes without waking anyone.
    fn run_parallel<R: Read + Send, W: Write + Send>(
        &self,
        input: R,
        output: &mut W,
        threads: usize,
        first: Job,
        outer: Option<blake3::Hasher>,
    ) -> Result<(StreamStats, Option<blake3::Hasher>), Error> {
        let shared = Shared {
            input: Mutex::new(InputState {
                input,
                next: self.start + first.full as u64,
                first: Some(first),
                finished: false,
            }),
            output: Mutex::new(OutputState {
                output,
                next: self.start,
                stats: StreamStats::default(),
                result: None,
                outer,
            }),
            turn: Condvar::new(),
            stop: AtomicBool::new(false),
        };
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(|| self.worker(&shared));
            }
            self.worker(&shared);
        });
        let out = shared.output.into_inner().map_err(|_| poisoned())?;
        match out.result {
            Some(Ok(())) => Ok((out.stats, out.outer)),
            Some(Err(e)) => Err(e),
            // Every batch either ends the stream or carries its error, so
            // the workers cannot all stop without a result; stay an error.
            None => Err(Error::State(StateError::Stopped)),
        }
    }

    /// One worker: read a batch, process it, write it in its turn; repeat.
    fn worker<R: Read, W: Write>(&self, shared: &Shared<R, &mut W>) {
        let _guard = PanicGuard(shared);
        let mut spare: Option<Buf> = None;
        loop {
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            // Read the next batch (or take the one read before the start).
            let (job, deferred) = {
                let Ok(mut st) = shared.input.lock() else {
                    shared.stop.store(true, Ordering::Release);
                    return;
                };
                if let Some(job) = st.first.take() {
                    (job, None)
                } else {
                    if st.finished {
                        return;
                    }
                    let buf = spare.take().unwrap_or_else(|| self.new_buf());
                    let index = st.next;
                    match self.read_batch(&mut st.input, buf, index) {
                        Ok((job, deferred)) => {
                            st.next += job.full as u64;
                            if job.tail.is_some() || deferred.is_some() {
                                st.finished = true;
                            }
                            (job, deferred)
                        }
                        Err(e) => {
                            // Reported in stream order, after every batch before it.
                            st.finished = true;
                            let job = Job {
                                index,
                                buf: self.new_empty_buf(),
                                full: 0,
                                tail: None,
                            };
                            (job, Some(e))
                        }
                    }
                }
            };
            let mut done = self.process(job);
            if done.err.is_none() {
                done.err = deferred;
            }
            // Write it in its turn.
            let Ok(mut out) = shared.output.lock() else {
                shared.stop.store(true, Ordering::Release);
                return;
            };
            while out.result.is_none() && out.next != done.index {
                out = match shared.turn.wait(out) {
                    Ok(o) => o,
                    Err(_) => {
                        shared.stop.store(true, Ordering::Release);
                        return;
                    }
                };
            }
            if out.result.is_some() {
                // An earlier batch failed or ended the stream.
                return;
            }
            // Batches are released strictly in order, each chunk only after
            // its own tag verified; a failure stops all later output.
            let result = match Self::emit(&mut *out.output, &done) {
                Ok(s) => {
                    fold(&mut out.outer, &done.leaves);
                    out.stats.plaintext_bytes += s.plaintext_bytes;
                    out.stats.chunks += s.chunks;
                    out.next += done.chunks;
                    match done.err.take() {
                        Some(e) => Some(Err(e)),
                        None if done.last => Some(out.output.flush().map_err(Error::Io)),
                        // Not reachable (a batch holds a chunk, ends the
                        // stream or carries an error); never loop on it.
                        None if done.chunks == 0 => Some(Err(Error::State(StateError::Stopped))),
                        None => None,
                    }
                }
                Err(e) => Some(Err(e)),
            };
            let finished = result.is_some();
            out.result = result;
            drop(out);
            if finished {
                shared.stop.store(true, Ordering::Release);
            }
            // Wake whoever holds the next batch (or everyone, at the end).
            shared.turn.notify_all();
            if finished {
                return;
            }
            spare = Some(done.buf);
        }
    }
}

/// If a worker unwinds (an invariant broke), the others must not wait for
/// its batch's turn forever: record a failure and wake them.
struct PanicGuard<'a, R, W>(&'a Shared<R, W>);

impl<R, W> Drop for PanicGuard<'_, R, W> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop.store(true, Ordering::Release);
            let mut out = match self.0.output.lock() {
                Ok(o) => o,
                Err(poison) => poison.into_inner(),
            };
            if out.result.is_none() {
                out.result = Some(Err(poisoned()));
            }
            drop(out);
            self.0.turn.notify_all();
        }
    }
}

fn poisoned() -> Error {
    Error::State(StateError::WorkerPanicked)
}

/// The input side, shared by the workers.
struct InputState<R> {
    input: R,
    /// Index of the next chunk to read.
    next: u64,
    /// The batch read before the workers started.
    first: Option<Job>,
    /// No more batches: end of stream or a read error.
    finished: bool,
}

/// The output side: whose turn it is, and how the stream ended.
struct OutputState<W> {
    output: W,
    /// Index of the first chunk of the batch to write next.
    next: u64,
    stats: StreamStats,
    /// Set once: the final chunk was written, or the first failure in
    /// stream order.
    result: Option<Result<(), Error>>,
    /// The body digest's outer hash, fed the leaves in stream order.
    outer: Option<blake3::Hasher>,
}

/// Feeds a batch's leaves, in order, to the outer hash.
fn fold(outer: &mut Option<blake3::Hasher>, leaves: &[[u8; 32]]) {
    if let Some(h) = outer {
        for l in leaves {
            h.update(l);
        }
    }
}

struct Shared<R, W> {
    input: Mutex<InputState<R>>,
    output: Mutex<OutputState<W>>,
    /// Signalled whenever `output.next` or `output.result` changes.
    turn: Condvar,
    /// Set when the stream ended or failed: nobody reads another batch.
    stop: AtomicBool,
}

impl Sealer {
    /// Seals all of `input` to `output` (header, then every chunk) with the
    /// parallel engine: `threads` workers (0 = one per available core, at
    /// most [`MAX_THREADS`]; the calling thread is one
    /// of them) each read, seal and write whole batches in stream order.
    /// Inputs shorter than one batch take no lock. Memory stays bounded by
    /// one batch buffer of about 1 MiB per worker.
    ///
    /// ```
    /// use envstream::{Backend, Keyring, LocalKey, SealOptions, Sealer};
    /// # fn main() -> Result<(), envstream::Error> {
    /// let key = LocalKey::from_secret(&[7; 32], Backend::default());
    /// let keyrings: [&dyn Keyring; 1] = [&key];
    /// let sealer = Sealer::prepare_blocking(&keyrings, SealOptions::new())?;
    /// let input = vec![42u8; 1_000_000];
    /// let (sealed, stats) = sealer.seal_stream(&input[..], Vec::new(), 2)?;
    /// assert_eq!(stats.plaintext_bytes, 1_000_000);
    /// assert_eq!(stats.chunks, 16); // 15 full 64 KiB chunks and a short final one
    /// # let _ = sealed; Ok(()) }
    /// ```
    pub fn seal_stream<R: Read + Send, W: Write + Send>(
        self,
        input: R,
        mut output: W,
        threads: usize,
    ) -> Result<(W, StreamStats), Error> {
        output.write_all(&self.header().to_bytes())?;
        let aead = self.payload_aead();
        let signed = self.is_signed();
        let engine = Engine {
            aead: &aead,
            start: 0,
            chunk_size: self.header().chunk_size() as usize,
            direction: Direction::Seal,
            leaves: signed.then_some(LeafHash::Blake3),
        };
        let outer = signed.then(body_digest_hasher);
        let (mut output, stats, outer) = engine.run_hashed(input, output, threads, outer)?;
        if let Some(outer) = outer {
            let body = SignedBody::finish(&outer, stats.chunks, stats.plaintext_bytes);
            output.write_all(&block_on(self.trailer(&body))?)?;
            output.flush()?;
        }
        Ok((output, stats))
    }
}

impl<R: Read> OpenReader<R> {
    /// Decrypts the rest of the stream into `output` with the parallel
    /// engine (see [`Sealer::seal_stream`]); chunks are released in order,
    /// each only after its tag verifies. Returns the totals for the whole
    /// stream.
    pub fn copy_to<W: Write + Send>(
        mut self,
        mut output: W,
        threads: usize,
    ) -> Result<(W, StreamStats), Error>
    where
        R: Send,
    {
        let next = self.core.next();
        if next == Next::Failed {
            return Err(already_failed());
        }
        // The verified plaintext still in the window goes first.
        output.write_all(self.core.plain())?;
        let done = StreamStats {
            plaintext_bytes: self.core.plaintext_len(),
            chunks: self.core.next_index(),
            signature_verified: self.core.signature_verified(),
        };
        if self.core.is_done() {
            output.flush()?;
            return Ok((output, done));
        }
        // A signed stream read whole goes on hashing where the reader left off.
        let outer = self.core.take_outer();
        let engine = Engine {
            aead: self.core.aead(),
            start: self.core.next_index(),
            chunk_size: self.core.layout().chunk_size() as usize,
            direction: Direction::Open,
            leaves: outer.as_ref().map(|_| LeafHash::Blake3),
        };
        let input = HeldBack {
            inner: &mut self.inner,
            hold: self.hold.as_mut(),
        };
        let (output, stats, outer) = engine.run_hashed(input, output, threads, outer)?;
        let total = StreamStats {
            plaintext_bytes: done.plaintext_bytes + stats.plaintext_bytes,
            chunks: done.chunks + stats.chunks,
            signature_verified: false,
        };
        if let Some(outer) = outer {
            if let Some(h) = &self.hold {
                self.core.input_ended(h.held())?;
            }
            self.core
                .check_signature(&outer, total.chunks, total.plaintext_bytes)?;
        }
        Ok((
            output,
            StreamStats {
                signature_verified: self.core.signature_verified(),
                ..total
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Aead;
    use crate::error::{FormatError, IntegrityError, LocalError};
    use crate::format::{CHUNK_TAG_LEN, MAX_CHUNK_INDEX};
    use crate::Backend;

    fn engine(aead: &Aead, start: u64, direction: Direction) -> Engine<'_> {
        Engine {
            aead,
            start,
            chunk_size: 4096,
            direction,
            leaves: None,
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
        assert!(
            matches!(err, Error::Local(LocalError::CounterOverflow)),
            "{err}"
        );
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
        assert!(
            matches!(err, Error::Format(FormatError::TooManyChunks)),
            "{err}"
        );
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
            matches!(err, Error::Integrity(IntegrityError::ChunkAuthentication { chunk }) if chunk == victim as u64),
            "{err}"
        );
        assert_eq!(out, &plain[..victim * 4096]);
    }

    /// A reader that fails after `ok` bytes.
    struct FailingReader<'a> {
        data: &'a [u8],
        ok: usize,
    }

    impl Read for FailingReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.ok == 0 {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = buf.len().min(self.ok).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.ok -= n;
            Ok(n)
        }
    }

    /// A writer that fails once it has taken `ok` bytes.
    #[derive(Debug)]
    struct FailingWriter {
        taken: Vec<u8>,
        ok: usize,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.taken.len() >= self.ok {
                return Err(std::io::Error::other("disk full"));
            }
            let n = buf.len().min(self.ok - self.taken.len());
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_thread_count_gives_the_same_bytes_over_many_batches() {
        let aead = Backend::default().aead(&[3; 32]);
        let plain: Vec<u8> = (0..9_000_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        let seal = engine(&aead, 0, Direction::Seal);
        let (one, _) = seal.run(&plain[..], Vec::new(), 1).expect("1 thread");
        let open = engine(&aead, 0, Direction::Open);
        for t in [2, 3, 5, 8] {
            let (many, stats) = seal.run(&plain[..], Vec::new(), t).expect("seal");
            assert_eq!(many, one, "{t} threads");
            assert_eq!(stats.plaintext_bytes, plain.len() as u64);
            let (back, stats) = open.run(&one[..], Vec::new(), t).expect("open");
            assert_eq!(back, plain, "{t} threads");
            assert_eq!(stats.chunks, plain.len() as u64 / 4096 + 1);
        }
    }

    #[test]
    fn a_read_error_mid_stream_is_reported_after_the_batches_before_it() {
        let aead = Backend::default().aead(&[3; 32]);
        let plain: Vec<u8> = (0..6_000_000u32).map(|i| i as u8).collect();
        let seal = engine(&aead, 0, Direction::Seal);
        let (sealed, _) = seal.run(&plain[..], Vec::new(), 1).expect("seal");
        let open = engine(&aead, 0, Direction::Open);
        for t in [1, 2, 4] {
            let input = FailingReader {
                data: &sealed,
                ok: 5_000_000,
            };
            let mut out = Vec::new();
            let err = open.run(input, &mut out, t).expect_err("read error");
            assert!(
                matches!(&err, Error::Io(e) if e.to_string() == "disk gone"),
                "{err}"
            );
            // Only whole, verified batches before the failure were released.
            assert!(
                out.len() < 5_000_000 && out.len() % 4096 == 0,
                "{}",
                out.len()
            );
            assert_eq!(out, &plain[..out.len()]);
        }
    }

    #[test]
    fn a_write_error_mid_stream_stops_every_worker() {
        let aead = Backend::default().aead(&[3; 32]);
        let plain: Vec<u8> = (0..6_000_000u32).map(|i| i as u8).collect();
        let seal = engine(&aead, 0, Direction::Seal);
        for t in [1, 2, 4] {
            let out = FailingWriter {
                taken: Vec::new(),
                ok: 3_000_000,
            };
            let err = seal.run(&plain[..], out, t).expect_err("write error");
            assert!(
                matches!(&err, Error::Io(e) if e.to_string() == "disk full"),
                "{err}"
            );
        }
    }

    #[test]
    fn buffers_record_how_far_they_were_written_so_drop_clears_that_much() {
        let aead = Backend::default().aead(&[3; 32]);
        let seal = engine(&aead, 0, Direction::Seal);
        // 1 KiB: one final chunk; the data and its tag were written.
        let (job, _) = seal
            .read_batch(&mut &[1u8; 1024][..], seal.new_buf(), 0)
            .expect("read");
        assert_eq!(job.buf.used, 1024 + CHUNK_TAG_LEN);
        assert_eq!(
            job.buf.len(),
            seal.new_buf().len(),
            "full-size buffer, mostly untouched"
        );
        // Two full chunks and a partial one.
        let (job, _) = seal
            .read_batch(&mut &vec![1u8; 2 * 4096 + 10][..], seal.new_buf(), 0)
            .expect("read");
        assert_eq!(
            job.buf.used,
            2 * (4096 + CHUNK_TAG_LEN) + 10 + CHUNK_TAG_LEN
        );
        let open = engine(&aead, 0, Direction::Open);
        let (job, _) = open
            .read_batch(&mut &[1u8; 5000][..], open.new_buf(), 0)
            .expect("read");
        assert_eq!(job.buf.used, 5000);
        // A read error still marks the slot being filled.
        let failing = FailingReader {
            data: &[1u8; 100_000],
            ok: 10_000,
        };
        let mut failing = failing;
        let mut buf = seal.new_buf();
        buf.touch(3);
        assert!(seal.read_batch(&mut failing, buf, 0).is_err());
    }
}
