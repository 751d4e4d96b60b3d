//! Moving a stream's bytes: the blocking reader and writer, the parallel
//! engine, and the tokio adapters. The chunk rules are in
//! `crypto::chunk` and the layout in `format::body`; nothing here decides
//! what is valid, it only reads, writes and hands over.
//!
//! - `read`: whole-buffer reads and the header read (limits before allocation).
//! - `sync`: [`SealWriter`], [`Opener`], [`OpenReader`], [`Rekeyed`].
//! - `batch`: a batch of whole chunks: read, processed in place, emitted.
//! - `parallel`: the multi-threaded engine behind `Sealer::seal_stream` and
//!   `OpenReader::copy_to`: workers that read, process and write batches
//!   in stream order.
//! - `tokio` (feature `tokio`): [`AsyncSealWriter`], [`AsyncOpener`],
//!   [`AsyncOpenReader`].

mod batch;
mod parallel;
mod read;
mod sync;
#[cfg(feature = "tokio")]
mod tokio;

pub use batch::StreamStats;
pub use parallel::{default_threads, MAX_THREADS};
pub use sync::{OpenReader, Opener, Rekeyed, SealWriter};
#[cfg(feature = "tokio")]
pub use tokio::{AsyncOpenReader, AsyncOpener, AsyncSealWriter};

/// The engine for the benchmarks' body-only runs (`fuzzing.rs`).
pub(crate) mod bench {
    pub(crate) use super::batch::LeafHash;
    use super::batch::{Direction, Engine};
    use crate::error::Error;

    /// Seals `input` as a bare body under a fixed key.
    pub(crate) fn run_body(
        backend: crate::Backend,
        input: &[u8],
        chunk_size: usize,
        threads: usize,
        leaves: Option<LeafHash>,
    ) -> Result<(u64, Option<[u8; 32]>), Error> {
        let aead = backend.aead(&[7; 32]);
        let engine = Engine {
            aead: &aead,
            start: 0,
            chunk_size,
            direction: Direction::Seal,
            leaves,
        };
        let outer = leaves.map(|_| crate::format::body_digest_hasher());
        let (out, _, outer) = engine.run_hashed(input, Counted(0), threads, outer)?;
        Ok((out.0, outer.map(|h| *h.finalize().as_bytes())))
    }

    /// A writer that only counts (the benchmarks measure the engine, not
    /// an output buffer growing).
    struct Counted(u64);

    impl std::io::Write for Counted {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
