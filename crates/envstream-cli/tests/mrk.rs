//! Disaster recovery in another region (issue 19): multi-Region KMS keys
//! (FORMAT.md section 11.5) and S3 buckets in another region, end to end
//! against moto (started by `scripts/test.sh`, which exports
//! `ENVSTREAM_TEST_KMS_ENDPOINT`; without it these tests FAIL).
//!
//! moto 5.2.5 creates MRKs and replicas but cannot decrypt any MRK
//! ciphertext (its blob keeps 36 bytes of the key id and `mrk-` ids are
//! longer), and it serves a bucket to a client signing for any region. So
//! the test proxy emulates AWS, as `../shared/research/kms-emulator.md`
//! advises:
//! - one plain moto key backs a multi-Region key shown to envstream as
//!   `mrk-<its uuid without dashes>` in every region: KMS requests naming
//!   it are rewritten to the backing key (ARN and SigV4 region), and the
//!   answers' `KeyId` back into the MRK ARN of the caller's region (a
//!   Decrypt sent to us-west-2 with the replica ARN is answered for the
//!   replica ARN, as AWS does);
//! - a bucket "in us-west-2" is answered, for a request signed for another
//!   region, as S3 does: 301 with `x-amz-bucket-region: us-west-2`;
//! - the "dead" region (us-east-1, after the disaster) closes every
//!   connection without an answer.
//!
//! The proxy names each request `OPERATION@REGION` (the region the request
//! was signed for), so the tests prove that nothing went to the dead region.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::proxy::{
    any_op, body_of, close_response, custom, forward, header, host_port, moto, raw_answer, Proxy,
    Request,
};
use support::setup::{create_key, http, ACCOUNT};
use support::{aws_cmd, code, data, stderr, stdout};

const DEAD: &str = "us-east-1";
const RECOVERY: &str = "us-west-2";

/// The region a request was signed for (SigV4 credential scope).
fn signed_region(req: &Request) -> String {
    header(req, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("")
        .to_owned()
}

fn op_at_region(req: &Request) -> String {
    format!("{}@{}", any_op(req), signed_region(req))
}

/// The path's bucket (path-style requests).
fn bucket_of(req: &Request) -> String {
    req.head[0]
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .to_owned()
}

struct Lab {
    dir: tempfile::TempDir,
    proxy: Proxy,
    /// The MRK's id: `mrk-` and the backing key's uuid without dashes.
    mrk: String,
    /// A bucket that "lives" in us-west-2.
    west_bucket: String,
    dead: Arc<AtomicBool>,
    /// Answer Decrypt for the primary's ARN whatever was asked (a KMS
    /// answer for another key than the configured one).
    wrong_answer: Arc<AtomicBool>,
}

impl Lab {
    fn new() -> Lab {
        let backing = create_key();
        let uuid = backing.rsplit("key/").next().expect("uuid").to_owned();
        let mrk = format!("mrk-{}", uuid.replace('-', ""));
        let west_bucket = format!("dr-west-{}", std::process::id());
        let body = format!(
            "<CreateBucketConfiguration><LocationConstraint>{RECOVERY}</LocationConstraint></CreateBucketConfiguration>"
        );
        let (status, _) = http("PUT", &format!("/{west_bucket}"), body.as_bytes());
        assert!(status == 200 || status == 409, "create bucket: {status}");
        let dead = Arc::new(AtomicBool::new(false));
        let wrong_answer = Arc::new(AtomicBool::new(false));
        let proxy = Proxy::start_with(op_at_region);
        let (d, w, m, wb) = (
            dead.clone(),
            wrong_answer.clone(),
            mrk.clone(),
            west_bucket.clone(),
        );
        proxy.inject(custom(
            "*",
            Arc::new(move |req, fetch| {
                let region = signed_region(req);
                if d.load(Ordering::SeqCst) && region == DEAD {
                    return Vec::new(); // the connection closes unanswered
                }
                if header(req, "x-amz-target").is_some() {
                    let body = String::from_utf8_lossy(&req.body);
                    if body.contains(&m) {
                        return mrk_request(req, &region, &m, &backing, w.load(Ordering::SeqCst));
                    }
                    return fetch().map(|r| close_response(&r)).unwrap_or_default();
                }
                if bucket_of(req) == wb && region != RECOVERY {
                    let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message><Bucket>{wb}</Bucket></Error>");
                    let head_only = req.head[0].starts_with("HEAD ");
                    return raw_answer(
                        301,
                        "application/xml",
                        &format!("x-amz-bucket-region: {RECOVERY}\r\nx-amz-request-id: EMULATED\r\n"),
                        if head_only { b"" } else { xml.as_bytes() },
                    );
                }
                fetch().map(|r| close_response(&r)).unwrap_or_default()
            }),
        ));
        let lab = Lab {
            dir: tempfile::tempdir().expect("tempdir"),
            proxy,
            mrk,
            west_bucket,
            dead,
            wrong_answer,
        };
        assert_eq!(code(&lab.run(&["keygen", "-o", "k.key"])), 0);
        lab
    }

    fn arn(&self, region: &str) -> String {
        format!("arn:aws:kms:{region}:{ACCOUNT}:key/{}", self.mrk)
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.west_bucket)
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

    fn ok(&self, args: &[&str]) -> Output {
        let o = self.run(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        o
    }

    /// Requests signed for `region` since the last reset.
    fn requests_to(&self, region: &str) -> usize {
        let suffix = format!("@{region}");
        self.proxy
            .counts
            .lock()
            .expect("lock")
            .iter()
            .filter(|(k, _)| k.ends_with(&suffix))
            .map(|(_, n)| n)
            .sum()
    }

    fn reset_counts(&self) {
        self.proxy.counts.lock().expect("lock").clear();
    }
}

/// A KMS request that names the emulated MRK: sent to the backing key
/// (its ARN in the body, its region in the signature), and answered with
/// the MRK's ARN in the caller's region (or the primary's, with `wrong`).
fn mrk_request(req: &Request, region: &str, mrk: &str, backing: &str, wrong: bool) -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_slice(&req.body).expect("kms json");
    if body["KeyId"].as_str().is_some_and(|k| k.contains(mrk)) {
        body["KeyId"] = backing.into();
    }
    let body = body.to_string().into_bytes();
    let backing_region = backing.split(':').nth(3).expect("region");
    let head = req
        .head
        .iter()
        .map(|l| {
            let lower = l.to_ascii_lowercase();
            if lower.starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else if lower.starts_with("authorization:") {
                l.replace(
                    &format!("/{region}/kms/"),
                    &format!("/{backing_region}/kms/"),
                )
            } else {
                l.clone()
            }
        })
        .collect();
    let raw = forward(&host_port(&moto()), &Request { head, body }).expect("moto");
    if !raw.starts_with(b"HTTP/1.1 200") {
        return close_response(&raw);
    }
    let mut answer: serde_json::Value = serde_json::from_slice(body_of(&raw)).expect("kms answer");
    let shown = if wrong { DEAD } else { region };
    let account = backing.split(':').nth(4).expect("account");
    answer["KeyId"] = format!("arn:aws:kms:{shown}:{account}:key/{mrk}").into();
    raw_answer(
        200,
        "application/x-amz-json-1.1",
        "",
        answer.to_string().as_bytes(),
    )
}

#[test]
fn a_backup_sealed_with_the_primary_is_restored_in_the_recovery_region_without_the_dead_one() {
    let lab = Lab::new();
    let plain = data(3 << 20, 19);
    std::fs::write(lab.p("plain"), &plain).expect("write");
    let primary = lab.arn(DEAD);
    let replica = lab.arn(RECOVERY);
    // Before the disaster: seal with the primary, in us-east-1, to the
    // replicated bucket in us-west-2 (S3 sends the client there).
    let o = lab.ok(&[
        "seal",
        "--kms-key",
        &primary,
        "-o",
        &lab.url("b.envs"),
        "plain",
    ]);
    assert!(
        stderr(&o).contains(&format!("bucket {} is in {RECOVERY}", lab.west_bucket)),
        "{}",
        stderr(&o)
    );
    let o = lab.ok(&["inspect", &lab.url("b.envs")]);
    assert!(
        stdout(&o).contains(&format!("{primary} (multi-Region key")),
        "{}",
        stdout(&o)
    );
    let o = lab.ok(&["inspect", "--json", &lab.url("b.envs")]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["keys"][0]["multi_region"], true, "{j}");

    // us-east-1 is gone.
    lab.dead.store(true, Ordering::SeqCst);
    lab.reset_counts();
    let o = lab.ok(&[
        "open",
        "--kms-key",
        &replica,
        "--region",
        RECOVERY,
        &lab.url("b.envs"),
    ]);
    assert!(o.stdout == plain, "restored with the replica");
    assert_eq!(lab.proxy.count(&format!("Decrypt@{RECOVERY}")), 1);
    let o = lab.ok(&[
        "open",
        "--discovery",
        "--discovery-account",
        ACCOUNT,
        "--region",
        RECOVERY,
        &lab.url("b.envs"),
    ]);
    assert!(
        o.stdout == plain,
        "restored by discovery in the recovery region"
    );
    // The monthly rehearsal: verify in the recovery region, no plaintext.
    let o = lab.ok(&[
        "verify",
        "--kms-key",
        &replica,
        "--region",
        RECOVERY,
        &lab.url("b.envs"),
    ]);
    assert!(stdout(&o).contains("verified"), "{}", stdout(&o));
    assert_eq!(
        lab.requests_to(DEAD),
        0,
        "a request went to the dead region"
    );
    assert_eq!(lab.proxy.count(&format!("Decrypt@{RECOVERY}")), 3);

    // Without the replica (the primary's ARN), the dead region is called
    // and the restore fails as unavailable (exit 5), not silently.
    let o = lab.run(&[
        "open",
        "--kms-key",
        &primary,
        "--region",
        RECOVERY,
        &lab.url("b.envs"),
    ]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
}

#[test]
fn mrk_negatives() {
    let lab = Lab::new();
    let plain = data(100_000, 4);
    std::fs::write(lab.p("plain"), &plain).expect("write");
    let (primary, replica) = (lab.arn(DEAD), lab.arn(RECOVERY));
    lab.ok(&["seal", "--kms-key", &primary, "-o", "m.envs", "plain"]);
    let plain_key = create_key();
    lab.ok(&["seal", "--kms-key", &plain_key, "-o", "p.envs", "plain"]);
    lab.reset_counts();
    let other_account = format!("arn:aws:kms:{RECOVERY}:444455556666:key/{}", lab.mrk);
    let alias = format!("arn:aws:kms:{RECOVERY}:{ACCOUNT}:alias/{}", lab.mrk);
    let swapped = plain_key.replace(&format!(":{DEAD}:"), &format!(":{RECOVERY}:"));
    for (what, key, file) in [
        ("a region-swapped non-MRK ARN", swapped.as_str(), "p.envs"),
        (
            "an MRK of another account",
            other_account.as_str(),
            "m.envs",
        ),
    ] {
        let o = lab.run(&["open", "--kms-key", key, file]);
        assert_eq!(code(&o), 4, "{what}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{what}: {}", stderr(&o));
    }
    // An alias never matches (records hold key ARNs): opening with one is
    // refused before any request, naming what to pass instead. (Discovery
    // never calls an alias record either: docs/vectors/kms_matching.json.)
    let o = lab.run(&["open", "--kms-key", &alias, "m.envs"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("needs a key ARN"), "{}", stderr(&o));
    assert_eq!(lab.proxy.count(&format!("Decrypt@{RECOVERY}")), 0);
    assert_eq!(lab.proxy.count(&format!("Decrypt@{DEAD}")), 0);
    // One MRK configured twice (primary and replica): exit 2, both named.
    let twice: [&[&str]; 3] = [
        &[
            "open",
            "--kms-key",
            &primary,
            "--kms-key",
            &replica,
            "m.envs",
        ],
        &[
            "seal",
            "--kms-key",
            &primary,
            "--kms-key",
            &replica,
            "-o",
            "x.envs",
            "plain",
        ],
        &[
            "rekey",
            "--kms-key",
            &primary,
            "--add-kms-key",
            &replica,
            "--add-kms-key",
            &primary,
            "-o",
            "x.envs",
            "m.envs",
        ],
    ];
    for args in twice {
        let o = lab.run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&primary) && stderr(&o).contains(&replica),
            "{}",
            stderr(&o)
        );
        assert!(!lab.p("x.envs").exists());
    }
    // A Decrypt answer for another key than the configured replica.
    lab.wrong_answer.store(true, Ordering::SeqCst);
    let o = lab.run(&[
        "open",
        "--kms-key",
        &replica,
        "--region",
        RECOVERY,
        "m.envs",
    ]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("not the expected"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    lab.wrong_answer.store(false, Ordering::SeqCst);
    let o = lab.ok(&[
        "open",
        "--kms-key",
        &replica,
        "--region",
        RECOVERY,
        "m.envs",
    ]);
    assert_eq!(o.stdout, plain);
}

#[test]
fn an_object_in_another_region_is_read_there_and_the_report_says_so() {
    let lab = Lab::new();
    let plain = data(200_000, 8);
    std::fs::write(lab.p("plain"), &plain).expect("write");
    lab.ok(&[
        "seal",
        "--key-file",
        "k.key",
        "-o",
        &lab.url("s.envs"),
        "plain",
    ]);
    lab.reset_counts();
    let o = lab.ok(&[
        "open",
        "--key-file",
        "k.key",
        "--report",
        "r.json",
        &lab.url("s.envs"),
    ]);
    assert_eq!(o.stdout, plain);
    assert!(
        stderr(&o).contains(&format!("bucket {} is in {RECOVERY}", lab.west_bucket)),
        "{}",
        stderr(&o)
    );
    // One GetObject was sent to the client's region and redirected; every
    // later request went to the bucket's region.
    assert_eq!(lab.proxy.count(&format!("GetObject@{DEAD}")), 1);
    assert!(lab.proxy.count(&format!("GetObject@{RECOVERY}")) >= 1);
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.p("r.json")).expect("report")).expect("json");
    assert_eq!(r["s3"]["bucket_regions"][&lab.west_bucket], RECOVERY, "{r}");
    // With --region the bucket's region, nothing is redirected.
    lab.reset_counts();
    let o = lab.ok(&[
        "open",
        "--key-file",
        "k.key",
        "--region",
        RECOVERY,
        &lab.url("s.envs"),
    ]);
    assert_eq!(o.stdout, plain);
    assert!(!stderr(&o).contains("S3 said so"), "{}", stderr(&o));
    assert_eq!(lab.requests_to(DEAD), 0);
}
