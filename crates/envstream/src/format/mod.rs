//! Format v1: the header (a pure parser and writer with hard limits), the
//! encryption context, the body layout and every constant.
//! `docs/FORMAT.md` is normative.
//!
//! - `limits`: magic, version, suite, sizes and every hard limit.
//! - `header`: [`Header`] and its records; `Header::parse` is a pure
//!   function of bytes and writing it back reproduces them exactly.
//! - `context`: the canonical [`EncryptionContext`].
//! - `body`: [`BodyLayout`], where each chunk sits and which chunk holds
//!   a plaintext offset.

mod body;
mod context;
mod header;
mod limits;

pub(crate) use body::final_chunk_len;
pub use body::BodyLayout;
pub use context::EncryptionContext;
pub(crate) use header::{check_chunk_size, HeaderReader};
pub use header::{Header, Suite, WrappedKey};
pub use limits::*;
