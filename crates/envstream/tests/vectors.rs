//! Runs every vector in docs/vectors/manifest.json, and re-creates every
//! good vector byte for byte with each backend.

mod common;

use std::path::PathBuf;

use envstream::{
    Backend, EncryptionContext, ErrorClass, Keyring, LocalKey, OpenOptions, Opener, SealOptions,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("json")
}

fn keys_of(v: &serde_json::Value, b: Backend) -> Vec<LocalKey> {
    v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|p| LocalKey::load(&dir().join(p.as_str().expect("path")), b).expect("key file"))
        .collect()
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
        for &b in Backend::available() {
            for k in keys_of(v, b) {
                let got =
                    common::open(&[&k], &file).unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
                assert_eq!(got, plain, "{}", v["name"]);
            }
        }
    }
}

#[test]
fn good_vectors_are_reproduced_byte_for_byte() {
    let m = manifest();
    for v in m["good"].as_array().expect("good") {
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
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
            let refs: Vec<&dyn Keyring> = keys.iter().map(|k| k as &dyn Keyring).collect();
            let opts = SealOptions::new()
                .chunk_size(v["chunk_size"].as_u64().expect("cs") as u32)
                .expect("cs")
                .context(ctx.clone())
                .backend(b)
                .insecure_deterministic(hex32(v["seed"].as_str().expect("seed")));
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
    ] {
        assert!(
            bad.iter().any(|v| v["name"] == required),
            "vector {required} is missing"
        );
    }
    for v in bad {
        let file = std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read");
        let keys = keys_of(v, Backend::default());
        let refs: Vec<&dyn Keyring> = keys.iter().map(|k| k as &dyn Keyring).collect();
        let err = common::open(&refs, &file)
            .err()
            .unwrap_or_else(|| panic!("{} opened", v["name"]));
        let want = match v["error_class"].as_str().expect("class") {
            "integrity" => ErrorClass::Integrity,
            "key" => ErrorClass::Key,
            other => panic!("unknown class {other}"),
        };
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
        envstream::fuzzing::inspect(
            &std::fs::read(dir().join(v["file"].as_str().expect("file"))).expect("read"),
        );
    }
}
