//! `s3://` inputs and outputs, end to end: the real binary against moto's
//! S3 (started by scripts/test.sh), through the counting, fault-injecting
//! proxy for what moto does not do (failing parts, throttling, a
//! connection cut mid-GET, a hanging endpoint). Loopback only.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::proxy::{fault, s3_error, s3_op, Proxy, CUT, HANG, LOSE};
use support::setup::{bucket, exists, get, open_uploads, put};
use support::{aws_cmd, code, data, feed, stderr, stdout};

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
            proxy: Proxy::start_with(s3_op),
            bucket: bucket(prefix),
        };
        let out = env.run(&["keygen", "-o", "k.key"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        env
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn cmd_at(&self, endpoint: &str) -> Command {
        let mut c = aws_cmd(self.dir.path());
        c.env("AWS_ENDPOINT_URL_S3", endpoint);
        c
    }

    fn cmd(&self) -> Command {
        self.cmd_at(&self.proxy.url)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("spawn")
    }

    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        feed(c, input)
    }

    fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.p(name), data).expect("write");
    }

    /// Seals `plain` to `key` in the bucket (from a file).
    fn seal(&self, key: &str, plain: &[u8]) {
        self.write("plain.in", plain);
        let out = self.run(&[
            "seal",
            "--key-file",
            "k.key",
            "-o",
            &self.url(key),
            "plain.in",
        ]);
        assert_eq!(code(&out), 0, "seal: {}", stderr(&out));
    }

    fn open(&self, key: &str) -> Vec<u8> {
        let out = self.run(&["open", "--key-file", "k.key", &self.url(key)]);
        assert_eq!(code(&out), 0, "open: {}", stderr(&out));
        out.stdout
    }

    /// A JSON file the binary wrote (a `--report`).
    fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.p(name)).expect("report")).expect("json")
    }

    fn header_len(&self, key: &str) -> usize {
        let out = self.run(&["inspect", "--json", &self.url(key)]);
        assert_eq!(code(&out), 0, "inspect: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["header_len"].as_u64().expect("header_len") as usize
    }
}

/// Plaintext bytes whose sealed size is exactly `sealed` (64 KiB chunks).
fn plain_len_for(sealed: usize, header: usize) -> usize {
    let body = sealed - header;
    // body = n + 16 * (n / 65536 + 1)
    let chunks = body.div_ceil(65536 + 16);
    let n = body - 16 * chunks;
    assert_eq!(header + n + 16 * (n / 65536 + 1), sealed);
    n
}

#[test]
fn s3_round_trips_at_part_and_chunk_boundaries() {
    let env = Env::new("roundtrip");
    env.seal("probe", b"x");
    let header = env.header_len("probe");
    // Sealed sizes just under, at and over the first part (8 MiB): one
    // PutObject up to 8 MiB, a multipart upload of two parts beyond.
    let at = plain_len_for(8 * MIB, header);
    for (i, n) in [0, 1, 65536, at - 1, at, at + 1, 3 * 8 * MIB + 12345]
        .into_iter()
        .enumerate()
    {
        let key = format!("obj-{i}");
        let plain = data(n, i as u32);
        env.proxy.reset();
        env.seal(&key, &plain);
        let sealed = get(&env.bucket, &key).len();
        if sealed <= 8 * MIB {
            assert_eq!(env.proxy.count("PutObject"), 1, "{n}");
            assert_eq!(env.proxy.count("CreateMultipartUpload"), 0, "{n}");
        } else {
            assert_eq!(env.proxy.count("PutObject"), 0, "{n}");
            assert_eq!(
                env.proxy.count("UploadPart"),
                sealed.div_ceil(8 * MIB),
                "{n}"
            );
            assert_eq!(env.proxy.count("CompleteMultipartUpload"), 1, "{n}");
        }
        assert_eq!(env.open(&key), plain, "size {n}");
        let out = env.run(&["verify", "--key-file", "k.key", &env.url(&key)]);
        assert_eq!(code(&out), 0, "verify {n}: {}", stderr(&out));
        assert!(stdout(&out).contains(&format!("plaintext bytes: {n}")));
    }
    assert_eq!(open_uploads(&env.bucket), 0);
}

#[test]
fn s3_seal_from_a_pipe_and_open_to_a_file() {
    let env = Env::new("pipe");
    let plain = data(20 * MIB + 7, 5);
    let out = env.run_stdin(
        &["seal", "--key-file", "k.key", "-o", &env.url("p.envs")],
        &plain,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // 8 + 8 + 4 MiB parts.
    assert_eq!(env.proxy.count("UploadPart"), 3);
    let out = env.run(&[
        "open",
        "--key-file",
        "k.key",
        "-o",
        "restored",
        &env.url("p.envs"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(env.p("restored")).expect("restored"), plain);
    // With a size hint the parts are uniform.
    env.proxy.reset();
    let out = env.run_stdin(
        &[
            "seal",
            "--key-file",
            "k.key",
            "--expected-size",
            "20M",
            "-o",
            &env.url("q.envs"),
        ],
        &plain,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.proxy.count("UploadPart"), 3);
    assert_eq!(env.open("q.envs"), plain);
    // --expected-size without an S3 output is a usage error.
    let out = env.run_stdin(
        &["seal", "--key-file", "k.key", "--expected-size", "1G"],
        b"x",
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn s3_inspect_makes_one_ranged_get() {
    let env = Env::new("inspect");
    env.seal("i.envs", &data(3 * MIB, 1));
    env.proxy.reset();
    let out = env.run(&["inspect", &env.url("i.envs")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("wrapped keys:   1"));
    assert_eq!(env.proxy.count("GetObject"), 1);
    assert_eq!(env.proxy.total(), 1, "nothing but the one GET");
}

#[test]
fn s3_range_fetches_only_the_chunks_it_needs() {
    let env = Env::new("range");
    let plain = data(20 * MIB, 2);
    env.seal("r.envs", &plain);
    for (start, end) in [
        (10_000_000usize, 10_000_100usize),
        (0, 10),
        (65_530, 65_560), // across a chunk boundary
        (plain.len() - 5, plain.len()),
    ] {
        env.proxy.reset();
        let range = format!("{start}..{end}");
        let out = env.run(&[
            "open",
            "--key-file",
            "k.key",
            "--range",
            &range,
            &env.url("r.envs"),
        ]);
        assert_eq!(code(&out), 0, "{range}: {}", stderr(&out));
        assert_eq!(out.stdout, plain[start..end], "{range}");
        // The first read (size, ETag, header), then one GET for the chunks
        // of the range (they lie within one 8 MiB range), and nothing else.
        assert_eq!(env.proxy.count("GetObject"), 2, "{range}");
        assert_eq!(env.proxy.total(), 2, "{range}");
    }
    // The report counts the requests and bytes.
    let out = env.run(&[
        "open",
        "--key-file",
        "k.key",
        "--range",
        "0..10",
        "--report",
        "r.json",
        &env.url("r.envs"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = env.json("r.json");
    assert_eq!(report["s3"]["requests"], 2);
    assert_eq!(report["s3"]["bytes_up"], 0);
    // Past the end: only the final chunk is read (and verified).
    let out = env.run(&[
        "open",
        "--key-file",
        "k.key",
        "--range",
        "99999999..",
        &env.url("r.envs"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn s3_existing_object_is_refused_without_force() {
    let env = Env::new("exists");
    env.seal("e.envs", b"first");
    env.write("second", b"second");
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &env.url("e.envs"),
        "second",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already exists; pass --force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.open("e.envs"), b"first");
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "--force",
        "-o",
        &env.url("e.envs"),
        "second",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.open("e.envs"), b"second");
}

#[test]
fn s3_tampered_object_exits_3_and_leaves_nothing() {
    let env = Env::new("tamper");
    let plain = data(5 * MIB, 3);
    env.seal("t.envs", &plain);
    let mut sealed = get(&env.bucket, "t.envs");
    let at = sealed.len() / 2;
    sealed[at] ^= 1;
    put(&env.bucket, "t.envs", &sealed);
    let out = env.run(&[
        "open",
        "--key-file",
        "k.key",
        "-o",
        "out",
        &env.url("t.envs"),
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(!env.p("out").exists(), "no partial output");
    let out = env.run(&["verify", "--key-file", "k.key", &env.url("t.envs")]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    // An empty object is not an envstream file.
    put(&env.bucket, "empty", b"");
    let out = env.run(&["open", "--key-file", "k.key", &env.url("empty")]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
}

#[test]
fn s3_sigint_mid_upload_leaves_no_object_and_no_upload() {
    let env = Env::new("sigint");
    let mut child = env
        .cmd()
        .args(["seal", "--key-file", "k.key", "-o", &env.url("s.envs")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // Two parts' worth, then the pipe stays open: the upload is in progress.
    stdin.write_all(&data(20 * MIB, 4)).expect("feed");
    let t = Instant::now();
    while env.proxy.count("UploadPart") < 2 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(env.proxy.count("UploadPart") >= 2, "parts were uploaded");
    assert_eq!(open_uploads(&env.bucket), 1);
    let pid = child.id().to_string();
    let kill = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().expect("wait");
    drop(stdin);
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("upload was aborted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(open_uploads(&env.bucket), 0, "no open multipart upload");
    assert!(!exists(&env.bucket, "s.envs"), "no object");
}

#[test]
fn s3_server_down_exits_5() {
    let env = Env::new("down");
    env.write("plain", b"backup");
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    for args in [
        vec![
            "seal",
            "--key-file",
            "k.key",
            "-o",
            "s3://down-bucket/x",
            "plain",
        ],
        vec!["open", "--key-file", "k.key", "s3://down-bucket/x"],
        vec!["inspect", "s3://down-bucket/x"],
    ] {
        let t = Instant::now();
        let out = env.cmd_at(&closed).args(&args).output().expect("spawn");
        assert_eq!(code(&out), 5, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("could not connect"),
            "{}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(t.elapsed() < Duration::from_secs(30), "{args:?}");
    }
}

#[test]
fn s3_hanging_endpoint_exits_5_within_30_seconds() {
    let env = Env::new("hang");
    env.seal("h.envs", b"backup");
    env.proxy.inject(fault("GetObject", HANG, None));
    let t = Instant::now();
    let out = env.run(&["open", "--key-file", "k.key", &env.url("h.envs")]);
    let took = t.elapsed();
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(35), "took {took:?}");
}

#[test]
fn s3_failing_parts_are_retried_then_abort_the_upload() {
    let env = Env::new("parts");
    let plain = data(20 * MIB, 6);
    env.write("plain", &plain);
    // One 500 on a part: the SDK retries it.
    env.proxy
        .inject(s3_error("UploadPart", 500, "InternalError", Some(1)));
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &env.url("ok.envs"),
        "plain",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.proxy.count("UploadPart"), 4, "3 parts and 1 retry");
    assert_eq!(env.open("ok.envs"), plain);
    // Throttling (503 SlowDown) is retried too.
    env.proxy.reset();
    env.proxy
        .inject(s3_error("UploadPart", 503, "SlowDown", Some(2)));
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &env.url("slow.envs"),
        "plain",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.open("slow.envs"), plain);
    // A part that keeps failing: exit 5, the upload is aborted, no object.
    env.proxy.reset();
    env.proxy
        .inject(s3_error("UploadPart", 500, "InternalError", None));
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &env.url("bad.envs"),
        "plain",
    ]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("UploadPart"), "{}", stderr(&out));
    assert_eq!(env.proxy.count("AbortMultipartUpload"), 1);
    assert_eq!(open_uploads(&env.bucket), 0);
    assert!(!exists(&env.bucket, "bad.envs"));
}

#[test]
fn s3_cut_and_throttled_gets_are_retried() {
    let env = Env::new("cut");
    let plain = data(20 * MIB, 7);
    env.seal("c.envs", &plain);
    // The first range GET after the header read is cut off mid-body.
    env.proxy.inject(fault("GetObject", CUT, Some(2)));
    env.proxy
        .inject(s3_error("GetObject", 503, "SlowDown", Some(1)));
    assert_eq!(env.open("c.envs"), plain);
    // Cut every time: exit 5, and -o leaves nothing.
    env.proxy.reset();
    env.proxy.inject(fault("GetObject", CUT, None));
    let out = env.run(&[
        "open",
        "--key-file",
        "k.key",
        "-o",
        "out",
        &env.url("c.envs"),
    ]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(!env.p("out").exists());
}

#[test]
fn s3_access_denied_missing_bucket_and_missing_object() {
    let env = Env::new("denied");
    env.write("plain", b"backup");
    // A write-only role gets 403 for the existence check: the conditional
    // write decides, and the seal goes through.
    env.proxy
        .inject(s3_error("HeadObject", 403, "AccessDenied", None));
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &env.url("w.envs"),
        "plain",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.open("w.envs"), b"backup");
    env.proxy.reset();
    env.proxy
        .inject(s3_error("PutObject", 403, "AccessDenied", None));
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &env.url("d.envs"),
        "plain",
    ]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("AccessDenied"), "{}", stderr(&out));
    env.proxy.reset();
    env.proxy
        .inject(s3_error("GetObject", 403, "AccessDenied", None));
    let out = env.run(&["open", "--key-file", "k.key", &env.url("d.envs")]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("AccessDenied"), "{}", stderr(&out));
    env.proxy.reset();
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        "s3://no-such-bucket-here/x",
        "plain",
    ]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("NoSuchBucket"), "{}", stderr(&out));
    let out = env.run(&["open", "--key-file", "k.key", &env.url("missing.envs")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("NoSuchKey"), "{}", stderr(&out));
    let out = env.run(&["open", "--key-file", "k.key", "s3://x/"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn s3_rekey_copies_the_body_inside_s3() {
    let env = Env::new("rekey");
    let plain = data(30 * MIB, 8);
    env.seal("old.envs", &plain);
    let out = env.run(&["keygen", "-o", "new.key"]);
    assert_eq!(code(&out), 0);
    let old_id = {
        let out = env.run(&["inspect", "--json", &env.url("old.envs")]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        format!("local/{}", v["keys"][0]["key_id"].as_str().expect("id"))
    };
    env.proxy.reset();
    let out = env.run(&[
        "rekey",
        "--key-file",
        "k.key",
        "--add-key-file",
        "new.key",
        "--remove-key",
        &old_id,
        "--report",
        "r.json",
        "-o",
        &env.url("new.envs"),
        &env.url("old.envs"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = env.json("r.json");
    let sealed = get(&env.bucket, "old.envs").len() as u64;
    let new_len = get(&env.bucket, "new.envs").len() as u64;
    // Only the first part (8 MiB) is uploaded; the rest is copied in S3.
    assert_eq!(report["s3"]["bytes_up"], 8 * MIB as u64);
    let copied = report["s3"]["bytes_copied_in_s3"].as_u64().expect("copied");
    let down = report["s3"]["bytes_down"].as_u64().expect("down");
    assert_eq!(new_len, 8 * MIB as u64 + copied);
    assert!(copied > 20 * MIB as u64, "{copied}");
    assert!(down < 8 * MIB as u64 + 64 * 1024, "{down} of {sealed}");
    assert_eq!(env.proxy.count("UploadPartCopy"), 1);
    assert_eq!(env.proxy.count("UploadPart"), 1);
    // The new key opens it; the old one no longer does.
    let out = env.run(&["open", "--key-file", "new.key", &env.url("new.envs")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, plain);
    let out = env.run(&["open", "--key-file", "k.key", &env.url("new.envs")]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    // Onto itself: refused.
    let out = env.run(&[
        "rekey",
        "--key-file",
        "new.key",
        "--add-key-file",
        "k.key",
        "-o",
        &env.url("new.envs"),
        &env.url("new.envs"),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    // S3 to a local file, and a local file to S3.
    let out = env.run(&[
        "rekey",
        "--key-file",
        "new.key",
        "--add-key-file",
        "k.key",
        "-o",
        "local.envs",
        &env.url("new.envs"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&env.run(&["keygen", "-o", "third.key"])), 0);
    let out = env.run(&[
        "rekey",
        "--key-file",
        "k.key",
        "--add-key-file",
        "third.key",
        "-o",
        &env.url("back.envs"),
        "local.envs",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["open", "--key-file", "k.key", &env.url("back.envs")]);
    assert_eq!(out.stdout, plain);
    assert_eq!(open_uploads(&env.bucket), 0);
}

#[test]
fn s3_open_never_writes_plaintext_to_s3() {
    let env = Env::new("plainout");
    env.seal("x.envs", b"secret");
    let out = env.run(&[
        "open",
        "--key-file",
        "k.key",
        "-o",
        &env.url("plain"),
        &env.url("x.envs"),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(!exists(&env.bucket, "plain"));
}

#[test]
fn s3_setup_mistakes_exit_2_before_any_request() {
    let env = Env::new("setup");
    env.write("plain", b"backup");
    // No credentials anywhere.
    let out = env
        .cmd()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "seal",
            "--key-file",
            "k.key",
            "-o",
            &env.url("c.envs"),
            "plain",
        ])
        .output()
        .expect("spawn");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no AWS credentials"),
        "{}",
        stderr(&out)
    );
    // No region.
    let out = env
        .cmd()
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .args(["inspect", &env.url("c.envs")])
        .output()
        .expect("spawn");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("no AWS region"), "{}", stderr(&out));
    assert_eq!(env.proxy.total(), 0, "nothing was sent");
    // The generic AWS_ENDPOINT_URL works too (path-style, no flag).
    env.seal("g.envs", b"generic");
    let out = env
        .cmd()
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env("AWS_ENDPOINT_URL", &env.proxy.url)
        .args(["open", "--key-file", "k.key", &env.url("g.envs")])
        .output()
        .expect("spawn");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, b"generic");
}

#[test]
fn s3_a_lost_answer_to_the_completion_is_recognised() {
    let env = Env::new("lost");
    for (name, n, op) in [
        ("multi.envs", 20 * MIB, "CompleteMultipartUpload"),
        ("single.envs", 1000, "PutObject"),
    ] {
        let plain = data(n, 11);
        env.write("plain", &plain);
        env.proxy.reset();
        // The server completes the object, but its answer never arrives: the
        // retry is refused (the key exists now), and the object's ETag shows
        // that it is ours.
        env.proxy.inject(fault(op, LOSE, Some(1)));
        if op == "CompleteMultipartUpload" {
            // moto would accept the retried completion; S3 may find the
            // upload gone.
            env.proxy.inject(s3_error(op, 404, "NoSuchUpload", Some(1)));
        }
        let out = env.run(&["seal", "--key-file", "k.key", "-o", &env.url(name), "plain"]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        assert_eq!(env.proxy.count(op), 2, "{name}: sent, then retried");
        assert_eq!(
            env.proxy.count("HeadObject"),
            2,
            "{name}: the check, then the ETag"
        );
        assert_eq!(env.open(name), plain, "{name}");
    }
    // Someone else's object under the key is still refused.
    env.write("other", b"other");
    let out = env.run(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &env.url("single.envs"),
        "other",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(open_uploads(&env.bucket), 0);
}
