//! A FIPS build (feature `fips`): AWS-LC's FIPS module is linked and in
//! FIPS mode, `aws-lc` is the only backend, the core round trip works, and
//! what runs outside the module is refused with a usage error: signed
//! streams (BLAKE3) and public-key recipients (X-Wing).
#![cfg(feature = "fips")]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use envstream::{
    Backend, Error, ErrorClass, Identity, KeyError, KeyringErrorKind, LocalKey, LocalSigningKey,
    OpenOptions, Opener, PqIdentity, Recipient, SealOptions, Sealer, UsageError,
};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors")
}

#[test]
fn the_fips_module_is_linked_and_in_fips_mode() {
    let st = envstream::fips_status();
    assert!(st.fips_build);
    assert!(st.fips_mode, "AWS-LC is not in FIPS mode: {st:?}");
    let module = st.module.expect("a module");
    assert!(module.starts_with("AWS-LC FIPS "), "{module}");
}

#[test]
fn aws_lc_is_the_only_backend() {
    assert_eq!(Backend::available(), &[Backend::AwsLc]);
    assert_eq!(Backend::auto(), Backend::AwsLc);
    assert_eq!(Backend::default(), Backend::AwsLc);
    assert_eq!(Backend::from_name("ring"), None);
    assert_eq!(Backend::from_name("rustcrypto"), None);
}

#[test]
fn a_local_key_round_trip_runs_in_the_module() {
    let (key, _) = LocalKey::generate(Backend::default()).expect("key from the module's DRBG");
    let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let opts = SealOptions::new().chunk_size(4096).expect("chunk size");
    let mut w = Sealer::prepare_blocking(&[&key], opts)
        .expect("prepare")
        .seal_to(Vec::new())
        .expect("header");
    w.write_all(&plain).expect("write");
    let sealed = w.finish().expect("finish");
    let mut r = Opener::new(&sealed[..])
        .expect("header")
        .unlock_blocking(&[&key], OpenOptions::new())
        .expect("unlock");
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("read");
    assert_eq!(out, plain);
}

fn refusal(e: &Error) -> String {
    match e {
        Error::Usage(UsageError::NotInFipsModule { .. }) => {
            assert_eq!(e.class(), ErrorClass::Usage);
            e.to_string()
        }
        Error::Key(KeyError::Keyring(k)) if k.kind() == KeyringErrorKind::Configuration => {
            e.to_string()
        }
        other => panic!("expected a FIPS refusal, got {other:?}"),
    }
}

#[test]
fn signing_is_refused() {
    let (signer, _) = LocalSigningKey::generate(Backend::default()).expect("signing key");
    let (key, _) = LocalKey::generate(Backend::default()).expect("key");
    let opts = SealOptions::new().signer(Arc::new(signer));
    let e = Sealer::prepare_blocking(&[&key], opts)
        .err()
        .expect("refused");
    let msg = refusal(&e);
    assert!(msg.contains("BLAKE3") && msg.contains("FIPS"), "{msg}");
}

#[test]
fn opening_a_signed_stream_is_refused() {
    let file = std::fs::read(vectors().join("good/signed_ed25519.envs")).expect("vector");
    let key = LocalKey::load(&vectors().join("keys/key1.key"), Backend::default()).expect("key");
    let e = Opener::new(&file[..])
        .expect("the header parses")
        .unlock_blocking(&[&key], OpenOptions::new())
        .err()
        .expect("refused");
    assert!(refusal(&e).contains("signed stream"));
}

#[test]
fn recipients_are_refused_both_ways() {
    let id = PqIdentity::load(&vectors().join("keys/identity1.id"), Backend::default())
        .expect("identity file");
    let opts = SealOptions::new();
    let e = Sealer::prepare_blocking(&[id.recipient() as &dyn Recipient], opts)
        .err()
        .expect("refused");
    assert!(refusal(&e).contains("X-Wing"), "{e}");
    let file = std::fs::read(vectors().join("good/recipient_one.envs")).expect("vector");
    let e = Opener::new(&file[..])
        .expect("header")
        .unlock_blocking(&[&id as &dyn Identity], OpenOptions::new())
        .err()
        .expect("refused");
    assert!(refusal(&e).contains("X-Wing"), "{e}");
}
