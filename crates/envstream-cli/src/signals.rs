//! SIGINT, SIGTERM and SIGHUP. A signal sets a cancellation that the
//! engine's reads and writes and the sinks observe, and `main` decides
//! what happens, in one place ([`interrupt`]): the command runs on a worker
//! thread, so `main` can act even while the command is blocked on a pipe.
//!
//! One registry holds everything a signal must reach: the cancellation,
//! partial output files, S3 uploads in progress, a producer command, and
//! what the command writes (for the message). [`interrupt`] removes and
//! aborts what is registered, stops the producer, and returns the one line
//! to print; `main` writes the report (`ok: false`, `interrupted`) and
//! exits with 128 + the signal number. A commit takes the registry first
//! and refuses after a cancellation, so an interrupted run never publishes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// What the running command produces, for the message of an interrupted run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Produces {
    /// Nothing yet known.
    Unknown,
    /// Bytes on stdout, which cannot be taken back.
    Stdout,
    /// A verdict only (`verify`).
    Verdict,
}

struct State {
    /// Temporary output files (and their destinations) in progress.
    partials: Vec<(PathBuf, PathBuf)>,
    /// S3 uploads in progress, by id.
    uploads: Vec<(u64, envstream_s3::blocking::AbortHandle)>,
    next_upload: u64,
    /// A producer command (`seal -- CMD`) still running.
    producer: Option<u32>,
    produces: Produces,
}

/// The one registry (the only process-wide mutable state).
struct Registry {
    cancelled: AtomicBool,
    state: Mutex<State>,
}

static REGISTRY: Registry = Registry {
    cancelled: AtomicBool::new(false),
    state: Mutex::new(State {
        partials: Vec::new(),
        uploads: Vec::new(),
        next_upload: 0,
        producer: None,
        produces: Produces::Unknown,
    }),
};

fn state() -> MutexGuard<'static, State> {
    match REGISTRY.state.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Whether a signal cancelled the run.
pub(crate) fn cancelled() -> bool {
    REGISTRY.cancelled.load(Ordering::Relaxed)
}

/// The error a cancelled read or write returns.
pub(crate) fn cancelled_error() -> std::io::Error {
    std::io::Error::other("interrupted by a signal")
}

/// Holds the registry while an output is made visible (a rename), unless
/// the run was cancelled: then nothing may be published.
pub(crate) fn commit_guard() -> std::io::Result<impl Drop> {
    let guard = state();
    if cancelled() {
        return Err(cancelled_error());
    }
    Ok(guard)
}

/// Registers a temporary output file for `dest`.
pub(crate) fn add_partial(tmp: &Path, dest: &Path) {
    state()
        .partials
        .push((tmp.to_path_buf(), dest.to_path_buf()));
}

/// Forgets a temporary output file (committed or removed).
pub(crate) fn remove_partial(tmp: &Path) {
    state().partials.retain(|(t, _)| t != tmp);
}

/// Says what the command produces when it is neither a file nor S3.
pub(crate) fn produces(p: Produces) {
    state().produces = p;
}

/// Registers (or, with `None`, forgets) the producer command's process.
pub(crate) fn producer(pid: Option<u32>) {
    state().producer = pid;
}

/// Keeps an S3 upload registered while it lives.
pub(crate) struct AbortOnSignal(u64);

impl AbortOnSignal {
    pub(crate) fn new(handle: envstream_s3::blocking::AbortHandle) -> AbortOnSignal {
        let mut s = state();
        let id = s.next_upload;
        s.next_upload += 1;
        s.uploads.push((id, handle));
        AbortOnSignal(id)
    }
}

impl Drop for AbortOnSignal {
    fn drop(&mut self) {
        state().uploads.retain(|(id, _)| *id != self.0);
    }
}

/// The name of a signal, for messages and reports.
pub(crate) fn name(sig: i32) -> &'static str {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Calls `on_signal` (on a thread of its own) for each SIGINT, SIGTERM or
/// SIGHUP.
pub(crate) fn forward(on_signal: impl Fn(i32) + Send + 'static) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            on_signal(sig);
        }
    });
}

/// Cancels the run after signal `sig`: stops the producer, removes the
/// partial output files, aborts the S3 uploads, and returns the line that
/// says exactly what was done.
pub(crate) fn interrupt(sig: i32) -> String {
    REGISTRY.cancelled.store(true, Ordering::Relaxed);
    // Holding the registry keeps a commit from racing the removal.
    let s = state();
    let mut notes: Vec<String> = Vec::new();
    if let Some(pid) = s.producer {
        crate::source::stop(pid);
        notes.push("the producer command was stopped".to_owned());
    }
    for (tmp, dest) in &s.partials {
        if std::fs::remove_file(tmp).is_ok() {
            notes.push(format!(
                "the partial output for {} was removed",
                dest.display()
            ));
        }
    }
    for (_, h) in &s.uploads {
        match h.abort() {
            Ok(true) => {
                notes.push("the S3 upload was aborted, so no object was created".to_owned())
            }
            Ok(false) => {}
            Err(e) => notes.push(format!("aborting the S3 upload failed: {e}")),
        }
    }
    if s.partials.is_empty() && s.uploads.is_empty() {
        notes.push(
            match s.produces {
                Produces::Stdout => "the output written to stdout so far is incomplete",
                Produces::Verdict => "the file was not verified to the end",
                Produces::Unknown => "nothing was completed",
            }
            .to_owned(),
        );
    }
    format!(
        "interrupted by signal {sig} ({}); {}",
        name(sig),
        notes.join("; ")
    )
}
