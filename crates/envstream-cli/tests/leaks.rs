//! No secret in any message: the leak matrix.
//!
//! Every command (`seal`, `open`, `verify`, `rekey`, `inspect`) runs against
//! moto (KMS and S3, started by scripts/test.sh) through the test proxy,
//! which fails one operation at a time in the ways a broken or hostile
//! endpoint does: answers that carry the data key (a well-formed error
//! whose message holds it, malformed JSON or XML holding it, an HTML page
//! holding it, the request echoed back, the real KMS answer with its
//! `Plaintext` under a 500 status or behind garbage), HTML pages, bodies cut
//! off, 500s and hangs. moto itself never answers like this; the proxy
//! emulates it. Endpoint typos (in every variable and in a profile) are run
//! too.
//!
//! After each run, stderr and the `--report` file must not contain the
//! data key (as the proxy saw it go by), the stream keys derived from it
//! (docs/FORMAT.md section 6), or a key file's secret, in hex (either case)
//! or base64 (standard or URL-safe, padded or not).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine;
use support::proxy::{
    any_op, body_of, custom, fault, raw_answer, Fault, Maker, Proxy, CUT, HANG, KMS_JSON,
};
use support::setup::{bucket, create_key, put};
use support::{aws_cmd, code, run_all, stderr};

const MIB: usize = 1 << 20;

/// Every text form of a secret that a message could carry.
fn encodings(secret: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        hex.to_ascii_uppercase(),
        hex,
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ]
}

/// Fails if `text` holds any secret in any encoding.
fn assert_clean(text: &str, secrets: &[Vec<u8>], what: &str) {
    for s in secrets {
        for e in encodings(s) {
            assert!(!text.contains(&e), "{what}: a secret ({e}) is in: {text}");
        }
    }
}

/// The three stream keys of a sealed file (docs/FORMAT.md section 6.1).
fn derived_keys(sealed: &[u8], data_key: &[u8]) -> Vec<Vec<u8>> {
    let (h, _) = envstream::Header::parse(sealed).expect("a sealed file");
    let hk = hkdf::Hkdf::<sha2::Sha512>::new(Some(h.salt()), data_key);
    ["payload key", "key commitment", "header key"]
        .iter()
        .map(|label| {
            let mut info = b"envstream v1 ".to_vec();
            info.extend_from_slice(label.as_bytes());
            info.push(0);
            info.extend_from_slice(&h.suite().id().to_be_bytes());
            info.extend_from_slice(&h.chunk_size().to_be_bytes());
            info.extend_from_slice(&h.context().encode());
            let mut out = vec![0u8; 32];
            hk.expand(&info, &mut out).expect("hkdf");
            out
        })
        .collect()
}

/// A key file's 32-byte secret.
fn key_file_secret(text: &str) -> Vec<u8> {
    let hex = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("ENVSTREAM-LOCAL-KEY-V1-"))
        .expect("a key line");
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A signing key file's 32-byte Ed25519 seed.
fn signing_key_secret(text: &str) -> Vec<u8> {
    secret_line(text, "ENVSTREAM-SIGNING-KEY-V1-")
}

/// The 32 bytes after `prefix` on a key file's secret line.
fn secret_line(text: &str, prefix: &str) -> Vec<u8> {
    let hex = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .expect("a key line");
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A KMS signing key in moto.
fn create_sign_key() -> String {
    let v = support::setup::kms_call(
        "CreateKey",
        serde_json::json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
    );
    v["KeyMetadata"]["Arn"].as_str().expect("arn").to_owned()
}

struct Lab {
    dir: tempfile::TempDir,
    proxy: Proxy,
    bucket: String,
    arn: String,
    arn2: String,
    /// A KMS signing key (ECC_NIST_P256) that signed `s.envs`.
    signarn: String,
    /// Secrets known before any case runs: both key files, the data key of
    /// `c.envs` and its stream keys.
    known: Vec<Vec<u8>>,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().expect("tempdir"),
            proxy: Proxy::start_with(any_op),
            bucket: bucket("leaks"),
            arn: create_key(),
            arn2: create_key(),
            signarn: create_sign_key(),
            known: Vec::new(),
        };
        for k in ["k.key", "k2.key"] {
            assert_eq!(code(&lab.run(&["keygen", "-o", k])), 0);
        }
        let small: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let big: Vec<u8> = (0..(9 * MIB) as u32)
            .map(|i| (i * 13 + i / 7) as u8)
            .collect();
        let bigger: Vec<u8> = (0..(17 * MIB) as u32).map(|i| (i * 3) as u8).collect();
        std::fs::write(lab.p("p"), &small).expect("write");
        std::fs::write(lab.p("pbig"), &big).expect("write");
        std::fs::write(lab.p("pbigger"), &bigger).expect("write");
        let (arn, bucket) = (lab.arn.clone(), lab.bucket.clone());
        for (plain, sealed) in [("p", "c.envs"), ("pbigger", "cbig.envs")] {
            let o = lab.run(&[
                "seal",
                "--kms-key",
                &arn,
                "--key-file",
                "k.key",
                "-o",
                sealed,
                plain,
            ]);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            put(
                &bucket,
                sealed,
                &std::fs::read(lab.p(sealed)).expect("read"),
            );
        }
        let mut known = Vec::new();
        for k in ["k.key", "k2.key"] {
            known.push(key_file_secret(
                &std::fs::read_to_string(lab.p(k)).expect("key file"),
            ));
        }
        let data_keys = lab.proxy.secrets();
        assert_eq!(data_keys.len(), 2, "the proxy saw both data keys");
        for (dk, sealed) in data_keys.iter().zip(["c.envs", "cbig.envs"]) {
            known.extend(derived_keys(
                &std::fs::read(lab.p(sealed)).expect("read"),
                dk,
            ));
        }
        known.extend(data_keys);
        // A local signing key's secret must not leak either.
        assert_eq!(code(&lab.run(&["keygen", "--sign", "-o", "w.key"])), 0);
        known.push(signing_key_secret(
            &std::fs::read_to_string(lab.p("w.key")).expect("key file"),
        ));
        // A stream signed by the KMS key (and by nobody else).
        let o = lab.run(&[
            "seal",
            "--kms-key",
            &lab.arn,
            "--sign-key",
            &lab.signarn,
            "-o",
            "s.envs",
            "p",
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        // An identity's secret (public-key recipients), and an object
        // sealed to its recipient.
        assert_eq!(code(&lab.run(&["keygen", "--recipient", "-o", "r.id"])), 0);
        known.push(secret_line(
            &std::fs::read_to_string(lab.p("r.id")).expect("identity file"),
            "ENVSTREAM-IDENTITY-MLKEM768X25519-V1-",
        ));
        let o = lab.run(&["seal", "--recipient", "r.id.pub", "-o", "r.envs", "p"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        put(
            &lab.bucket,
            "r.envs",
            &std::fs::read(lab.p("r.envs")).expect("read"),
        );
        Lab { known, ..lab }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut c = aws_cmd(self.dir.path());
        c.env("AWS_ENDPOINT_URL", &self.proxy.url);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("spawn")
    }

    /// Every secret known now (the proxy keeps the data keys of new seals).
    fn secrets(&self) -> Vec<Vec<u8>> {
        let mut v = self.known.clone();
        v.extend(self.proxy.secrets());
        v
    }
}

/// The secrets a fault's answer carries: whatever is known when it answers.
type Carried = Arc<dyn Fn() -> Vec<Vec<u8>> + Send + Sync>;

fn carried_text(carried: &Carried) -> String {
    carried()
        .iter()
        .flat_map(|s| encodings(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ways an answer can go wrong, each a fault for one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    /// A well-formed service error whose message holds the secrets.
    ErrorWithSecrets(u16),
    /// 200 with a body that does not parse and holds the secrets.
    MalformedWithSecrets,
    /// An HTML page holding the secrets.
    HtmlWithSecrets(u16),
    /// The request body sent back with an error status (KMS Encrypt
    /// requests carry the data key).
    Echo,
    /// The real answer (a KMS Plaintext) under a 500 status.
    RealBodyAs500,
    /// The real answer behind garbage, with 200.
    RealBodyGarbled,
    /// The real answer cut off in the middle.
    Cut,
    /// An HTML 500 page.
    Html500,
    /// No answer at all.
    Hang,
}

fn make_fault(target: &'static str, bad: Bad, kms: bool, carried: Carried) -> Fault {
    let ctype = if kms { KMS_JSON } else { "application/xml" };
    let maker: Maker = match bad {
        Bad::Cut => return fault(target, CUT, None),
        Bad::Hang => return fault(target, HANG, None),
        Bad::ErrorWithSecrets(status) => Arc::new(move |_, _| {
            let text = carried_text(&carried);
            let body = if kms {
                format!("{{\"__type\":\"AccessDeniedException\",\"message\":\"{text}\"}}")
            } else {
                format!("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>{text}</Message><RequestId>{text}</RequestId></Error>")
            };
            raw_answer(status, ctype, "", body.as_bytes())
        }),
        Bad::MalformedWithSecrets => Arc::new(move |_, _| {
            let text = carried_text(&carried);
            let body = if kms {
                format!("{{\"Plaintext\":\"{text}\",\"KeyId\":")
            } else {
                format!("<?xml version=\"1.0\"?><CompleteMultipartUploadResult><ETag>{text}")
            };
            raw_answer(200, ctype, "", body.as_bytes())
        }),
        Bad::HtmlWithSecrets(status) => Arc::new(move |_, _| {
            let body = format!(
                "<html><body>portal {}</body></html>",
                carried_text(&carried)
            );
            raw_answer(status, "text/html", "", body.as_bytes())
        }),
        Bad::Echo => Arc::new(move |req, _| raw_answer(400, ctype, "", &req.body)),
        Bad::RealBodyAs500 => Arc::new(move |_, upstream| {
            let raw = upstream().unwrap_or_default();
            raw_answer(500, ctype, "", body_of(&raw))
        }),
        Bad::RealBodyGarbled => Arc::new(move |_, upstream| {
            let raw = upstream().unwrap_or_default();
            let mut body = b"<<garbage>>".to_vec();
            body.extend_from_slice(body_of(&raw));
            raw_answer(200, ctype, "", &body)
        }),
        Bad::Html500 => Arc::new(move |_, _| {
            raw_answer(
                500,
                "text/html",
                "",
                b"<html><body>500 Internal Server Error</body></html>",
            )
        }),
    };
    custom(target, maker)
}

const KMS_FAULTS: [Bad; 9] = [
    Bad::ErrorWithSecrets(400),
    Bad::MalformedWithSecrets,
    Bad::HtmlWithSecrets(200),
    Bad::HtmlWithSecrets(502),
    Bad::Echo,
    Bad::RealBodyAs500,
    Bad::RealBodyGarbled,
    Bad::Cut,
    Bad::Html500,
];

const S3_FAULTS: [Bad; 7] = [
    Bad::ErrorWithSecrets(403),
    Bad::ErrorWithSecrets(500),
    Bad::MalformedWithSecrets,
    Bad::HtmlWithSecrets(200),
    Bad::HtmlWithSecrets(502),
    Bad::Cut,
    Bad::Html500,
];

/// One command of the matrix: its name, its arguments (`{out}` becomes a
/// name of its own, `{arn}`, `{arn2}` and `{bucket}` the lab's), and the
/// operations it performs.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    kms_ops: &'static [&'static str],
    s3_ops: &'static [&'static str],
}

const CASES: [Case; 15] = [
    Case {
        name: "seal to S3 to a KMS key and a recipient",
        args: &[
            "seal",
            "--kms-key",
            "{arn}",
            "--recipient",
            "r.id.pub",
            "-o",
            "s3://{bucket}/{out}",
            "p",
        ],
        kms_ops: &["GenerateDataKey"],
        s3_ops: &["HeadObject", "PutObject"],
    },
    Case {
        name: "open from S3 with an identity",
        args: &[
            "open",
            "--identity",
            "r.id",
            "-o",
            "{out}",
            "s3://{bucket}/r.envs",
        ],
        kms_ops: &[],
        s3_ops: &["GetObject"],
    },
    Case {
        name: "seal signed by a KMS key",
        args: &[
            "seal",
            "--kms-key",
            "{arn}",
            "--sign-key",
            "{signarn}",
            "-o",
            "{out}",
            "p",
        ],
        kms_ops: &["GetPublicKey", "Sign"],
        s3_ops: &[],
    },
    Case {
        name: "verify a signed file, the KMS signer pinned",
        args: &[
            "verify",
            "--kms-key",
            "{arn}",
            "--signer",
            "{signarn}",
            "s.envs",
        ],
        kms_ops: &["GetPublicKey", "Decrypt"],
        s3_ops: &[],
    },
    Case {
        name: "seal to a file, two KMS keys",
        args: &[
            "seal",
            "--kms-key",
            "{arn}",
            "--kms-key",
            "{arn2}",
            "--key-file",
            "k.key",
            "-o",
            "{out}",
            "p",
        ],
        kms_ops: &["GenerateDataKey", "Encrypt"],
        s3_ops: &[],
    },
    Case {
        name: "seal a small stream to S3",
        args: &[
            "seal",
            "--kms-key",
            "{arn}",
            "--key-file",
            "k.key",
            "-o",
            "s3://{bucket}/{out}",
            "p",
        ],
        kms_ops: &["GenerateDataKey"],
        s3_ops: &["HeadObject", "PutObject"],
    },
    Case {
        name: "seal a multipart stream to S3",
        args: &[
            "seal",
            "--kms-key",
            "{arn}",
            "-o",
            "s3://{bucket}/{out}",
            "pbig",
        ],
        kms_ops: &[],
        s3_ops: &[
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
        ],
    },
    Case {
        name: "open a file",
        args: &["open", "--kms-key", "{arn}", "-o", "{out}", "c.envs"],
        kms_ops: &["Decrypt"],
        s3_ops: &[],
    },
    Case {
        name: "open from S3",
        args: &[
            "open",
            "--kms-key",
            "{arn}",
            "-o",
            "{out}",
            "s3://{bucket}/cbig.envs",
        ],
        kms_ops: &["Decrypt"],
        s3_ops: &["GetObject"],
    },
    Case {
        name: "open a range from S3",
        args: &[
            "open",
            "--kms-key",
            "{arn}",
            "--range",
            "9000000..",
            "-o",
            "{out}",
            "s3://{bucket}/cbig.envs",
        ],
        kms_ops: &[],
        s3_ops: &["GetObject"],
    },
    Case {
        name: "verify a file",
        args: &["verify", "--kms-key", "{arn}", "c.envs"],
        kms_ops: &["Decrypt"],
        s3_ops: &[],
    },
    Case {
        name: "verify from S3",
        args: &["verify", "--kms-key", "{arn}", "s3://{bucket}/c.envs"],
        kms_ops: &["Decrypt"],
        s3_ops: &["GetObject"],
    },
    Case {
        name: "rekey a file, adding a KMS key",
        args: &[
            "rekey",
            "--key-file",
            "k.key",
            "--add-kms-key",
            "{arn2}",
            "-o",
            "{out}",
            "c.envs",
        ],
        kms_ops: &["Encrypt"],
        s3_ops: &[],
    },
    Case {
        name: "rekey inside S3",
        args: &[
            "rekey",
            "--kms-key",
            "{arn}",
            "--add-key-file",
            "k2.key",
            "-o",
            "s3://{bucket}/{out}",
            "s3://{bucket}/cbig.envs",
        ],
        kms_ops: &["Decrypt"],
        s3_ops: &[
            "GetObject",
            "HeadObject",
            "CreateMultipartUpload",
            "UploadPartCopy",
            "UploadPart",
            "CompleteMultipartUpload",
        ],
    },
    Case {
        name: "inspect from S3",
        args: &["inspect", "s3://{bucket}/c.envs"],
        kms_ops: &[],
        s3_ops: &["GetObject"],
    },
];

/// Whether a run with this fault must fail. A 403 on the existence check
/// passes by design (a write-only role gets 403 for a missing key), and a
/// cut-off answer with an empty body is a whole answer.
/// A cut-off answer to a completion that reached the server is recognised
/// by the object's ETag (the upload did complete).
fn must_fail(op: &str, bad: Bad) -> bool {
    let whole_when_cut = matches!(
        op,
        "HeadObject" | "PutObject" | "UploadPart" | "CompleteMultipartUpload"
    );
    let passes_by_design = op == "HeadObject" && bad == Bad::ErrorWithSecrets(403);
    let whole_answer = whole_when_cut && bad == Bad::Cut;
    !(passes_by_design || whole_answer)
}

/// One case through its own proxy (faults are per proxy), with a report.
fn run_case(lab: &Lab, case: &Case, op: &'static str, bad: Bad, n: usize) {
    let proxy = Proxy::start_with(any_op);
    let shared = proxy.secrets.clone();
    let known = lab.known.clone();
    let carried: Carried = Arc::new(move || {
        let mut v = known.clone();
        v.extend(shared.lock().expect("lock").iter().cloned());
        v
    });
    proxy.inject(make_fault(op, bad, case.kms_ops.contains(&op), carried));
    let out = format!("out-{n}");
    let report = format!("r-{n}.json");
    let mut args: Vec<String> = case
        .args
        .iter()
        .map(|a| {
            a.replace("{out}", &out)
                .replace("{signarn}", &lab.signarn)
                .replace("{arn2}", &lab.arn2)
                .replace("{arn}", &lab.arn)
                .replace("{bucket}", &lab.bucket)
        })
        .collect();
    if case.args[0] != "inspect" {
        args.splice(1..1, ["--report".to_owned(), report.clone()]);
    }
    let o = aws_cmd(lab.dir.path())
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .args(&args)
        .output()
        .expect("spawn");
    let what = format!("{} with {op} answering {bad:?}", case.name);
    let mut secrets = lab.secrets();
    secrets.extend(proxy.secrets());
    let err = stderr(&o);
    assert_clean(&err, &secrets, &what);
    if case.args[0] != "inspect" {
        let text = std::fs::read_to_string(lab.p(&report))
            .unwrap_or_else(|e| panic!("{what}: no report ({e}); stderr: {err}"));
        assert_clean(&text, &secrets, &format!("{what}, report"));
    }
    if must_fail(op, bad) {
        assert_ne!(code(&o), 0, "{what}: {err}");
        assert!(
            err.lines().any(|l| l.starts_with("envstream: error: ")),
            "{what}: {err}"
        );
    }
}

#[test]
fn no_secret_in_stderr_or_the_report_whatever_kms_and_s3_answer() {
    let lab = Lab::new();
    let mut jobs = Vec::new();
    for case in &CASES {
        for &op in case.kms_ops {
            jobs.extend(KMS_FAULTS.iter().map(|&b| (case, op, b)));
        }
        for &op in case.s3_ops {
            jobs.extend(S3_FAULTS.iter().map(|&b| (case, op, b)));
        }
    }
    // A hang for each operation once (each costs the timeouts, ~25 s).
    // CompleteMultipartUpload and UploadPartCopy wait 2 minutes per attempt
    // by design (stores that assemble or copy first answer late), so their
    // hangs are left to s3.rs; what they print on a timeout is the same
    // message, built from no server text.
    let mut hung: Vec<&str> = vec!["HeadObject", "CompleteMultipartUpload", "UploadPartCopy"];
    for case in &CASES {
        for &op in case.kms_ops.iter().chain(case.s3_ops) {
            if !hung.contains(&op) {
                hung.push(op);
                jobs.push((case, op, Bad::Hang));
            }
        }
    }
    let count = jobs.len();
    assert!(count > 150, "the matrix has {count} runs");
    let jobs: Vec<_> = jobs.into_iter().enumerate().collect();
    run_all(jobs, 16, |(n, (case, op, bad))| {
        run_case(&lab, case, op, bad, n)
    });
}

/// Endpoint typos in every place an endpoint can be set: exit 2 before any
/// request, naming the setting, on one line, with no secret.
#[test]
fn endpoint_typos_exit_2_naming_the_setting_for_every_command() {
    let lab = Lab::new();
    let port = lab.proxy.url.rsplit(':').next().expect("port").to_owned();
    let typos = [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "http://".to_owned(),
        "http:/127.0.0.1".to_owned(),
        "//127.0.0.1".to_owned(),
        "ftp://127.0.0.1".to_owned(),
        format!("http://user:secret@127.0.0.1:{port}"),
    ];
    let (arn, arn2, b) = (lab.arn.clone(), lab.arn2.clone(), lab.bucket.clone());
    let s3_src = format!("s3://{b}/c.envs");
    let commands: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "rekey".into(),
                "--key-file".into(),
                "k.key".into(),
                "--add-kms-key".into(),
                arn2.clone(),
                "-o".into(),
                "t".into(),
                "c.envs".into(),
            ],
            "KMS",
        ),
        (
            vec![
                "seal".into(),
                "--kms-key".into(),
                arn.clone(),
                "-o".into(),
                "t".into(),
                "p".into(),
            ],
            "KMS",
        ),
        (
            vec![
                "open".into(),
                "--kms-key".into(),
                arn.clone(),
                "-o".into(),
                "t".into(),
                "c.envs".into(),
            ],
            "KMS",
        ),
        (
            vec![
                "verify".into(),
                "--kms-key".into(),
                arn.clone(),
                "c.envs".into(),
            ],
            "KMS",
        ),
        (
            vec![
                "seal".into(),
                "--key-file".into(),
                "k.key".into(),
                "-o".into(),
                format!("s3://{b}/typo"),
                "p".into(),
            ],
            "S3",
        ),
        (
            vec![
                "open".into(),
                "--key-file".into(),
                "k.key".into(),
                "-o".into(),
                "t".into(),
                s3_src.clone(),
            ],
            "S3",
        ),
        (
            vec![
                "verify".into(),
                "--key-file".into(),
                "k.key".into(),
                s3_src.clone(),
            ],
            "S3",
        ),
        (vec!["inspect".into(), s3_src.clone()], "S3"),
        (
            vec![
                "rekey".into(),
                "--key-file".into(),
                "k.key".into(),
                "--add-key-file".into(),
                "k2.key".into(),
                "-o".into(),
                format!("s3://{b}/typo2"),
                s3_src.clone(),
            ],
            "S3",
        ),
    ];
    let secrets = lab.secrets();
    let mut runs = 0;
    for (args, service) in &commands {
        let own = format!("AWS_ENDPOINT_URL_{service}");
        for typo in &typos {
            for var in ["AWS_ENDPOINT_URL", own.as_str(), "profile"] {
                let mut c = aws_cmd(lab.dir.path());
                if var == "profile" {
                    let cfg = lab.p("typo-config");
                    std::fs::write(
                        &cfg,
                        format!("[profile typo]\nregion = us-east-1\nendpoint_url = {typo}\n"),
                    )
                    .expect("config");
                    c.env("AWS_CONFIG_FILE", &cfg).env("AWS_PROFILE", "typo");
                } else {
                    c.env(var, typo);
                }
                let o = c.args(args).output().expect("spawn");
                let what = format!("{args:?} with {var}={typo}");
                let err = stderr(&o);
                assert_eq!(code(&o), 2, "{what}: {err}");
                assert_eq!(err.lines().count(), 1, "{what}: {err}");
                let named = if var == "profile" {
                    "endpoint_url"
                } else {
                    var
                };
                assert!(err.contains(named), "{what}: {err}");
                assert!(!err.contains("secret@"), "{what}: {err}");
                assert_clean(&err, &secrets, &what);
                runs += 1;
            }
        }
    }
    assert!(!lab.p("t").exists());
    // Only the setup's requests reached the proxy (whose port the typos
    // name): two GenerateDataKey for the two seals, and GetPublicKey,
    // GenerateDataKey and Sign for the signed one. No typo sent a request.
    assert_eq!(lab.proxy.total(), 5, "no request was sent");
    assert_eq!(runs, commands.len() * typos.len() * 3);
}
