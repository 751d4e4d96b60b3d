//! SIGINT, SIGTERM and SIGHUP: what an interrupted run cleans up, says and
//! reports. One registry holds everything a signal must reach: partial
//! output files, S3 uploads in progress, a producer command, what the
//! command writes (for the message), and the report's writer. The handler
//! thread removes and aborts what is registered, stops the producer, prints
//! one line, writes the report (`ok: false`, `interrupted`), and exits with
//! 128 + the signal number, so an interrupted run leaves nothing that looks
//! finished and never leaves last night's report in place.

use std::path::{Path, PathBuf};
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

/// Writes the report of an interrupted run: the signal and the message.
pub(crate) type ReportHook = Box<dyn Fn(i32, &str) + Send>;

struct Registry {
    /// Temporary output files (and their destinations) in progress.
    partials: Vec<(PathBuf, PathBuf)>,
    /// S3 uploads in progress, by id.
    uploads: Vec<(u64, envstream_s3::blocking::AbortHandle)>,
    next_upload: u64,
    /// A producer command (`seal -- CMD`) still running.
    producer: Option<u32>,
    produces: Produces,
    report: Option<ReportHook>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    partials: Vec::new(),
    uploads: Vec::new(),
    next_upload: 0,
    producer: None,
    produces: Produces::Unknown,
    report: None,
});

fn registry() -> MutexGuard<'static, Registry> {
    match REGISTRY.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Registers a temporary output file for `dest`.
pub(crate) fn add_partial(tmp: &Path, dest: &Path) {
    registry()
        .partials
        .push((tmp.to_path_buf(), dest.to_path_buf()));
}

/// Forgets a temporary output file (committed or removed).
pub(crate) fn remove_partial(tmp: &Path) {
    registry().partials.retain(|(t, _)| t != tmp);
}

/// Says what the command produces when it is neither a file nor S3.
pub(crate) fn produces(p: Produces) {
    registry().produces = p;
}

/// Registers the writer of the interrupted-run report.
pub(crate) fn on_interrupt(hook: ReportHook) {
    registry().report = Some(hook);
}

/// Registers (or, with `None`, forgets) the producer command's process.
pub(crate) fn producer(pid: Option<u32>) {
    registry().producer = pid;
}

/// Keeps an S3 upload registered with the signal handler while it lives.
pub(crate) struct AbortOnSignal(u64);

impl AbortOnSignal {
    pub(crate) fn new(handle: envstream_s3::blocking::AbortHandle) -> AbortOnSignal {
        let mut r = registry();
        let id = r.next_upload;
        r.next_upload += 1;
        r.uploads.push((id, handle));
        AbortOnSignal(id)
    }
}

impl Drop for AbortOnSignal {
    fn drop(&mut self) {
        registry().uploads.retain(|(id, _)| *id != self.0);
    }
}

fn signal_name(sig: i32) -> &'static str {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The name of a signal, for reports.
pub(crate) fn name(sig: i32) -> &'static str {
    signal_name(sig)
}

/// Starts the handler thread (see the module docs).
pub(crate) fn install() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // Holding the registry keeps a commit from racing the removal.
            let r = registry();
            let mut notes: Vec<String> = Vec::new();
            if let Some(pid) = r.producer {
                crate::source::stop(pid);
                notes.push("the producer command was stopped".to_owned());
            }
            for (tmp, dest) in &r.partials {
                if std::fs::remove_file(tmp).is_ok() {
                    notes.push(format!(
                        "the partial output for {} was removed",
                        dest.display()
                    ));
                }
            }
            for (_, h) in &r.uploads {
                match h.abort() {
                    Ok(true) => {
                        notes.push("the S3 upload was aborted, so no object was created".to_owned())
                    }
                    Ok(false) => {}
                    Err(e) => notes.push(format!("aborting the S3 upload failed: {e}")),
                }
            }
            let wrote_files = !r.partials.is_empty() || !r.uploads.is_empty();
            if !wrote_files {
                notes.push(
                    match r.produces {
                        Produces::Stdout => "the output written to stdout so far is incomplete",
                        Produces::Verdict => "the file was not verified to the end",
                        Produces::Unknown => "nothing was completed",
                    }
                    .to_owned(),
                );
            }
            let line = format!(
                "interrupted by signal {sig} ({}); {}",
                signal_name(sig),
                notes.join("; ")
            );
            eprintln!("envstream: {line}");
            if let Some(report) = &r.report {
                report(sig, &line);
            }
            std::process::exit(128 + sig);
        }
    });
}
