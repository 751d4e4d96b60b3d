//! Which files a command touches, and whether two names are the same file:
//! the checks that keep `--report` and `-o` off the input, the output and
//! the key files.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::output::named_file;

/// A file a command reads or writes, which a report must never overwrite.
pub(crate) enum Protected {
    /// The input file.
    Input(PathBuf),
    /// Standard input, when it is the input.
    Stdin,
    /// The output file.
    Output(PathBuf),
    /// Standard output, when it is the output.
    Stdout,
    /// A key file.
    KeyFile(PathBuf),
}

impl Protected {
    /// The input (`None` or `-` is stdin).
    pub(crate) fn input(p: &Option<PathBuf>) -> Protected {
        named_file(p).map_or(Protected::Stdin, |p| Protected::Input(p.to_path_buf()))
    }

    /// The output (`None` or `-` is stdout).
    pub(crate) fn output(p: &Option<PathBuf>) -> Protected {
        named_file(p).map_or(Protected::Stdout, |p| Protected::Output(p.to_path_buf()))
    }

    /// How the file is named in messages.
    pub(crate) fn role(&self) -> String {
        match self {
            Protected::Input(p) => format!("input {}", p.display()),
            Protected::Stdin => "input (stdin)".to_owned(),
            Protected::Output(p) => format!("output {}", p.display()),
            Protected::Stdout => "output (stdout)".to_owned(),
            Protected::KeyFile(p) => format!("key file {}", p.display()),
        }
    }
}

/// Device and inode of a file that can be written over. Character devices
/// (terminals, /dev/null) are never "the same file": writing to them twice
/// loses nothing.
fn identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    (!m.file_type().is_char_device()).then(|| (m.dev(), m.ino()))
}

/// Whether `path` names the protected file, under this name or another
/// (a symlink, a hard link, `./x`, or the file a shell redirected stdin or
/// stdout to). For names that do not exist yet, compares the resolved paths.
pub(crate) fn same_file(path: &Path, p: &Protected) -> bool {
    use std::os::fd::AsFd;
    let mine = std::fs::metadata(path).ok().and_then(|m| identity(&m));
    let theirs = match p {
        Protected::Input(q) | Protected::Output(q) | Protected::KeyFile(q) => {
            match (mine, std::fs::metadata(q).ok().and_then(|m| identity(&m))) {
                (Some(a), Some(b)) => return a == b,
                (None, None) => return normalize(path) == normalize(q),
                _ => return false,
            }
        }
        Protected::Stdin => io::stdin().as_fd().try_clone_to_owned(),
        Protected::Stdout => io::stdout().as_fd().try_clone_to_owned(),
    };
    let theirs = theirs
        .ok()
        .and_then(|fd| File::from(fd).metadata().ok())
        .and_then(|m| identity(&m));
    matches!((mine, theirs), (Some(a), Some(b)) if a == b)
}

/// The path a write to `p` lands on: symlinks in the last component are
/// followed (a few levels) and the directory is made canonical.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut cur = p.to_path_buf();
    for _ in 0..8 {
        match std::fs::read_link(&cur) {
            Ok(target) => {
                cur = match cur.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                }
            }
            Err(_) => break,
        }
    }
    let dir = match cur.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match (std::fs::canonicalize(&dir), cur.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => cur,
    }
}
