//! S3 transport for envstream: sealed streams written to and read from
//! Amazon S3 or an S3-compatible store, without touching a local disk.
//!
//! The API is async at the core, for library users inside Tokio:
//!
//! - [`S3Client`]: the checked AWS configuration; its requests run on the
//!   runtime that awaits them. It exposes no SDK client and no executor.
//! - [`Upload`]: an `AsyncWrite` for the sealed output
//!   (`envstream::Sealer::seal_to_async`). Multipart, with concurrent part
//!   uploads, per-part CRC32 checksums and growing part sizes
//!   ([`PartSchedule`]); atomic (complete only after the final chunk,
//!   conditional on the key being absent, confirmed against what was sent,
//!   aborted on any failure).
//! - [`S3Object`] and [`AsyncRangeReader`]: one ranged GET for the size,
//!   the ETag and the header, then concurrent ranged GETs of whole chunks,
//!   each pinned to the ETag (`AsyncRead + AsyncSeek`, for
//!   `envstream::AsyncOpener`).
//! - [`rekey_copy`]: a new header in front of the old body, which is
//!   copied inside S3.
//!
//! [`blocking`] is the facade for callers without a runtime, such as
//! envstream's blocking engine: the same types with `Read`, `Write` and
//! `Seek`, run on a runtime the facade owns, usable from any thread.
//!
//! The crypto stays in `envstream`; this crate only moves bytes.
//! `docs/S3.md` describes the IAM actions, the part schedule, memory and
//! the atomicity guarantees.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blocking;
mod client;
mod copy;
mod download;
mod error;
mod finish;
mod reader;
mod schedule;
mod stage;
mod stored;
mod upload;
mod url;

pub use client::{Addressing, S3Client, S3Settings, TransferStats, FIRST_READ};
pub use copy::{rekey_copy, Rewrite};
pub use download::S3Object;
pub use error::{LeftoverUpload, S3Error, S3ErrorKind};
pub use reader::AsyncRangeReader;
pub use schedule::{PartSchedule, MAX_OBJECT_SIZE, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
pub use upload::{AbortHandle, Upload, UploadOptions, UploadSummary};
pub use url::S3Url;
