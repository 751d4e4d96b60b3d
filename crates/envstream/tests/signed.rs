//! Signed streams (suite 0x0002, FORMAT.md section 15): every writer and
//! reader, and each way a holder of the data key (or anyone) can try to
//! pass off a stream as the signer's.
// A FIPS build refuses signed streams and public-key recipients (their
// BLAKE3 and X-Wing run outside the module): tests/fips.rs checks that.
#![cfg(not(feature = "fips"))]

mod common;

use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use common::*;
use envstream::{
    Backend, Error, ErrorClass, Header, IntegrityError, KeyError, Keyring, LocalSigningKey,
    OpenOptions, Opener, SealOptions, Sealer, Signer, Suite,
};

const CHUNK: u32 = 4096;

fn signer(n: u8) -> Arc<LocalSigningKey> {
    Arc::new(LocalSigningKey::from_seed(&[n; 32], Backend::default()))
}

fn options(s: &Arc<LocalSigningKey>) -> SealOptions {
    SealOptions::new()
        .chunk_size(CHUNK)
        .expect("chunk size")
        .signer(s.clone())
}

/// Seals `plain` signed by `s`, with the writer (`engine` false) or the
/// parallel engine.
fn seal_signed(s: &Arc<LocalSigningKey>, plain: &[u8], engine: bool, seed: Option<u8>) -> Vec<u8> {
    let k = key(1);
    let mut opts = options(s);
    if let Some(seed) = seed {
        opts = opts.insecure_deterministic([seed; 32]);
    }
    let sealer = Sealer::prepare_blocking(&[&k as &dyn Keyring], opts).expect("prepare");
    if engine {
        sealer.seal_stream(plain, Vec::new(), 3).expect("seal").0
    } else {
        let mut w = sealer.seal_to(Vec::new()).expect("header");
        w.write_all(plain).expect("write");
        w.finish().expect("finish")
    }
}

fn open_with(sealed: &[u8], options: OpenOptions, engine: bool) -> Result<(Vec<u8>, bool), Error> {
    let k = key(1);
    let mut r = Opener::new(sealed)?.unlock_blocking(&[&k as &dyn Keyring], options)?;
    if engine {
        let (out, stats) = r.copy_to(Vec::new(), 2)?;
        return Ok((out, stats.signature_verified));
    }
    let mut out = Vec::new();
    r.read_to_end(&mut out).map_err(Error::from)?;
    Ok((out, r.signature_verified()))
}

fn pinned(s: &Arc<LocalSigningKey>) -> OpenOptions {
    OpenOptions::new().require_signer(s.signer_key().clone())
}

#[test]
fn every_writer_and_reader_agrees_and_verifies() {
    let s = signer(1);
    for len in [0, 1, 4095, 4096, 4097, 3 * 4096 + 100, 700_000] {
        let plain = pseudo_random(len, len as u64);
        let by_writer = seal_signed(&s, &plain, false, Some(9));
        let by_engine = seal_signed(&s, &plain, true, Some(9));
        assert_eq!(
            by_writer, by_engine,
            "{len} bytes: writer and engine differ"
        );
        let (h, _) = Header::parse(&by_writer).expect("header");
        assert_eq!(h.suite(), Suite::Signed);
        assert_eq!(h.signer(), Some(s.signer_key()));
        for engine in [false, true] {
            for opts in [OpenOptions::new(), pinned(&s)] {
                let (out, verified) = open_with(&by_writer, opts, engine).expect("open");
                assert_eq!(out, plain, "{len} bytes");
                assert!(verified, "{len} bytes, engine {engine}");
            }
        }
    }
}

#[test]
fn a_reader_pinned_to_a_signer_refuses_unsigned_and_other_streams_before_unwrapping() {
    let (s1, s2) = (signer(1), signer(2));
    let plain = pseudo_random(10_000, 1);
    let unsigned = seal(&key(1), CHUNK, &plain);
    let err = open_with(&unsigned, pinned(&s1), false).expect_err("unsigned");
    assert!(matches!(err, Error::Key(KeyError::NotSigned)), "{err}");
    assert_eq!(err.class(), ErrorClass::Key);
    let by_s2 = seal_signed(&s2, &plain, true, None);
    let err = open_with(&by_s2, pinned(&s1), true).expect_err("other signer");
    assert!(
        matches!(err, Error::Key(KeyError::WrongSigner { .. })),
        "{err}"
    );
    // Either signer pinned: accepted.
    let both = pinned(&s1).require_signer(s2.signer_key().clone());
    assert!(open_with(&by_s2, both, false).expect("open").1);
}

fn expect_integrity(sealed: &[u8], what: fn(&Error) -> bool, name: &str) {
    for engine in [false, true] {
        let err = open_with(sealed, OpenOptions::new(), engine).expect_err(name);
        assert!(what(&err), "{name} (engine {engine}): {err}");
        assert_eq!(err.class(), ErrorClass::Integrity, "{name}");
    }
}

#[test]
fn a_stripped_cut_or_forged_trailer_is_an_integrity_error() {
    let s = signer(1);
    let plain = pseudo_random(3 * CHUNK as usize + 10, 2);
    let sealed = seal_signed(&s, &plain, false, None);
    let trailer = s.signer_key().algorithm().trailer_len();
    let missing = |e: &Error| matches!(e, Error::Integrity(IntegrityError::SignatureMissing));
    expect_integrity(&sealed[..sealed.len() - trailer], missing, "stripped");
    expect_integrity(&sealed[..sealed.len() - 1], missing, "cut by one byte");
    let mut forged = sealed.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    expect_integrity(
        &forged,
        |e| matches!(e, Error::Integrity(IntegrityError::SignatureInvalid)),
        "forged signature",
    );
    let mut extended = sealed.clone();
    extended.push(0);
    expect_integrity(
        &extended,
        |e| e.class() == ErrorClass::Integrity,
        "a byte after the trailer",
    );
}

#[test]
fn a_body_rewritten_by_a_holder_of_the_data_key_is_caught() {
    // The same seed gives the same data key, salt and header: what a
    // holder of the data key can write under the real header.
    let s = signer(1);
    let real = seal_signed(&s, &pseudo_random(20_000, 3), false, Some(7));
    let forged = seal_signed(&s, &pseudo_random(20_000, 4), false, Some(7));
    let trailer = s.signer_key().algorithm().trailer_len();
    let (h, len) = Header::parse(&real).expect("header");
    assert_eq!(h, Header::parse(&forged).expect("header").0, "same header");
    // The forged body (valid AEAD under the real keys) with the real trailer.
    let mut swapped = forged[..forged.len() - trailer].to_vec();
    swapped.extend_from_slice(&real[real.len() - trailer..]);
    assert_ne!(swapped[len..], real[len..]);
    expect_integrity(
        &swapped,
        |e| matches!(e, Error::Integrity(IntegrityError::BodyDigestMismatch)),
        "body swapped",
    );
}

#[test]
fn a_signed_stream_relabelled_as_unsigned_is_refused_by_the_parser() {
    let s = signer(1);
    let mut sealed = seal_signed(&s, b"data", false, None);
    sealed[10] = 1; // suite 0x0002 -> 0x0001
    let err = Header::parse(&sealed).expect_err("downgrade");
    assert_eq!(err.class(), ErrorClass::Integrity, "{err}");
}

#[test]
fn a_range_is_authenticated_by_the_aead_only_and_says_so() {
    let s = signer(1);
    let plain = pseudo_random(5 * CHUNK as usize + 7, 5);
    let sealed = seal_signed(&s, &plain, false, None);
    let k = key(1);
    let mut r = Opener::new(Cursor::new(&sealed))
        .expect("header")
        .unlock_blocking(&[&k as &dyn Keyring], pinned(&s))
        .expect("unlock");
    assert_eq!(r.plaintext_size().expect("size"), plain.len() as u64);
    r.seek(SeekFrom::Start(2 * u64::from(CHUNK) + 5))
        .expect("seek");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("read");
    assert_eq!(rest, &plain[2 * CHUNK as usize + 5..]);
    assert!(!r.signature_verified(), "chunks were skipped");
}

#[test]
fn rekey_keeps_the_signer_and_signs_the_new_header() {
    let s = signer(1);
    let plain = pseudo_random(9000, 6);
    let sealed = seal_signed(&s, &plain, true, None);
    let (k1, k2) = (key(1), key(2));
    let rekey = || {
        Opener::new(&sealed[..])
            .expect("header")
            .rekey_blocking(
                &[&k1 as &dyn Keyring],
                OpenOptions::new(),
                &[&k2 as &dyn Keyring],
                &[],
            )
            .expect("rekey")
    };
    let err = rekey().write_to(Vec::new()).expect_err("no signer");
    assert_eq!(err.class(), ErrorClass::Usage, "{err}");
    let err = rekey().sign_with(signer(2)).err().expect("another signer");
    assert_eq!(err.class(), ErrorClass::Usage, "{err}");
    let (out, _) = rekey()
        .sign_with(s.clone())
        .expect("same signer")
        .write_to(Vec::new())
        .expect("rekey");
    let mut r = Opener::new(&out[..])
        .expect("header")
        .unlock_blocking(&[&k2 as &dyn Keyring], pinned(&s))
        .expect("unlock with the added key");
    let mut back = Vec::new();
    r.read_to_end(&mut back).expect("read");
    assert_eq!(back, plain);
    assert!(r.signature_verified());
    // The old signature is checked before re-signing: a swapped body is refused.
    let mut bad = sealed.clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    let err = Opener::new(&bad[..])
        .expect("header")
        .rekey_blocking(
            &[&k1 as &dyn Keyring],
            OpenOptions::new(),
            &[&k2 as &dyn Keyring],
            &[],
        )
        .expect("header is intact")
        .sign_with(s.clone())
        .expect("signer")
        .write_to(Vec::new())
        .expect_err("tampered body");
    assert_eq!(err.class(), ErrorClass::Integrity, "{err}");
}

#[test]
fn reserved_context_keys_are_refused_to_callers() {
    let mut c = envstream::EncryptionContext::new();
    let err = c
        .insert("envstream:signer", "ed25519:AAAA")
        .expect_err("reserved");
    assert_eq!(err.class(), ErrorClass::Usage);
}

#[cfg(feature = "tokio")]
#[test]
fn async_writer_and_reader_agree_with_the_blocking_ones() {
    let s = signer(3);
    let plain = pseudo_random(50_000, 8);
    let blocking = seal_signed(&s, &plain, false, Some(5));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let k = key(1);
        let keys = [&k as &dyn Keyring];
        let opts = options(&s).insecure_deterministic([5; 32]);
        let mut w = Sealer::prepare(&keys, opts)
            .await
            .expect("prepare")
            .seal_to_async(Vec::new());
        w.write_all(&plain).await.expect("write");
        let sealed = w.finish().await.expect("finish");
        assert_eq!(sealed, blocking);
        let mut r = envstream::AsyncOpener::new(&sealed[..])
            .await
            .expect("header")
            .unlock(&keys, pinned(&s))
            .await
            .expect("unlock");
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.expect("read");
        assert_eq!(back, plain);
        assert!(r.signature_verified());
        let mut cut = &sealed[..sealed.len() - 1];
        let mut r = envstream::AsyncOpener::new(&mut cut)
            .await
            .expect("header")
            .unlock(&keys, OpenOptions::new())
            .await
            .expect("unlock");
        let err = r.read_to_end(&mut Vec::new()).await.expect_err("cut");
        assert!(matches!(
            Error::from(err),
            Error::Integrity(IntegrityError::SignatureMissing)
        ),);
    });
}
