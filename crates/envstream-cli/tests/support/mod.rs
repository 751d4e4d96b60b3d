//! Helpers shared by the CLI integration tests: run the real binary.
#![allow(dead_code, unreachable_pub)]

pub mod lab;
pub mod proxy;
pub mod setup;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_envstream");

/// A command for the binary in `dir`, without $ENVSTREAM_KEY_FILE.
pub fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).env_remove("ENVSTREAM_KEY_FILE");
    c
}

/// Runs with no stdin and captures the output.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    cmd(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn")
}

/// Runs with `input` on stdin (fed from a thread, so large inputs cannot deadlock).
pub fn run_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut c = cmd(dir);
    c.args(args);
    feed(c, input)
}

/// Runs `c` with `input` on stdin, fed from a thread, and captures the output.
pub fn feed(mut c: Command, input: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    feeder.join().expect("feeder thread");
    out
}

/// The binary in `dir` for the AWS tests: a clean environment with dummy
/// credentials and region, no instance metadata and no AWS files (HOME is
/// `dir`), stdin null. The caller adds the endpoint.
pub fn aws_cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .stdin(Stdio::null());
    c
}

/// The exit code; -1 if the process died from a signal.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Deterministic pseudo-random bytes (xorshift), different for each seed.
pub fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Runs `jobs` on a few threads: runs of the binary that mostly wait on
/// the network (timeouts, retries), not on the CPU.
pub fn run_all<T: Send>(jobs: Vec<T>, threads: usize, f: impl Fn(T) + Sync) {
    let queue = std::sync::Mutex::new(jobs);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some(job) = queue.lock().expect("queue").pop() else {
                    return;
                };
                f(job);
            });
        }
    });
}
