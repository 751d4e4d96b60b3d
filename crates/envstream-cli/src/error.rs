//! Exit codes and one-line error reporting.

use std::error::Error as StdError;
use std::fmt;
use std::process::ExitCode;

use envstream::ErrorClass;

/// A usage mistake (exit 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) const EXIT_IO: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_INTEGRITY: u8 = 3;
pub(crate) const EXIT_KEY: u8 = 4;
pub(crate) const EXIT_KEY_SERVICE: u8 = 5;

/// What a broken pipe on the output means for a command.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokenPipe {
    /// The reader took what it wanted (`open | head`): exit 0 quietly.
    Quiet,
    /// The output is a whole artefact (a sealed stream, a key): cut short,
    /// it is useless, so the run fails.
    Incomplete,
}

/// The first error of type `T` in `err`'s chain, looking inside I/O
/// errors too: the engine's reads and writes carry S3 and envstream errors
/// inside `io::Error`s (whose `source()` skips the error they carry), and
/// the progress counter wraps those to name the file.
pub(crate) fn find<T: StdError + 'static>(err: &anyhow::Error) -> Option<&T> {
    err.chain().find_map(|e| find_in::<T>(e, 0))
}

fn find_in<'a, T: StdError + 'static>(
    e: &'a (dyn StdError + 'static),
    depth: u32,
) -> Option<&'a T> {
    if depth > 32 {
        return None;
    }
    if let Some(t) = e.downcast_ref::<T>() {
        return Some(t);
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        let inner: &(dyn StdError + 'static) = inner;
        if let Some(t) = find_in::<T>(inner, depth + 1) {
            return Some(t);
        }
    }
    e.source().and_then(|s| find_in::<T>(s, depth + 1))
}

/// Whether the error is a broken pipe downstream.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            io.kind() == std::io::ErrorKind::BrokenPipe
                && envstream::Error::from_io_ref(io).is_none()
                && envstream_s3::S3Error::from_io_ref(io).is_none()
        })
    })
}

/// The S3 error in the chain, also inside an I/O error (the transport's
/// `Read` and `Write` carry it there) or an envstream I/O error.
pub(crate) fn s3_error(err: &anyhow::Error) -> Option<&envstream_s3::S3Error> {
    find::<envstream_s3::S3Error>(err)
}

/// A failed run whose S3 upload could not be aborted either.
#[derive(Debug)]
pub(crate) struct Abandoned {
    pub(crate) first: Box<dyn StdError + Send + Sync + 'static>,
    pub(crate) line: String,
    pub(crate) abort: envstream_s3::S3Error,
}

impl Abandoned {
    /// `first` (the failure), then the failure to abort the upload.
    pub(crate) fn error(first: anyhow::Error, abort: envstream_s3::S3Error) -> anyhow::Error {
        let line = primary_line(&first);
        anyhow::Error::new(Abandoned {
            first: first.into(),
            line,
            abort,
        })
    }
}

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; aborting the S3 upload failed too: {}",
            self.line, self.abort
        )
    }
}

impl StdError for Abandoned {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.first)
    }
}

/// The multipart upload a failure left behind, if aborting it failed.
pub(crate) fn leftover_upload(err: &anyhow::Error) -> Option<&envstream_s3::LeftoverUpload> {
    if let Some(a) = find::<Abandoned>(err) {
        return a.abort.leftover_upload();
    }
    s3_error(err).and_then(|e| e.leftover_upload())
}

/// The exit code of an S3 failure.
fn s3_exit_code(e: &envstream_s3::S3Error) -> u8 {
    use envstream_s3::S3ErrorKind as K;
    match e.kind() {
        K::InvalidLocation | K::Configuration | K::Exists | K::NotS3 => EXIT_USAGE,
        K::AccessDenied | K::NoSuchBucket => EXIT_KEY,
        K::Unavailable => EXIT_KEY_SERVICE,
        K::BadObject => EXIT_INTEGRITY,
        _ => EXIT_IO,
    }
}

/// The exit code for an error: an S3 failure decides by its kind, then the
/// first envstream error in the chain, then usage errors; anything else is 1.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(e) = s3_error(err) {
        return s3_exit_code(e);
    }
    if let Some(lib) = find::<envstream::Error>(err) {
        return match lib.class() {
            ErrorClass::Integrity => EXIT_INTEGRITY,
            ErrorClass::Key => EXIT_KEY,
            ErrorClass::KeyService => EXIT_KEY_SERVICE,
            ErrorClass::Usage => EXIT_USAGE,
            _ => EXIT_IO,
        };
    }
    if find::<UsageError>(err).is_some() {
        return EXIT_USAGE;
    }
    EXIT_IO
}

/// The line that describes an error: an S3 failure or an input that is
/// not whole says it all in its own words (it names the operation and the
/// object, or the input); anything else is the whole chain on one line.
fn primary_line(err: &anyhow::Error) -> String {
    if let Some(a) = err.downcast_ref::<Abandoned>() {
        return a.to_string();
    }
    if let Some(e) = s3_error(err) {
        return e.to_string();
    }
    if let Some(e) = find::<crate::source::SourceError>(err) {
        return e.to_string();
    }
    one_line(err)
}

/// The error as one line: each context or cause once, joined with ": ".
/// A cause whose text is already part of the line (errors that both print
/// and return their source) is not repeated, and line breaks inside
/// messages (some SDK errors have them) are folded.
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for e in err.chain() {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// What to do about a library error, in CLI terms (the library names no
/// flags or commands).
fn hint(err: &anyhow::Error) -> Option<&'static str> {
    if let Some(e) = s3_error(err) {
        use envstream_s3::S3ErrorKind as K;
        return match e.kind() {
            K::Exists => Some("pass --force to replace it"),
            K::TooLarge => Some("pass --expected-size with the input's size"),
            _ => None,
        };
    }
    let lib = find::<envstream::Error>(err)?;
    match lib {
        envstream::Error::Key(envstream::KeyError::ContextMismatch { .. }) => {
            Some("check --context")
        }
        envstream::Error::Usage(envstream::UsageError::NotInFipsModule { .. }) => {
            Some("use a standard build of envstream for it")
        }
        envstream::Error::Local(envstream::LocalError::CounterOverflow) => {
            Some("use a larger --chunk-size or split the input")
        }
        envstream::Error::Local(envstream::LocalError::InvalidKeyFile(m))
            if m.contains("SECRET") =>
        {
            None
        }
        envstream::Error::Local(envstream::LocalError::InvalidKeyFile(m))
            if m.contains("recipient") || m.contains("identity") =>
        {
            Some("`envstream keygen --recipient -o FILE` writes an identity FILE and its recipient FILE.pub")
        }
        envstream::Error::Local(envstream::LocalError::InvalidKeyFile(_)) => {
            Some("create a key file with `envstream keygen -o FILE`")
        }
        envstream::Error::Key(envstream::KeyError::NoMatchingKey { wrapped, .. })
            if wrapped
                .iter()
                .any(|w| w.starts_with(&format!("{}/", envstream::PQ_PROVIDER))) =>
        {
            Some("an mlkem768x25519 record opens only with --identity FILE, the identity whose key id it names (`envstream keygen --recipient` printed it)")
        }
        _ => None,
    }
}

/// The exit code and one-line message of an error (None for a quiet exit).
pub(crate) fn classify(err: &anyhow::Error, pipe: BrokenPipe) -> (u8, Option<String>) {
    if is_broken_pipe(err) {
        match pipe {
            BrokenPipe::Quiet => (0, None),
            BrokenPipe::Incomplete => (
                EXIT_IO,
                Some(
                    "the output is incomplete: its reader closed the pipe (broken pipe) before the end; \
                     whatever it received is not a complete file"
                        .to_owned(),
                ),
            ),
        }
    } else {
        let mut line = primary_line(err);
        if let Some(h) = hint(err).filter(|h| !line.contains(h)) {
            line.push_str("; ");
            line.push_str(h);
        }
        (exit_code(err), Some(line))
    }
}

/// Prints the one-line error (if any) and turns the code into an exit code.
pub(crate) fn report(code: u8, message: Option<&str>) -> ExitCode {
    if let Some(m) = message {
        eprintln!("envstream: error: {m}");
    }
    ExitCode::from(code)
}
