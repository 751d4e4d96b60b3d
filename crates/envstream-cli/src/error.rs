//! Exit codes and one-line error reporting.

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

/// Whether the error is a broken pipe downstream.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            io.kind() == std::io::ErrorKind::BrokenPipe
                && envstream::Error::from_io_ref(io).is_none()
        })
    })
}

/// The S3 error in the chain, also inside an I/O error (the transport's
/// `Read` and `Write` carry it there) or an envstream I/O error.
pub(crate) fn s3_error(err: &anyhow::Error) -> Option<&envstream_s3::S3Error> {
    err.chain().find_map(|e| {
        e.downcast_ref::<envstream_s3::S3Error>()
            .or_else(|| {
                e.downcast_ref::<std::io::Error>()
                    .and_then(envstream_s3::S3Error::from_io_ref)
            })
            .or_else(|| match e.downcast_ref::<envstream::Error>() {
                Some(envstream::Error::Io(io)) => envstream_s3::S3Error::from_io_ref(io),
                _ => None,
            })
    })
}

/// The exit code of an S3 failure.
fn s3_exit_code(e: &envstream_s3::S3Error) -> u8 {
    use envstream_s3::S3ErrorKind as K;
    match e.kind() {
        K::InvalidLocation | K::Configuration | K::Exists => EXIT_USAGE,
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
    for e in err.chain() {
        let lib = e.downcast_ref::<envstream::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(envstream::Error::from_io_ref)
        });
        if let Some(lib) = lib {
            return match lib.class() {
                ErrorClass::Integrity => EXIT_INTEGRITY,
                ErrorClass::Key => EXIT_KEY,
                ErrorClass::KeyService => EXIT_KEY_SERVICE,
                ErrorClass::Usage => EXIT_USAGE,
                _ => EXIT_IO,
            };
        }
        if e.is::<UsageError>() {
            return EXIT_USAGE;
        }
    }
    EXIT_IO
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
    let lib = err.chain().find_map(|e| {
        e.downcast_ref::<envstream::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(envstream::Error::from_io_ref)
        })
    })?;
    match lib {
        envstream::Error::Key(envstream::KeyError::ContextMismatch { .. }) => {
            Some("check --context")
        }
        envstream::Error::Local(envstream::LocalError::CounterOverflow) => {
            Some("use a larger --chunk-size or split the input")
        }
        envstream::Error::Local(envstream::LocalError::InvalidKeyFile(_)) => {
            Some("create a key file with `envstream keygen -o FILE`")
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
        let mut line = one_line(err);
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
