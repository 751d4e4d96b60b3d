//! Operator features through the real binary: verify, rekey, range restore,
//! progress, reports, completions and the man page.

mod support;

use support::*;

use std::path::Path;
use std::process::{Command, Stdio};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + i / 7) as u8).collect()
}

fn key_id(dir: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(dir.join(key)).expect("key file");
    text.lines()
        .find_map(|l| l.strip_prefix("# key id: "))
        .expect("key id line")
        .to_owned()
}

struct Fx {
    dir: tempfile::TempDir,
}

impl Fx {
    fn new(plain: &[u8], chunk: &str) -> Fx {
        let fx = Fx {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for k in ["a.key", "b.key", "c.key"] {
            assert_eq!(code(&run(fx.p(), &["keygen", "-o", k])), 0);
        }
        std::fs::write(fx.p().join("p"), plain).expect("write");
        let o = run(
            fx.p(),
            &[
                "seal",
                "--key-file",
                "a.key",
                "--context",
                "job=nightly",
                "--chunk-size",
                chunk,
                "-o",
                "c",
                "p",
            ],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        fx
    }
    fn p(&self) -> &Path {
        self.dir.path()
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.p().join(name)).expect("read")
    }
}

#[test]
fn verify_authenticates_everything_and_writes_no_plaintext() {
    let plain = data(50_000);
    let fx = Fx::new(&plain, "4K");
    let o = run(fx.p(), &["verify", "--key-file", "a.key", "c"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("plaintext bytes: 50000"), "{text}");
    assert!(text.contains("chunks:          13 of 4096 bytes"), "{text}");
    assert!(
        text.contains(&format!("local/{}", key_id(fx.p(), "a.key"))),
        "{text}"
    );
    assert!(text.contains("job=nightly"), "{text}");
    assert!(
        !o.stdout.windows(100).any(|w| w == &plain[1000..1100]),
        "no plaintext in the output"
    );
    // Same exit codes as open.
    let mut t = fx.read("c");
    let n = t.len();
    t[n - 30] ^= 1;
    std::fs::write(fx.p().join("t"), &t).expect("write");
    assert_eq!(
        code(&run(fx.p(), &["verify", "--key-file", "a.key", "t"])),
        3
    );
    assert_eq!(
        code(&run(fx.p(), &["verify", "--key-file", "b.key", "c"])),
        4
    );
    assert_eq!(
        code(&run(
            fx.p(),
            &[
                "verify",
                "--key-file",
                "a.key",
                "--context",
                "job=weekly",
                "c"
            ]
        )),
        4
    );
    assert_eq!(
        code(&run_stdin(
            fx.p(),
            &["verify", "--key-file", "a.key"],
            &fx.read("c")[..n - 1]
        )),
        3
    );
}

#[test]
fn rekey_rewrites_only_the_header() {
    let plain = data(200_000);
    let fx = Fx::new(&plain, "4K");
    let orig = fx.read("c");
    let o = run(
        fx.p(),
        &[
            "rekey",
            "--key-file",
            "a.key",
            "--add-key-file",
            "b.key",
            "-o",
            "r1",
            "c",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r1 = fx.read("r1");
    let h0 = envstream::Header::parse(&orig).expect("h0");
    let h1 = envstream::Header::parse(&r1).expect("h1");
    assert_eq!(&orig[h0.1..], &r1[h1.1..], "body is byte-identical");
    assert_eq!(h1.0.wrapped_keys().len(), 2);
    assert_eq!(h1.0.context(), h0.0.context());
    for k in ["a.key", "b.key"] {
        let o = run(fx.p(), &["open", "--key-file", k, "r1"]);
        assert_eq!(code(&o), 0, "{k}: {}", stderr(&o));
        assert_eq!(o.stdout, plain);
    }
    // Remove the original key: only b opens it now.
    let a = key_id(fx.p(), "a.key");
    let o = run(
        fx.p(),
        &[
            "rekey",
            "--key-file",
            "b.key",
            "--remove-key",
            &a,
            "-o",
            "r2",
            "r1",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        code(&run(
            fx.p(),
            &["open", "--key-file", "a.key", "-o", "x", "r2"]
        )),
        4
    );
    assert_eq!(
        run(fx.p(), &["open", "--key-file", "b.key", "r2"]).stdout,
        plain
    );
    // Refuses to remove the last key, and leaves no output.
    let b = key_id(fx.p(), "b.key");
    let o = run(
        fx.p(),
        &[
            "rekey",
            "--key-file",
            "b.key",
            "--remove-key",
            &format!("local/{b}"),
            "-o",
            "r3",
            "r2",
        ],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("last"), "{}", stderr(&o));
    assert!(!fx.p().join("r3").exists());
    // Unknown key to remove, wrong unwrap key, tampered header: refused before writing.
    assert_eq!(
        code(&run(
            fx.p(),
            &[
                "rekey",
                "--key-file",
                "b.key",
                "--remove-key",
                "nope",
                "-o",
                "r4",
                "r2"
            ]
        )),
        2
    );
    assert_eq!(
        code(&run(
            fx.p(),
            &[
                "rekey",
                "--key-file",
                "c.key",
                "--add-key-file",
                "a.key",
                "-o",
                "r4",
                "r2"
            ]
        )),
        4
    );
    let mut t = fx.read("r2");
    t[25] ^= 1; // salt: the commitment check fails
    std::fs::write(fx.p().join("t"), &t).expect("write");
    assert_eq!(
        code(&run(
            fx.p(),
            &[
                "rekey",
                "--key-file",
                "b.key",
                "--add-key-file",
                "a.key",
                "-o",
                "r4",
                "t"
            ]
        )),
        3
    );
    assert!(!fx.p().join("r4").exists());
    // Existing output needs --force, as for seal and open.
    assert_ne!(
        code(&run(
            fx.p(),
            &[
                "rekey",
                "--key-file",
                "b.key",
                "--add-key-file",
                "c.key",
                "-o",
                "r2",
                "r2"
            ]
        )),
        0
    );
}

#[test]
fn rekey_never_decrypts_the_body() {
    // A corrupted body is copied as it is: rekey only touches the header
    // (verify or open reports the damage).
    let plain = data(100_000);
    let fx = Fx::new(&plain, "4K");
    let mut t = fx.read("c");
    let n = t.len();
    t[n / 2] ^= 0x40;
    std::fs::write(fx.p().join("t"), &t).expect("write");
    let o = run(
        fx.p(),
        &[
            "rekey",
            "--key-file",
            "a.key",
            "--add-key-file",
            "b.key",
            "-o",
            "r",
            "t",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = fx.read("r");
    let (h0, h1) = (
        envstream::Header::parse(&t).expect("h").1,
        envstream::Header::parse(&r).expect("h").1,
    );
    assert_eq!(&t[h0..], &r[h1..]);
    assert_eq!(
        code(&run(fx.p(), &["verify", "--key-file", "b.key", "r"])),
        3
    );
}

#[test]
fn range_restore_matches_the_slice() {
    let plain = data(5 * 4096 + 300);
    let fx = Fx::new(&plain, "4K");
    let sealed = fx.read("c");
    let total = plain.len();
    let cases: Vec<(String, usize, usize)> = vec![
        ("0..10".into(), 0, 10),
        ("4090..4100".into(), 4090, 4100),
        ("4096..8192".into(), 4096, 8192),
        ("4095..4097".into(), 4095, 4097),
        ("8191..".into(), 8191, total),
        ("..5".into(), 0, 5),
        (format!("{}..", total - 1), total - 1, total),
        (format!("{total}.."), total, total),
        (format!("100..{}", total + 1000), 100, total),
        ("20480..20481".into(), 20480, 20481),
    ];
    for (spec, a, b) in &cases {
        let o = run(
            fx.p(),
            &["open", "--key-file", "a.key", "--range", spec, "c"],
        );
        assert_eq!(code(&o), 0, "{spec}: {}", stderr(&o));
        assert_eq!(o.stdout, &plain[*a..*b], "file {spec}");
        let o = run_stdin(
            fx.p(),
            &["open", "--key-file", "a.key", "--range", spec],
            &sealed,
        );
        assert_eq!(code(&o), 0, "{spec}: {}", stderr(&o));
        assert_eq!(o.stdout, &plain[*a..*b], "pipe {spec}");
    }
    // To a file, atomically.
    let o = run(
        fx.p(),
        &[
            "open",
            "--key-file",
            "a.key",
            "--range",
            "5000..6000",
            "-o",
            "part",
            "c",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fx.read("part"), &plain[5000..6000]);
    // Bad ranges are usage errors.
    for bad in ["5..2", "abc", "1-2", "..x"] {
        assert_eq!(
            code(&run(
                fx.p(),
                &["open", "--key-file", "a.key", "--range", bad, "c"]
            )),
            2,
            "{bad}"
        );
    }
    // Truncation and the final-chunk rules hold when the range touches the end.
    std::fs::write(fx.p().join("trunc"), &sealed[..sealed.len() - 1]).expect("write");
    let o = run(
        fx.p(),
        &[
            "open",
            "--key-file",
            "a.key",
            "--range",
            "20000..",
            "-o",
            "x",
            "trunc",
        ],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(!fx.p().join("x").exists());
    let mut appended = sealed.clone();
    appended.extend_from_slice(b"junk");
    std::fs::write(fx.p().join("app"), &appended).expect("write");
    assert_eq!(
        code(&run(
            fx.p(),
            &["open", "--key-file", "a.key", "--range", "20480..", "app"]
        )),
        3
    );
}

#[test]
fn report_json_on_success_and_failure() {
    let plain = data(70_000);
    let fx = Fx::new(&plain, "4K");
    let o = run(
        fx.p(),
        &[
            "open",
            "--key-file",
            "a.key",
            "--report",
            "rep.json",
            "-o",
            "q",
            "c",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&fx.read("rep.json")).expect("json");
    assert_eq!(v["operation"], "open");
    assert_eq!(v["bytes_out"], 70_000);
    assert_eq!(v["bytes_in"], fx.read("c").len() as u64);
    assert_eq!(v["chunks"], 18);
    assert_eq!(v["chunk_size"], 4096);
    assert_eq!(v["context"]["job"], "nightly");
    assert_eq!(
        v["key_ids"][0],
        format!("local/{}", key_id(fx.p(), "a.key"))
    );
    assert!(v["duration_ms"].is_u64());
    assert_eq!(v["outcome"]["ok"], true);
    assert_eq!(v["outcome"]["exit_code"], 0);
    // Failure: written too, with the exit code and the message.
    let o = run(
        fx.p(),
        &[
            "open",
            "--key-file",
            "b.key",
            "--report",
            "-",
            "-o",
            "q2",
            "c",
        ],
    );
    assert_eq!(code(&o), 4);
    let line = stderr(&o)
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("report on stderr")
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["outcome"]["ok"], false);
    assert_eq!(v["outcome"]["exit_code"], 4);
    assert!(v["outcome"]["error"]
        .as_str()
        .expect("msg")
        .contains("no supplied key"));
    // Seal and verify reports; no key material in any report.
    let o = run(
        fx.p(),
        &[
            "seal",
            "--key-file",
            "a.key",
            "--report",
            "s.json",
            "-o",
            "c2",
            "p",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = String::from_utf8(fx.read("s.json")).expect("utf8");
    let v: serde_json::Value = serde_json::from_str(&s).expect("json");
    assert_eq!(v["operation"], "seal");
    assert_eq!(v["bytes_in"], 70_000);
    assert_eq!(v["bytes_out"], fx.read("c2").len() as u64);
    let secret = String::from_utf8(fx.read("a.key")).expect("utf8");
    let hex = secret
        .lines()
        .find_map(|l| l.strip_prefix("ENVSTREAM-LOCAL-KEY-V1-"))
        .expect("key");
    assert!(!s.contains(hex));
    let o = run(
        fx.p(),
        &["verify", "--key-file", "a.key", "--report", "v.json", "c"],
    );
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&fx.read("v.json")).expect("json");
    assert_eq!(
        (v["operation"].as_str(), v["bytes_out"].as_u64()),
        (Some("verify"), Some(0))
    );
}

#[test]
fn progress_only_on_a_terminal_unless_forced() {
    let plain = data(3_000_000);
    let fx = Fx::new(&plain, "64K");
    // Not a terminal: nothing on stderr.
    let o = run(fx.p(), &["seal", "--key-file", "a.key", "-o", "c2", "p"]);
    assert_eq!(code(&o), 0);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    // --progress forces it.
    let o = run(
        fx.p(),
        &["open", "--key-file", "a.key", "--progress", "-o", "q", "c"],
    );
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("open"), "{:?}", stderr(&o));
    // On a terminal (a pty from util-linux `script`), drawn by default; --quiet hides it.
    for (extra, drawn) in [("", true), (" --quiet", false)] {
        let inner = format!("{BIN} seal --key-file a.key --force -o c3 p{extra}; echo rc=$?");
        let o = Command::new("script")
            .args(["-q", "-e", "-c", &inner, "/dev/null"])
            .current_dir(fx.p())
            .stdin(Stdio::null())
            .output()
            .expect("util-linux `script` is needed for this test");
        let shown = stdout(&o);
        assert!(shown.contains("rc=0"), "{shown}");
        assert_eq!(shown.contains("seal"), drawn, "{extra:?}: {shown:?}");
    }
}

#[test]
fn completions_and_man_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (shell, marker) in [
        ("bash", "_envstream()"),
        ("zsh", "#compdef envstream"),
        ("fish", "complete -c envstream"),
    ] {
        let o = run(dir.path(), &["completions", shell]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let text = stdout(&o);
        assert!(
            text.contains(marker),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
        assert!(
            text.contains("rekey") && text.contains("verify"),
            "{shell} lists the subcommands"
        );
    }
    let o = run(dir.path(), &["man"]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    assert!(
        text.contains(".TH ENVSTREAM 1") && text.contains("seal"),
        "{}",
        &text[..200]
    );
    assert_eq!(code(&run(dir.path(), &["completions", "cmd.exe"])), 2);
}
