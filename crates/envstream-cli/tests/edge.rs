//! The S3/KMS edge as safe as local files: the real binary against moto
//! (KMS and S3, started by scripts/test.sh) through the test proxy, which
//! emulates what moto never does: writes acknowledged without an ETag, an
//! endpoint that answers an HTML page to everything, failing aborts, 403
//! and 502 answers at any point of a stream. Loopback only.

mod support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::proxy::{any_op, http_page, s3_error, Fault, Proxy};
use support::setup::{bucket, create_key, exists, get, http, open_uploads};
use support::{aws_cmd, code, data, feed, run_all, stderr, stdout};

const MIB: usize = 1 << 20;

struct Env {
    dir: tempfile::TempDir,
    proxy: Proxy,
    bucket: String,
}

impl Env {
    fn new(prefix: &str) -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
            proxy: Proxy::start_with(any_op),
            bucket: bucket(prefix),
        };
        assert_eq!(code(&env.run(&["keygen", "-o", "k.key"])), 0);
        env
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn cmd(&self) -> Command {
        let mut c = aws_cmd(self.dir.path());
        c.env("AWS_ENDPOINT_URL", &self.proxy.url);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("spawn")
    }

    fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.p(name), data).expect("write");
    }

    fn report(&self, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.p(name)).expect("report");
        serde_json::from_str(&text).expect("json")
    }

    /// Seals `plain` (written to a file first) to `key` in the bucket.
    fn seal(&self, key: &str, plain: &[u8]) {
        let name = format!("plain-{}", key.replace('/', "_"));
        self.write(&name, plain);
        let o = self.run(&["seal", "--key-file", "k.key", "-o", &self.url(key), &name]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
}

fn one_error_line(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("envstream: error: "))
            .count(),
        1,
        "{err}"
    );
    err
}

// ---- 2. No silent wrong success at the S3 edge ----

#[test]
fn a_put_acknowledged_with_an_empty_200_is_not_stored() {
    // moto always answers with an ETag; the proxy answers 200 with no
    // headers and no body, as a broken proxy does.
    let env = Env::new("empty200");
    env.write("p", &data(100_000, 1));
    env.proxy.inject(Fault {
        target: "PutObject",
        status: 200,
        ..Fault::default()
    });
    let o = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "--report",
        "r.json",
        "-o",
        &env.url("x"),
        "p",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = one_error_line(&o);
    assert!(
        err.contains("no ETag") && err.contains("not there"),
        "{err}"
    );
    assert!(!exists(&env.bucket, "x"));
    let r = env.report("r.json");
    assert_eq!(r["outcome"]["ok"], false);
    assert_eq!(r["outcome"]["exit_code"], 2);
    assert!(
        env.proxy.count("HeadObject") >= 2,
        "the doubt was settled by a HeadObject"
    );
}

#[test]
fn a_completion_acknowledged_without_an_etag_is_checked_and_refused() {
    // The completion is answered 200 with no body and never reaches moto:
    // the object does not exist, and the upload is aborted.
    let env = Env::new("complete200");
    env.write("p", &data(9 * MIB, 2));
    env.proxy.inject(Fault {
        target: "CompleteMultipartUpload",
        status: 200,
        content_type: "application/xml",
        ..Fault::default()
    });
    let o = env.run(&["seal", "--key-file", "k.key", "-o", &env.url("big"), "p"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = one_error_line(&o);
    assert!(err.contains("CompleteMultipartUpload"), "{err}");
    assert!(!exists(&env.bucket, "big"));
    assert_eq!(open_uploads(&env.bucket), 0, "the upload was aborted");
}

#[test]
fn an_endpoint_answering_html_to_everything_is_never_exists_nor_stored() {
    // A captive portal or a wrong URL: every request gets 200 and a page.
    let env = Env::new("portal");
    env.write("p", &data(100_000, 3));
    env.seal("real.envs", &data(50_000, 4));
    env.proxy.inject(http_page("*", 200));
    for force in [false, true] {
        let mut args = vec!["seal", "--key-file", "k.key", "-o"];
        let url = env.url("new");
        args.push(&url);
        if force {
            args.push("--force");
        }
        args.push("p");
        let o = env.run(&args);
        assert_eq!(code(&o), 2, "force {force}: {}", stderr(&o));
        let err = one_error_line(&o);
        assert!(!err.contains("already exists"), "force {force}: {err}");
        assert!(
            err.contains("not as S3 does") || err.contains("not an S3 answer"),
            "{err}"
        );
        assert!(!exists(&env.bucket, "new"));
    }
    for args in [
        vec!["open", "--key-file", "k.key", "-o", "q"],
        vec!["verify", "--key-file", "k.key"],
        vec!["inspect"],
    ] {
        let mut args = args;
        let url = env.url("real.envs");
        args.push(&url);
        let o = env.run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        one_error_line(&o);
    }
    assert!(!env.p("q").exists());
}

fn producer_script(bytes: usize, then: &str) -> String {
    format!("head -c {bytes} /dev/zero; {then}")
}

#[test]
fn seal_runs_a_producer_and_publishes_only_if_it_exits_0() {
    let env = Env::new("producer");
    for (name, out) in [
        ("file", "o.envs".to_owned()),
        ("small object", env.url("small.envs")),
        ("multipart object", env.url("big.envs")),
    ] {
        let n = if name == "multipart object" {
            9 * MIB
        } else {
            200_000
        };
        for (then, expect) in [
            ("exit 3", "exited with status 3"),
            ("kill -TERM $$", "killed by signal 15"),
        ] {
            let o = env.run(&[
                "seal",
                "--key-file",
                "k.key",
                "--report",
                "r.json",
                "-o",
                &out,
                "--",
                "sh",
                "-c",
                &producer_script(n, then),
            ]);
            assert_eq!(code(&o), 1, "{name}, {then}: {}", stderr(&o));
            let err = one_error_line(&o);
            assert!(err.contains(expect), "{name}: {err}");
            let r = env.report("r.json");
            assert_eq!(r["outcome"]["ok"], false);
            assert_eq!(r["producer"]["ended"], true, "{r}");
            if then == "exit 3" {
                assert_eq!(r["producer"]["exit_code"], 3, "{r}");
            } else {
                assert_eq!(r["producer"]["signal"], 15, "{r}");
            }
            let published = match name {
                "file" => env.p("o.envs").exists(),
                "small object" => exists(&env.bucket, "small.envs"),
                _ => exists(&env.bucket, "big.envs"),
            };
            assert!(!published, "{name}: nothing was published");
            assert_eq!(open_uploads(&env.bucket), 0, "{name}: no upload left");
        }
        let o = env.run(&[
            "seal",
            "--key-file",
            "k.key",
            "--report",
            "r.json",
            "-o",
            &out,
            "--",
            "sh",
            "-c",
            &producer_script(n, "exit 0"),
        ]);
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        assert_eq!(env.report("r.json")["producer"]["exit_code"], 0);
        let o = env.run(&["open", "--key-file", "k.key", &out]);
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        assert_eq!(o.stdout.len(), n);
        assert!(o.stdout.iter().all(|&b| b == 0));
    }
    // To stdout, a failed producer leaves a stream that does not open.
    let o = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "--",
        "sh",
        "-c",
        &producer_script(300_000, "exit 2"),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let o2 = support::run_stdin(env.dir.path(), &["open", "--key-file", "k.key"], &o.stdout);
    assert_eq!(code(&o2), 3, "{}", stderr(&o2));
    // A command that cannot run, or INPUT beside a command, is a usage error.
    let o = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        "x",
        "--",
        "no-such-program-here",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    env.write("p", b"x");
    let o = env.run(&["seal", "--key-file", "k.key", "-o", "x", "p", "--", "true"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!env.p("x").exists());
}

#[test]
fn a_file_that_shrinks_while_it_is_sealed_fails_and_does_not_finish_the_stream() {
    // stdout is not read at first, so the seal stops a few MiB in; the
    // file is then cut from 64 MiB to 16 MiB, and the rest is read.
    let env = Env::new("shrink");
    env.write("big", &data(64 * MIB, 5));
    let mut child = env
        .cmd()
        .args(["seal", "--key-file", "k.key", "--threads", "1", "big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = vec![0u8; 65536];
    out.read_exact(&mut first).expect("the seal started");
    std::thread::sleep(Duration::from_millis(500));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(env.p("big"))
        .expect("open");
    f.set_len(16 * MIB as u64).expect("truncate");
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).expect("drain");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = one_error_line(&o);
    assert!(err.contains("shrank") && err.contains("67108864"), "{err}");
    first.extend_from_slice(&rest);
    let opened = support::run_stdin(env.dir.path(), &["open", "--key-file", "k.key"], &first);
    assert_eq!(
        code(&opened),
        3,
        "the stream was not finished: {}",
        stderr(&opened)
    );
}

// ---- 3. Reports and exit codes that monitoring can trust ----

fn kill(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(30), "waited for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_signal_writes_the_report_and_says_only_what_happened() {
    let env = Env::new("signals");
    let stall = |out: &str| {
        vec![
            "seal".to_owned(),
            "--key-file".into(),
            "k.key".into(),
            "--report".into(),
            "r.json".into(),
            "-o".into(),
            out.to_owned(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            "head -c 100000 /dev/zero; exec sleep 30".into(),
        ]
    };
    let s3_out = env.url("sig.envs");
    for (args, sig, code_want, says, never) in [
        (
            stall(&s3_out),
            "-INT",
            130,
            "the S3 upload was aborted",
            "partial output",
        ),
        (
            stall("local.envs"),
            "-TERM",
            143,
            "the partial output for local.envs was removed",
            "upload",
        ),
    ] {
        // Last night's report must not survive an interrupted run.
        env.write("r.json", b"{\"outcome\":{\"ok\":true}}\n");
        env.proxy.reset();
        let child = env
            .cmd()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Under way: the S3 destination was checked, or the partial file is there.
        wait_for("the seal to start", || {
            env.proxy.count("HeadObject") > 0
                || std::fs::read_dir(env.dir.path()).expect("dir").any(|e| {
                    e.is_ok_and(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with(".local.envs.envstream-partial")
                    })
                })
        });
        std::thread::sleep(Duration::from_millis(500));
        kill(&child, sig);
        let o = child.wait_with_output().expect("wait");
        assert_eq!(code(&o), code_want, "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(says), "{err}");
        assert!(!err.contains(never), "{err}");
        let r = env.report("r.json");
        assert_eq!(r["outcome"]["ok"], false, "{r}");
        assert_eq!(r["outcome"]["exit_code"], code_want, "{r}");
        assert_eq!(
            r["outcome"]["interrupted"],
            if sig == "-INT" { "SIGINT" } else { "SIGTERM" }
        );
        assert!(!env.p("local.envs").exists());
        assert!(!exists(&env.bucket, "sig.envs"));
        assert_eq!(open_uploads(&env.bucket), 0);
    }
    // open -o and verify, reading a stream that stalls half way.
    env.write("p", &data(3 * MIB, 6));
    let o = env.run(&["seal", "--key-file", "k.key", "-o", "c", "p"]);
    assert_eq!(code(&o), 0);
    let sealed = std::fs::read(env.p("c")).expect("read");
    for (args, says, never) in [
        (
            vec![
                "open",
                "--key-file",
                "k.key",
                "--report",
                "r.json",
                "-o",
                "q",
            ],
            "the partial output for q was removed",
            "stdout",
        ),
        (
            vec!["verify", "--key-file", "k.key", "--report", "r.json"],
            "the file was not verified to the end",
            "output",
        ),
    ] {
        env.write("r.json", b"{\"outcome\":{\"ok\":true}}\n");
        let mut child = env
            .cmd()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&sealed[..sealed.len() / 2]).expect("feed");
        std::thread::sleep(Duration::from_millis(700));
        kill(&child, "-HUP");
        let o = child.wait_with_output().expect("wait");
        drop(stdin);
        assert_eq!(code(&o), 129, "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(says), "{err}");
        assert!(!err.contains(never), "{err}");
        let r = env.report("r.json");
        assert_eq!(r["outcome"]["interrupted"], "SIGHUP", "{r}");
        assert_eq!(r["outcome"]["ok"], false);
        assert!(!env.p("q").exists());
    }
}

/// How an S3 request fails in the exit-class table.
#[derive(Clone, Copy, Debug)]
enum Row {
    MissingBucket,
    MissingObject,
    Forbidden,
    BadGateway,
}

impl Row {
    fn exit(self) -> i32 {
        match self {
            Row::MissingBucket | Row::Forbidden => 4,
            Row::BadGateway => 5,
            Row::MissingObject => 1,
        }
    }

    fn fault(self, op: &'static str, after: usize) -> Option<Fault> {
        match self {
            Row::Forbidden => Some(Fault {
                after,
                ..s3_error(op, 403, "AccessDenied", None)
            }),
            Row::BadGateway => Some(Fault {
                after,
                ..http_page(op, 502)
            }),
            _ => None,
        }
    }
}

#[test]
fn s3_failures_keep_their_exit_class_at_every_size_in_every_command() {
    let env = Env::new("classes");
    assert_eq!(code(&env.run(&["keygen", "-o", "k2.key"])), 0);
    let small = data(100_000, 7);
    let big = data(12 * MIB, 8);
    env.write("small", &small);
    env.write("big", &big);
    env.seal("small.envs", &small);
    env.seal("big.envs", &big);
    for (name, plain) in [("small.envs", "small"), ("big.envs", "big")] {
        let o = env.run(&["seal", "--key-file", "k.key", "-o", name, plain]);
        assert_eq!(code(&o), 0);
    }
    // (what, args, the request to fail, requests let through first, row)
    let mut jobs: Vec<(String, Vec<String>, &'static str, usize, Row)> = Vec::new();
    let nobucket = "s3://no-such-bucket-envstream/x.envs".to_owned();
    for (size, plain, sealed, first_op) in [
        ("under 8 MiB", "small", "small.envs", "PutObject"),
        ("over 8 MiB", "big", "big.envs", "CreateMultipartUpload"),
    ] {
        for row in [Row::MissingBucket, Row::Forbidden, Row::BadGateway] {
            for cmd in ["seal", "rekey"] {
                let n = jobs.len();
                let dest = if matches!(row, Row::MissingBucket) {
                    nobucket.clone()
                } else {
                    env.url(&format!("w{n}.envs"))
                };
                let args: Vec<String> = if cmd == "seal" {
                    vec![
                        "seal".into(),
                        "--key-file".into(),
                        "k.key".into(),
                        "-o".into(),
                        dest,
                        plain.into(),
                    ]
                } else {
                    vec![
                        "rekey".into(),
                        "--key-file".into(),
                        "k.key".into(),
                        "--add-key-file".into(),
                        "k2.key".into(),
                        "-o".into(),
                        dest,
                        sealed.into(),
                    ]
                };
                jobs.push((format!("{cmd} {size} {row:?}"), args, first_op, 0, row));
            }
        }
        // The same failures in the middle of a multipart upload.
        if size == "over 8 MiB" {
            for row in [Row::Forbidden, Row::BadGateway] {
                let n = jobs.len();
                let args = vec![
                    "seal".into(),
                    "--key-file".into(),
                    "k.key".into(),
                    "-o".into(),
                    env.url(&format!("w{n}.envs")),
                    plain.into(),
                ];
                jobs.push((
                    format!("seal mid-upload {row:?}"),
                    args,
                    "UploadPart",
                    1,
                    row,
                ));
            }
        }
    }
    // Reads: the first GET, and (over 8 MiB) a GET inside the engine.
    for (size, key, after) in [
        ("under 8 MiB", "small.envs", 0),
        ("over 8 MiB", "big.envs", 1),
    ] {
        for row in [
            Row::MissingBucket,
            Row::MissingObject,
            Row::Forbidden,
            Row::BadGateway,
        ] {
            if after > 0 && matches!(row, Row::MissingBucket | Row::MissingObject) {
                continue; // a bucket or object cannot go missing between two GETs here
            }
            let url = match row {
                Row::MissingBucket => format!("s3://no-such-bucket-envstream/{key}"),
                Row::MissingObject => env.url("no-such-object.envs"),
                _ => env.url(key),
            };
            let n = jobs.len();
            for (cmd, mut args) in [
                ("open", vec!["open", "--key-file", "k.key", "-o"]),
                (
                    "open --range",
                    vec!["open", "--key-file", "k.key", "--range", "10..", "-o"],
                ),
                ("verify", vec!["verify", "--key-file", "k.key"]),
                (
                    "rekey to a file",
                    vec![
                        "rekey",
                        "--key-file",
                        "k.key",
                        "--add-key-file",
                        "k2.key",
                        "-o",
                    ],
                ),
                ("inspect", vec!["inspect"]),
            ] {
                if cmd == "inspect" && after > 0 {
                    continue; // inspect makes one GET
                }
                let out = format!("q{n}-{}", cmd.replace(' ', "_"));
                if args.last() == Some(&"-o") {
                    args.push(&out);
                }
                args.push(&url);
                let args = args.into_iter().map(str::to_owned).collect();
                jobs.push((
                    format!("{cmd} {size} {row:?}"),
                    args,
                    "GetObject",
                    after,
                    row,
                ));
            }
        }
    }
    let total = jobs.len();
    run_all(jobs, 8, |(what, args, op, after, row)| {
        let proxy = Proxy::start_with(any_op);
        if let Some(f) = row.fault(op, after) {
            proxy.inject(f);
        }
        let o = aws_cmd(env.dir.path())
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .args(&args)
            .output()
            .expect("spawn");
        assert_eq!(code(&o), row.exit(), "{what}: {}", stderr(&o));
        one_error_line(&o);
        if matches!(row, Row::BadGateway) {
            assert!(stderr(&o).contains("retry later"), "{what}: {}", stderr(&o));
        }
    });
    assert!(total >= 40, "{total} runs");
    assert_eq!(open_uploads(&env.bucket), 0);
}

#[test]
fn a_failed_abort_names_the_upload_left_behind_and_how_to_remove_it() {
    let env = Env::new("leftover");
    env.write("p", &data(20 * MIB, 9));
    for (what, fail) in [
        ("a part", s3_error("UploadPart", 403, "AccessDenied", None)),
        (
            "the completion",
            s3_error("CompleteMultipartUpload", 403, "AccessDenied", None),
        ),
    ] {
        env.proxy.reset();
        env.proxy.inject(fail);
        env.proxy
            .inject(s3_error("AbortMultipartUpload", 500, "InternalError", None));
        let o = env.run(&[
            "seal",
            "--key-file",
            "k.key",
            "--report",
            "r.json",
            "-o",
            &env.url("l.envs"),
            "p",
        ]);
        assert_eq!(code(&o), 4, "{what}: {}", stderr(&o));
        let err = one_error_line(&o);
        assert!(
            err.contains("aws s3api abort-multipart-upload") && err.contains("--upload-id"),
            "{what}: {err}"
        );
        let r = env.report("r.json");
        let id = r["s3"]["leftover_upload"]["upload_id"]
            .as_str()
            .expect("upload id")
            .to_owned();
        assert!(err.contains(&id), "{err}");
        assert_eq!(r["s3"]["leftover_upload"]["bucket"], env.bucket.as_str());
        assert_eq!(
            open_uploads(&env.bucket),
            1,
            "{what}: the upload is really left"
        );
        let (status, _) = http(
            "DELETE",
            &format!("/{}/l.envs?uploadId={id}", env.bucket),
            b"",
        );
        assert!(status == 204 || status == 200, "{status}");
        assert_eq!(open_uploads(&env.bucket), 0);
    }
}

#[test]
fn a_missing_profile_is_exit_2_for_every_s3_command_and_named_first() {
    let env = Env::new("profile");
    env.seal("c.envs", b"profile");
    env.write("p", b"x");
    let url = env.url("c.envs");
    let dest = env.url("d.envs");
    let commands: [Vec<&str>; 5] = [
        vec!["seal", "--key-file", "k.key", "-o", &dest, "p"],
        vec!["open", "--key-file", "k.key", &url],
        vec!["verify", "--key-file", "k.key", &url],
        vec!["inspect", &url],
        vec![
            "rekey",
            "--key-file",
            "k.key",
            "--remove-key",
            "none",
            "-o",
            "r",
            &url,
        ],
    ];
    for args in &commands {
        for how in ["flag", "variable", "variable without credentials"] {
            let mut c = env.cmd();
            match how {
                "flag" => {
                    let cmd = args[0];
                    c.arg(cmd).args(["--profile", "nosuch"]).args(&args[1..]);
                }
                _ => {
                    c.env("AWS_PROFILE", "nosuch").args(args);
                }
            }
            if how.ends_with("credentials") {
                c.env_remove("AWS_ACCESS_KEY_ID")
                    .env_remove("AWS_SECRET_ACCESS_KEY");
            }
            let before = env.proxy.total();
            let o = c.output().expect("spawn");
            assert_eq!(code(&o), 2, "{args:?} {how}: {}", stderr(&o));
            let err = one_error_line(&o);
            assert!(
                err.contains("\"nosuch\" is not defined"),
                "{args:?} {how}: {err}"
            );
            assert_eq!(env.proxy.total(), before, "no request was made");
        }
    }
    assert!(!exists(&env.bucket, "d.envs"));
}

#[test]
fn limits_broken_while_building_are_usage_errors() {
    let env = Env::new("limits");
    env.write("p", b"seventeen keys");
    let mut args: Vec<String> = vec!["seal".into()];
    for i in 0..17 {
        let k = format!("k{i}.key");
        assert_eq!(code(&env.run(&["keygen", "-o", &k])), 0);
        args.extend(["--key-file".into(), k]);
    }
    args.extend(["-o".into(), "c".into(), "p".into()]);
    let o = env.cmd().args(&args).output().expect("spawn");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(one_error_line(&o).contains("at most 16"), "{}", stderr(&o));
    // Sixteen keys fit; a seventeenth added by rekey is a usage error too.
    let sixteen: Vec<String> = args[..args.len() - 5].to_vec();
    let o = env
        .cmd()
        .args(&sixteen)
        .args(["-o", "c", "p"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = env.run(&[
        "rekey",
        "--key-file",
        "k0.key",
        "--add-key-file",
        "k16.key",
        "-o",
        "r",
        "c",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(one_error_line(&o).contains("at most 16"), "{}", stderr(&o));
    assert!(!env.p("r").exists());
    // A region that is not a region: the flag, and the variable.
    for bad in ["", "us east", "us_east_1"] {
        let o = env.run(&[
            "seal",
            "--region",
            bad,
            "--key-file",
            "k.key",
            "-o",
            "x",
            "p",
        ]);
        assert_eq!(code(&o), 2, "{bad:?}: {}", stderr(&o));
    }
    env.seal("c.envs", b"x");
    let o = env
        .cmd()
        .env("AWS_REGION", "us east 1")
        .args(["inspect", &env.url("c.envs")])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(one_error_line(&o).contains("AWS_REGION"), "{}", stderr(&o));
    // FIPS endpoints and a custom endpoint do not go together.
    let arn = create_key();
    let o = env
        .cmd()
        .env("AWS_USE_FIPS_ENDPOINT", "true")
        .args(["seal", "--kms-key", &arn, "-o", "x", "p"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(one_error_line(&o).contains("FIPS"), "{}", stderr(&o));
    assert!(!env.p("x").exists());
}

// ---- 4. Messages, reports and help ----

#[test]
fn near_miss_s3_locations_and_s3_paths_for_local_files_are_usage_errors() {
    let env = Env::new("nearmiss");
    env.write("p", b"x");
    let o = env.run(&["seal", "--key-file", "k.key", "-o", "c", "p"]);
    assert_eq!(code(&o), 0);
    for (args, says) in [
        (
            vec!["seal", "--key-file", "k.key", "-o", "S3://b-b/k", "p"],
            "did you mean \"s3://b-b/k\"",
        ),
        (
            vec!["seal", "--key-file", "k.key", "-o", "s3:/b-b/k", "p"],
            "did you mean \"s3://b-b/k\"",
        ),
        (
            vec!["open", "--key-file", "k.key", "S3://b-b/k"],
            "did you mean",
        ),
        (
            vec!["verify", "--key-file", "k.key", "s3:b-b/k"],
            "did you mean \"s3://b-b/k\"",
        ),
        (vec!["inspect", "S3://b-b/k"], "did you mean"),
        (
            vec![
                "rekey",
                "--key-file",
                "k.key",
                "--remove-key",
                "x",
                "-o",
                "s3:/b-b/k",
                "c",
            ],
            "did you mean",
        ),
        (
            vec![
                "open",
                "--key-file",
                "k.key",
                "--report",
                "s3://b-b/r.json",
                "c",
            ],
            "reports are written locally",
        ),
        (
            vec!["keygen", "-o", "s3://b-b/k.key"],
            "key files are written locally",
        ),
        (
            vec!["open", "--key-file", "s3://b-b/k.key", "c"],
            "key files are read locally",
        ),
    ] {
        let o = env.run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            one_error_line(&o).contains(says),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(env.proxy.total(), 0);
    for f in std::fs::read_dir(env.dir.path()).expect("dir") {
        let name = f.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(
            !name.to_ascii_lowercase().starts_with("s3"),
            "{name} was created"
        );
    }
}

#[test]
fn an_existing_object_is_named_once_and_refused() {
    let env = Env::new("cond");
    env.write("p", b"x");
    env.seal("c.envs", b"y");
    // The existence check, and the conditional write of a racing writer.
    let o = env.run(&["seal", "--key-file", "k.key", "-o", &env.url("c.envs"), "p"]);
    assert_eq!(code(&o), 2);
    let err = one_error_line(&o);
    assert_eq!(err.matches("exists").count(), 1, "{err}");
    assert_eq!(err.matches("--force").count(), 1, "{err}");
    env.proxy
        .inject(s3_error("PutObject", 412, "PreconditionFailed", None));
    let o = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &env.url("new.envs"),
        "p",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = one_error_line(&o);
    assert_eq!(err.matches("replace").count(), 1, "{err}");
    assert_eq!(err.matches("PreconditionFailed").count(), 1, "{err}");
}

#[test]
fn reports_fill_s3_for_every_command_and_bytes_mean_the_same_in_every_rekey() {
    let env = Env::new("reports");
    let plain = data(20 * MIB, 10);
    env.write("p", &plain);
    assert_eq!(code(&env.run(&["keygen", "-o", "k2.key"])), 0);
    assert_eq!(
        code(&env.run(&["seal", "--key-file", "k.key", "-o", "c.envs", "p"])),
        0
    );
    env.seal("c.envs", &plain);
    let sealed = get(&env.bucket, "c.envs").len() as u64;
    let add = [
        "rekey",
        "--key-file",
        "k.key",
        "--add-key-file",
        "k2.key",
        "--report",
        "r.json",
        "-o",
    ];
    let mut seen = Vec::new();
    for (what, out, input) in [
        ("S3 to S3", env.url("r1.envs"), env.url("c.envs")),
        ("S3 to a file", "r2.envs".to_owned(), env.url("c.envs")),
        ("a file to S3", env.url("r3.envs"), "c.envs".to_owned()),
        (
            "a file to a file",
            "r4.envs".to_owned(),
            "c.envs".to_owned(),
        ),
    ] {
        let mut args = add.to_vec();
        args.extend([out.as_str(), input.as_str()]);
        let o = env.run(&args);
        assert_eq!(code(&o), 0, "{what}: {}", stderr(&o));
        let r = env.report("r.json");
        let uses_s3 = out.starts_with("s3://") || input.starts_with("s3://");
        assert_eq!(r["s3"].is_object(), uses_s3, "{what}: {r}");
        if uses_s3 {
            assert!(r["s3"]["requests"].as_u64().unwrap_or(0) > 0, "{what}: {r}");
        }
        seen.push((what, r["bytes_in"].as_u64(), r["bytes_out"].as_u64()));
    }
    // The same input and the same new keys: the same counts, however it ran.
    for (what, bytes_in, bytes_out) in &seen {
        assert_eq!(*bytes_in, Some(sealed), "{what}: {seen:?}");
        assert_eq!(*bytes_out, seen[0].2, "{what}: {seen:?}");
    }
    assert!(seen[0].2 > Some(sealed), "one more wrapped key");
    // A failure after S3 work still reports the requests made.
    let o = env.run(&[
        "open",
        "--key-file",
        "k.key",
        "--report",
        "r.json",
        "-o",
        "q",
        &env.url("missing.envs"),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = env.report("r.json");
    assert!(r["s3"]["requests"].as_u64().unwrap_or(0) >= 1, "{r}");
    // The server-side summary says what its byte counts hold.
    let o = env.run(&[
        "rekey",
        "--key-file",
        "k.key",
        "--add-key-file",
        "k2.key",
        "--progress",
        "-o",
        &env.url("r5.envs"),
        &env.url("c.envs"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.contains("rekeyed"))
        .expect("summary");
    let after_bar = line.rsplit('\r').next().unwrap_or(line);
    let after_bar = after_bar.trim_start_matches("\u{1b}[2K");
    assert!(
        after_bar.starts_with("envstream: rekeyed"),
        "the summary starts its own line: {line:?}"
    );
    assert!(after_bar.contains("header"), "{after_bar}");
}

#[test]
fn s3_flags_only_where_they_apply_and_help_that_says_so() {
    let env = Env::new("flags");
    env.write("p", b"x");
    assert_eq!(
        code(&env.run(&["seal", "--key-file", "k.key", "-o", "c", "p"])),
        0
    );
    for args in [
        vec!["inspect", "--s3-concurrency", "2", "c"],
        vec!["inspect", "--s3-buffer", "64M", "c"],
        vec!["verify", "--key-file", "k.key", "--s3-buffer", "64M", "c"],
        vec!["open", "--key-file", "k.key", "--s3-buffer", "64M", "c"],
        vec![
            "seal",
            "--key-file",
            "k.key",
            "--s3-buffer",
            "64M",
            "-o",
            "d",
            "p",
        ],
        vec![
            "seal",
            "--key-file",
            "k.key",
            "--s3-concurrency",
            "4",
            "-o",
            "d",
            "p",
        ],
        vec!["open", "--key-file", "k.key", "--s3-concurrency", "4", "c"],
        vec!["verify", "--key-file", "k.key", "--s3-path-style", "c"],
        vec![
            "rekey",
            "--key-file",
            "k.key",
            "--remove-key",
            "x",
            "--s3-buffer",
            "64M",
            "-o",
            "d",
            "c",
        ],
        vec!["inspect", "--region", "us-east-1", "c"],
    ] {
        let o = env.run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        one_error_line(&o);
    }
    assert!(!env.p("d").exists());
    let help = |cmd: &str| stdout(&env.run(&[cmd, "--help"]));
    assert!(!help("inspect").contains("KMS"), "{}", help("inspect"));
    assert!(
        !help("open").contains("for seal and rekey"),
        "{}",
        help("open")
    );
    assert!(!help("open").contains("--s3-buffer"));
    assert!(!help("verify").contains("--s3-buffer"));
    assert!(help("seal").contains("--s3-buffer"));
}

#[test]
fn seal_refuses_a_terminal_on_stdin() {
    let env = Env::new("tty");
    // util-linux `script` gives the command a pseudo-terminal as stdin.
    let line = format!("{} seal --key-file k.key -o out", support::BIN);
    let o = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(env.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` is needed for this test");
    let shown = stdout(&o);
    assert!(
        shown.contains("refusing to seal what is typed on a terminal"),
        "{shown}"
    );
    assert!(!env.p("out").exists());
    // A pipe is fine, as before.
    let o = feed(
        {
            let mut c = support::cmd(env.dir.path());
            c.args(["seal", "--key-file", "k.key", "-o", "out"]);
            c
        },
        b"piped",
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}
