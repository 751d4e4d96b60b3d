//! Format v1: the header (a pure parser and writer with hard limits), the
//! encryption context, the body layout and every constant.
//! `docs/FORMAT.md` is normative.
//!
//! - `limits`: magic, version, suite, sizes and every hard limit.
//! - `prefix`: the fixed prefix and the [`Suite`], checked first.
//! - `header`: [`Header`] and its records; `Header::parse` is a pure
//!   function of bytes and writing it back reproduces them exactly.
//! - `reader`: the header read from a stream, as steps without I/O.
//! - `context`: the canonical [`EncryptionContext`].
//! - `body`: [`BodyLayout`], where each chunk sits and which chunk holds
//!   a plaintext offset.

mod body;
mod context;
mod header;
mod limits;
mod prefix;
mod reader;
mod signer;

pub(crate) use body::final_chunk_len;
pub use body::{BodyLayout, FinalChunk, Location};
pub use context::EncryptionContext;
pub use header::{Header, WrappedKey};
pub use limits::*;
pub(crate) use prefix::check_chunk_size;
pub use prefix::{declared_header_len, Suite};
pub(crate) use reader::HeaderReader;
pub use signer::{
    body_digest_hasher, chunk_leaf, ecdsa_der_to_fixed, signed_message, SignatureAlgorithm,
    SignedBody, SignerKey, Trailer, BODY_DIGEST_LABEL, DIGEST_LEN, MAX_TRAILER_LEN, MESSAGE_LEN,
    RESERVED_CONTEXT_PREFIX, SIGNATURE_LABEL, SIGNER_CONTEXT_KEY, TRAILER_MAGIC,
};
pub(crate) use signer::{decode_base64, encode_base64};
