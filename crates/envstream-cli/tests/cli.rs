//! End-to-end tests of the real `envstream` binary.

mod support;

use support::*;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let f = Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let o = run(f.path(), &["keygen", "-o", "k1.key"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o = run(f.path(), &["keygen", "-o", "k2.key"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        f
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
    /// Every entry in the directory except the key files.
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path())
            .expect("readdir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

#[test]
fn keygen_mode_0600_refuses_overwrite_and_prints_only_the_id() {
    let f = Fixture::new();
    let meta = std::fs::metadata(f.p("k1.key")).expect("meta");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let before = f.read("k1.key");
    let o = run(f.path(), &["keygen", "-o", "k1.key"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(f.read("k1.key"), before, "key file untouched");
    let text = String::from_utf8(before).expect("utf8");
    let secret = text
        .lines()
        .find(|l| l.starts_with("ENVSTREAM-LOCAL-KEY-V1-"))
        .expect("key line");
    let o = run(f.path(), &["keygen", "-o", "k3.key"]);
    assert!(!stderr(&o).contains(&secret[23..]));
    assert!(String::from_utf8_lossy(&o.stdout).is_empty());
}

#[test]
fn round_trip_files_and_pipes() {
    let f = Fixture::new();
    for len in [0usize, 1, 65535, 65536, 65537, 300_000] {
        let plain = data(len);
        f.write("p", &plain);
        let o = run(
            f.path(),
            &[
                "seal",
                "--key-file",
                "k1.key",
                "--context",
                "job=test",
                "-o",
                "c",
                "p",
            ],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o = run(
            f.path(),
            &[
                "open",
                "--key-file",
                "k1.key",
                "--context",
                "job=test",
                "-o",
                "q",
                "c",
            ],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(f.read("q"), plain);
        // Pipes: stdin to stdout both ways, with "-" for stdin.
        let sealed = run_stdin(
            f.path(),
            &["seal", "--key-file", "k1.key", "--chunk-size", "4K", "-"],
            &plain,
        );
        assert_eq!(code(&sealed), 0, "{}", stderr(&sealed));
        let opened = run_stdin(f.path(), &["open", "--key-file", "k1.key"], &sealed.stdout);
        assert_eq!(code(&opened), 0, "{}", stderr(&opened));
        assert_eq!(opened.stdout, plain);
        std::fs::remove_file(f.p("c")).expect("rm");
        std::fs::remove_file(f.p("q")).expect("rm");
    }
}

#[test]
fn key_file_from_environment_and_missing_key_message() {
    let f = Fixture::new();
    f.write("p", b"env key");
    let o = cmd(f.path())
        .args(["seal", "-o", "c", "p"])
        .env("ENVSTREAM_KEY_FILE", "k2.key")
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(f.path(), &["open", "--key-file", "k2.key", "c"]);
    assert_eq!(o.stdout, b"env key");
    let o = run(f.path(), &["seal", "-o", "d", "p"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("envstream keygen"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "one-line error");
    assert!(!f.p("d").exists());
}

#[test]
fn wrong_key_and_context_mismatch_exit_4_and_leave_nothing() {
    let f = Fixture::new();
    f.write("p", &data(10_000));
    assert_eq!(
        code(&run(
            f.path(),
            &[
                "seal",
                "--key-file",
                "k1.key",
                "--context",
                "a=1",
                "-o",
                "c",
                "p"
            ]
        )),
        0
    );
    let before = f.entries();
    let o = run(
        f.path(),
        &["open", "--key-file", "k2.key", "-o", "out", "c"],
    );
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("no supplied key"), "{}", stderr(&o));
    let o = run(
        f.path(),
        &[
            "open",
            "--key-file",
            "k1.key",
            "--context",
            "a=2",
            "-o",
            "out",
            "c",
        ],
    );
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let o = run(
        f.path(),
        &[
            "open",
            "--key-file",
            "k1.key",
            "--context",
            "b=1",
            "-o",
            "out",
            "c",
        ],
    );
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(f.entries(), before, "no output or temporary file left");
}

#[test]
fn existing_output_needs_force() {
    let f = Fixture::new();
    f.write("p", b"new");
    f.write("c", b"precious");
    let o = run(f.path(), &["seal", "--key-file", "k1.key", "-o", "c", "p"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(f.read("c"), b"precious");
    let o = run(
        f.path(),
        &["seal", "--key-file", "k1.key", "--force", "-o", "c", "p"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(f.path(), &["open", "--key-file", "k1.key", "c"]);
    assert_eq!(o.stdout, b"new");
    // Devices are written directly, without --force.
    let o = run(
        f.path(),
        &["open", "--key-file", "k1.key", "-o", "/dev/null", "c"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    let f = Fixture::new();
    f.write("p", b"x");
    for args in [
        vec!["seal", "--key-file", "k1.key", "--chunk-size", "100", "p"],
        vec!["seal", "--key-file", "k1.key", "--chunk-size", "17M", "p"],
        vec!["seal", "--key-file", "k1.key", "--chunk-size", "lots", "p"],
        vec!["seal", "--key-file", "k1.key", "--context", "novalue", "p"],
        vec!["seal", "--key-file", "k1.key", "--context", "=v", "p"],
        vec!["frobnicate"],
        vec!["seal", "--bogus"],
    ] {
        let o = run(f.path(), &args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    }
    let o = run(f.path(), &["seal", "--key-file", "missing.key", "p"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.key"));
}

#[test]
fn inspect_text_and_json() {
    let f = Fixture::new();
    f.write("p", b"hello");
    let o = run(
        f.path(),
        &[
            "seal",
            "--key-file",
            "k1.key",
            "--key-file",
            "k2.key",
            "--context",
            "b=2",
            "--context",
            "a=1",
            "--chunk-size",
            "8K",
            "-o",
            "c",
            "p",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(f.path(), &["inspect", "--json", "c"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["version"], 1);
    assert_eq!(v["chunk_size"], 8192);
    assert_eq!(v["context"]["a"], "1");
    assert_eq!(v["context"]["b"], "2");
    assert!(v["suite"].is_string());
    assert!(v["header_len"].as_u64().expect("len") > 100);
    let keys = v["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2);
    assert!(keys
        .iter()
        .all(|k| k["provider"] == "local" && k["key_id"].as_str().expect("id").len() == 32));
    let o = run(f.path(), &["inspect", "c"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("chunk size:     8192") && text.contains("a=1") && text.contains("local "),
        "{text}"
    );
    // Needs no key, and reads stdin.
    let o = run_stdin(f.path(), &["inspect"], &f.read("c"));
    assert_eq!(code(&o), 0);
    let o = run_stdin(f.path(), &["inspect"], b"not an envstream file at all");
    assert_eq!(code(&o), 3);
}

/// Runs `open -o out` on `bytes` and checks exit code and that nothing is left behind.
fn assert_rejected(f: &Fixture, bytes: &[u8], allowed: &[i32], what: &str) {
    f.write("t.envs", bytes);
    let o = run(
        f.path(),
        &["open", "--key-file", "k1.key", "-o", "out", "t.envs"],
    );
    let c = code(&o);
    assert!(allowed.contains(&c), "{what}: exit {c}: {}", stderr(&o));
    assert!(!f.p("out").exists(), "{what}: output left behind");
    let stray: Vec<String> = f
        .entries()
        .into_iter()
        .filter(|e| e.contains("envstream-partial"))
        .collect();
    assert!(stray.is_empty(), "{what}: temporary files left: {stray:?}");
    assert!(!stderr(&o).contains("panicked"), "{what}: {}", stderr(&o));
}

#[test]
fn tamper_suite_bit_flips_truncation_reordering_appending() {
    let f = Fixture::new();
    let chunk = 4096usize;
    f.write("p", &data(4 * chunk + 123));
    let o = run(
        f.path(),
        &[
            "seal",
            "--key-file",
            "k1.key",
            "--context",
            "suite=tamper",
            "--chunk-size",
            "4096",
            "-o",
            "c",
            "p",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let sealed = f.read("c");
    let o = run(f.path(), &["inspect", "--json", "c"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let hl = v["header_len"].as_u64().expect("len") as usize;
    let stride = chunk + 16;
    let nchunks = 5;
    assert_eq!(sealed.len(), hl + 4 * stride + 123 + 16);
    // The wrapped-key record: after prefix, salt and context; before commitment and tag.
    let ctx_len = 2 + 4 + "suite".len() + "tamper".len();
    let wrapped = (19 + 32 + ctx_len)..(hl - 64);

    // Every single-bit flip of the header and around each chunk boundary.
    let mut offsets: Vec<usize> = (0..hl).collect();
    for i in 1..nchunks {
        let b = hl + i * stride;
        offsets.extend(b - 2..b + 2);
    }
    offsets.extend(sealed.len() - 2..sealed.len());
    for &off in &offsets {
        for bit in 0..8 {
            let mut t = sealed.clone();
            t[off] ^= 1 << bit;
            let allowed: &[i32] = if wrapped.contains(&off) {
                &[3, 4]
            } else {
                &[3]
            };
            assert_rejected(&f, &t, allowed, &format!("flip offset {off} bit {bit}"));
        }
    }
    // Truncation at every chunk boundary and at a sample of other offsets.
    let mut cuts: Vec<usize> = (0..=nchunks)
        .map(|i| hl + i * stride)
        .filter(|&c| c < sealed.len())
        .collect();
    cuts.extend([
        0,
        1,
        18,
        19,
        hl - 1,
        hl + 1,
        hl + stride / 2,
        hl + 2 * stride + 15,
        sealed.len() - 1,
        sealed.len() - 16,
    ]);
    for cut in cuts {
        assert_rejected(&f, &sealed[..cut], &[3], &format!("truncate at {cut}"));
    }
    let chunk_at =
        |i: usize| sealed[hl + i * stride..(hl + (i + 1) * stride).min(sealed.len())].to_vec();
    let build = |order: &[usize]| {
        let mut v = sealed[..hl].to_vec();
        for &i in order {
            v.extend(chunk_at(i));
        }
        v
    };
    for (what, order) in [
        ("swap 0,1", vec![1, 0, 2, 3, 4]),
        ("swap 2,3", vec![0, 1, 3, 2, 4]),
        ("duplicate 1", vec![0, 1, 1, 2, 3, 4]),
        ("drop 2", vec![0, 1, 3, 4]),
        ("drop final", vec![0, 1, 2, 3]),
        ("final twice", vec![0, 1, 2, 3, 4, 4]),
        ("final first", vec![4, 0, 1, 2, 3]),
    ] {
        assert_rejected(&f, &build(&order), &[3], what);
    }
    for extra in [&b"\0"[..], &[0u8; 16][..], &vec![0x55u8; 5000][..]] {
        let mut v = sealed.clone();
        v.extend_from_slice(extra);
        assert_rejected(&f, &v, &[3], &format!("append {} bytes", extra.len()));
    }
}

#[test]
fn hostile_headers_fail_fast_with_exit_3() {
    let f = Fixture::new();
    let mut h = b"ENVSTRM\0\x01\x00\x01\x00\x01\x00\x00\xff\xff\xff\xff".to_vec();
    h.extend(vec![0u8; 100]);
    let start = std::time::Instant::now();
    assert_rejected(&f, &h, &[3], "huge header length");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn vectors_through_the_cli() {
    let f = Fixture::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    let path = |p: &serde_json::Value| dir.join(p.as_str().expect("path")).display().to_string();
    // Each vector's keys: local key files, then identities (FORMAT.md
    // section 16), each with its flag.
    let keys_of = |v: &serde_json::Value| -> Vec<(&str, serde_json::Value)> {
        let keys = v["keys"].as_array().cloned().unwrap_or_default();
        let ids = v["identities"].as_array().cloned().unwrap_or_default();
        keys.into_iter()
            .map(|k| ("--key-file", k))
            .chain(ids.into_iter().map(|k| ("--identity", k)))
            .collect()
    };
    for v in m["good"].as_array().expect("good") {
        for (flag, k) in keys_of(v) {
            let mut args = vec!["open".to_owned(), flag.to_owned(), path(&k)];
            if v["signer"].is_string() {
                args.extend(["--signer".to_owned(), path(&v["signer"])]);
            }
            args.push(path(&v["file"]));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = run(f.path(), &args);
            assert_eq!(code(&o), 0, "{}: {}", v["name"], stderr(&o));
            assert_eq!(
                o.stdout,
                std::fs::read(dir.join(v["plaintext"].as_str().expect("p"))).expect("plain"),
                "{}",
                v["name"]
            );
        }
    }
    for v in m["bad"].as_array().expect("bad") {
        // A private copy of the key (git does not keep mode 0600), so the
        // only line on stderr is the error, not the shared-key warning.
        let key = f.p("vector.key");
        let _ = std::fs::remove_file(&key);
        let (flag, k) = keys_of(v).into_iter().next().expect("a key");
        std::fs::copy(dir.join(k.as_str().expect("k")), &key).expect("copy key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mut args = vec![
            "open".to_owned(),
            flag.to_owned(),
            key.display().to_string(),
            "-o".to_owned(),
            "out".to_owned(),
        ];
        for s in v["signers"].as_array().into_iter().flatten() {
            args.extend(["--signer".to_owned(), path(s)]);
        }
        args.push(path(&v["file"]));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(f.path(), &args);
        assert_eq!(
            i64::from(code(&o)),
            v["exit_code"].as_i64().expect("exit"),
            "{}: {}",
            v["name"],
            stderr(&o)
        );
        assert!(!f.p("out").exists(), "{}", v["name"]);
        assert_eq!(
            stderr(&o).lines().count(),
            1,
            "{}: one-line error",
            v["name"]
        );
    }
}

#[test]
fn stdout_failure_late_in_stream_still_exits_non_zero() {
    let f = Fixture::new();
    f.write("p", &data(100_000));
    assert_eq!(
        code(&run(
            f.path(),
            &[
                "seal",
                "--key-file",
                "k1.key",
                "--chunk-size",
                "4K",
                "-o",
                "c",
                "p"
            ]
        )),
        0
    );
    let mut t = f.read("c");
    let n = t.len();
    t[n - 20] ^= 1;
    let o = run_stdin(f.path(), &["open", "--key-file", "k1.key"], &t);
    assert_eq!(code(&o), 3);
    assert!(!o.stdout.is_empty(), "verified chunks were released");
    assert!(o.stdout.len() < 100_000);
}

#[test]
fn broken_pipe_downstream_is_quiet_for_open_and_an_error_for_seal() {
    let f = Fixture::new();
    f.write("p", &data(5_000_000));
    assert_eq!(
        code(&run(
            f.path(),
            &["seal", "--key-file", "k1.key", "-o", "c", "p"]
        )),
        0
    );
    // open: the reader took what it wanted, a quiet 0. seal: the sealed
    // stream is cut short, which must not look like success (issue 10,
    // item 3): exit 1, saying the output is incomplete.
    for (args, want) in [
        (vec!["open", "--key-file", "k1.key", "c"], 0),
        (vec!["seal", "--key-file", "k1.key", "p"], 1),
    ] {
        let mut child = cmd(f.path())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut out = child.stdout.take().expect("stdout");
        let mut one = [0u8; 1];
        out.read_exact(&mut one).expect("first byte");
        drop(out);
        let o = child.wait_with_output().expect("wait");
        assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
        if want == 0 {
            assert!(stderr(&o).is_empty(), "{args:?}: {}", stderr(&o));
        } else {
            assert!(
                stderr(&o).contains("output is incomplete"),
                "{}",
                stderr(&o)
            );
        }
    }
}

#[test]
fn seal_refuses_to_write_ciphertext_to_a_terminal() {
    // util-linux `script` gives the command a pseudo-terminal as stdout.
    let f = Fixture::new();
    f.write("p", b"secret");
    let inner = format!("{BIN} seal --key-file k1.key p; echo \"rc=$?\"");
    let o = Command::new("script")
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .current_dir(f.path())
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` is needed for this test");
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("rc=2"), "{shown}");
    assert!(
        shown.contains("refusing to write ciphertext to a terminal"),
        "{shown}"
    );
    assert!(
        !shown.contains("ENVSTRM"),
        "no ciphertext reached the terminal: {shown}"
    );
}

#[test]
fn parallel_engine_round_trips_and_rejects_tampering_mid_stream() {
    // 3 MiB at 4 KiB chunks spans several 1 MiB batches, so the threaded path runs.
    let f = Fixture::new();
    let plain = data(3 * 1024 * 1024 + 123);
    f.write("p", &plain);
    for threads in ["1", "2", "4"] {
        let o = run(
            f.path(),
            &[
                "seal",
                "--key-file",
                "k1.key",
                "--chunk-size",
                "4K",
                "--threads",
                threads,
                "-o",
                "c",
                "p",
            ],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o = run(
            f.path(),
            &[
                "open",
                "--key-file",
                "k1.key",
                "--threads",
                threads,
                "-o",
                "q",
                "c",
            ],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(f.read("q"), plain, "threads={threads}");
        let sealed = f.read("c");
        let hl = sealed.len() - plain.len() - (plain.len() / 4096 + 1) * 16;
        // Tamper with chunk 600 (in the third batch).
        let mut t = sealed.clone();
        t[hl + 600 * 4112 + 7] ^= 0x10;
        assert_rejected(
            &f,
            &t,
            &[3],
            &format!("threads={threads} tampered chunk 600"),
        );
        let o = run_stdin(
            f.path(),
            &["open", "--key-file", "k1.key", "--threads", threads],
            &t,
        );
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        assert!(stderr(&o).contains("chunk 600"), "{}", stderr(&o));
        assert_eq!(
            o.stdout,
            &plain[..600 * 4096],
            "exactly the verified chunks before it were released"
        );
        // Truncated at a batch boundary and mid-batch.
        for cut in [hl + 512 * 4112, hl + 700 * 4112 + 5] {
            assert_rejected(
                &f,
                &sealed[..cut],
                &[3],
                &format!("threads={threads} cut at {cut}"),
            );
        }
        std::fs::remove_file(f.p("c")).expect("rm");
        std::fs::remove_file(f.p("q")).expect("rm");
    }
}

#[test]
fn library_errors_name_no_flags_and_the_cli_adds_its_hints() {
    let f = Fixture::new();
    f.write("p", b"hinted");
    assert_eq!(
        code(&run(
            f.path(),
            &[
                "seal",
                "--key-file",
                "k1.key",
                "--context",
                "a=b",
                "-o",
                "c",
                "p"
            ]
        )),
        0
    );
    let o = run(
        f.path(),
        &[
            "open",
            "--key-file",
            "k1.key",
            "--context",
            "a=x",
            "-o",
            "q",
            "c",
        ],
    );
    assert_eq!(code(&o), 4);
    assert!(stderr(&o).contains("; check --context"), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("--context").count(), 1, "{}", stderr(&o));
    f.write("bad.key", b"not a key\n");
    std::fs::set_permissions(f.p("bad.key"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    let o = run(f.path(), &["open", "--key-file", "bad.key", "-o", "q", "c"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("create a key file with `envstream keygen -o FILE`"),
        "{}",
        stderr(&o)
    );
    // The library's own text carries no CLI words.
    let e = envstream::Error::Key(envstream::KeyError::ContextMismatch {
        key: "a".into(),
        expected: "x".into(),
        found: Some("b".into()),
    });
    assert!(!e.to_string().contains("--"), "{e}");
    let e = envstream::LocalKey::parse("nonsense", envstream::Backend::default())
        .err()
        .expect("not a key");
    assert!(!e.to_string().contains("envstream keygen"), "{e}");
}
