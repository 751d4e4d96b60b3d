//! Where output goes: stdout, a device, or an atomically replaced file.

use std::fs::File;
use std::io::IsTerminal;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::error::UsageError;

/// An output destination. Dropping a `Sink` without [`Sink::commit`]
/// removes any temporary file, so a failed run leaves no output file.
pub(crate) struct Sink {
    file: File,
    atomic: Option<(TempFile, bool)>,
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
                .mode(mode)
                .open(&tmp)
            {
                Ok(file) => {
                    if output {
                        crate::signals::add_partial(&tmp, dest);
                    }
                    return Ok(TempFile {
                        file,
                        tmp,
                        dest: dest.to_path_buf(),
                        done: false,
                        output,
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
    fn place_new(mut self) -> Result<()> {
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
fn note_leftovers(dest: &Path) {
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

impl Sink {
    /// Opens the destination. For a regular-file path, checks `--force` now
    /// and writes to a temporary file in the same directory.
    pub(crate) fn open(output: &Option<PathBuf>, force: bool) -> Result<Sink> {
        if is_stdio(output) {
            crate::signals::produces(crate::signals::Produces::Stdout);
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
        if dest.file_name().is_none() {
            return Err(UsageError(format!("output {} has no file name", dest.display())).into());
        }
        note_leftovers(&dest);
        let tmp = TempFile::create(&dest, 0o600, true)?;
        let file = tmp
            .file
            .try_clone()
            .context("cannot use the temporary file")?;
        Ok(Sink {
            file,
            atomic: Some((tmp, force)),
        })
    }

    /// Makes the output visible: syncs and renames the temporary file into place.
    pub(crate) fn commit(mut self) -> Result<()> {
        self.file.flush()?;
        match self.atomic.take() {
            None => Ok(()),
            Some((tmp, true)) => tmp.replace(),
            Some((tmp, false)) => tmp.place_new(),
        }
    }
}

/// Where sealed output goes: a local destination, or an S3 object written
/// by a multipart upload (registered with the signal handler, which aborts
/// it, until it is complete).
pub(crate) enum Output {
    File(Sink),
    S3(
        Box<envstream_s3::blocking::Upload>,
        Option<crate::signals::AbortOnSignal>,
    ),
}

impl Output {
    /// An S3 output, aborted by a signal until it is complete.
    pub(crate) fn s3(upload: envstream_s3::blocking::Upload) -> Output {
        let registered = upload
            .abort_handle()
            .map(crate::signals::AbortOnSignal::new);
        Output::S3(Box::new(upload), registered)
    }

    /// Makes the output visible: renames the file into place, or completes
    /// the upload (which creates the object). A failed upload is aborted.
    pub(crate) fn commit(self) -> Result<()> {
        match self {
            Output::File(sink) => sink.commit(),
            Output::S3(upload, _registered) => {
                upload.finish()?;
                Ok(())
            }
        }
    }

    /// Gives the output up after `err`: the temporary file is removed, the
    /// upload aborted. When aborting fails too, the error says so and names
    /// the upload left behind.
    pub(crate) fn abandon(self, err: anyhow::Error) -> anyhow::Error {
        match self {
            Output::File(_) => err,
            Output::S3(upload, _registered) => match upload.abort() {
                Ok(_) => err,
                Err(abort) => crate::error::Abandoned::error(err, abort),
            },
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::File(sink) => sink.file.write(buf),
            Output::S3(upload, _) => upload.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Output::File(sink) => sink.file.write_vectored(bufs),
            Output::S3(upload, _) => upload.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::File(sink) => sink.file.flush(),
            Output::S3(upload, _) => upload.flush(),
        }
    }
}
