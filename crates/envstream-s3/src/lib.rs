//! S3 transport for envstream: sealed streams written to and read from
//! Amazon S3 or an S3-compatible store, without touching a local disk.
//!
//! - [`Upload`]: a [`std::io::Write`] for the engine's sealed output.
//!   Multipart, with concurrent part uploads, per-part CRC32 checksums and
//!   growing part sizes ([`PartSchedule`]); atomic (complete only after
//!   the final chunk, conditional on the key being absent, aborted on any
//!   failure).
//! - [`S3Object`] and [`RangeReader`]: one ranged GET for the size, the
//!   ETag and the header, then concurrent ranged GETs of whole chunks,
//!   each pinned to the ETag, for the engine to decrypt in parallel.
//! - [`rekey_copy`]: a new header in front of the old body, which is
//!   copied inside S3.
//!
//! The crypto stays in `envstream`; this crate only moves bytes.
//! `docs/S3.md` describes the IAM actions, the part schedule, memory and
//! the atomicity guarantees.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod copy;
mod download;
mod error;
mod schedule;
mod stored;
mod upload;
mod url;

pub use client::{Addressing, S3Client, S3Settings, TransferStats, FIRST_READ};
pub use copy::rekey_copy;
pub use download::{RangeReader, S3Object};
pub use error::{LeftoverUpload, S3Error, S3ErrorKind};
pub use schedule::{PartSchedule, MAX_OBJECT_SIZE, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};
pub use upload::{AbortHandle, Upload, UploadOptions, UploadSummary};
pub use url::S3Url;
