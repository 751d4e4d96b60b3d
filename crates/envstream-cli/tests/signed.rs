//! Signed streams end to end (docs/FORMAT.md section 15), against moto
//! (started by `scripts/test.sh`, which exports
//! `ENVSTREAM_TEST_KMS_ENDPOINT`; without it these tests FAIL) for KMS
//! wrapping and signing keys and for S3, through a counting proxy. moto has
//! no Ed25519 KMS keys, so KMS signing is tested with ECC_NIST_P256 and
//! ECC_NIST_P384 keys; local Ed25519 keys come from `keygen --sign`.
//!
//! The attacker of these tests holds the data key: a principal allowed
//! `kms:Decrypt` (who asks KMS for it, as the test does) or the holder of a
//! break-glass key file. They rewrite the body (re-encrypting a chunk with
//! the payload key, FORMAT.md section 6) or the header (dropping a wrapped
//! key and recomputing the header tag); both pass every AEAD check and are
//! caught by the signature alone (the same rewrite of an unsigned stream
//! opens cleanly, which the tests check too).

mod support;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use hmac::Mac;
use support::lab::Lab;
use support::setup::{bucket, create_alias, create_key, kms_call, open_uploads};
use support::{code, data, stderr, stdout};

/// The scratch directory and the proxy, with a break-glass key file.
type Env = Lab;

fn new_env() -> Env {
    let env = Lab::new();
    env.ok(&["keygen", "-o", "bg.key"]);
    env
}

/// A KMS asymmetric signing key in moto.
fn create_sign_key(spec: &str) -> String {
    let v = kms_call(
        "CreateKey",
        serde_json::json!({"KeySpec": spec, "KeyUsage": "SIGN_VERIFY", "Description": "envstream signer"}),
    );
    v["KeyMetadata"]["Arn"].as_str().expect("arn").to_owned()
}

fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The data key of `sealed`, as a principal allowed only `kms:Decrypt`
/// gets it: KMS Decrypt of the `aws-kms` record, with the header's context.
fn data_key_from_kms(sealed: &[u8]) -> Vec<u8> {
    let (h, _) = envstream::Header::parse(sealed).expect("header");
    let rec = h
        .wrapped_keys()
        .iter()
        .find(|w| w.provider() == "aws-kms")
        .expect("a KMS record");
    let b64 = base64::engine::general_purpose::STANDARD;
    let ctx: serde_json::Map<String, serde_json::Value> = h
        .context()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    let v = kms_call(
        "Decrypt",
        serde_json::json!({"CiphertextBlob": b64.encode(rec.ciphertext()), "EncryptionContext": ctx}),
    );
    b64.decode(v["Plaintext"].as_str().expect("plaintext"))
        .expect("base64")
}

/// A stream key of `h` (FORMAT.md section 6.1).
fn stream_key(h: &envstream::Header, data_key: &[u8], label: &str) -> Vec<u8> {
    let hk = hkdf::Hkdf::<sha2::Sha512>::new(Some(h.salt()), data_key);
    let mut info = b"envstream v1 ".to_vec();
    info.extend_from_slice(label.as_bytes());
    info.push(0);
    info.extend_from_slice(&h.suite().id().to_be_bytes());
    info.extend_from_slice(&h.chunk_size().to_be_bytes());
    info.extend_from_slice(&h.context().encode());
    let mut out = vec![0u8; 32];
    hk.expand(&info, &mut out).expect("hkdf");
    out
}

/// The data-key holder's body rewrite: chunk 1 (not final) re-encrypted
/// with one byte changed; header, other chunks and trailer kept.
fn rewrite_chunk_1(sealed: &[u8], data_key: &[u8]) -> Vec<u8> {
    let (h, hl) = envstream::Header::parse(sealed).expect("header");
    let key = stream_key(&h, data_key, "payload key");
    let aead = aes_gcm::Aes256Gcm::new_from_slice(&key).expect("key");
    let stride = h.chunk_size() as usize + 16;
    let at = hl + stride;
    let mut nonce = [0u8; 12];
    nonce[7..11].copy_from_slice(&1u32.to_be_bytes());
    let chunk = &sealed[at..at + stride];
    let mut plain = aead
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: chunk,
                aad: b"",
            },
        )
        .expect("the holder decrypts chunk 1");
    plain[0] ^= 0xFF;
    let forged = aead
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: &plain,
                aad: b"",
            },
        )
        .expect("encrypt");
    let mut out = sealed.to_vec();
    out[at..at + stride].copy_from_slice(&forged);
    out
}

/// The data-key holder's header rewrite: the header without its `local`
/// record, with a new length and a header tag recomputed with the header
/// key (section 6.3); body and trailer kept.
fn drop_local_record(sealed: &[u8], data_key: &[u8]) -> Vec<u8> {
    let (h, hl) = envstream::Header::parse(sealed).expect("header");
    let ctx = h.context().encode();
    let mut head = sealed[..19].to_vec();
    head.extend_from_slice(h.salt());
    head.extend_from_slice(&ctx);
    let keep: Vec<_> = h
        .wrapped_keys()
        .iter()
        .filter(|w| w.provider() != "local")
        .collect();
    head.push(keep.len() as u8);
    for w in keep {
        head.push(w.provider().len() as u8);
        head.extend_from_slice(w.provider().as_bytes());
        head.extend_from_slice(&(w.key_id().len() as u16).to_be_bytes());
        head.extend_from_slice(w.key_id().as_bytes());
        head.extend_from_slice(&(w.ciphertext().len() as u16).to_be_bytes());
        head.extend_from_slice(w.ciphertext());
    }
    head.extend_from_slice(h.commitment());
    let len = (head.len() + 32) as u32;
    head[15..19].copy_from_slice(&len.to_be_bytes());
    let key = stream_key(&h, data_key, "header key");
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("hmac");
    mac.update(&head);
    head.extend_from_slice(&mac.finalize().into_bytes());
    head.extend_from_slice(&sealed[hl..]);
    head
}

#[test]
fn kms_signers_p256_and_p384_sign_once_and_are_pinned_by_arn() {
    let env = new_env();
    let wrap = create_key();
    let p256 = create_sign_key("ECC_NIST_P256");
    let p384 = create_sign_key("ECC_NIST_P384");
    let alias = format!("alias/{}", unique("es-signer"));
    create_alias(&alias, &p384);
    let plain = data(300_000, 7);
    env.write("plain", &plain);
    for (sign_with, arn, alg, other) in [
        (&p256, &p256, "ecdsa-p256", &p384),
        (&alias, &p384, "ecdsa-p384", &p256),
    ] {
        env.proxy.reset();
        env.ok(&[
            "seal",
            "--kms-key",
            &wrap,
            "--sign-key",
            sign_with,
            "-o",
            "a.envs",
            "--force",
            "plain",
        ]);
        // One GetPublicKey and one Sign per stream; nothing else signs.
        assert_eq!(env.proxy.count("Sign"), 1, "{alg}");
        assert_eq!(env.proxy.count("GetPublicKey"), 1, "{alg}");
        let inspect = json_of(&env, &["inspect", "--json", "a.envs"]);
        assert_eq!(inspect["signer"]["algorithm"], alg, "{inspect}");
        let fingerprint = inspect["signer"]["fingerprint"]
            .as_str()
            .expect("fingerprint")
            .to_owned();

        env.proxy.reset();
        let _ = std::fs::remove_file(env.p("out"));
        env.ok(&[
            "open",
            "--kms-key",
            &wrap,
            "--signer",
            arn,
            "-o",
            "out",
            "--report",
            "r.json",
            "--force",
            "a.envs",
        ]);
        assert_eq!(env.read("out"), plain);
        assert_eq!(env.proxy.count("Sign"), 0, "opening never signs");
        let r = env.json("r.json");
        assert_eq!(r["signature"], "verified", "{r}");
        assert_eq!(r["signer"]["fingerprint"], fingerprint.as_str(), "{r}");

        // Without --signer: checked against the key the stream names.
        let o = env.ok(&["verify", "--kms-key", &wrap, "a.envs"]);
        assert!(
            stdout(&o).contains(&format!(
                "{fingerprint} (signature verified; signer not pinned)"
            )),
            "{}",
            stdout(&o)
        );
        // Another signer pinned: exit 4, one line, before any Decrypt.
        env.proxy.reset();
        let o = env.run(&["verify", "--kms-key", &wrap, "--signer", other, "a.envs"]);
        assert_eq!(code(&o), 4, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("NOT from the expected writer"),
            "{}",
            stderr(&o)
        );
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert_eq!(env.proxy.count("Decrypt"), 0);
    }
    // A symmetric key cannot sign: a usage error naming the key spec.
    let o = env.run(&[
        "seal",
        "--kms-key",
        &wrap,
        "--sign-key",
        &wrap,
        "-o",
        "b.envs",
        "plain",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot sign"), "{}", stderr(&o));
    assert!(!env.p("b.envs").exists());
}

fn json_of(env: &Env, args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&env.ok(args).stdout).expect("json")
}

#[test]
fn a_data_key_holder_who_rewrites_the_body_or_the_header_is_caught() {
    let env = new_env();
    let wrap = create_key();
    let signer = create_sign_key("ECC_NIST_P256");
    let plain = data(50_000, 3);
    env.write("plain", &plain);
    for signed in [true, false] {
        let mut args = vec![
            "seal",
            "--kms-key",
            &wrap,
            "--key-file",
            "bg.key",
            "--chunk-size",
            "4K",
            "-o",
            "a.envs",
            "--force",
        ];
        if signed {
            args.extend(["--sign-key", &signer]);
        }
        args.push("plain");
        env.ok(&args);
        let sealed = env.read("a.envs");
        let data_key = data_key_from_kms(&sealed);
        let body = rewrite_chunk_1(&sealed, &data_key);
        let header = drop_local_record(&sealed, &data_key);
        assert_ne!(body, sealed);
        assert!(header.len() < sealed.len());
        for (what, forged) in [("body", &body), ("header", &header)] {
            env.write("forged.envs", forged);
            let _ = std::fs::remove_file(env.p("out"));
            let open = |pin: bool| {
                let mut a = vec![
                    "open",
                    "--kms-key",
                    &wrap,
                    "-o",
                    "out",
                    "--report",
                    "r.json",
                ];
                if pin {
                    a.extend(["--signer", &signer]);
                }
                a.push("forged.envs");
                env.run(&a)
            };
            if !signed {
                // Without a signature the rewrite is undetectable: every
                // AEAD check passes. (So the checks below can fail.)
                let o = open(false);
                assert_eq!(code(&o), 0, "{what}: {}", stderr(&o));
                continue;
            }
            for pin in [true, false] {
                let o = open(pin);
                assert_eq!(code(&o), 3, "{what} pinned={pin}: {}", stderr(&o));
                let err = stderr(&o);
                assert!(
                    err.contains("NOT from the expected writer"),
                    "{what}: {err}"
                );
                assert_eq!(err.lines().count(), 1, "{what}: {err}");
                assert!(!env.p("out").exists(), "{what}: -o written");
                let r = env.json("r.json");
                let want = if what == "body" {
                    "body mismatch"
                } else {
                    "invalid"
                };
                assert_eq!(r["signature"], want, "{what}: {r}");
            }
            // To stdout, verified chunks may have flowed, but the exit
            // status and the message say the writer is not the signer.
            let o = env.run(&[
                "open",
                "--kms-key",
                &wrap,
                "--signer",
                &signer,
                "forged.envs",
            ]);
            assert_eq!(code(&o), 3, "{what}: {}", stderr(&o));
            assert!(stderr(&o).contains("NOT from the expected writer"));
            assert!(!o.stdout.is_empty(), "{what}: verified chunks flowed");
            // --verify-first: not one byte reaches stdout.
            let o = env.run(&[
                "open",
                "--kms-key",
                &wrap,
                "--verify-first",
                "--signer",
                &signer,
                "forged.envs",
            ]);
            assert_eq!(code(&o), 3, "{what}: {}", stderr(&o));
            assert!(o.stdout.is_empty(), "{what}: --verify-first released bytes");
            // The break-glass key opens it too, with the same verdict.
            let o = env.run(&["verify", "--key-file", "bg.key", "forged.envs"]);
            assert_eq!(
                code(&o),
                if what == "header" { 4 } else { 3 },
                "{what}: {}",
                stderr(&o)
            );
        }
        // A holder who writes a new stream instead: unsigned, or signed by
        // their own key; a pinned reader refuses both (exit 4).
        if signed {
            env.ok(&["keygen", "--sign", "-o", "mine.key"]);
            for extra in [vec![], vec!["--sign-key", "mine.key"]] {
                let mut a = vec!["seal", "--key-file", "bg.key", "-o", "new.envs", "--force"];
                a.extend(extra);
                a.push("plain");
                env.ok(&a);
                let o = env.run(&[
                    "open",
                    "--key-file",
                    "bg.key",
                    "--signer",
                    &signer,
                    "new.envs",
                ]);
                assert_eq!(code(&o), 4, "{}", stderr(&o));
                assert!(o.stdout.is_empty());
            }
        }
    }
}

#[test]
fn signatures_survive_s3_multipart_and_a_server_side_rekey_that_re_signs() {
    let env = new_env();
    let b = bucket("signed");
    let url = |k: &str| format!("s3://{b}/{k}");
    let wrap = create_key();
    let wrap2 = create_key();
    let signer = create_sign_key("ECC_NIST_P384");
    // 20 MiB: a multipart upload (8 MiB first parts).
    let plain = data(20 << 20, 11);
    env.write("plain", &plain);
    env.proxy.reset();
    env.ok(&[
        "seal",
        "--kms-key",
        &wrap,
        "--sign-key",
        &signer,
        "-o",
        &url("a.envs"),
        "plain",
    ]);
    assert!(env.proxy.count("UploadPart") >= 2, "multipart");
    assert_eq!(env.proxy.count("Sign"), 1);
    let o = env.ok(&[
        "open",
        "--kms-key",
        &wrap,
        "--signer",
        &signer,
        &url("a.envs"),
    ]);
    assert!(o.stdout == plain, "S3 round trip");

    // Server-side rekey: the body is copied inside S3; the trailer is
    // signed again (one Sign) over the new header.
    let o = env.run(&[
        "rekey",
        "--kms-key",
        &wrap,
        "--add-kms-key",
        &wrap2,
        &url("a.envs"),
        "-o",
        &url("b.envs"),
    ]);
    assert_eq!(code(&o), 2, "no --sign-key: {}", stderr(&o));
    assert!(stderr(&o).contains("--sign-key"), "{}", stderr(&o));
    env.proxy.reset();
    let o = env.ok(&[
        "rekey",
        "--kms-key",
        &wrap,
        "--signer",
        &signer,
        "--sign-key",
        &signer,
        "--add-kms-key",
        &wrap2,
        "--remove-key",
        &wrap,
        &url("a.envs"),
        "-o",
        &url("b.envs"),
    ]);
    assert!(stderr(&o).contains("copied inside S3"), "{}", stderr(&o));
    assert!(stderr(&o).contains("signed again"), "{}", stderr(&o));
    assert!(env.proxy.count("UploadPartCopy") >= 1, "server-side copy");
    assert_eq!(env.proxy.count("Sign"), 1);
    assert_eq!(open_uploads(&b), 0);
    let o = env.ok(&[
        "verify",
        "--kms-key",
        &wrap2,
        "--signer",
        &signer,
        &url("b.envs"),
    ]);
    assert!(
        stdout(&o).contains("signature verified; a pinned signer"),
        "{}",
        stdout(&o)
    );
    let o = env.ok(&[
        "open",
        "--kms-key",
        &wrap2,
        "--signer",
        &signer,
        &url("b.envs"),
    ]);
    assert!(o.stdout == plain, "rekeyed round trip");
    // A range is AEAD-only, and says so.
    let o = env.ok(&[
        "open",
        "--kms-key",
        &wrap2,
        "--range",
        "1000..2000",
        "--report",
        "r.json",
        &url("b.envs"),
    ]);
    assert_eq!(o.stdout, plain[1000..2000]);
    assert!(
        stderr(&o).contains("authenticated by the AEAD only"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.json("r.json")["signature"], "not checked");
}

#[test]
fn local_signing_keys_keygen_pin_and_rekey() {
    let env = new_env();
    let o = env.ok(&["keygen", "--sign", "-o", "w.key"]);
    let fingerprint = stdout(&o).trim().to_owned();
    assert_eq!(fingerprint.len(), 32, "{fingerprint}");
    assert!(env.p("w.key.pub").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.p("w.key"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Never overwrites.
    let o = env.run(&["keygen", "--sign", "-o", "w.key"]);
    assert_ne!(code(&o), 0);
    let plain = data(100_000, 5);
    env.write("plain", &plain);
    env.ok(&[
        "seal",
        "--key-file",
        "bg.key",
        "--sign-key",
        "w.key",
        "-o",
        "a.envs",
        "plain",
    ]);
    let o = env.ok(&["inspect", "a.envs"]);
    assert!(stdout(&o).contains(&fingerprint), "{}", stdout(&o));
    let o = env.ok(&["open", "--key-file", "bg.key", "a.envs"]);
    assert_eq!(o.stdout, plain);
    assert!(
        stderr(&o).contains(&format!(
            "signed by ed25519 key {fingerprint} (signer not pinned"
        )),
        "{}",
        stderr(&o)
    );
    let o = env.ok(&[
        "open",
        "--key-file",
        "bg.key",
        "--signer",
        "w.key.pub",
        "a.envs",
    ]);
    assert_eq!(o.stdout, plain);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // Rekey: refused without --sign-key (exit 2) or with another key;
    // with it, the new file verifies pinned.
    env.ok(&["keygen", "-o", "k2.key"]);
    env.ok(&["keygen", "--sign", "-o", "other.key"]);
    for extra in [vec![], vec!["--sign-key", "other.key"]] {
        let mut a = vec![
            "rekey",
            "--key-file",
            "bg.key",
            "--add-key-file",
            "k2.key",
            "-o",
            "b.envs",
        ];
        a.extend(extra);
        a.push("a.envs");
        let o = env.run(&a);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(!env.p("b.envs").exists());
    }
    env.ok(&[
        "rekey",
        "--key-file",
        "bg.key",
        "--add-key-file",
        "k2.key",
        "--sign-key",
        "w.key",
        "--signer",
        "w.key.pub",
        "-o",
        "b.envs",
        "a.envs",
    ]);
    let o = env.ok(&[
        "open",
        "--key-file",
        "k2.key",
        "--signer",
        "w.key.pub",
        "b.envs",
    ]);
    assert_eq!(o.stdout, plain);
    // A cut trailer: exit 3, no -o file.
    let mut cut = env.read("b.envs");
    cut.truncate(cut.len() - 7);
    env.write("cut.envs", &cut);
    let o = env.run(&["open", "--key-file", "k2.key", "-o", "out", "cut.envs"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(!env.p("out").exists());
}
