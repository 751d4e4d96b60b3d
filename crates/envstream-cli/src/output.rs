//! Where output goes: stdout, a device, an atomically replaced file
//! ([`Sink`]), or an S3 upload; [`Output`] is either, as one `Write` that
//! commits or is abandoned.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::atomic::{note_leftovers, TempFile};
use crate::error::UsageError;
pub(crate) use crate::stdio::{is_stdio, named_file, open_input, open_sealed_input, stdout_file};

/// An output destination. Dropping a `Sink` without [`Sink::commit`]
/// removes any temporary file, so a failed run leaves no output file.
pub(crate) struct Sink {
    file: File,
    atomic: Option<(TempFile, bool)>,
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
        let mut tmp = TempFile::create(&dest, 0o600, true)?;
        let file = tmp
            .file()
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
