//! The fixed 19-byte prefix of every header (magic, version, suite, chunk
//! size, header length) and the suite it names. It is checked first, before
//! anything sized by the input is read or allocated.

use super::limits::*;
use crate::error::{Error, FormatError, UsageError};

/// The algorithm suite recorded in the header.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// 0x0001: AES-256-GCM, HKDF-SHA-512, commitment, HMAC-SHA-256.
    Aes256GcmHkdfSha512,
    /// 0x0002: suite 0x0001 plus a writer signature over the header and
    /// a BLAKE3 digest of the body (FORMAT.md section 15).
    Signed,
}

impl Suite {
    /// The suite's wire id.
    pub fn id(self) -> u16 {
        match self {
            Suite::Aes256GcmHkdfSha512 => SUITE_AES256GCM_HKDF_SHA512,
            Suite::Signed => SUITE_SIGNED,
        }
    }

    /// A human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Aes256GcmHkdfSha512 => "AES-256-GCM/HKDF-SHA-512/commit",
            Suite::Signed => "AES-256-GCM/HKDF-SHA-512/commit/signed",
        }
    }

    /// Whether streams of this suite carry a writer signature.
    pub fn is_signed(self) -> bool {
        self == Suite::Signed
    }

    pub(crate) fn from_id(id: u16) -> Result<Self, Error> {
        match id {
            SUITE_AES256GCM_HKDF_SHA512 => Ok(Suite::Aes256GcmHkdfSha512),
            SUITE_SIGNED => Ok(Suite::Signed),
            other => Err(Error::Format(FormatError::UnsupportedSuite(other))),
        }
    }
}

/// What the fixed 19-byte prefix says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Prefix {
    pub(crate) header_len: usize,
}

/// Validates the fixed prefix. Rejects bad magic, version, suite, chunk
/// size and header length before anything else is read or allocated.
pub(crate) fn parse_prefix(bytes: &[u8]) -> Result<Prefix, Error> {
    let magic_part = &bytes[..bytes.len().min(MAGIC.len())];
    if magic_part != &MAGIC[..magic_part.len()] {
        return Err(Error::Format(FormatError::NotEnvstream));
    }
    if bytes.len() < PREFIX_LEN {
        return Err(Error::Format(FormatError::Truncated(
            "the input ends inside the header",
        )));
    }
    if bytes[8] != VERSION {
        return Err(Error::Format(FormatError::UnsupportedVersion(bytes[8])));
    }
    Suite::from_id(u16::from_be_bytes([bytes[9], bytes[10]]))?;
    let chunk_size = u32::from_be_bytes([bytes[11], bytes[12], bytes[13], bytes[14]]);
    check_chunk_size(chunk_size).map_err(|_| {
        Error::Format(FormatError::MalformedHeader(format!(
            "chunk size {chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
        )))
    })?;
    let header_len = u32::from_be_bytes([bytes[15], bytes[16], bytes[17], bytes[18]]) as usize;
    let min = PREFIX_LEN + SALT_LEN + 2 + 1 + COMMITMENT_LEN + HEADER_TAG_LEN;
    if !(min..=MAX_HEADER_LEN).contains(&header_len) {
        return Err(Error::Format(FormatError::MalformedHeader(format!(
            "header length {header_len} is outside {min}..={MAX_HEADER_LEN}"
        ))));
    }
    Ok(Prefix { header_len })
}

/// The header length that a stream's first bytes declare, once the fixed
/// prefix (magic, version, suite, chunk size, header length) is valid.
/// Lets a transport fetch exactly the header before parsing it with
/// [`Header::parse`](super::Header::parse). Needs the first
/// [`PREFIX_LEN`] bytes; fewer is a truncation error.
pub fn declared_header_len(first_bytes: &[u8]) -> Result<usize, Error> {
    if first_bytes.is_empty() {
        return Err(Error::Format(FormatError::Truncated("the input is empty")));
    }
    parse_prefix(first_bytes).map(|p| p.header_len)
}

/// Checks a chunk size against the format's limits.
pub(crate) fn check_chunk_size(size: u32) -> Result<(), Error> {
    if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(Error::Usage(UsageError::ChunkSizeOutOfRange {
            size: size.into(),
        }))
    }
}
