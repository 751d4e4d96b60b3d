//! Public-key recipients (FORMAT.md section 16): the X-Wing draft's test
//! vectors, sealing with a recipient alone, the checks on open, and the
//! recipient and identity encodings.
// A FIPS build refuses signed streams and public-key recipients (their
// BLAKE3 and X-Wing run outside the module): tests/fips.rs checks that.
#![cfg(not(feature = "fips"))]

mod common;

use std::io::Read;
use std::path::PathBuf;

use envstream::{
    Backend, EncryptionContext, Error, ErrorClass, Identity, IntegrityError, KeyError, LocalError,
    OpenOptions, Opener, PqIdentity, PqRecipient, Recipient, SealOptions, Sealer,
};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn seal(recipients: &[&dyn Recipient], plain: &[u8], ctx: &[(&str, &str)]) -> Vec<u8> {
    let opts = SealOptions::new()
        .context(EncryptionContext::from_pairs(ctx.iter().copied()).expect("ctx"))
        .chunk_size(4096)
        .expect("chunk size");
    let sealer = Sealer::prepare_blocking(recipients, opts).expect("prepare");
    let mut w = sealer.seal_to(Vec::new()).expect("header");
    std::io::Write::write_all(&mut w, plain).expect("write");
    w.finish().expect("finish")
}

fn open(ids: &[&dyn Identity], file: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = Opener::new(file)?.unlock_blocking(ids, OpenOptions::new())?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).map_err(Error::from)?;
    Ok(out)
}

fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

/// The three test vectors of draft-connolly-cfrg-xwing-kem: key generation
/// from the seed, deterministic encapsulation and decapsulation, with the
/// KEM crate that HPKE uses; and envstream's recipient of each seed is the
/// draft's public key.
#[test]
fn xwing_draft_test_vectors() {
    use x_wing::{Decapsulate, Decapsulator, KeyExport};
    let text = std::fs::read_to_string(vectors().join("xwing_draft.json")).expect("read");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let list = doc["vectors"].as_array().expect("vectors");
    assert_eq!(list.len(), 3);
    for v in list {
        let field = |k: &str| unhex(v[k].as_str().expect(k));
        let sk: [u8; 32] = field("sk").try_into().expect("32-byte seed");
        let eseed: [u8; 64] = field("eseed").try_into().expect("64-byte eseed");
        let dk = x_wing::DecapsulationKey::from(sk);
        let ek = dk.encapsulation_key().clone();
        assert_eq!(ek.to_bytes().as_slice(), field("pk").as_slice(), "pk");
        let (ct, ss) = ek.encapsulate_deterministic(&eseed.into());
        assert_eq!(ct.as_slice(), field("ct").as_slice(), "ct");
        assert_eq!(ss.as_slice(), field("ss").as_slice(), "ss");
        assert_eq!(
            dk.decapsulate(&ct).as_slice(),
            field("ss").as_slice(),
            "decaps"
        );

        let id = PqIdentity::from_secret(&sk, Backend::default());
        let text = id.recipient().to_text();
        let b64 = text.strip_prefix("mlkem768x25519:").expect("prefix");
        assert_eq!(text.len(), 1639);
        let parsed = PqRecipient::parse(&text, Backend::default()).expect("parses");
        assert_eq!(parsed.key_id(), id.key_id());
        assert!(!b64.is_empty());
    }
}

/// An encrypt-only seal: the recipient alone (no secret) seals; only its
/// identity opens, with every backend; the record is 1168 bytes.
#[test]
fn recipient_seals_and_only_its_identity_opens() {
    let plain: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    for &b in Backend::available() {
        let id = PqIdentity::from_secret(&seed(9), b);
        let r = PqRecipient::parse(&id.recipient().to_text(), b).expect("recipient");
        let file = seal(&[&r], &plain, &[("purpose", "test")]);
        let (h, _) = envstream::Header::parse(&file).expect("header");
        assert_eq!(h.wrapped_keys().len(), 1);
        let wk = &h.wrapped_keys()[0];
        assert_eq!(wk.provider(), "mlkem768x25519");
        assert_eq!(wk.key_id(), id.key_id());
        assert_eq!(wk.ciphertext().len(), 1168);
        assert_eq!(open(&[&id], &file).expect("opens"), plain, "{}", b.name());

        let other = PqIdentity::from_secret(&seed(10), b);
        match open(&[&other], &file) {
            Err(e @ Error::Key(KeyError::NoMatchingKey { .. })) => {
                assert_eq!(e.class(), ErrorClass::Key);
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("mlkem768x25519/{}", id.key_id())),
                    "the message names the missing identity: {msg}"
                );
            }
            other => panic!("expected NoMatchingKey, got {:?}", other.err()),
        }
    }
}

/// Two seals to one recipient share nothing: fresh encapsulations.
#[test]
fn every_wrap_is_a_fresh_encapsulation() {
    let id = PqIdentity::from_secret(&seed(3), Backend::default());
    let a = seal(&[id.recipient()], b"x", &[]);
    let b = seal(&[id.recipient()], b"x", &[]);
    let rec = |f: &[u8]| {
        envstream::Header::parse(f)
            .expect("header")
            .0
            .wrapped_keys()[0]
            .ciphertext()
            .to_vec()
    };
    assert_ne!(rec(&a)[..1120], rec(&b)[..1120]);
}

/// The negative vectors fail for the reason they are named for: the
/// record does not authenticate (WrappedKeyCorrupt), before any key
/// derivation; the wrong identity is "no matching key".
#[test]
fn negative_vectors_fail_at_the_record() {
    let id1 = PqIdentity::load(&vectors().join("keys/identity1.id"), Backend::default())
        .expect("identity1");
    let id2 = PqIdentity::load(&vectors().join("keys/identity2.id"), Backend::default())
        .expect("identity2");
    for name in [
        "recipient_enc_flip",
        "recipient_ct_flip",
        "recipient_moved_record",
        "recipient_chunk_size",
    ] {
        let file = std::fs::read(vectors().join(format!("bad/{name}.envs"))).expect("read");
        match open(&[&id1], &file) {
            Err(Error::Integrity(IntegrityError::WrappedKeyCorrupt(_))) => {}
            other => panic!("{name}: expected WrappedKeyCorrupt, got {:?}", other.err()),
        }
    }
    let file = std::fs::read(vectors().join("bad/recipient_wrong_identity.envs")).expect("read");
    assert!(matches!(
        open(&[&id2], &file),
        Err(Error::Key(KeyError::NoMatchingKey { .. }))
    ));
    assert!(open(&[&id1], &file).is_ok());
}

/// A header holds 16 recipients (each record 1219 bytes), and each of
/// them opens the stream.
#[test]
fn sixteen_recipients_fit_in_a_header() {
    let ids: Vec<PqIdentity> = (0..16u8)
        .map(|i| PqIdentity::from_secret(&seed(100 + i), Backend::default()))
        .collect();
    let rs: Vec<&dyn Recipient> = ids
        .iter()
        .map(|i| i.recipient() as &dyn Recipient)
        .collect();
    let file = seal(&rs, b"sixteen", &[("a", "b")]);
    let (h, len) = envstream::Header::parse(&file).expect("header");
    assert_eq!(h.wrapped_keys().len(), 16);
    assert!(len < 65536);
    let rec = &h.wrapped_keys()[0];
    assert_eq!(
        5 + rec.provider().len() + rec.key_id().len() + rec.ciphertext().len(),
        1219
    );
    for id in [&ids[0], &ids[15]] {
        assert_eq!(open(&[id], &file).expect("opens"), b"sixteen");
    }
}

fn invalid_key_file(r: Result<impl Sized, Error>) -> String {
    match r {
        Err(Error::Local(LocalError::InvalidKeyFile(m))) => m,
        Err(e) => panic!("expected InvalidKeyFile, got {e:?}"),
        Ok(_) => panic!("expected InvalidKeyFile, got a key"),
    }
}

/// Recipient strings and files: canonical base64 of exactly 1216 bytes
/// that pass the ML-KEM key check; a file holding a secret is refused and
/// says so.
#[test]
fn recipient_encoding_is_strict() {
    let b = Backend::default();
    let id = PqIdentity::from_secret(&seed(5), b);
    let text = id.recipient().to_text();
    let b64 = text.strip_prefix("mlkem768x25519:").expect("prefix");
    // Comments and blank lines around the one line are fine in a file.
    let file = format!("# backup host\n\n{text}\n");
    assert_eq!(
        PqRecipient::parse_file_text(&file, b)
            .expect("file")
            .key_id(),
        id.key_id()
    );
    // Wrong prefix, non-canonical base64, wrong length.
    invalid_key_file(PqRecipient::parse(b64, b));
    invalid_key_file(PqRecipient::parse(&format!("MLKEM768X25519:{b64}"), b));
    let mut bytes = text.clone().into_bytes();
    let last = bytes.len() - 3; // "…X==": the last data character
    bytes[last] = if bytes[last] == b'B' { b'C' } else { b'B' };
    let noncanonical = String::from_utf8(bytes).expect("ascii");
    assert!(invalid_key_file(PqRecipient::parse(&noncanonical, b)).contains("canonical"));
    let short = format!("mlkem768x25519:{}", &b64[..b64.len() - 4]);
    invalid_key_file(PqRecipient::parse(&short, b));
    // The first 12-bit coefficient of the ML-KEM key set to 0xFFF >= q.
    let mut raw = envstream_b64_decode(b64);
    raw[0] = 0xFF;
    raw[1] |= 0x0F;
    let bad = format!("mlkem768x25519:{}", envstream_b64_encode(&raw));
    assert!(invalid_key_file(PqRecipient::parse(&bad, b)).contains("FIPS 203"));
    // Two recipient lines; none.
    invalid_key_file(PqRecipient::parse_file_text(&format!("{file}{file}"), b));
    invalid_key_file(PqRecipient::parse_file_text("# nothing\n", b));
}

#[test]
fn a_secret_given_as_a_recipient_is_refused() {
    let b = Backend::default();
    let (_, id_text) = PqIdentity::generate(b).expect("identity");
    let msg = invalid_key_file(PqRecipient::parse_file_text(&id_text, b));
    assert!(msg.contains("SECRET"), "{msg}");
    let (_, key_text) = envstream::LocalKey::generate(b).expect("key");
    let msg = invalid_key_file(PqRecipient::parse_file_text(&key_text, b));
    assert!(msg.contains("SECRET"), "{msg}");
    // And the other way round: a recipient given as an identity.
    let id = PqIdentity::from_secret(&seed(6), b);
    let msg = invalid_key_file(PqIdentity::parse(&id.recipient().to_text(), b));
    assert!(msg.contains("recipient"), "{msg}");
}

#[test]
fn identity_files_round_trip_and_are_strict() {
    let b = Backend::default();
    let (id, text) = PqIdentity::generate(b).expect("identity");
    assert!(text.contains(&format!("# key id: {}", id.key_id())));
    assert_eq!(
        PqIdentity::parse(&text, b).expect("parses").key_id(),
        id.key_id()
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("ENVSTREAM-IDENTITY-MLKEM768X25519-V1-"))
        .expect("line");
    invalid_key_file(PqIdentity::parse(&line.to_uppercase(), b));
    invalid_key_file(PqIdentity::parse(&format!("{line}\n{line}\n"), b));
    invalid_key_file(PqIdentity::parse(&line[..line.len() - 2], b));
    invalid_key_file(PqIdentity::parse("", b));
}

static_assertions::assert_not_impl_any!(PqIdentity: std::fmt::Debug, Clone);

// Small local base64 helpers for the tests (standard alphabet, padded).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn envstream_b64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn envstream_b64_decode(text: &str) -> Vec<u8> {
    let val = |c: u8| ALPHABET.iter().position(|&a| a == c).expect("alphabet") as u32;
    let mut out = Vec::new();
    for c in text.as_bytes().chunks(4) {
        let pad = c.iter().filter(|&&x| x == b'=').count();
        let n = c
            .iter()
            .take(4 - pad)
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (val(x) << (18 - 6 * i)));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    out
}
