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

/// Whether the error is a broken pipe downstream (a clean exit).
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            io.kind() == std::io::ErrorKind::BrokenPipe
                && envstream::Error::from_io_ref(io).is_none()
        })
    })
}

/// The exit code for an error: the first envstream error in the chain
/// decides, then usage errors; anything else is 1.
pub(crate) fn exit_code(err: &anyhow::Error) -> u8 {
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

pub(crate) fn report(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    // One line: contexts and causes joined with ": ".
    eprintln!("envstream: error: {err:#}");
    ExitCode::from(exit_code(err))
}

/// The exit code and one-line message of an error (None for a quiet broken pipe).
pub(crate) fn classify(err: &anyhow::Error) -> (u8, Option<String>) {
    if is_broken_pipe(err) {
        (0, None)
    } else {
        (exit_code(err), Some(format!("{err:#}")))
    }
}
