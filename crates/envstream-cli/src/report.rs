//! Progress bar on stderr and the final JSON report (`--report`).
//!
//! The report file is checked before any work starts: it must not be the
//! input, the output or a key file (under any name), and its directory must
//! take a new file. It is written to a temporary file and renamed into
//! place, so a reader never sees half a report. An existing report is
//! replaced without `--force`: a report is a log of the last run (a nightly
//! job writes the same `--report last.json`), never data.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::atomic::TempFile;
use crate::cli::UiArgs;
use crate::error::UsageError;
use crate::paths::{normalize, same_file, Protected};

/// A shared byte counter.
pub(crate) type Counter = Arc<AtomicU64>;

/// Where the report goes.
enum Dest {
    /// `--report -`: stderr.
    Stderr,
    /// A device or FIFO, written directly.
    Direct(PathBuf),
    /// A regular file: a temporary file beside it, renamed at the end.
    Atomic(TempFile),
}

/// What the report says, shared with the signal handler so that an
/// interrupted run still writes one.
struct Fields {
    operation: &'static str,
    started: Instant,
    dest: Option<Dest>,
    bytes_in: Counter,
    bytes_out: Counter,
    chunk_size: Option<u32>,
    context: Option<serde_json::Value>,
    key_ids: Vec<String>,
    chunks: Option<u64>,
    backend: Option<&'static str>,
    /// The S3 client of the run, whose counters the report shows.
    s3: Option<Arc<envstream_s3::blocking::S3Client>>,
    leftover: Option<serde_json::Value>,
    producer: Option<crate::source::SharedStatus>,
    /// A signed stream's signer, and what became of its signature.
    signer: Option<serde_json::Value>,
    signature: Option<&'static str>,
}

/// How a run ended.
pub(crate) struct Outcome<'a> {
    pub(crate) exit_code: u8,
    pub(crate) error: Option<&'a str>,
    /// The signal that interrupted the run.
    pub(crate) signal: Option<i32>,
}

impl Fields {
    fn json(&self, outcome: &Outcome<'_>) -> serde_json::Value {
        let s3 = self.s3.as_ref().map(|c| {
            let t = c.stats();
            serde_json::json!({
                "requests": t.requests,
                "bytes_down": t.bytes_down,
                "bytes_up": t.bytes_up,
                "bytes_copied_in_s3": t.bytes_copied,
                "leftover_upload": self.leftover,
                "region": c.region(),
                "bucket_regions": c.bucket_regions().into_iter()
                    .map(|(b, r)| (b, serde_json::Value::from(r)))
                    .collect::<serde_json::Map<_, _>>(),
            })
        });
        let producer = self.producer.as_ref().map(|p| {
            let p = match p.lock() {
                Ok(g) => g.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            serde_json::json!({
                "command": p.command,
                "ended": p.ended,
                "exit_code": p.exit_code,
                "signal": p.signal,
                "stopped_by_envstream": p.stopped,
            })
        });
        serde_json::json!({
            "operation": self.operation,
            "bytes_in": self.bytes_in.load(Ordering::Relaxed),
            "bytes_out": self.bytes_out.load(Ordering::Relaxed),
            "chunks": self.chunks,
            "chunk_size": self.chunk_size,
            "key_ids": self.key_ids,
            "context": self.context,
            "backend": self.backend,
            "fips": fips_json(),
            "s3": s3,
            "producer": producer,
            "signer": self.signer,
            "signature": self.signature,
            "duration_ms": self.started.elapsed().as_millis() as u64,
            "outcome": {
                "ok": outcome.exit_code == 0,
                "exit_code": outcome.exit_code,
                "error": outcome.error,
                "interrupted": outcome.signal.map(crate::signals::name),
            },
        })
    }

    /// Writes the report once (later calls find no destination).
    fn write(&mut self, outcome: &Outcome<'_>) -> Result<()> {
        let Some(dest) = self.dest.take() else {
            return Ok(());
        };
        let text = format!("{}\n", self.json(outcome));
        match dest {
            Dest::Stderr => std::io::stderr()
                .write_all(text.as_bytes())
                .context("cannot write the report to stderr"),
            Dest::Direct(p) => std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .and_then(|mut f: File| f.write_all(text.as_bytes()))
                .with_context(|| format!("cannot write the report {}", p.display())),
            Dest::Atomic(mut tmp) => {
                let dest = tmp.dest().to_path_buf();
                tmp.file()
                    .write_all(text.as_bytes())
                    .map_err(anyhow::Error::from)
                    .and_then(|()| tmp.replace())
                    .with_context(|| format!("cannot write the report {}", dest.display()))
            }
        }
    }
}

/// Writes the report of an interrupted run ([`Report::handle`]).
pub(crate) struct ReportHandle(Arc<Mutex<Fields>>);

impl ReportHandle {
    /// Writes the report with `ok: false`, `interrupted` and exit code 128
    /// + `sig`, unless the run already wrote it.
    pub(crate) fn interrupted(&self, sig: i32, line: &str) -> Result<()> {
        lock(&self.0).write(&Outcome {
            exit_code: u8::try_from(128 + sig).unwrap_or(u8::MAX),
            error: Some(line),
            signal: Some(sig),
        })
    }
}

/// What one command did, for the progress bar and the report.
pub(crate) struct Report {
    fields: Arc<Mutex<Fields>>,
    operation: &'static str,
    show_progress: bool,
    bar: Option<ProgressBar>,
    bytes_in: Counter,
    bytes_out: Counter,
}

fn lock(f: &Mutex<Fields>) -> MutexGuard<'_, Fields> {
    match f.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Report {
    /// Sets up progress and the report. `protected` lists the files the
    /// command reads or writes; the report may be none of them. A report
    /// is registered with the signal handler, which writes it for an
    /// interrupted run.
    pub(crate) fn new(
        operation: &'static str,
        ui: Option<&UiArgs>,
        protected: &[Protected],
    ) -> Result<Report> {
        let show_progress = match ui {
            Some(u) if u.progress => true,
            Some(u) if u.quiet => false,
            Some(_) => std::io::stderr().is_terminal(),
            None => false,
        };
        let dest = match ui.and_then(|u| u.report.as_deref()) {
            None => None,
            Some(p) => Some(Self::prepare(p, protected)?),
        };
        let (bytes_in, bytes_out) = (Counter::default(), Counter::default());
        let fields = Arc::new(Mutex::new(Fields {
            operation,
            started: Instant::now(),
            dest,
            bytes_in: bytes_in.clone(),
            bytes_out: bytes_out.clone(),
            chunk_size: None,
            context: None,
            key_ids: Vec::new(),
            chunks: None,
            backend: None,
            s3: None,
            leftover: None,
            producer: None,
            signer: None,
            signature: None,
        }));
        Ok(Report {
            fields,
            operation,
            show_progress,
            bar: None,
            bytes_in,
            bytes_out,
        })
    }

    /// Checks the report path and proves it can be written, before any work.
    fn prepare(path: &Path, protected: &[Protected]) -> Result<Dest> {
        if path.as_os_str() == "-" {
            return Ok(Dest::Stderr);
        }
        if let Some(s) = path.to_str().filter(|s| crate::s3::looks_like_s3(s)) {
            return Err(UsageError(format!(
                "--report {s} names S3, but reports are written locally; name a local file (and upload it afterwards if needed)"
            ))
            .into());
        }
        for p in protected {
            if same_file(path, p) {
                return Err(UsageError(format!(
                    "--report {} is the same file as the {}; name a different report file",
                    path.display(),
                    p.role()
                ))
                .into());
            }
        }
        let target = normalize(path);
        match std::fs::metadata(&target) {
            Ok(m) if m.is_dir() => Err(UsageError(format!(
                "--report {} is a directory; name a file",
                path.display()
            ))
            .into()),
            Ok(m) if m.file_type().is_char_device() || m.file_type().is_fifo() => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&target)
                    .with_context(|| format!("cannot open the report {}", path.display()))?;
                Ok(Dest::Direct(target))
            }
            _ => {
                let tmp = TempFile::create(&target, 0o644, false)
                    .with_context(|| format!("cannot write the report {}", path.display()))?;
                Ok(Dest::Atomic(tmp))
            }
        }
    }

    /// A handle that writes this report for an interrupted run, from
    /// another thread (`main`, while the command's thread is blocked).
    pub(crate) fn handle(&self) -> ReportHandle {
        ReportHandle(self.fields.clone())
    }

    /// Records the backend that ran.
    pub(crate) fn backend(&mut self, backend: envstream::Backend) {
        lock(&self.fields).backend = Some(backend.name());
    }

    /// Removes the progress bar from the terminal (before printing a summary).
    pub(crate) fn clear_progress(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Wraps the input so that bytes read are counted (and shown).
    pub(crate) fn count_input<R: Read>(
        &mut self,
        inner: R,
        size: Option<u64>,
        label: &str,
    ) -> Counting<R> {
        if self.show_progress {
            let target = if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                // --progress: draw even though stderr is not a terminal.
                ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
            };
            let bar = match size {
                Some(n) => ProgressBar::with_draw_target(Some(n), target).with_style(
                    ProgressStyle::with_template(
                        "{msg} {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
                None => ProgressBar::with_draw_target(None, target).with_style(
                    ProgressStyle::with_template("{msg} {spinner} {binary_bytes} {binary_bytes_per_sec}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_message(self.operation);
            self.bar = Some(bar);
        }
        Counting {
            inner,
            count: self.bytes_in.clone(),
            bar: self.bar.clone(),
            what: format!("cannot read {label}"),
        }
    }

    /// Wraps the output so that bytes written are counted.
    pub(crate) fn count_output<W: Write>(&self, inner: W, label: &str) -> Counting<W> {
        Counting {
            inner,
            count: self.bytes_out.clone(),
            bar: None,
            what: format!("cannot write {label}"),
        }
    }

    /// Records what the header says. `key_ids` are `provider/key id`, the
    /// form `--remove-key` takes.
    pub(crate) fn header(&mut self, h: &envstream::Header, key_ids: Vec<String>) {
        let mut f = lock(&self.fields);
        f.chunk_size = Some(h.chunk_size());
        f.context = Some(context_json(h));
        f.key_ids = key_ids;
        f.signer = h.signer().map(|s| {
            serde_json::json!({
                "algorithm": s.algorithm().name(),
                "fingerprint": s.fingerprint(),
            })
        });
    }

    /// What became of a signed stream's signature: `written`,
    /// `verified`, or `not checked` (a range: the AEAD alone); a failure
    /// sets it in [`Report::finish`].
    pub(crate) fn signature(&mut self, what: &'static str) {
        lock(&self.fields).signature = Some(what);
    }

    /// Counts output bytes written outside the counting writer.
    pub(crate) fn add_output(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts input bytes read outside the counting reader.
    pub(crate) fn add_input(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the input count: a server-side rekey consumes the whole sealed
    /// input, though only its header was read here.
    pub(crate) fn set_input(&self, n: u64) {
        self.bytes_in.store(n, Ordering::Relaxed);
    }

    /// Records the S3 client of the run: the report shows its requests
    /// and bytes whenever the run used S3, on failure too.
    pub(crate) fn s3(&mut self, client: &Arc<envstream_s3::blocking::S3Client>) {
        lock(&self.fields).s3 = Some(client.clone());
    }

    /// Records the producer command's status (updated as it ends).
    pub(crate) fn producer(&mut self, status: crate::source::SharedStatus) {
        lock(&self.fields).producer = Some(status);
    }

    pub(crate) fn stats(&mut self, chunks: u64) {
        lock(&self.fields).chunks = Some(chunks);
    }

    /// Ends the progress bar and writes the report, if one was asked for.
    /// `err` is the run's failure: an S3 upload it left behind is named.
    /// An error means the report could not be written.
    pub(crate) fn finish(
        &mut self,
        exit_code: u8,
        message: Option<&str>,
        err: Option<&anyhow::Error>,
    ) -> Result<()> {
        self.clear_progress();
        let mut f = lock(&self.fields);
        if exit_code == 0 {
            // Said once, at the end, so that a failure stays one line.
            for (bucket, region) in f.s3.iter().flat_map(|c| c.bucket_regions()) {
                eprintln!(
                    "envstream: note: bucket {bucket} is in {region} (S3 said so): its requests went there"
                );
            }
        }
        if let Some(what) = err.and_then(signature_failure) {
            f.signature = Some(what);
        }
        if let Some(l) = err.and_then(crate::error::leftover_upload) {
            f.leftover = Some(serde_json::json!({
                "bucket": l.bucket,
                "key": l.key,
                "upload_id": l.upload_id,
                "cleanup": l.cleanup_command(),
            }));
        }
        f.write(&Outcome {
            exit_code,
            error: message,
            signal: None,
        })
    }
}

/// What a failure says of the writer's signature, for the report's
/// `signature` field: `missing`, `body mismatch`, `invalid`, `not signed`
/// or `wrong signer`; `None` for any other failure.
fn signature_failure(err: &anyhow::Error) -> Option<&'static str> {
    use envstream::{Error, IntegrityError, KeyError};
    match crate::error::find::<Error>(err)? {
        Error::Integrity(IntegrityError::SignatureMissing) => Some("missing"),
        Error::Integrity(IntegrityError::BodyDigestMismatch) => Some("body mismatch"),
        Error::Integrity(IntegrityError::SignatureInvalid) => Some("invalid"),
        Error::Key(KeyError::NotSigned) => Some("not signed"),
        Error::Key(KeyError::WrongSigner { .. }) => Some("wrong signer"),
        _ => None,
    }
}

/// A header's encryption context as a JSON object (reports and `inspect --json`).
pub(crate) fn context_json(h: &envstream::Header) -> serde_json::Value {
    serde_json::Value::Object(
        h.context()
            .iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
            .collect(),
    )
}

/// A reader or writer that counts bytes (and advances the progress bar).
/// Its I/O errors name the file ("cannot write output b.envs: No space
/// left on device") and keep their kind.
pub(crate) struct Counting<T> {
    inner: T,
    count: Counter,
    bar: Option<ProgressBar>,
    what: String,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if crate::signals::cancelled() {
            return Err(crate::signals::cancelled_error());
        }
        let n = self.inner.read(buf).map_err(|e| self.name(e))?;
        self.add(n);
        Ok(n)
    }

    fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
        if crate::signals::cancelled() {
            return Err(crate::signals::cancelled_error());
        }
        let n = self.inner.read_vectored(bufs).map_err(|e| self.name(e))?;
        self.add(n);
        Ok(n)
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if crate::signals::cancelled() {
            return Err(crate::signals::cancelled_error());
        }
        let n = self.inner.write(buf).map_err(|e| self.name(e))?;
        self.add(n);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        if crate::signals::cancelled() {
            return Err(crate::signals::cancelled_error());
        }
        let n = self.inner.write_vectored(bufs).map_err(|e| self.name(e))?;
        self.add(n);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.name(e))
    }
}

impl<T: std::io::Seek> std::io::Seek for Counting<T> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos).map_err(|e| self.name(e))
    }
}

impl<T> Counting<T> {
    fn add(&mut self, n: usize) {
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
    }

    /// Names the file in an I/O error, keeping the error it carries (an
    /// S3 or envstream error decides the exit code); an interrupted call
    /// stays as it is (std retries those).
    fn name(&self, e: std::io::Error) -> std::io::Error {
        if e.kind() == std::io::ErrorKind::Interrupted {
            return e;
        }
        std::io::Error::new(
            e.kind(),
            Named {
                what: self.what.clone(),
                inner: e,
            },
        )
    }
}

/// An I/O error with the file it happened on.
#[derive(Debug)]
struct Named {
    what: String,
    inner: std::io::Error,
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.inner)
    }
}

impl std::error::Error for Named {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner)
    }
}

/// Where the cryptography ran: the FIPS build and mode, the AWS-LC linked,
/// and whether the TLS of AWS requests used the FIPS provider.
fn fips_json() -> serde_json::Value {
    let st = envstream::fips_status();
    serde_json::json!({
        "fips_build": st.fips_build,
        "fips_mode": st.fips_mode,
        "module": st.module,
        "tls_fips_provider": envstream_aws::fips_tls(),
    })
}
