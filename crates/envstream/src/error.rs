//! Error types.
//!
//! Structural problems get precise errors; every chunk-authentication
//! failure is the single opaque [`Error::ChunkAuthentication`].

use std::fmt;

/// What kind of cause a failure has, for a caller deciding how to report
/// it or whether to retry (the CLI maps each class to an exit code).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Reading, writing or another local failure.
    Io,
    /// A caller mistake: bad parameters, no key.
    Usage,
    /// The input is not an intact envstream file.
    Integrity,
    /// No supplied key opens the file, or the context does not match.
    Key,
    /// A key service could not be reached: retrying later may help.
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

/// The input is not a well-formed envstream file (integrity class).
#[non_exhaustive]
#[derive(Debug)]
pub enum FormatError {
    /// The input does not start with the envstream magic.
    NotEnvstream,
    /// The format version is not supported.
    UnsupportedVersion(u8),
    /// The algorithm suite is not supported.
    UnsupportedSuite(u16),
    /// The header is structurally invalid or breaks a limit.
    MalformedHeader(String),
    /// The input ended before the end of the header or the final chunk.
    Truncated(&'static str),
    /// The stream holds more chunks than the 32-bit counter allows.
    TooManyChunks,
}

/// Authentication failed: the data was tampered with or is corrupt (integrity class).
#[non_exhaustive]
#[derive(Debug)]
pub enum IntegrityError {
    /// A chunk failed authentication: the file was tampered with, corrupted,
    /// reordered or truncated inside a chunk. Deliberately opaque.
    ChunkAuthentication {
        /// Index of the chunk that failed.
        chunk: u64,
    },
    /// The key commitment in the header does not match the unwrapped key.
    CommitmentMismatch,
    /// The header authentication tag does not verify.
    HeaderAuthentication,
    /// A wrapped key addressed to a supplied key failed authentication.
    WrappedKeyCorrupt(Vec<KeyringError>),
    /// A signed stream's trailer is missing or cut short (stripped).
    SignatureMissing,
    /// The body is not the one the writer signed: its digest differs
    /// from the trailer's (rewritten by a holder of the data key).
    BodyDigestMismatch,
    /// The writer's signature does not verify.
    SignatureInvalid,
}

/// No supplied key opens the stream, or a key provider failed (key class;
/// key-service class for an unreachable service).
#[non_exhaustive]
#[derive(Debug)]
pub enum KeyError {
    /// An `open` context requirement was not met.
    ContextMismatch {
        /// The required key.
        key: String,
        /// The required value.
        expected: String,
        /// What the header holds for that key, if anything.
        found: Option<String>,
    },
    /// Keyrings were reachable but refused to unwrap (access denied and similar).
    KeyDenied(Vec<KeyringError>),
    /// No supplied keyring matched any wrapped key in the header.
    NoMatchingKey {
        /// Descriptions of the keyrings tried.
        tried: Vec<String>,
        /// `provider/key id` of each wrapped key in the header.
        wrapped: Vec<String>,
    },
    /// A key service needed to unwrap the data key could not be reached.
    KeyServiceUnavailable(Vec<KeyringError>),
    /// A keyring failed while wrapping (seal side).
    Keyring(KeyringError),
    /// Signers were required but the stream is not signed.
    NotSigned,
    /// Signers were required but the stream names another signer.
    WrongSigner {
        /// The fingerprint of the signer the stream names.
        found: String,
    },
}

/// A caller mistake: bad parameters, no key (usage class).
#[non_exhaustive]
#[derive(Debug)]
pub enum UsageError {
    /// The chunk size is outside the allowed range.
    ChunkSizeOutOfRange {
        /// The requested or recorded size.
        size: u64,
    },
    /// An encryption-context entry is not acceptable (seal side).
    InvalidContext(String),
    /// Sealing parameters are not acceptable (for example too many keyrings).
    InvalidOptions(String),
    /// No keyring was supplied.
    NoKeyring,
    /// The stream would exceed the bytes one payload key may encrypt
    /// ([`format::MAX_SEALED_BYTES`](crate::format::MAX_SEALED_BYTES));
    /// refused before the limit is crossed.
    TooMuchData {
        /// The limit, in plaintext bytes.
        limit: u64,
    },
    /// A FIPS build (feature `fips`) was asked for something whose
    /// cryptography runs outside AWS-LC's FIPS module.
    NotInFipsModule {
        /// What was asked for.
        what: &'static str,
        /// The primitive outside the module.
        primitive: &'static str,
    },
}

/// A local failure other than I/O: a key file, the random generator, a stream too long for the counter (io class).
#[non_exhaustive]
#[derive(Debug)]
pub enum LocalError {
    /// The stream would need more chunks than the nonce counter allows.
    CounterOverflow,
    /// A local key file could not be parsed.
    InvalidKeyFile(String),
    /// The operating system's random number generator failed.
    Random,
}

/// A reader or writer used in a state that does not allow it: an earlier
/// error ended the stream, or it is finished (io class). The error that
/// ended it was returned when it happened.
#[non_exhaustive]
#[derive(Debug)]
pub enum StateError {
    /// An earlier error ended the stream.
    Failed,
    /// The stream is finished: its final chunk was written.
    Finished,
    /// A worker thread of the parallel engine panicked.
    WorkerPanicked,
    /// The parallel engine stopped before the final chunk without an
    /// error (not reachable; reported rather than looped on).
    Stopped,
}

/// Everything that can go wrong while sealing, opening or parsing, in six
/// groups, so that [`Error::class`] follows the group.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The input is not a well-formed envstream file.
    Format(FormatError),
    /// Authentication failed (the one opaque chunk error is here).
    Integrity(IntegrityError),
    /// No supplied key opens the stream, or a key provider failed.
    Key(KeyError),
    /// A caller mistake.
    Usage(UsageError),
    /// A local failure other than I/O.
    Local(LocalError),
    /// A reader or writer used in a state that does not allow it.
    State(StateError),
    /// An I/O error from the underlying reader or writer.
    Io(std::io::Error),
}

impl Error {
    /// The reporting class of this error (and so the CLI exit code).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Format(_) | Error::Integrity(_) => ErrorClass::Integrity,
            Error::Key(k) => k.class(),
            Error::Usage(_) => ErrorClass::Usage,
            Error::Local(_) | Error::State(_) | Error::Io(_) => ErrorClass::Io,
        }
    }

    /// Recovers an envstream error carried inside an [`std::io::Error`]
    /// (as returned by the `Read`/`Write` implementations).
    pub fn from_io_ref(e: &std::io::Error) -> Option<&Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }

    /// Wraps this error in an [`std::io::Error`] (an I/O error is returned
    /// as it is), for `Read`/`Write` adapters; [`Error::from_io_ref`]
    /// recovers it.
    pub fn into_io(self) -> std::io::Error {
        match self {
            Error::Io(e) => e,
            other => std::io::Error::other(other),
        }
    }
}

impl KeyError {
    /// Key failures are key class, except an unreachable service (key
    /// service class) and a provider's own error, classed by its kind.
    fn class(&self) -> ErrorClass {
        match self {
            KeyError::KeyServiceUnavailable(_) => ErrorClass::KeyService,
            KeyError::Keyring(e) => match e.kind() {
                KeyringErrorKind::Unavailable => ErrorClass::KeyService,
                KeyringErrorKind::Denied => ErrorClass::Key,
                KeyringErrorKind::Configuration => ErrorClass::Usage,
                _ => ErrorClass::Io,
            },
            _ => ErrorClass::Key,
        }
    }
}

fn join(errs: &[KeyringError]) -> String {
    errs.iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::MalformedHeader(msg) => write!(f, "malformed header: {msg}"),
            FormatError::NotEnvstream => f.write_str("not an envstream file (bad magic); check the input path"),
            FormatError::TooManyChunks => f.write_str(
                "the stream has more than 2^32 chunks, which no valid file has (corrupt or hostile input)",
            ),
            FormatError::Truncated(what) => write!(f, "truncated input: {what}; the file is incomplete, restore it from another copy"),
            FormatError::UnsupportedSuite(s) => {
                write!(f, "unsupported algorithm suite 0x{s:04x}; upgrade envstream or check the input")
            }
            FormatError::UnsupportedVersion(v) => {
                write!(f, "unsupported format version {v}; upgrade envstream or check the input")
            }
        }
    }
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntegrityError::ChunkAuthentication { chunk } => write!(
                f,
                "chunk {chunk} failed authentication: the file is corrupt, tampered with or truncated; restore it from another copy"
            ),
            IntegrityError::CommitmentMismatch => f.write_str(
                "key commitment mismatch: the header does not belong to this data key (tampered or corrupt file)",
            ),
            IntegrityError::HeaderAuthentication => {
                f.write_str("header authentication failed: the header was tampered with or is corrupt")
            }
            IntegrityError::WrappedKeyCorrupt(errs) => write!(f, "wrapped key failed authentication: {}", join(errs)),
            IntegrityError::SignatureMissing => f.write_str(
                "the stream's signature is missing or cut short (its trailer was stripped or truncated); the output is NOT from the expected writer",
            ),
            IntegrityError::BodyDigestMismatch => f.write_str(
                "the body is not the one the writer signed (rewritten by someone holding the data key, or corrupt); the output is NOT from the expected writer",
            ),
            IntegrityError::SignatureInvalid => f.write_str(
                "the writer's signature does not verify (forged or corrupt); the output is NOT from the expected writer",
            ),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::ContextMismatch { key, expected, found: Some(found) } => write!(
                f,
                "encryption context mismatch: {key:?} is {found:?} in the file but {expected:?} was required"
            ),
            KeyError::ContextMismatch { key, expected, found: None } => write!(
                f,
                "encryption context mismatch: the file has no {key:?} entry but {key}={expected} was required"
            ),
            KeyError::Keyring(e) => write!(f, "{e}"),
            KeyError::NotSigned => f.write_str(
                "the stream is not signed, but a signed stream was required; it is NOT from the expected writer",
            ),
            KeyError::WrongSigner { found } => write!(
                f,
                "the stream is signed by {found}, which is not a required signer; it is NOT from the expected writer"
            ),
            KeyError::KeyDenied(errs) => write!(f, "key access denied: {}", join(errs)),
            KeyError::KeyServiceUnavailable(errs) => {
                write!(f, "key service unavailable: {}", join(errs))
            }
            KeyError::NoMatchingKey { tried, wrapped } => write!(
                f,
                "no supplied key can open this file: tried [{}], the file is sealed to [{}]; pass one of those keys",
                tried.join(", "),
                wrapped.join(", ")
            ),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::ChunkSizeOutOfRange { size } => write!(
                f,
                "chunk size {size} is out of range: it must be between {} and {} bytes",
                crate::format::MIN_CHUNK_SIZE,
                crate::format::MAX_CHUNK_SIZE
            ),
            UsageError::InvalidContext(msg) => write!(f, "invalid encryption context: {msg}"),
            UsageError::InvalidOptions(msg) => write!(f, "invalid options: {msg}"),
            UsageError::NoKeyring => f.write_str("no key given: at least one keyring is needed"),
            UsageError::NotInFipsModule { what, primitive } => write!(
                f,
                "{what} cannot be used in a FIPS build: {primitive} runs outside AWS-LC's FIPS module"
            ),
            UsageError::TooMuchData { limit } => write!(
                f,
                "the stream is longer than {limit} bytes (2^48, 256 TiB), the most one payload key may encrypt; split the input into several streams"
            ),
        }
    }
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalError::CounterOverflow => f.write_str(
                "stream too long: it would exceed 2^32 chunks; use a larger chunk size or split the input",
            ),
            LocalError::InvalidKeyFile(msg) => write!(f, "invalid key file: {msg}"),
            LocalError::Random => f.write_str("the operating system's random number generator failed"),
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateError::Failed => "the stream already failed; the output is incomplete",
            StateError::Finished => "the stream is already finished",
            StateError::WorkerPanicked => "a worker thread panicked",
            StateError::Stopped => "the stream stopped before its final chunk",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Format(e) => e.fmt(f),
            Error::Integrity(e) => e.fmt(f),
            Error::Key(e) => e.fmt(f),
            Error::Usage(e) => e.fmt(f),
            Error::Local(e) => e.fmt(f),
            Error::State(e) => e.fmt(f),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Key(KeyError::Keyring(e)) => Some(e),
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
