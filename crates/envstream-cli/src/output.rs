//! Where output goes: stdout, a device, or an atomically replaced file.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::error::UsageError;

/// An output destination. Dropping a `Sink` without [`Sink::commit`]
/// removes any temporary file, so a failed run leaves no output file.
pub(crate) struct Sink {
    file: File,
    atomic: Option<Atomic>,
}

struct Atomic {
    tmp: PathBuf,
    dest: PathBuf,
    force: bool,
    done: bool,
}

impl Drop for Atomic {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
        unregister(&self.tmp);
    }
}

/// Temporary output files in progress, removed by the signal handler.
static PARTIALS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn register(p: &Path) {
    if let Ok(mut v) = PARTIALS.lock() {
        v.push(p.to_path_buf());
    }
}

fn unregister(p: &Path) {
    if let Ok(mut v) = PARTIALS.lock() {
        v.retain(|x| x != p);
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove every partial output file and exit
/// with 128 + the signal number, so an interrupted run leaves nothing that
/// looks like a finished file.
pub(crate) fn install_signal_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // Holding the lock keeps a commit from racing the removal.
            let held = PARTIALS.lock();
            if let Ok(v) = &held {
                for p in v.iter() {
                    let _ = std::fs::remove_file(p);
                }
            }
            eprintln!("envstream: interrupted by signal {sig}; partial output removed");
            std::process::exit(128 + sig);
        }
    });
}

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
    if is_pipe && rustix::pipe::fcntl_getpipe_size(f).is_ok_and(|n| n < PIPE_SIZE) {
        let _ = rustix::pipe::fcntl_setpipe_size(f, PIPE_SIZE);
    }
}

pub(crate) fn stdout_file() -> Result<File> {
    use std::os::fd::AsFd;
    let fd = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot use stdout")?;
    let f = File::from(fd);
    grow_pipe(&f);
    Ok(f)
}

pub(crate) fn stdin_file() -> Result<File> {
    use std::os::fd::AsFd;
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot use stdin")?;
    let f = File::from(fd);
    grow_pipe(&f);
    Ok(f)
}

pub(crate) fn is_stdio(p: &Option<PathBuf>) -> bool {
    match p {
        None => true,
        Some(p) => p.as_os_str() == "-",
    }
}

/// Opens the input: a file, or stdin for `-`/absent.
pub(crate) fn open_input(p: &Option<PathBuf>) -> Result<File> {
    if is_stdio(p) {
        return stdin_file();
    }
    let p = p.as_deref().unwrap_or(Path::new("-"));
    File::open(p).with_context(|| format!("cannot open input {}", p.display()))
}

impl Sink {
    /// Opens the destination. For a regular-file path, checks `--force` now
    /// and writes to a temporary file in the same directory.
    pub(crate) fn open(output: &Option<PathBuf>, force: bool) -> Result<Sink> {
        if is_stdio(output) {
            return Ok(Sink {
                file: stdout_file()?,
                atomic: None,
            });
        }
        let dest = output.clone().unwrap_or_default();
        match std::fs::metadata(&dest) {
            // Devices and pipes (such as /dev/null) are written directly:
            // there is no file to replace.
            Ok(m)
                if m.file_type().is_char_device()
                    || m.file_type().is_fifo()
                    || m.file_type().is_block_device() =>
            {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&dest)
                    .with_context(|| format!("cannot open output {}", dest.display()))?;
                return Ok(Sink { file, atomic: None });
            }
            Ok(m) if m.is_dir() => {
                return Err(UsageError(format!(
                    "output {} is a directory; name a file",
                    dest.display()
                ))
                .into())
            }
            Ok(_) if !force => {
                return Err(UsageError(format!(
                    "output {} already exists; pass --force to replace it",
                    dest.display()
                ))
                .into())
            }
            _ => {}
        }
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| UsageError(format!("output {} has no file name", dest.display())))?
            .to_string_lossy()
            .into_owned();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut attempt = 0u32;
        loop {
            let tmp = dir.join(format!(
                ".{name}.envstream-partial.{}.{nanos}.{attempt}",
                std::process::id()
            ));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
            {
                Ok(file) => {
                    register(&tmp);
                    return Ok(Sink {
                        file,
                        atomic: Some(Atomic {
                            tmp,
                            dest,
                            force,
                            done: false,
                        }),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot create a temporary file in {}", dir.display())
                    })
                }
            }
        }
    }

    pub(crate) fn writer(&mut self) -> &mut File {
        &mut self.file
    }

    /// Makes the output visible: syncs and renames the temporary file into place.
    pub(crate) fn commit(mut self) -> Result<()> {
        self.file.flush()?;
        let Some(mut a) = self.atomic.take() else {
            return Ok(());
        };
        self.file
            .sync_all()
            .context("cannot sync the output file")?;
        if a.force {
            std::fs::rename(&a.tmp, &a.dest)
                .with_context(|| format!("cannot rename into {}", a.dest.display()))?;
        } else {
            // hard_link fails if the destination appeared meanwhile: never clobber.
            match std::fs::hard_link(&a.tmp, &a.dest) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&a.tmp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    bail!(UsageError(format!(
                        "output {} appeared while writing; pass --force to replace it",
                        a.dest.display()
                    )))
                }
                Err(_) => {
                    // Filesystems without hard links: check, then rename.
                    if a.dest.exists() {
                        bail!(UsageError(format!(
                            "output {} already exists; pass --force to replace it",
                            a.dest.display()
                        )));
                    }
                    std::fs::rename(&a.tmp, &a.dest)
                        .with_context(|| format!("cannot rename into {}", a.dest.display()))?;
                }
            }
        }
        a.done = true;
        Ok(())
    }
}
