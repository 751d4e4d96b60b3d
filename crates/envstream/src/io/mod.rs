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
