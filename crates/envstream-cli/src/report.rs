//! Progress bar on stderr and the final JSON report (`--report`).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::UiArgs;

/// A shared byte counter.
pub(crate) type Counter = Arc<AtomicU64>;

/// What one command did, for the progress bar and the report.
pub(crate) struct Report {
    operation: &'static str,
    started: Instant,
    path: Option<PathBuf>,
    show_progress: bool,
    bar: Option<ProgressBar>,
    bytes_in: Counter,
    bytes_out: Counter,
    chunk_size: Option<u32>,
    context: Option<serde_json::Value>,
    key_ids: Vec<String>,
    chunks: Option<u64>,
}

impl Report {
    pub(crate) fn new(operation: &'static str, ui: Option<&UiArgs>) -> Report {
        let show_progress = match ui {
            Some(u) if u.progress => true,
            Some(u) if u.quiet => false,
            Some(_) => std::io::stderr().is_terminal(),
            None => false,
        };
        Report {
            operation,
            started: Instant::now(),
            path: ui.and_then(|u| u.report.clone()),
            show_progress,
            bar: None,
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            chunk_size: None,
            context: None,
            key_ids: Vec::new(),
            chunks: None,
        }
    }

    /// Wraps the input so that bytes read are counted (and shown).
    pub(crate) fn count_input<R: Read>(&mut self, inner: R, size: Option<u64>) -> Counting<R> {
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
        }
    }

    /// Wraps the output so that bytes written are counted.
    pub(crate) fn count_output<W: Write>(&self, inner: W) -> Counting<W> {
        Counting {
            inner,
            count: self.bytes_out.clone(),
            bar: None,
        }
    }

    /// Records what the header says.
    pub(crate) fn header(&mut self, h: &envstream::Header, key_ids: Vec<String>) {
        self.chunk_size = Some(h.chunk_size());
        let ctx: serde_json::Map<String, serde_json::Value> = h
            .context()
            .iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
            .collect();
        self.context = Some(serde_json::Value::Object(ctx));
        self.key_ids = key_ids;
    }

    pub(crate) fn stats(&mut self, chunks: u64) {
        self.chunks = Some(chunks);
    }

    /// Ends the progress bar and writes the report, if one was asked for.
    /// Failing to write the report is itself reported on stderr.
    pub(crate) fn finish(&mut self, exit_code: u8, error: Option<String>) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let Some(path) = self.path.clone() else {
            return;
        };
        let value = serde_json::json!({
            "operation": self.operation,
            "bytes_in": self.bytes_in.load(Ordering::Relaxed),
            "bytes_out": self.bytes_out.load(Ordering::Relaxed),
            "chunks": self.chunks,
            "chunk_size": self.chunk_size,
            "key_ids": self.key_ids,
            "context": self.context,
            "duration_ms": self.started.elapsed().as_millis() as u64,
            "outcome": {
                "ok": exit_code == 0,
                "exit_code": exit_code,
                "error": error,
            },
        });
        let text = format!("{value}\n");
        let written = if path.as_os_str() == "-" {
            std::io::stderr().write_all(text.as_bytes())
        } else {
            std::fs::write(&path, text.as_bytes())
        };
        if let Err(e) = written {
            eprintln!(
                "envstream: error: cannot write the report to {}: {e}",
                path.display()
            );
        }
    }
}

/// A reader or writer that counts bytes (and advances the progress bar).
pub(crate) struct Counting<T> {
    inner: T,
    count: Counter,
    bar: Option<ProgressBar>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.add(n);
        Ok(n)
    }

    fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
        let n = self.inner.read_vectored(bufs)?;
        self.add(n);
        Ok(n)
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.add(n);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let n = self.inner.write_vectored(bufs)?;
        self.add(n);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<T: std::io::Seek> std::io::Seek for Counting<T> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<T> Counting<T> {
    fn add(&mut self, n: usize) {
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
    }
}
