//! Error types.
//!
//! Structural problems get precise errors; every chunk-authentication
//! failure is the single opaque [`Error::ChunkAuthentication`].

use std::fmt;

/// How a failure should be reported: each class has its own CLI exit code.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Reading, writing or another local failure (exit 1).
    Io,
    /// A caller mistake: bad parameters, no key (exit 2).
    Usage,
    /// The input is not an intact envstream file (exit 3).
    Integrity,
    /// No supplied key opens the file, or the context does not match (exit 4).
    Key,
    /// A key service could not be reached (exit 5).
    KeyService,
}

/// Why a keyring failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyringErrorKind {
    /// The wrapped key belongs to this keyring but does not authenticate:
    /// the header was corrupted or tampered with.
    Corrupt,
    /// The key service refused (access denied, disabled key, wrong context).
    Denied,
    /// The key service could not be reached or timed out.
    Unavailable,
    /// The key service is not configured: no region, no credentials, or a
    /// named profile that does not exist. Retrying does not help.
    Configuration,
    /// Anything else.
    Other,
}

/// An error from a [`Keyring`](crate::Keyring).
#[derive(Debug)]
pub struct KeyringError {
    kind: KeyringErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl KeyringError {
    /// A new error of `kind`. `message` is one line naming the key and the problem.
    pub fn new(kind: KeyringErrorKind, message: impl Into<String>) -> Self {
        KeyringError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches an underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> KeyringErrorKind {
        self.kind
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KeyringError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Everything that can go wrong while sealing, opening or parsing.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// A chunk failed authentication: the file was tampered with, corrupted,
    /// reordered or truncated inside a chunk. Deliberately opaque.
    ChunkAuthentication {
        /// Index of the chunk that failed.
        chunk: u64,
    },
    /// The chunk size is outside the allowed range.
    ChunkSizeOutOfRange {
        /// The requested or recorded size.
        size: u64,
    },
    /// The key commitment in the header does not match the unwrapped key.
    CommitmentMismatch,
    /// An `open` context requirement was not met.
    ContextMismatch {
        /// The required key.
        key: String,
        /// The required value.
        expected: String,
        /// What the header holds for that key, if anything.
        found: Option<String>,
    },
    /// The stream would need more chunks than the nonce counter allows.
    CounterOverflow,
    /// The header authentication tag does not verify.
    HeaderAuthentication,
    /// An encryption-context entry is not acceptable (seal side).
    InvalidContext(String),
    /// A local key file could not be parsed.
    InvalidKeyFile(String),
    /// Sealing parameters are not acceptable (for example too many keyrings).
    InvalidOptions(String),
    /// An I/O error from the underlying reader or writer.
    Io(std::io::Error),
    /// A keyring failed while wrapping (seal side).
    Keyring(KeyringError),
    /// Keyrings were reachable but refused to unwrap (access denied and similar).
    KeyDenied(Vec<KeyringError>),
    /// A key service needed to unwrap the data key could not be reached.
    KeyServiceUnavailable(Vec<KeyringError>),
    /// The header is structurally invalid or breaks a limit.
    MalformedHeader(String),
    /// No keyring was supplied.
    NoKeyring,
    /// No supplied keyring matched any wrapped key in the header.
    NoMatchingKey {
        /// Descriptions of the keyrings tried.
        tried: Vec<String>,
        /// `provider/key id` of each wrapped key in the header.
        wrapped: Vec<String>,
    },
    /// The input does not start with the envstream magic.
    NotEnvstream,
    /// The operating system's random number generator failed.
    Random,
    /// The input ended before the end of the header or the final chunk.
    Truncated(&'static str),
    /// The stream holds more chunks than the 32-bit counter allows.
    TooManyChunks,
    /// The algorithm suite is not supported.
    UnsupportedSuite(u16),
    /// The format version is not supported.
    UnsupportedVersion(u8),
    /// A wrapped key addressed to a supplied key failed authentication.
    WrappedKeyCorrupt(Vec<KeyringError>),
}

impl Error {
    /// The reporting class of this error (and so the CLI exit code).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::ChunkAuthentication { .. }
            | Error::CommitmentMismatch
            | Error::HeaderAuthentication
            | Error::MalformedHeader(_)
            | Error::NotEnvstream
            | Error::TooManyChunks
            | Error::Truncated(_)
            | Error::UnsupportedSuite(_)
            | Error::UnsupportedVersion(_)
            | Error::WrappedKeyCorrupt(_) => ErrorClass::Integrity,
            Error::ContextMismatch { .. } | Error::KeyDenied(_) | Error::NoMatchingKey { .. } => {
                ErrorClass::Key
            }
            Error::KeyServiceUnavailable(_) => ErrorClass::KeyService,
            Error::Keyring(e) => match e.kind() {
                KeyringErrorKind::Unavailable => ErrorClass::KeyService,
                KeyringErrorKind::Denied => ErrorClass::Key,
                KeyringErrorKind::Configuration => ErrorClass::Usage,
                _ => ErrorClass::Io,
            },
            Error::ChunkSizeOutOfRange { .. }
            | Error::InvalidContext(_)
            | Error::InvalidOptions(_)
            | Error::NoKeyring => ErrorClass::Usage,
            Error::CounterOverflow | Error::InvalidKeyFile(_) | Error::Io(_) | Error::Random => {
                ErrorClass::Io
            }
        }
    }

    /// Recovers an envstream error carried inside an [`std::io::Error`]
    /// (as returned by the `Read`/`Write` implementations).
    pub fn from_io_ref(e: &std::io::Error) -> Option<&Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }

    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            Error::Io(e) => e,
            other => std::io::Error::other(other),
        }
    }
}

fn join(errs: &[KeyringError]) -> String {
    errs.iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ChunkAuthentication { chunk } => write!(
                f,
                "chunk {chunk} failed authentication: the file is corrupt, tampered with or truncated; restore it from another copy"
            ),
            Error::ChunkSizeOutOfRange { size } => write!(
                f,
                "chunk size {size} is out of range: it must be between {} and {} bytes",
                crate::format::MIN_CHUNK_SIZE,
                crate::format::MAX_CHUNK_SIZE
            ),
            Error::CommitmentMismatch => f.write_str(
                "key commitment mismatch: the header does not belong to this data key (tampered or corrupt file)",
            ),
            Error::ContextMismatch { key, expected, found: Some(found) } => write!(
                f,
                "encryption context mismatch: {key:?} is {found:?} in the file but {expected:?} was required"
            ),
            Error::ContextMismatch { key, expected, found: None } => write!(
                f,
                "encryption context mismatch: the file has no {key:?} entry but {key}={expected} was required"
            ),
            Error::CounterOverflow => f.write_str(
                "stream too long: it would exceed 2^32 chunks; use a larger chunk size or split the input",
            ),
            Error::HeaderAuthentication => {
                f.write_str("header authentication failed: the header was tampered with or is corrupt")
            }
            Error::InvalidContext(msg) => write!(f, "invalid encryption context: {msg}"),
            Error::InvalidKeyFile(msg) => write!(f, "invalid key file: {msg}"),
            Error::InvalidOptions(msg) => write!(f, "invalid options: {msg}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Keyring(e) => write!(f, "{e}"),
            Error::KeyDenied(errs) => write!(f, "key access denied: {}", join(errs)),
            Error::KeyServiceUnavailable(errs) => {
                write!(f, "key service unavailable: {}", join(errs))
            }
            Error::MalformedHeader(msg) => write!(f, "malformed header: {msg}"),
            Error::NoKeyring => f.write_str("no key given: at least one keyring is needed"),
            Error::NoMatchingKey { tried, wrapped } => write!(
                f,
                "no supplied key can open this file: tried [{}], the file is sealed to [{}]; pass one of those keys",
                tried.join(", "),
                wrapped.join(", ")
            ),
            Error::NotEnvstream => f.write_str("not an envstream file (bad magic); check the input path"),
            Error::Random => f.write_str("the operating system's random number generator failed"),
            Error::TooManyChunks => f.write_str(
                "the stream has more than 2^32 chunks, which no valid file has (corrupt or hostile input)",
            ),
            Error::Truncated(what) => write!(f, "truncated input: {what}; the file is incomplete, restore it from another copy"),
            Error::UnsupportedSuite(s) => {
                write!(f, "unsupported algorithm suite 0x{s:04x}; upgrade envstream or check the input")
            }
            Error::UnsupportedVersion(v) => {
                write!(f, "unsupported format version {v}; upgrade envstream or check the input")
            }
            Error::WrappedKeyCorrupt(errs) => write!(f, "wrapped key failed authentication: {}", join(errs)),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Keyring(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // An envstream error that travelled through an io::Error comes back out intact.
        match e.get_ref().map(|inner| inner.is::<Error>()) {
            Some(true) => match e.into_inner().map(|b| b.downcast::<Error>()) {
                Some(Ok(inner)) => *inner,
                // Unreachable by the check above; keep a generic error rather than panic.
                _ => Error::Io(std::io::Error::other("internal error")),
            },
            _ => Error::Io(e),
        }
    }
}
