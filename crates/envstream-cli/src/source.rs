//! Where `seal` reads plaintext from: a regular file (checked against its
//! size at open, as tar does, so a file that shrinks while it is sealed is
//! an error and not a short backup), stdin, or a producer command that
//! envstream runs itself (`seal -o OUT -- tar c dir`), whose failure ends
//! the input with an error so that nothing is published.
//!
//! Both checks surface at the end of input, before the final chunk is
//! written: the sealed stream is never finished, so no output file is
//! renamed into place, no S3 upload is completed, and a stream already on
//! stdout stays unfinished and will not open.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

/// Why the input cannot be trusted to be whole (exit 1).
#[derive(Debug)]
pub(crate) enum SourceError {
    /// A regular file ended before the size it had when it was opened.
    Shrank {
        path: PathBuf,
        at_open: u64,
        read: u64,
    },
    /// The producer command failed.
    ProducerFailed { command: String, status: String },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Shrank { path, at_open, read } => write!(
                f,
                "input {} shrank while it was sealed ({at_open} bytes when opened, {read} read): it was changed during the run, so the stream was not finished; seal a copy or a snapshot that does not change",
                path.display()
            ),
            SourceError::ProducerFailed { command, status } => write!(
                f,
                "the producer command `{command}` {status}, so its output is not complete and the stream was not finished"
            ),
        }
    }
}

impl std::error::Error for SourceError {}

/// How the producer command ended, for the report.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProducerStatus {
    pub(crate) command: Vec<String>,
    /// Its exit code, when it exited.
    pub(crate) exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub(crate) signal: Option<i32>,
    /// Whether envstream stopped it (because the run failed first).
    pub(crate) stopped: bool,
    /// Whether it has ended.
    pub(crate) ended: bool,
}

/// The producer status, shared with the report.
pub(crate) type SharedStatus = Arc<Mutex<ProducerStatus>>;

/// A regular file, read to its end and checked against its size at open.
pub(crate) struct SizedFile {
    file: File,
    path: PathBuf,
    at_open: u64,
    read: u64,
}

impl SizedFile {
    /// Counts `n` bytes read into a buffer of `want` bytes; the end of the
    /// file before its size at open is an error.
    fn count(&mut self, n: usize, want: usize) -> io::Result<usize> {
        self.read += n as u64;
        if n == 0 && want > 0 && self.read < self.at_open {
            return Err(io::Error::other(SourceError::Shrank {
                path: self.path.clone(),
                at_open: self.at_open,
                read: self.read,
            }));
        }
        Ok(n)
    }
}

impl Read for SizedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.count(n, buf.len())
    }

    // The engine fills a batch of chunk slots with one vectored read.
    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        let want = bufs.iter().map(|b| b.len()).sum();
        let n = self.file.read_vectored(bufs)?;
        self.count(n, want)
    }
}

/// A producer command's stdout. At its end the command is waited for; a
/// non-zero exit or a signal turns the end into an error.
pub(crate) struct Producer {
    child: Child,
    out: ChildStdout,
    line: String,
    status: SharedStatus,
    ended: bool,
}

impl Producer {
    /// Starts `command` with its stdout piped to envstream (stdin and
    /// stderr are envstream's own).
    pub(crate) fn start(command: &[String]) -> Result<Producer> {
        let (program, args) = command
            .split_first()
            .context("the producer command is empty")?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                crate::error::UsageError(format!(
                    "cannot run the producer command `{program}`: {}; check the command after --",
                    io_reason(&e)
                ))
            })?;
        let Some(out) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("the producer command's output could not be read");
        };
        crate::stdio::grow_pipe_fd(&out);
        crate::signals::producer(Some(child.id()));
        let status = ProducerStatus {
            command: command.to_vec(),
            ..ProducerStatus::default()
        };
        Ok(Producer {
            child,
            out,
            line: command.join(" "),
            status: Arc::new(Mutex::new(status)),
            ended: false,
        })
    }

    /// The status, for the report.
    pub(crate) fn status(&self) -> SharedStatus {
        self.status.clone()
    }

    fn record(&mut self, st: ExitStatus, stopped: bool) {
        use std::os::unix::process::ExitStatusExt;
        crate::signals::producer(None);
        self.ended = true;
        let mut s = match self.status.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        s.exit_code = st.code();
        s.signal = st.signal();
        s.stopped = stopped;
        s.ended = true;
    }
}

impl Producer {
    /// After a read of `n` bytes into `want`: at the end of its output, the
    /// command must also have succeeded.
    fn check(&mut self, n: usize, want: usize) -> io::Result<usize> {
        if n > 0 || want == 0 || self.ended {
            return Ok(n);
        }
        // End of its output: it must also have succeeded.
        let st = self.child.wait()?;
        self.record(st, false);
        if st.success() {
            return Ok(0);
        }
        Err(io::Error::other(SourceError::ProducerFailed {
            command: self.line.clone(),
            status: describe(st),
        }))
    }
}

impl Read for Producer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.out.read(buf)?;
        self.check(n, buf.len())
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        let want = bufs.iter().map(|b| b.len()).sum();
        let n = self.out.read_vectored(bufs)?;
        self.check(n, want)
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if !self.ended {
            // The run failed first: stop the producer and collect it.
            stop(self.child.id());
            if let Ok(st) = self.child.wait() {
                self.record(st, true);
            }
        }
    }
}

/// Sends SIGTERM to a producer process.
pub(crate) fn stop(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

fn describe(st: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "failed".to_owned(),
    }
}

/// An I/O error's reason, without the path (messages name it themselves).
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such program".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// The plaintext input of `seal`.
pub(crate) enum Plaintext {
    File(SizedFile),
    Stdin(File),
    Producer(Producer),
}

impl Plaintext {
    /// A regular file (checked against its size), or another readable
    /// file such as a FIFO or device (read to its end).
    pub(crate) fn file(file: File, path: &Path) -> Plaintext {
        use std::io::Seek;
        match file.metadata() {
            Ok(m) if m.is_file() => {
                // Stdin redirected from a file may start past its beginning.
                let pos = (&file).stream_position().unwrap_or(0);
                Plaintext::File(SizedFile {
                    file,
                    path: path.to_path_buf(),
                    at_open: m.len().saturating_sub(pos),
                    read: 0,
                })
            }
            _ => Plaintext::Stdin(file),
        }
    }
}

impl Read for Plaintext {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Plaintext::File(f) => f.read(buf),
            Plaintext::Stdin(f) => f.read(buf),
            Plaintext::Producer(p) => p.read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Plaintext::File(f) => f.read_vectored(bufs),
            Plaintext::Stdin(f) => f.read_vectored(bufs),
            Plaintext::Producer(p) => p.read_vectored(bufs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shrunk(vectored: bool) -> io::Error {
        let dir = std::env::temp_dir().join(format!(
            "envstream-shrink-{}-{vectored}",
            std::process::id()
        ));
        std::fs::write(&dir, vec![7u8; 100_000]).expect("write");
        let mut input = Plaintext::file(File::open(&dir).expect("open"), &dir);
        let mut first = vec![0u8; 1000];
        input.read_exact(&mut first).expect("the start");
        // Another writer truncates the file while it is read.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&dir)
            .expect("open")
            .set_len(10_000)
            .expect("truncate");
        let mut sink = vec![0u8; 65_536];
        let err = loop {
            let r = if vectored {
                let (a, b) = sink.split_at_mut(4096);
                input.read_vectored(&mut [io::IoSliceMut::new(a), io::IoSliceMut::new(b)])
            } else {
                input.read(&mut sink)
            };
            match r {
                Ok(0) => panic!("the short file read as a whole one"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        let _ = std::fs::remove_file(&dir);
        err
    }

    #[test]
    fn a_file_that_shrinks_while_read_ends_in_an_error_not_a_short_end() {
        for vectored in [false, true] {
            let e = shrunk(vectored);
            let inner = e.get_ref().and_then(|i| i.downcast_ref::<SourceError>());
            assert!(
                matches!(
                    inner,
                    Some(SourceError::Shrank {
                        at_open: 100_000,
                        read: 10_000,
                        ..
                    })
                ),
                "{e}"
            );
        }
    }
}
