//! Standard input and output, and the inputs path arguments name: pipes
//! are enlarged, `-` and absent mean stdin or stdout, a directory is a
//! usage error, and a sealed file is never read from a terminal.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::UsageError;

/// Pipe capacity requested for stdin and stdout pipes: many chunks fit, so
/// the processes on either side do not wake each other for every 64 KiB.
const PIPE_SIZE: usize = 1 << 20;

/// Enlarges a pipe's buffer; harmless if it is not a pipe or the system
/// limit (/proc/sys/fs/pipe-max-size) is lower.
fn grow_pipe(f: &File) {
    let is_pipe = f
        .metadata()
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false);
    if is_pipe {
        grow_pipe_fd(f);
    }
}

/// Enlarges the buffer of a pipe (a producer command's stdout).
pub(crate) fn grow_pipe_fd(f: impl std::os::fd::AsFd) {
    if rustix::pipe::fcntl_getpipe_size(&f).is_ok_and(|n| n < PIPE_SIZE) {
        let _ = rustix::pipe::fcntl_setpipe_size(&f, PIPE_SIZE);
    }
}

pub(crate) fn stdout_file() -> Result<File> {
    use std::os::fd::AsFd;
    own_stdio(io::stdout().as_fd(), "stdout")
}

pub(crate) fn stdin_file() -> Result<File> {
    use std::os::fd::AsFd;
    own_stdio(io::stdin().as_fd(), "stdin")
}

/// A `File` of our own for a standard stream, its pipe buffer enlarged.
fn own_stdio(fd: std::os::fd::BorrowedFd<'_>, name: &str) -> Result<File> {
    let fd = fd
        .try_clone_to_owned()
        .with_context(|| format!("cannot use {name}"))?;
    let f = File::from(fd);
    grow_pipe(&f);
    Ok(f)
}

pub(crate) fn is_stdio(p: &Option<PathBuf>) -> bool {
    named_file(p).is_none()
}

/// The file a path argument names: `None` for stdin/stdout (absent or `-`).
pub(crate) fn named_file(p: &Option<PathBuf>) -> Option<&Path> {
    p.as_deref().filter(|p| p.as_os_str() != "-")
}

/// Opens the input: a file, or stdin for `-`/absent. A directory is a
/// usage error naming the path.
pub(crate) fn open_input(p: &Option<PathBuf>) -> Result<File> {
    if is_stdio(p) {
        return stdin_file();
    }
    let p = p.as_deref().unwrap_or(Path::new("-"));
    let f = File::open(p).with_context(|| format!("cannot open input {}", p.display()))?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(
            UsageError(format!("input {} is a directory; name a file", p.display())).into(),
        );
    }
    Ok(f)
}

/// Opens a sealed input for reading, refusing a terminal on stdin: a
/// sealed file is never typed, so waiting for one would only hang.
pub(crate) fn open_sealed_input(p: &Option<PathBuf>) -> Result<File> {
    if is_stdio(p) && io::stdin().is_terminal() {
        return Err(UsageError(
            "refusing to read a sealed file from a terminal; pass INPUT or redirect stdin".into(),
        )
        .into());
    }
    open_input(p)
}
