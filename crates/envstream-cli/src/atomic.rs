//! Atomic files: a temporary file beside its destination, moved into
//! place only when complete (and never after a signal), removed otherwise;
//! and the note about temporary files a killed run left behind.

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::error::UsageError;

/// A temporary file beside its destination, removed on drop (and, for an
/// output, by the signal handler) unless it was moved into place.
pub(crate) struct TempFile {
    file: File,
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
    /// Registered with the signal handler as a partial output.
    output: bool,
}

impl TempFile {
    /// Creates `.NAME.envstream-partial.PID.NANOS.N` in `dest`'s directory.
    /// An `output` is removed by the signal handler; a report is not (the
    /// handler replaces the report with one that says it was interrupted).
    pub(crate) fn create(dest: &Path, mode: u32, output: bool) -> Result<TempFile> {
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| UsageError(format!("{} has no file name", dest.display())))?
            .to_string_lossy()
            .into_owned();
        let (file, tmp) =
            create_unique(&dir, &format!(".{name}.envstream-partial"), mode, false)
                .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        if output {
            crate::signals::add_partial(&tmp, dest);
        }
        Ok(TempFile {
            file,
            tmp,
            dest: dest.to_path_buf(),
            done: false,
            output,
        })
    }

    /// For an output: the registry, held while the file is moved into
    /// place, unless a signal cancelled the run (then it is not).
    fn commit_guard(&self) -> Result<Option<impl Drop>> {
        if !self.output {
            return Ok(None);
        }
        Ok(Some(crate::signals::commit_guard().with_context(|| {
            format!("{} was not written", self.dest.display())
        })?))
    }

    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Syncs the file and renames it over the destination.
    pub(crate) fn replace(mut self) -> Result<()> {
        self.file.sync_all().context("cannot sync the file")?;
        let _guard = self.commit_guard()?;
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("cannot rename into {}", self.dest.display()))?;
        self.done = true;
        Ok(())
    }

    /// Syncs the file and moves it into place only if the destination
    /// still does not exist.
    pub(crate) fn place_new(mut self) -> Result<()> {
        self.file
            .sync_all()
            .context("cannot sync the output file")?;
        let _guard = self.commit_guard()?;
        // hard_link fails if the destination appeared meanwhile: never clobber.
        match std::fs::hard_link(&self.tmp, &self.dest) {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.tmp);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                bail!(UsageError(format!(
                    "output {} appeared while writing; pass --force to replace it",
                    self.dest.display()
                )))
            }
            Err(_) => {
                // Filesystems without hard links: check, then rename.
                if self.dest.exists() {
                    bail!(UsageError(format!(
                        "output {} already exists; pass --force to replace it",
                        self.dest.display()
                    )));
                }
                std::fs::rename(&self.tmp, &self.dest)
                    .with_context(|| format!("cannot rename into {}", self.dest.display()))?;
            }
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
        if self.output {
            crate::signals::remove_partial(&self.tmp);
        }
    }
}

/// Says so when a killed run (SIGKILL, power loss) left temporary files
/// for `dest` behind: they are incomplete and nothing else removes them.
/// Files of a process that is still running are not mentioned.
pub(crate) fn note_leftovers(dest: &Path) {
    let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(".{name}.envstream-partial.");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.split('.').next().unwrap_or("");
        let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
        if !alive {
            eprintln!(
                "envstream: note: {} is left over from an interrupted earlier run; it is incomplete, delete it",
                dir.join(&file).display()
            );
        }
    }
}

/// A private scratch file for `open --verify-first`: created (mode 0600,
/// never an existing file) in the system's temporary directory and unlinked
/// at once, so that nothing is left behind whatever ends the run.
pub(crate) fn spool_file() -> Result<File> {
    let dir = std::env::temp_dir();
    let (file, path) = create_unique(&dir, ".envstream-spool", 0o600, true).with_context(|| {
        format!(
            "cannot create a scratch file in {} for --verify-first; set TMPDIR to a directory with room for the plaintext",
            dir.display()
        )
    })?;
    std::fs::remove_file(&path)
        .with_context(|| format!("cannot unlink the scratch file {}", path.display()))?;
    Ok(file)
}

/// Creates `PREFIX.PID.NANOS.N` in `dir` with `mode`, never an existing
/// file (the next N on a clash, at most 100 tries); writable, and readable
/// with `read`.
fn create_unique(dir: &Path, prefix: &str, mode: u32, read: bool) -> io::Result<(File, PathBuf)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut attempt = 0u32;
    loop {
        let path = dir.join(format!("{prefix}.{}.{nanos}.{attempt}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(read)
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
        {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}
