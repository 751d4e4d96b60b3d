//! Runs every vector in docs/vectors/manifest.json, and re-creates every
//! good vector byte for byte with each backend.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use envstream::format::Trailer;
use envstream::{
    Backend, EncryptionContext, ErrorClass, Keyring, KeyringFuture, LocalKey, OpenOptions, Opener,
    PqIdentity, SealOptions, Signer, SignerKey,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("json")
}

/// A vector's keys: its identities (FORMAT.md section 16), then its local
/// key files, the order in which the generator sealed to them.
fn keys_of(v: &serde_json::Value, b: Backend) -> Vec<Box<dyn Keyring>> {
    let ids = v["identities"].as_array().cloned().unwrap_or_default();
    let ids = ids.iter().map(|p| {
        Box::new(PqIdentity::load(&dir().join(p.as_str().expect("path")), b).expect("identity"))
            as Box<dyn Keyring>
    });
    let keys = v["keys"].as_array().expect("keys").iter().map(|p| {
        Box::new(LocalKey::load(&dir().join(p.as_str().expect("path")), b).expect("key file"))
            as Box<dyn Keyring>
    });
    ids.chain(keys).collect()
}

/// The public keys a vector names: `signer` (good) or `signers` (bad).
fn signers_of(v: &serde_json::Value) -> Vec<SignerKey> {
    let paths: Vec<&str> = match (&v["signer"], &v["signers"]) {
        (serde_json::Value::String(p), _) => vec![p.as_str()],
        (_, serde_json::Value::Array(a)) => a.iter().map(|p| p.as_str().expect("path")).collect(),
        _ => vec![],
    };
    paths
        .iter()
        .map(|p| SignerKey::load_public_file(&dir().join(p)).expect("public key file"))
        .collect()
}

/// Opens with `keys`, pinning `signers`; whether the signature verified.
fn open_pinned(
    keys: &[&dyn Keyring],
    signers: &[SignerKey],
    b: Backend,
    file: &[u8],
) -> Result<(Vec<u8>, bool), envstream::Error> {
    let options = signers.iter().fold(OpenOptions::new().backend(b), |o, s| {
        o.require_signer(s.clone())
    });
    let mut reader = Opener::new(file)?.unlock_blocking(keys, options)?;
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .map_err(envstream::Error::from)?;
    Ok((out, reader.signature_verified()))
}

/// Replays a vector's signature: re-sealing must arrive at the very message
/// it signs, or `sign_trailer` refuses the signature (ECDSA vectors cannot
/// be re-signed byte for byte by another implementation).
struct Replay(SignerKey, Vec<u8>);

impl Signer for Replay {
    fn signer_key(&self) -> &SignerKey {
        &self.0
    }

    fn sign<'a>(&'a self, _message: &'a [u8]) -> KeyringFuture<'a, Vec<u8>> {
        Box::pin(async move { Ok(self.1.clone()) })
    }
}

/// Whether a FIPS build refuses this vector: a signed stream (BLAKE3) or a
/// public-key recipient (X-Wing) runs outside the module. tests/fips.rs
/// checks the refusal itself.
fn refused_in_fips(v: &serde_json::Value, file: &[u8]) -> bool {
    cfg!(feature = "fips")
        && (v["identities"].as_array().is_some_and(|a| !a.is_empty())
            || envstream::Header::parse(file).is_ok_and(|(h, _)| h.suite().is_signed()))
}

fn is_fips_refusal(e: &envstream::Error) -> bool {
    matches!(
        e,
        envstream::Error::Usage(envstream::UsageError::NotInFipsModule { .. })
    ) || matches!(e, envstream::Error::Key(envstream::KeyError::Keyring(k))
        if k.kind() == envstream::KeyringErrorKind::Configuration)
        || e.to_string().contains("FIPS build")
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

#[test]
fn good_vectors_open_with_each_key() {
    let m = manifest();
    let good = m["good"].as_array().expect("good");
    assert!(good.len() >= 6);
    for v in good {
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
        let plain =
            std::fs::read(dir().join(v["plaintext"].as_str().expect("plain"))).expect("read");
        let signers = signers_of(v);
        if refused_in_fips(v, &file) {
            // A signed stream is refused whatever the key; a recipient
            // vector only through its identities.
            let signed = envstream::Header::parse(&file).is_ok_and(|(h, _)| h.suite().is_signed());
            for k in keys_of(v, Backend::default()) {
                let got = open_pinned(&[k.as_ref()], &signers, Backend::default(), &file);
                if signed || k.description().starts_with("identity") {
                    let e = got
                        .err()
                        .unwrap_or_else(|| panic!("{} opened in a FIPS build", v["name"]));
                    assert!(is_fips_refusal(&e), "{}: {e}", v["name"]);
                } else {
                    assert_eq!(got.expect("opens").0, plain, "{}", v["name"]);
                }
            }
            continue;
        }
        for &b in Backend::available() {
            for k in keys_of(v, b) {
                let (got, verified) = open_pinned(&[k.as_ref()], &signers, b, &file)
                    .unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
                assert_eq!(got, plain, "{}", v["name"]);
                assert_eq!(verified, !signers.is_empty(), "{}", v["name"]);
            }
        }
        if let Some(s) = signers.first() {
            assert_eq!(
                v["signer_fingerprint"].as_str(),
                Some(s.fingerprint().as_str()),
                "{}",
                v["name"]
            );
        }
    }
}

#[test]
fn good_vectors_are_reproduced_byte_for_byte() {
    let m = manifest();
    for v in m["good"].as_array().expect("good") {
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
        if refused_in_fips(v, &file) {
            continue;
        }
        let plain =
            std::fs::read(dir().join(v["plaintext"].as_str().expect("plain"))).expect("read");
        let ctx = EncryptionContext::from_pairs(
            v["context"]
                .as_object()
                .expect("ctx")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("str").to_owned())),
        )
        .expect("ctx");
        for &b in Backend::available() {
            let keys = keys_of(v, b);
            let refs: Vec<&dyn Keyring> = keys.iter().map(|k| k.as_ref()).collect();
            let mut opts = SealOptions::new()
                .chunk_size(v["chunk_size"].as_u64().expect("cs") as u32)
                .expect("cs")
                .context(ctx.clone())
                .backend(b)
                .insecure_deterministic(hex32(v["seed"].as_str().expect("seed")));
            if let Some(s) = signers_of(v).pop() {
                let t = Trailer::parse(
                    &file[file.len() - s.algorithm().trailer_len()..],
                    s.algorithm(),
                )
                .expect("trailer");
                opts = opts.signer(Arc::new(Replay(s, t.signature)));
            }
            let sealed = common::seal_with(&refs, opts, &plain, &[777]);
            assert!(sealed == file, "{} with {}: regenerate with `cargo run -p envstream --example gen_vectors` and update docs/FORMAT.md", v["name"], b.name());
        }
    }
}

#[test]
fn bad_vectors_are_rejected_with_their_class() {
    let m = manifest();
    let bad = m["bad"].as_array().expect("bad");
    for required in [
        "missing_final_chunk",
        "two_final_chunks",
        "trailing_byte",
        "truncated_mid_chunk",
        "swapped_chunks",
        "signature_stripped",
        "suite_downgrade",
        "suite_downgrade_context",
        "wrong_signer",
        "body_swapped",
        "trailer_truncated",
        "recipient_wrong_identity",
        "recipient_enc_flip",
        "recipient_ct_flip",
        "recipient_moved_record",
        "recipient_chunk_size",
    ] {
        assert!(
            bad.iter().any(|v| v["name"] == required),
            "vector {required} is missing"
        );
    }
    for v in bad {
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
        let keys = keys_of(v, Backend::default());
        let refs: Vec<&dyn Keyring> = keys.iter().map(|k| k.as_ref()).collect();
        let err = open_pinned(&refs, &signers_of(v), Backend::default(), &file)
            .err()
            .unwrap_or_else(|| panic!("{} opened", v["name"]));
        let want = match v["error_class"].as_str().expect("class") {
            "integrity" => ErrorClass::Integrity,
            "key" => ErrorClass::Key,
            other => panic!("unknown class {other}"),
        };
        if refused_in_fips(v, &file) && is_fips_refusal(&err) {
            continue;
        }
        assert_eq!(err.class(), want, "{}: {err}", v["name"]);
    }
}

#[test]
fn header_parse_write_round_trip_on_vectors() {
    let m = manifest();
    for v in m["good"].as_array().expect("good") {
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
        let (h, len) = envstream::Header::parse(&file).expect("parse");
        assert_eq!(h.to_bytes(), &file[..len]);
        // Opener on a reader sees the same header.
        assert_eq!(Opener::new(&file[..]).expect("opener").header(), &h);
        let _ = OpenOptions::new();
    }
}

#[test]
fn fuzz_entry_points_agree_with_the_vectors() {
    let m = manifest();
    for v in m["good"].as_array().expect("good") {
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
        let plain =
            std::fs::read(dir().join(v["plaintext"].as_str().expect("plain"))).expect("read");
        envstream::fuzzing::header_round_trip(&file);
        if refused_in_fips(v, &file) {
            continue;
        }
        if v["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k == "keys/key1.key")
        {
            assert_eq!(
                envstream::fuzzing::open_with_fixed_key(&file),
                Some(plain.len() as u64),
                "{}",
                v["name"]
            );
        }
    }
    for v in m["bad"].as_array().expect("bad") {
        if v["error_class"] != "integrity" {
            continue; // e.g. wrong_key: an intact file, which key1 opens
        }
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
        envstream::fuzzing::header_round_trip(&file);
        assert_eq!(
            envstream::fuzzing::open_with_fixed_key(&file),
            None,
            "{}",
            v["name"]
        );
    }
}

/// Regression: the `context_unsorted` vector once had garbled lengths and was
/// rejected by a length limit instead of the ordering rule it is named for.
#[test]
fn regression_context_unsorted_vector_hits_the_ordering_rule() {
    let file = std::fs::read(dir().join("bad/context_unsorted.envs")).expect("read");
    match envstream::Header::parse(&file) {
        Err(envstream::Error::Format(envstream::FormatError::MalformedHeader(m))) => {
            assert!(m.contains("not strictly sorted"), "{m}")
        }
        other => panic!("expected the ordering error, got {other:?}"),
    }
}

#[test]
fn structure_aware_fuzz_entry_point_detects_edits() {
    // No edits: the seed opens. Every kind of edit: it must not open (the
    // entry point asserts that), exercised here once per kind.
    envstream::fuzzing::mutate_and_open(&[]);
    for op in 0u8..8 {
        for arg in [0u16, 1, 7, 300, 4111, 4112, 9000, u16::MAX] {
            for b in [0u8, 1, 3, 0x80, 0xFF] {
                let [hi, lo] = arg.to_be_bytes();
                envstream::fuzzing::mutate_and_open(&[op, hi, lo, b]);
                envstream::fuzzing::mutate_and_open(&[op, hi, lo, b, 1, lo, hi, b]);
            }
        }
    }
    for entry in std::fs::read_dir(dir().join("keys")).expect("keys") {
        envstream::fuzzing::key_file(&std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    for v in manifest()["good"].as_array().expect("good") {
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
        envstream::fuzzing::inspect(&file);
        if let Some(s) = signers_of(v).first() {
            let t = s.algorithm().trailer_len();
            envstream::fuzzing::signer_values(&file[file.len() - t..]);
            envstream::fuzzing::signer_values(s.value().as_bytes());
        }
    }
}
