//! Operator-safety regressions (issue 10), each through the real binary.
//! The test names carry the item number of the issue. The KMS items
//! (5–8, and the KMS parts of 10, 11 and 13) are in `kms.rs`, which has
//! the moto-backed fault proxy; the exit-code table is in `exit_codes.rs`.

mod support;

use support::*;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + i / 509) as u8).collect()
}

/// A directory with a key file `k.key`, a plaintext `p` and its sealed `c`.
struct Fx {
    dir: tempfile::TempDir,
}

impl Fx {
    fn new(plain_len: usize) -> Fx {
        let fx = Fx {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        assert_eq!(code(&run(fx.path(), &["keygen", "-o", "k.key"])), 0);
        fx.write("p", &data(plain_len));
        let o = run(fx.path(), &["seal", "--key-file", "k.key", "-o", "c", "p"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        fx
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.p(name), bytes).expect("write");
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.p(name)).expect("read")
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        run(self.path(), args)
    }
    /// Runs a bash script in the directory, with `$E` the binary.
    fn bash(&self, script: &str) -> std::process::Output {
        Command::new("bash")
            .args(["-c", script])
            .env("E", BIN)
            .env_remove("ENVSTREAM_KEY_FILE")
            .current_dir(self.path())
            .stdin(Stdio::null())
            .output()
            .expect("bash")
    }
    fn partials(&self) -> Vec<String> {
        std::fs::read_dir(self.path())
            .expect("readdir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("envstream-partial"))
            .collect()
    }
}

fn one_line(o: &std::process::Output) -> String {
    let e = stderr(o);
    assert_eq!(e.lines().count(), 1, "one line on stderr: {e:?}");
    e
}

fn json(text: &[u8]) -> serde_json::Value {
    serde_json::from_slice(text).expect("report is JSON")
}

// ---- 1. --report never overwrites the input, the output or a key file ----

#[test]
fn item01_report_onto_output_input_or_key_file_is_refused_before_any_work() {
    let fx = Fx::new(10_000);
    let key_before = fx.read("k.key");
    std::os::unix::fs::symlink("k.key", fx.p("key-link")).expect("symlink");
    std::fs::hard_link(fx.p("p"), fx.p("p-hard")).expect("hard link");
    // The issue's repro: the same path for -o and --report.
    let o = run_stdin(
        fx.path(),
        &[
            "seal",
            "--key-file",
            "k.key",
            "--report",
            "same.out",
            "-o",
            "same.out",
        ],
        b"hi",
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(one_line(&o).contains("same file as the output"));
    assert!(!fx.p("same.out").exists(), "nothing was written");
    // Other names for the same files: ./, a symlink, a hard link.
    for args in [
        vec![
            "seal",
            "--key-file",
            "k.key",
            "--report",
            "./out2",
            "-o",
            "out2",
            "p",
        ],
        vec![
            "seal",
            "--key-file",
            "k.key",
            "--report",
            "key-link",
            "-o",
            "o3",
            "p",
        ],
        vec![
            "seal",
            "--key-file",
            "k.key",
            "--report",
            "k.key",
            "-o",
            "o3",
            "p",
        ],
        vec![
            "seal",
            "--key-file",
            "k.key",
            "--report",
            "p-hard",
            "-o",
            "o3",
            "p",
        ],
        vec![
            "open",
            "--key-file",
            "k.key",
            "--report",
            "c",
            "-o",
            "o3",
            "c",
        ],
        vec!["verify", "--key-file", "key-link", "--report", "k.key", "c"],
        vec![
            "rekey",
            "--key-file",
            "k.key",
            "--add-key-file",
            "k.key",
            "--report",
            "c",
            "-o",
            "o3",
            "c",
        ],
    ] {
        let o = fx.run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("same file as the"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(!fx.p("out2").exists() && !fx.p("o3").exists(), "{args:?}");
    }
    // The file a shell redirected stdout or stdin to.
    let o = fx.bash("$E seal --key-file k.key --report r.out p > r.out; echo rc=$?");
    assert!(stdout(&o).contains("rc=2"), "{}", stderr(&o));
    let o = fx.bash("$E open --key-file k.key --report c < c > /dev/null; echo rc=$?");
    assert!(stdout(&o).contains("rc=2"), "{}", stderr(&o));
    assert_eq!(fx.read("k.key"), key_before, "the key file is untouched");
    assert_eq!(fx.read("p"), data(10_000), "the input is untouched");
    let o = fx.run(&["open", "--key-file", "k.key", "c"]);
    assert_eq!(o.stdout, data(10_000), "the sealed file is untouched");
    assert!(fx.partials().is_empty(), "{:?}", fx.partials());
}

#[test]
fn item01_output_onto_input_or_key_file_is_refused_even_with_force() {
    let fx = Fx::new(10_000);
    let key_before = fx.read("k.key");
    for args in [
        vec!["seal", "--key-file", "k.key", "--force", "-o", "p", "p"],
        vec!["seal", "--key-file", "k.key", "--force", "-o", "k.key", "p"],
        vec!["open", "--key-file", "k.key", "--force", "-o", "c", "c"],
        vec![
            "rekey",
            "--key-file",
            "k.key",
            "--add-key-file",
            "k.key",
            "--force",
            "-o",
            "c",
            "c",
        ],
    ] {
        let o = fx.run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(one_line(&o).contains("same file as the"), "{args:?}");
    }
    assert_eq!(fx.read("k.key"), key_before);
    assert_eq!(fx.read("p"), data(10_000));
}

#[test]
fn item01_report_is_written_atomically_and_replaced_on_each_run() {
    let fx = Fx::new(10_000);
    fx.write("last.json", b"yesterday's report\n");
    for _ in 0..2 {
        let o = fx.run(&[
            "verify",
            "--key-file",
            "k.key",
            "--report",
            "last.json",
            "c",
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let r = json(&fx.read("last.json"));
        assert_eq!(r["operation"], "verify");
        assert_eq!(r["outcome"]["ok"], true);
    }
    // Through a symlink, the target is replaced and the link stays.
    std::os::unix::fs::symlink("last.json", fx.p("link.json")).expect("symlink");
    let o = fx.run(&[
        "verify",
        "--key-file",
        "k.key",
        "--report",
        "link.json",
        "c",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(fx.p("link.json"))
        .expect("meta")
        .file_type()
        .is_symlink());
    assert!(fx.partials().is_empty(), "{:?}", fx.partials());
    // A directory is not a report file.
    std::fs::create_dir(fx.p("rdir")).expect("mkdir");
    let o = fx.run(&["verify", "--key-file", "k.key", "--report", "rdir", "c"]);
    assert_eq!(code(&o), 2);
}

// ---- 2. A report that cannot be written fails the run ----

#[test]
fn item02_unwritable_report_fails_before_any_work() {
    let fx = Fx::new(10_000);
    let o = fx.run(&[
        "seal",
        "--key-file",
        "k.key",
        "--report",
        "nodir/r.json",
        "-o",
        "out",
        "p",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(one_line(&o).contains("nodir/r.json"));
    assert!(!fx.p("out").exists(), "nothing was sealed");
    assert!(fx.partials().is_empty());
    // The final write failing (a full device) is an error too.
    let o = fx.run(&[
        "verify",
        "--key-file",
        "k.key",
        "--report",
        "/dev/full",
        "c",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write the report /dev/full"),
        "{}",
        stderr(&o)
    );
}

// ---- 3. seal and rekey into a closed pipe fail; open stays quiet ----

/// Runs the command with a stdout pipe that is closed after `keep` bytes.
fn closed_after(dir: &Path, args: &[&str], keep: usize) -> std::process::Output {
    let mut child = cmd(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut buf = vec![0u8; keep];
    out.read_exact(&mut buf).expect("first bytes");
    drop(out);
    child.wait_with_output().expect("wait")
}

#[test]
fn item03_seal_and_rekey_into_a_closed_pipe_fail_as_incomplete() {
    let fx = Fx::new(8_000_000);
    assert_eq!(code(&run(fx.path(), &["keygen", "-o", "k2.key"])), 0);
    for args in [
        vec!["seal", "--key-file", "k.key", "p"],
        vec![
            "rekey",
            "--key-file",
            "k.key",
            "--add-key-file",
            "k2.key",
            "c",
        ],
    ] {
        let o = closed_after(fx.path(), &args, 100);
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        assert!(one_line(&o).contains("output is incomplete"), "{args:?}");
    }
    // The same through a shell pipeline, as the issue reports it.
    let o = fx
        .bash("$E seal --key-file k.key p | head -c 100 > /dev/null; echo \"ps=${PIPESTATUS[*]}\"");
    assert!(
        stdout(&o).contains("ps=1 0"),
        "{} {}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn item03_open_into_a_closed_pipe_stays_quiet() {
    let fx = Fx::new(8_000_000);
    let o = closed_after(fx.path(), &["open", "--key-file", "k.key", "c"], 100);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

// ---- 4. open --range from a pipe keeps pipefail green ----

#[test]
fn item04_range_from_a_pipe_drains_the_input_so_pipefail_stays_green() {
    let fx = Fx::new(20_000_000);
    let o = fx.bash(
        "set -o pipefail; cat c | $E open --key-file k.key --range 1000000..1000100 --report r.json | wc -c; \
         echo \"ps=${PIPESTATUS[*]}\"",
    );
    let out = stdout(&o);
    assert!(out.contains("100\n"), "{out}");
    assert!(out.contains("ps=0 0 0"), "{out} {}", stderr(&o));
    let r = json(&fx.read("r.json"));
    assert_eq!(
        r["bytes_in"],
        std::fs::metadata(fx.p("c")).expect("c").len()
    );
    assert_eq!(r["bytes_out"], 100);
    // The drained rest is not decrypted: a tampered chunk after the range
    // does not fail the range (verify is what checks a whole file).
    let mut c = fx.read("c");
    let at = c.len() - 5_000_000;
    c[at] ^= 1;
    fx.write("c-bad", &c);
    let o = fx.bash(
        "set -o pipefail; cat c-bad | $E open --key-file k.key --range 1000000..1000100 | wc -c; \
         echo \"ps=${PIPESTATUS[*]}\"",
    );
    assert!(stdout(&o).contains("ps=0 0 0"), "{}", stdout(&o));
}

// ---- 10. Duplicate wrapping keys take one slot ----

fn key_count(fx: &Fx, file: &str) -> usize {
    let o = fx.run(&["inspect", "--json", file]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    json(&o.stdout)["keys"].as_array().expect("keys").len()
}

#[test]
fn item10_duplicate_key_files_are_wrapped_once() {
    let fx = Fx::new(1_000);
    std::fs::copy(fx.p("k.key"), fx.p("copy.key")).expect("copy");
    std::fs::set_permissions(fx.p("copy.key"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    let o = fx.run(&[
        "seal",
        "--key-file",
        "k.key",
        "--key-file",
        "k.key",
        "--key-file",
        "copy.key",
        "-o",
        "d",
        "p",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("used once"), "{}", stderr(&o));
    assert_eq!(key_count(&fx, "d"), 1);
    // rekey adding a key the file already has (a copy of its key file):
    // noted, and refused as a rekey that changes nothing (exit 2, no output).
    let o = fx.run(&[
        "rekey",
        "--key-file",
        "k.key",
        "--add-key-file",
        "copy.key",
        "-o",
        "r",
        "c",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already wraps the data key"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("nothing to change"), "{}", stderr(&o));
    assert!(!fx.p("r").exists());
}

// ---- 11. ENVSTREAM_KEY_FILE with an explicit --key-file ----

#[test]
fn item11_explicit_key_file_overrides_the_environment() {
    let fx = Fx::new(1_000);
    assert_eq!(code(&run(fx.path(), &["keygen", "-o", "env.key"])), 0);
    let o = cmd(fx.path())
        .args(["seal", "--key-file", "k.key", "-o", "d", "p"])
        .env("ENVSTREAM_KEY_FILE", "env.key")
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(key_count(&fx, "d"), 1);
    // Alone, the variable names the key.
    let o = cmd(fx.path())
        .args(["open", "-o", "q", "c"])
        .env("ENVSTREAM_KEY_FILE", "k.key")
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        o.stderr.is_empty(),
        "no note without KMS keys: {}",
        stderr(&o)
    );
}

// ---- 12. Shared key files warn; keygen -o - writes to stdout ----

#[test]
fn item12_key_file_readable_by_others_warns_like_ssh() {
    let fx = Fx::new(1_000);
    std::fs::set_permissions(fx.p("k.key"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let o = fx.run(&["open", "--key-file", "k.key", "-o", "q", "c"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("warning: key file k.key is accessible by group or others (mode 644)"),
        "{e}"
    );
    assert!(e.contains("chmod 600"), "{e}");
    std::fs::set_permissions(fx.p("k.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let o = fx.run(&["open", "--key-file", "k.key", "-o", "q2", "c"]);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn item12_keygen_dash_writes_the_key_to_stdout() {
    let fx = Fx::new(1_000);
    let o = fx.run(&["keygen", "-o", "-"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!fx.p("-").exists(), "no file named -");
    assert!(
        stdout(&o).contains("ENVSTREAM-LOCAL-KEY-V1-"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("to stdout"));
    let key = stdout(&o);
    fx.write("s.key", key.as_bytes());
    std::fs::set_permissions(fx.p("s.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let o = fx.run(&["seal", "--key-file", "s.key", "-o", "d", "p"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

// ---- 13. One line, never repeated, naming what it is about ----

#[test]
fn item13_errors_are_one_line_name_the_path_and_repeat_nothing() {
    let fx = Fx::new(1_000);
    let o = fx.run(&["seal", "--key-file", "k.key", "-o", "d", "/tmp"]);
    assert_eq!(code(&o), 2);
    let e = one_line(&o);
    assert!(e.contains("input /tmp is a directory"), "{e}");
    assert!(!e.contains("os error 21"), "{e}");
    // Disk full, to stdout and with -o onto a device.
    for args in [
        vec!["seal", "--key-file", "k.key", "-o", "/dev/full", "p"],
        vec!["open", "--key-file", "k.key", "-o", "/dev/full", "c"],
    ] {
        let o = fx.run(&args);
        assert_eq!(code(&o), 1, "{args:?}");
        let e = one_line(&o);
        assert_eq!(e.matches("No space left on device").count(), 1, "{e}");
        assert!(e.contains("/dev/full"), "{e}");
    }
    // A restore without a key names the restore flags, not keygen.
    let o = fx.run(&["open", "c"]);
    assert_eq!(code(&o), 2);
    let e = one_line(&o);
    assert!(
        e.contains("--key-file") && e.contains("--kms-key") && e.contains("--discovery"),
        "{e}"
    );
    assert!(!e.contains("keygen"), "{e}");
    // A clap usage error is one line too.
    let o = fx.run(&["seal", "--chunk-size"]);
    assert_eq!(code(&o), 2);
    one_line(&o);
}

// ---- 14. open, verify, inspect and rekey refuse a terminal on stdin ----

/// Runs `inner` under util-linux `script`, which gives it a pty as stdin
/// and stdout; returns what the terminal showed.
fn on_a_terminal(dir: &Path, inner: &str) -> String {
    let o = Command::new("script")
        .args(["-q", "-e", "-c", inner, "/dev/null"])
        .current_dir(dir)
        .env_remove("ENVSTREAM_KEY_FILE")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` is needed for this test");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn item14_reading_a_sealed_file_from_a_terminal_is_refused() {
    let fx = Fx::new(1_000);
    for sub in [
        "open --key-file k.key",
        "verify --key-file k.key",
        "inspect",
        "rekey --key-file k.key --add-key-file k.key -o r -",
    ] {
        let shown = on_a_terminal(
            fx.path(),
            &format!("timeout 10 {BIN} {sub} < /dev/tty; echo \"rc=$?\""),
        );
        assert!(shown.contains("rc=2"), "{sub}: {shown}");
        assert!(
            shown.contains("refusing to read a sealed file from a terminal"),
            "{sub}: {shown}"
        );
    }
}

// ---- 15. verify clears its bar; the signal message tells the truth ----

#[test]
fn item15_verify_clears_the_progress_bar_before_its_summary() {
    let fx = Fx::new(48_000_000);
    let shown = on_a_terminal(
        fx.path(),
        &format!("{BIN} verify --key-file k.key --threads 1 c; echo \"rc=$?\""),
    );
    assert!(shown.contains("rc=0"), "{shown}");
    let summary = shown.find("verified:").expect("summary");
    let before = &shown[..summary];
    let last_bar = before
        .rfind("verify")
        .expect("a progress bar was drawn on the terminal");
    // After the last frame of the bar, the line is erased (ESC [ 2K) before
    // the summary is printed.
    assert!(
        before[last_bar..].contains("\x1b[2K"),
        "stale bar: {:?}",
        &before[last_bar..]
    );
}

#[test]
fn item15_interrupt_while_writing_to_stdout_does_not_claim_a_removal() {
    let fx = Fx::new(1_000);
    let mut child = cmd(fx.path())
        .args(["seal", "--key-file", "k.key"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&data(300_000)).expect("feed");
    std::thread::sleep(Duration::from_millis(300));
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let o = child.wait_with_output().expect("wait");
    drop(stdin);
    assert_eq!(o.status.code(), Some(130));
    let e = stderr(&o);
    assert!(!e.contains("removed"), "{e}");
    assert!(e.contains("incomplete"), "{e}");
}

// ---- 16. The thread count is bounded ----

#[test]
fn item16_threads_are_bounded_to_64() {
    let fx = Fx::new(100_000);
    for n in ["1000", "65", "-1"] {
        let o = fx.run(&[
            "seal",
            "--key-file",
            "k.key",
            "--threads",
            n,
            "-o",
            "d",
            "p",
        ]);
        assert_eq!(code(&o), 2, "--threads {n}: {}", stderr(&o));
        let e = one_line(&o);
        assert!(e.contains("--threads") || e.contains("'-1'"), "{e}");
        assert!(!fx.p("d").exists());
    }
    let o = fx.run(&[
        "seal",
        "--key-file",
        "k.key",
        "--threads",
        "64",
        "-o",
        "d",
        "p",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

// ---- 17. A complete man page; --backend completes its values ----

#[test]
fn item17_man_page_lists_every_command_option_exit_code_and_variable() {
    let fx = Fx::new(10);
    let man = stdout(&fx.run(&["man"]));
    assert!(man.starts_with(".TH ENVSTREAM 1"), "{}", &man[..80]);
    assert!(
        !man.contains("envstream-seal(1)"),
        "no pointers to pages that do not exist"
    );
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "\"EXIT STATUS\"",
        "ENVIRONMENT",
        "EXAMPLES",
    ] {
        assert!(man.contains(&format!(".SH {section}")), "section {section}");
    }
    for sub in [
        "keygen",
        "seal",
        "open",
        "verify",
        "rekey",
        "inspect",
        "completions",
        "man",
    ] {
        assert!(man.contains(&format!(".SS \"envstream {sub}\"")), "{sub}");
        // Every long option in the subcommand's --help is in the page.
        let help = stdout(&fx.run(&[sub, "--help"]));
        for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
            if let Some(flag) = word
                .strip_prefix("--")
                .filter(|f| !f.is_empty() && *f != "help")
            {
                let flag = flag.split(['=', '<']).next().unwrap_or(flag);
                assert!(
                    man.contains(&format!("\\-\\-{}", flag.replace('-', "\\-"))),
                    "{sub} --{flag}"
                );
            }
        }
    }
    for code in 0..=5 {
        assert!(
            man.contains(&format!(".TP\n\\fB{code}\\fR")),
            "exit code {code}"
        );
    }
    for var in ["ENVSTREAM_KEY_FILE", "AWS_PROFILE", "AWS_ENDPOINT_URL_KMS"] {
        assert!(man.contains(var), "{var}");
    }
    let bash = stdout(&fx.run(&["completions", "bash"]));
    assert!(
        bash.contains("aws-lc") && bash.contains("rustcrypto"),
        "--backend completes its values"
    );
    let o = fx.run(&["seal", "--backend", "nosuch", "p"]);
    assert_eq!(code(&o), 2);
    assert!(one_line(&o).contains("aws-lc"), "{}", stderr(&o));
}

// ---- 18. Report fields: one key-id format, every field filled ----

#[test]
fn item18_reports_fill_every_field_with_one_key_id_format() {
    let fx = Fx::new(200_000);
    assert_eq!(code(&run(fx.path(), &["keygen", "-o", "k2.key"])), 0);
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "seal",
            vec![
                "seal",
                "--key-file",
                "k.key",
                "--report",
                "r.json",
                "-o",
                "s",
                "p",
            ],
        ),
        (
            "open",
            vec![
                "open",
                "--key-file",
                "k.key",
                "--report",
                "r.json",
                "-o",
                "o",
                "s",
            ],
        ),
        (
            "verify",
            vec!["verify", "--key-file", "k.key", "--report", "r.json", "s"],
        ),
        (
            "rekey",
            vec![
                "rekey",
                "--key-file",
                "k.key",
                "--add-key-file",
                "k2.key",
                "--report",
                "r.json",
                "-o",
                "rk",
                "s",
            ],
        ),
    ];
    let mut ids = Vec::new();
    for (op, args) in runs {
        let o = fx.run(&args);
        assert_eq!(code(&o), 0, "{op}: {}", stderr(&o));
        let r = json(&fx.read("r.json"));
        assert_eq!(r["operation"], op);
        for field in [
            "bytes_in",
            "bytes_out",
            "chunks",
            "chunk_size",
            "key_ids",
            "context",
            "backend",
            "duration_ms",
        ] {
            assert!(!r[field].is_null(), "{op}: {field} is null: {r}");
        }
        assert_eq!(r["chunks"], 4, "{op}: 200000 bytes are 4 chunks of 64 KiB");
        for id in r["key_ids"].as_array().expect("ids") {
            let id = id.as_str().expect("str").to_owned();
            assert!(id.starts_with("local/"), "{op}: {id}");
            ids.push(id);
        }
    }
    // The report's key id is what --remove-key takes.
    let o = fx.run(&[
        "rekey",
        "--key-file",
        "k2.key",
        "--remove-key",
        &ids[0],
        "-o",
        "rk2",
        "rk",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(key_count(&fx, "rk2"), 1);
}

// ---- 19. Leftovers ----

#[test]
fn item19_leftover_partial_file_from_a_killed_run_is_mentioned() {
    let fx = Fx::new(1_000);
    // A pid that cannot be running (above the kernel's pid_max limit).
    fx.write(".out.envstream-partial.4194305.1.0", b"half a file");
    let o = fx.run(&["seal", "--key-file", "k.key", "-o", "out", "p"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(".out.envstream-partial.4194305.1.0 is left over"),
        "{e}"
    );
    assert!(e.contains("incomplete"), "{e}");
    // A run on another name says nothing.
    let o = fx.run(&["seal", "--key-file", "k.key", "-o", "other", "p"]);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn item19_security_md_has_each_section_once_and_no_placeholders() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/SECURITY.md"
    ))
    .expect("docs/SECURITY.md");
    for heading in text.lines().filter(|l| l.starts_with('#')) {
        let n = text.lines().filter(|l| *l == heading).count();
        assert_eq!(n, 1, "heading {heading:?} appears {n} times");
    }
    for placeholder in ["TODO", "TBD", "XXX", "placeholder", "Lorem"] {
        assert!(!text.contains(placeholder), "{placeholder}");
    }
}
