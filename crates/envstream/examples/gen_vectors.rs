//! Regenerates `docs/vectors/` deterministically.
//!
//! Run from the repository root: `cargo run -p envstream --example gen_vectors`.
//! The vectors test re-seals every good vector and demands byte equality, so
//! a format change that forgets to regenerate the vectors fails CI.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use envstream::{
    public_file_text, Backend, DataKey, EncryptionContext, Keyring, KeyringFuture, LocalKey,
    LocalSigningKey, PqIdentity, Recipient, SealOptions, Sealer, SignatureAlgorithm, Signer,
    SignerKey, WrapRequest, WrappedKey,
};

const CHUNK: usize = 4096;

/// (name, plaintext length, key names, context, description)
type GoodSpec = (
    &'static str,
    usize,
    Vec<&'static str>,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

/// (name, plaintext length, recipients, key files, identity files,
/// context, description)
type PqSpec<'a> = (
    &'static str,
    usize,
    Vec<&'a dyn Recipient>,
    Vec<&'static str>,
    Vec<&'static str>,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

fn key_secret(n: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = n.wrapping_mul(0x20).wrapping_add(i as u8);
    }
    k
}

/// Deterministic plaintext: byte i is (i * 31 + 7) mod 251.
fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

/// An ECDSA signer for the vectors only (the library signs ECDSA through
/// KMS): RFC 6979 deterministic signatures, so the files are reproducible.
enum Ecdsa {
    P256(p256::ecdsa::SigningKey, SignerKey),
    P384(p384::ecdsa::SigningKey, SignerKey),
}

impl Ecdsa {
    fn p256(scalar: u8) -> Ecdsa {
        let k = p256::ecdsa::SigningKey::from_slice(&[scalar; 32]).expect("scalar");
        let point = k.verifying_key().to_encoded_point(false);
        let key = SignerKey::new(SignatureAlgorithm::EcdsaP256, point.as_bytes().to_vec())
            .expect("P-256 point");
        Ecdsa::P256(k, key)
    }

    fn p384(scalar: u8) -> Ecdsa {
        let k = p384::ecdsa::SigningKey::from_slice(&[scalar; 48]).expect("scalar");
        let point = k.verifying_key().to_encoded_point(false);
        let key = SignerKey::new(SignatureAlgorithm::EcdsaP384, point.as_bytes().to_vec())
            .expect("P-384 point");
        Ecdsa::P384(k, key)
    }
}

impl Signer for Ecdsa {
    fn signer_key(&self) -> &SignerKey {
        match self {
            Ecdsa::P256(_, key) | Ecdsa::P384(_, key) => key,
        }
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> KeyringFuture<'a, Vec<u8>> {
        use p256::ecdsa::signature::Signer as _;
        // SHA-256 for P-256 and SHA-384 for P-384, as KMS's ECDSA_SHA_256
        // and ECDSA_SHA_384 (FORMAT.md section 15.4); r || s.
        let sig = match self {
            Ecdsa::P256(k, _) => {
                let s: p256::ecdsa::Signature = k.sign(message);
                s.to_bytes().to_vec()
            }
            Ecdsa::P384(k, _) => {
                let s: p384::ecdsa::Signature = k.sign(message);
                s.to_bytes().to_vec()
            }
        };
        Box::pin(async move { Ok(sig) })
    }
}

fn seal(keys: &[&LocalKey], ctx: &[(&str, &str)], seed: u8, plain: &[u8]) -> Vec<u8> {
    seal_signed(keys, ctx, seed, plain, None)
}

fn seal_signed(
    keys: &[&LocalKey],
    ctx: &[(&str, &str)],
    seed: u8,
    plain: &[u8],
    signer: Option<Arc<dyn Signer>>,
) -> Vec<u8> {
    let krs: Vec<&dyn Keyring> = keys.iter().map(|k| *k as &dyn Keyring).collect();
    let mut opts = SealOptions::new()
        .chunk_size(CHUNK as u32)
        .expect("valid chunk size")
        .context(EncryptionContext::from_pairs(ctx.iter().copied()).expect("valid context"))
        .insecure_deterministic([seed; 32]);
    if let Some(s) = signer {
        opts = opts.signer(s);
    }
    let mut w = Sealer::prepare_blocking(&krs, opts)
        .expect("seal")
        .seal_to(Vec::new())
        .expect("header");
    w.write_all(plain).expect("write");
    w.finish().expect("finish")
}

/// Seals to any recipients with `chunk` bytes per chunk.
fn seal_to(
    recipients: &[&dyn Recipient],
    chunk: u32,
    ctx: &[(&str, &str)],
    seed: u8,
    plain: &[u8],
) -> Vec<u8> {
    let opts = SealOptions::new()
        .chunk_size(chunk)
        .expect("valid chunk size")
        .context(EncryptionContext::from_pairs(ctx.iter().copied()).expect("valid context"))
        .insecure_deterministic([seed; 32]);
    let mut w = Sealer::prepare_blocking(recipients, opts)
        .expect("seal")
        .seal_to(Vec::new())
        .expect("header");
    w.write_all(plain).expect("write");
    w.finish().expect("finish")
}

/// A "recipient" that writes a record taken from another header, whatever
/// the data key: how a record is moved into another stream's header by
/// someone who seals that stream (and so computes its header tag).
struct Replay(WrappedKey);

impl Recipient for Replay {
    fn wrap<'a>(
        &'a self,
        _data_key: &'a DataKey,
        _request: &'a WrapRequest<'a>,
    ) -> KeyringFuture<'a, WrappedKey> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

/// A good vector's manifest entry: the fields every good vector has
/// (FORMAT.md section 14); callers add `signer` or `identities`.
fn good_entry(
    name: &str,
    desc: &str,
    keys: serde_json::Value,
    ctx: &[(&str, &str)],
    seed: u8,
) -> serde_json::Value {
    let ctx_json: serde_json::Map<String, serde_json::Value> = ctx
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    serde_json::json!({
        "name": name,
        "description": desc,
        "file": format!("good/{name}.envs"),
        "plaintext": format!("good/{name}.plain"),
        "keys": keys,
        "context": ctx_json,
        "chunk_size": CHUNK,
        "seed": hex(&[seed; 32]),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    let dir = Path::new("docs/vectors");
    std::fs::create_dir_all(dir.join("good")).expect("mkdir");
    std::fs::create_dir_all(dir.join("bad")).expect("mkdir");
    std::fs::create_dir_all(dir.join("keys")).expect("mkdir");
    let b = Backend::default();
    let k1s = key_secret(1);
    let k2s = key_secret(2);
    std::fs::write(
        dir.join("keys/key1.key"),
        LocalKey::key_file_text(&k1s, b).as_bytes(),
    )
    .expect("write");
    std::fs::write(
        dir.join("keys/key2.key"),
        LocalKey::key_file_text(&k2s, b).as_bytes(),
    )
    .expect("write");
    let k1 = LocalKey::from_secret(&k1s, b);
    let k2 = LocalKey::from_secret(&k2s, b);

    let goods: Vec<GoodSpec> = vec![
        (
            "empty",
            0,
            vec!["key1"],
            vec![],
            "empty plaintext: one empty final chunk",
        ),
        (
            "one_byte",
            1,
            vec!["key1"],
            vec![],
            "one byte: one final chunk of 1 byte",
        ),
        (
            "exactly_one_chunk",
            CHUNK,
            vec!["key1"],
            vec![],
            "one full chunk then an empty final chunk",
        ),
        (
            "one_chunk_plus_one",
            CHUNK + 1,
            vec!["key1"],
            vec![],
            "one full chunk then a 1-byte final chunk",
        ),
        (
            "multi_chunk_context",
            3 * CHUNK + 100,
            vec!["key1"],
            vec![("purpose", "backup"), ("host", "db-1")],
            "three full chunks and a 100-byte final chunk, with an encryption context",
        ),
        (
            "two_keys",
            5000,
            vec!["key1", "key2"],
            vec![("env", "prod")],
            "wrapped for key1 and key2; either opens it",
        ),
    ];
    let mut good_json = Vec::new();
    let mut multi = Vec::new();
    let mut one_chunk = Vec::new();
    for (i, (name, len, keys, ctx, desc)) in goods.iter().enumerate() {
        let seed = 0x40 + i as u8;
        let plain = plaintext(*len);
        let ks: Vec<&LocalKey> = keys
            .iter()
            .map(|k| if *k == "key1" { &k1 } else { &k2 })
            .collect();
        let sealed = seal(&ks, ctx, seed, &plain);
        std::fs::write(dir.join(format!("good/{name}.envs")), &sealed).expect("write");
        std::fs::write(dir.join(format!("good/{name}.plain")), &plain).expect("write");
        if *name == "multi_chunk_context" {
            multi = sealed.clone();
        }
        if *name == "exactly_one_chunk" {
            one_chunk = sealed.clone();
        }
        let key_files: Vec<String> = keys.iter().map(|k| format!("keys/{k}.key")).collect();
        good_json.push(good_entry(
            name,
            desc,
            serde_json::json!(key_files),
            ctx,
            seed,
        ));
    }

    // Bad vectors, derived from multi_chunk_context (chunks 0..2 full, 3 final).
    let (h, hl) = envstream::Header::parse(&multi).expect("parses");
    let stride = CHUNK + 16;
    let chunk =
        |i: usize| multi[hl + i * stride..(hl + (i + 1) * stride).min(multi.len())].to_vec();
    let body_end = multi.len();
    let mut bad: Vec<(&str, Vec<u8>, &str, u8, &str)> = Vec::new();
    let flip = |off: usize| {
        let mut v = multi.clone();
        v[off] ^= 0x01;
        v
    };
    let set = |off: usize, bytes: &[u8]| {
        let mut v = multi.clone();
        v[off..off + bytes.len()].copy_from_slice(bytes);
        v
    };
    bad.push((
        "bad_magic",
        set(0, b"X"),
        "integrity",
        3,
        "the magic is wrong",
    ));
    bad.push((
        "unsupported_version",
        set(8, &[2]),
        "integrity",
        3,
        "format version 2",
    ));
    bad.push((
        "unsupported_suite",
        set(9, &[0, 3]),
        "integrity",
        3,
        "suite id 0x0003",
    ));
    bad.push((
        "chunk_size_too_small",
        set(11, &4095u32.to_be_bytes()),
        "integrity",
        3,
        "chunk size 4095",
    ));
    bad.push((
        "chunk_size_too_large",
        set(11, &(16 * 1024 * 1024 + 1u32).to_be_bytes()),
        "integrity",
        3,
        "chunk size 16 MiB + 1",
    ));
    bad.push((
        "header_len_huge",
        set(15, &u32::MAX.to_be_bytes()),
        "integrity",
        3,
        "header length 2^32-1",
    ));
    let count_off = hl - 32 - 32 - (1 + 2 + 2 + 5 + 32 + 60) - 1;
    assert_eq!(multi[count_off], 1, "wrapped key count offset");
    bad.push((
        "too_many_keys",
        set(count_off, &[17]),
        "integrity",
        3,
        "17 wrapped keys (limit 16)",
    ));
    bad.push((
        "zero_keys",
        set(count_off, &[0]),
        "integrity",
        3,
        "0 wrapped keys",
    ));
    // Swap the two context pairs ("host" < "purpose") so keys are unsorted.
    let ctx_off = 19 + 32;
    let ctx_bytes = h.context().encode();
    let host = 2 + 4 + 2 + 4; // klen "host" vlen "db-1"
    let mut unsorted = ctx_bytes[..2].to_vec();
    unsorted.extend_from_slice(&ctx_bytes[2 + host..]);
    unsorted.extend_from_slice(&ctx_bytes[2..2 + host]);
    bad.push((
        "context_unsorted",
        set(ctx_off, &unsorted),
        "integrity",
        3,
        "context keys out of order",
    ));
    bad.push((
        "header_truncated",
        multi[..100].to_vec(),
        "integrity",
        3,
        "EOF inside the header",
    ));
    bad.push((
        "header_only",
        multi[..hl].to_vec(),
        "integrity",
        3,
        "EOF before the first chunk",
    ));
    bad.push((
        "header_tag_flip",
        flip(hl - 1),
        "integrity",
        3,
        "one bit of the header tag flipped",
    ));
    bad.push((
        "commitment_flip",
        flip(hl - 33),
        "integrity",
        3,
        "one bit of the key commitment flipped",
    ));
    bad.push((
        "salt_flip",
        flip(19),
        "integrity",
        3,
        "one bit of the salt flipped",
    ));
    bad.push((
        "context_value_flip",
        flip(ctx_off + 2 + 2 + 4 + 2),
        "integrity",
        3,
        "one bit of a context value flipped",
    ));
    bad.push((
        "tampered_chunk",
        flip(hl + stride + 10),
        "integrity",
        3,
        "one bit of chunk 1 flipped",
    ));
    bad.push((
        "tampered_final_tag",
        flip(body_end - 1),
        "integrity",
        3,
        "one bit of the final chunk's tag flipped",
    ));
    bad.push((
        "missing_final_chunk",
        multi[..hl + 3 * stride].to_vec(),
        "integrity",
        3,
        "EOF at a chunk boundary before the final chunk",
    ));
    bad.push((
        "truncated_mid_chunk",
        multi[..hl + stride + 1000].to_vec(),
        "integrity",
        3,
        "EOF inside chunk 1",
    ));
    bad.push((
        "truncated_final_chunk",
        multi[..body_end - 5].to_vec(),
        "integrity",
        3,
        "last 5 bytes missing",
    ));
    bad.push((
        "truncated_below_tag",
        multi[..hl + 3 * stride + 10].to_vec(),
        "integrity",
        3,
        "final chunk shorter than a tag",
    ));
    let mut v = multi[..hl].to_vec();
    v.extend(chunk(0));
    v.extend(chunk(2));
    v.extend(chunk(3));
    bad.push(("dropped_chunk", v, "integrity", 3, "chunk 1 removed"));
    let mut v = multi[..hl].to_vec();
    v.extend(chunk(1));
    v.extend(chunk(0));
    v.extend(chunk(2));
    v.extend(chunk(3));
    bad.push((
        "swapped_chunks",
        v,
        "integrity",
        3,
        "chunks 0 and 1 swapped",
    ));
    let mut v = multi[..hl].to_vec();
    v.extend(chunk(0));
    v.extend(chunk(1));
    v.extend(chunk(1));
    v.extend(chunk(2));
    v.extend(chunk(3));
    bad.push(("duplicated_chunk", v, "integrity", 3, "chunk 1 repeated"));
    let mut v = multi.clone();
    v.extend(chunk(3));
    bad.push((
        "two_final_chunks",
        v,
        "integrity",
        3,
        "the final chunk appears twice",
    ));
    let mut v = multi.clone();
    v.push(0);
    bad.push((
        "trailing_byte",
        v,
        "integrity",
        3,
        "one byte after the final chunk",
    ));
    let mut v = multi.clone();
    v.extend(std::iter::repeat_n(0xAAu8, 5000));
    bad.push((
        "trailing_data_long",
        v,
        "integrity",
        3,
        "5000 bytes after the final chunk",
    ));
    let mut v = one_chunk.clone();
    v.extend_from_slice(&one_chunk[one_chunk.len() - 16..]);
    bad.push((
        "trailing_after_empty_final",
        v,
        "integrity",
        3,
        "16 bytes after an empty final chunk",
    ));
    let mut v = multi[..hl].to_vec();
    v.extend(chunk(0));
    v.extend(chunk(1));
    v.extend(chunk(3));
    bad.push((
        "final_chunk_early",
        v,
        "integrity",
        3,
        "chunk 2 removed so the final chunk has the wrong index",
    ));
    bad.push((
        "not_envstream",
        b"hello, world\n".to_vec(),
        "integrity",
        3,
        "plain text",
    ));
    bad.push(("empty_file", Vec::new(), "integrity", 3, "zero bytes"));
    bad.push((
        "wrong_key",
        multi.clone(),
        "key",
        4,
        "intact file, opened with key2 only",
    ));

    // Signed streams (FORMAT.md section 15). Ed25519 signing keys are key
    // files like `keygen --sign` writes; the ECDSA keys (KMS's curves) are
    // fixed test scalars, only their public keys are published.
    let signer1 = LocalSigningKey::from_seed(&key_secret(3), b);
    let signer2 = LocalSigningKey::from_seed(&key_secret(4), b);
    for (name, k) in [("signer1", &signer1), ("signer2", &signer2)] {
        std::fs::write(
            dir.join(format!("keys/{name}.key")),
            k.key_file_text().as_bytes(),
        )
        .expect("write");
        std::fs::write(
            dir.join(format!("keys/{name}.key.pub")),
            k.public_file_text(),
        )
        .expect("write");
    }
    let signer1: Arc<dyn Signer> = Arc::new(signer1);
    let p256: Arc<dyn Signer> = Arc::new(Ecdsa::p256(0x11));
    let p384: Arc<dyn Signer> = Arc::new(Ecdsa::p384(0x22));
    for (name, k) in [("signer_p256", &p256), ("signer_p384", &p384)] {
        std::fs::write(
            dir.join(format!("keys/{name}.pub")),
            public_file_text(k.signer_key()),
        )
        .expect("write");
    }
    type SignedSpec<'a> = (
        &'static str,
        usize,
        Vec<&'static str>,
        Vec<(&'static str, &'static str)>,
        (&'a Arc<dyn Signer>, &'static str),
        &'static str,
    );
    let signed: Vec<SignedSpec> = vec![
        (
            "signed_ed25519",
            3 * CHUNK + 100,
            vec!["key1"],
            vec![("purpose", "backup")],
            (&signer1, "keys/signer1.key.pub"),
            "signed (Ed25519): three full chunks, a 100-byte final chunk and the trailer",
        ),
        (
            "signed_empty",
            0,
            vec!["key1"],
            vec![],
            (&signer1, "keys/signer1.key.pub"),
            "signed (Ed25519) empty plaintext: one empty final chunk and the trailer",
        ),
        (
            "signed_p256",
            5000,
            vec!["key1", "key2"],
            vec![("env", "prod")],
            (&p256, "keys/signer_p256.pub"),
            "signed (ECDSA P-256, SHA-256): two keys, a context",
        ),
        (
            "signed_p384",
            CHUNK,
            vec!["key1"],
            vec![],
            (&p384, "keys/signer_p384.pub"),
            "signed (ECDSA P-384, SHA-384): one full chunk and an empty final chunk",
        ),
    ];
    let mut signed_main = Vec::new();
    for (i, (name, len, keys, ctx, (signer, public), desc)) in signed.iter().enumerate() {
        let seed = 0x50 + i as u8;
        let plain = plaintext(*len);
        let ks: Vec<&LocalKey> = keys
            .iter()
            .map(|k| if *k == "key1" { &k1 } else { &k2 })
            .collect();
        let sealed = seal_signed(&ks, ctx, seed, &plain, Some(Arc::clone(signer)));
        std::fs::write(dir.join(format!("good/{name}.envs")), &sealed).expect("write");
        std::fs::write(dir.join(format!("good/{name}.plain")), &plain).expect("write");
        if *name == "signed_ed25519" {
            signed_main = sealed.clone();
            // The same keys, seed and signer give the same header; a holder
            // of the data key can encrypt another body under it, but cannot
            // sign it.
            let mut other = plaintext(*len);
            other[5] ^= 0xFF;
            let forged = seal_signed(&ks, ctx, seed, &other, Some(Arc::clone(signer)));
            let hl = envstream::Header::parse(&sealed).expect("parses").1;
            assert_eq!(forged[..hl], sealed[..hl], "same header");
            let t = SignatureAlgorithm::Ed25519.trailer_len();
            let mut v = forged[..forged.len() - t].to_vec();
            v.extend_from_slice(&sealed[sealed.len() - t..]);
            bad.push((
                "body_swapped",
                v,
                "integrity",
                3,
                "a data-key holder's body (chunk 0 re-encrypted with a changed byte) under the signed header and the original trailer",
            ));
        }
        let key_files: Vec<String> = keys.iter().map(|k| format!("keys/{k}.key")).collect();
        let mut entry = good_entry(name, desc, serde_json::json!(key_files), ctx, seed);
        entry["signer"] = serde_json::json!(public);
        entry["signer_fingerprint"] = serde_json::json!(signer.signer_key().fingerprint());
        good_json.push(entry);
    }
    let sm = signed_main;

    // Public-key recipients (FORMAT.md section 16).
    let id1s = key_secret(3);
    let id2s = key_secret(4);
    let id1 = PqIdentity::from_secret(&id1s, b);
    let id2 = PqIdentity::from_secret(&id2s, b);
    for (name, secret, id) in [("identity1", &id1s, &id1), ("identity2", &id2s, &id2)] {
        std::fs::write(
            dir.join(format!("keys/{name}.id")),
            PqIdentity::identity_file_text(secret, b).as_bytes(),
        )
        .expect("write");
        std::fs::write(
            dir.join(format!("keys/{name}.id.pub")),
            format!("{}\n", id.recipient().to_text()),
        )
        .expect("write");
    }
    let r1 = id1.recipient();
    let r2 = id2.recipient();
    let pq_goods: Vec<PqSpec> = vec![
        (
            "recipient_one",
            5000,
            vec![r1],
            vec![],
            vec!["keys/identity1.id"],
            vec![("purpose", "pq")],
            "sealed to recipient 1 only (mlkem768x25519)",
        ),
        (
            "recipient_mixed",
            2 * CHUNK + 9,
            vec![r1, r2, &k1],
            vec!["keys/key1.key"],
            vec!["keys/identity1.id", "keys/identity2.id"],
            vec![("host", "backup-1")],
            "sealed to recipients 1 and 2 and to key1; any one of them opens it",
        ),
    ];
    let mut pq_main = Vec::new();
    for (i, (name, len, rs, keys, ids, ctx, desc)) in pq_goods.iter().enumerate() {
        let seed = 0x60 + i as u8;
        let plain = plaintext(*len);
        let sealed = seal_to(rs, CHUNK as u32, ctx, seed, &plain);
        std::fs::write(dir.join(format!("good/{name}.envs")), &sealed).expect("write");
        std::fs::write(dir.join(format!("good/{name}.plain")), &plain).expect("write");
        if *name == "recipient_one" {
            pq_main = sealed.clone();
        }
        let mut entry = good_entry(name, desc, serde_json::json!(keys), ctx, seed);
        entry["identities"] = serde_json::json!(ids);
        good_json.push(entry);
    }
    let (ph, phl) = envstream::Header::parse(&pq_main).expect("parses");
    let record = ph.wrapped_keys()[0].clone();
    // The record's wrapped key starts after the context, the count and the
    // record's provider id and key id.
    let wk_off = phl - 64 - record.ciphertext().len();
    assert_eq!(
        pq_main[wk_off..wk_off + record.ciphertext().len()],
        record.ciphertext()[..],
        "wrapped key offset"
    );
    let pflip = |off: usize| {
        let mut v = pq_main.clone();
        v[off] ^= 0x01;
        v
    };
    bad.push((
        "recipient_wrong_identity",
        pq_main.clone(),
        "key",
        4,
        "intact recipient_one, opened with identity 2 only",
    ));
    bad.push((
        "recipient_enc_flip",
        pflip(wk_off + 100),
        "integrity",
        3,
        "one bit of the X-Wing encapsulation in recipient_one's record flipped",
    ));
    bad.push((
        "recipient_ct_flip",
        pflip(wk_off + 1120 + 3),
        "integrity",
        3,
        "one bit of the HPKE ciphertext of the data key in recipient_one's record flipped",
    ));
    let replay = Replay(record);
    bad.push((
        "recipient_moved_record",
        seal_to(&[&replay], CHUNK as u32, &[("purpose", "other")], 0x70, &plaintext(100)),
        "integrity",
        3,
        "recipient_one's record in the header of another stream (context purpose=other), whose header tag is valid under that stream's own data key",
    ));
    // The same seed draws the same data key first, so this header is
    // authentic under recipient_one's data key: only the binding of the
    // chunk size into the wrap catches the change.
    bad.push((
        "recipient_chunk_size",
        seal_to(&[&replay], 2 * CHUNK as u32, &[("purpose", "pq")], 0x60, &plaintext(5000)),
        "integrity",
        3,
        "recipient_one's record and data key in a stream with chunk size 8192 and a valid header tag (a data-key holder's rewrite)",
    ));
    let t = SignatureAlgorithm::Ed25519.trailer_len();
    let (sh, shl) = envstream::Header::parse(&sm).expect("parses");
    let sflip = |off: usize| {
        let mut v = sm.clone();
        v[off] ^= 0x01;
        v
    };
    bad.push((
        "signature_stripped",
        sm[..sm.len() - t].to_vec(),
        "integrity",
        3,
        "signed_ed25519 without its trailer",
    ));
    bad.push((
        "trailer_truncated",
        sm[..sm.len() - 10].to_vec(),
        "integrity",
        3,
        "signed_ed25519 with the last 10 bytes of its trailer cut",
    ));
    bad.push((
        "signature_flip",
        sflip(sm.len() - 1),
        "integrity",
        3,
        "one bit of signed_ed25519's signature flipped",
    ));
    bad.push((
        "digest_flip",
        sflip(sm.len() - t + 8),
        "integrity",
        3,
        "one bit of the body digest in signed_ed25519's trailer flipped",
    ));
    let mut v = sm.clone();
    v.push(0);
    bad.push((
        "trailing_after_trailer",
        v,
        "integrity",
        3,
        "one byte after signed_ed25519's trailer",
    ));
    let mut v = sm[..sm.len() - t].to_vec();
    v[9..11].copy_from_slice(&1u16.to_be_bytes());
    bad.push((
        "suite_downgrade",
        v,
        "integrity",
        3,
        "signed_ed25519 relabelled suite 0x0001, trailer stripped (the signer stays in the context)",
    ));
    // The downgrade that also drops the signer from the context: the header
    // no longer matches its tag (and KMS would refuse the changed context).
    let old_ctx = sh.context().encode();
    let user: Vec<(String, String)> = sh
        .context()
        .iter()
        .filter(|(k, _)| !k.starts_with("envstream:"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let new_ctx = EncryptionContext::from_pairs(user).expect("ctx").encode();
    let ctx_off = 19 + 32;
    assert_eq!(
        sm[ctx_off..ctx_off + old_ctx.len()],
        old_ctx[..],
        "context offset"
    );
    let mut v = sm[..ctx_off].to_vec();
    v[9..11].copy_from_slice(&1u16.to_be_bytes());
    let new_len = (shl - old_ctx.len() + new_ctx.len()) as u32;
    v[15..19].copy_from_slice(&new_len.to_be_bytes());
    v.extend_from_slice(&new_ctx);
    v.extend_from_slice(&sm[ctx_off + old_ctx.len()..sm.len() - t]);
    bad.push((
        "suite_downgrade_context",
        v,
        "integrity",
        3,
        "signed_ed25519 relabelled suite 0x0001 with the signer removed from the context and the trailer stripped",
    ));
    bad.push((
        "wrong_signer",
        sm.clone(),
        "key",
        4,
        "intact signed_ed25519, opened requiring signer2",
    ));
    bad.push((
        "not_signed",
        multi.clone(),
        "key",
        4,
        "intact unsigned multi_chunk_context, opened requiring signer1",
    ));

    let mut bad_json = Vec::new();
    for (name, bytes, class, exit, desc) in &bad {
        std::fs::write(dir.join(format!("bad/{name}.envs")), bytes).expect("write");
        let key = if *name == "wrong_key" {
            "keys/key2.key"
        } else {
            "keys/key1.key"
        };
        let mut entry = serde_json::json!({
            "name": name,
            "description": desc,
            "file": format!("bad/{name}.envs"),
            "keys": [key],
            "error_class": class,
            "exit_code": exit,
        });
        // Recipient vectors are opened with identities alone.
        if name.starts_with("recipient_") {
            let id = if *name == "recipient_wrong_identity" {
                "keys/identity2.id"
            } else {
                "keys/identity1.id"
            };
            entry["keys"] = serde_json::json!([]);
            entry["identities"] = serde_json::json!([id]);
        }
        // The signers a reader pins (`--signer`), where the vector needs one.
        let signers = match *name {
            "wrong_signer" => vec!["keys/signer2.key.pub"],
            "not_signed" => vec!["keys/signer1.key.pub"],
            _ => vec![],
        };
        if !signers.is_empty() {
            entry["signers"] = serde_json::json!(signers);
        }
        bad_json.push(entry);
    }
    let manifest = serde_json::json!({
        "manifest": "envstream test vectors",
        "format_version": 1,
        "notes": "Plaintext byte i of each good vector is (i*31+7) mod 251. `seed` is the insecure deterministic randomness seed used to generate the file; it is only needed to re-create the file byte for byte. `signer` (good vectors) is the public key file of a signed stream's writer, and `signers` (bad vectors) the public key files a reader pins (FORMAT.md section 15). `identities` lists the identity files (FORMAT.md section 16) to supply besides `keys`. The ECDSA vectors were signed with RFC 6979 deterministic nonces; KMS's signatures are random, and any valid signature is accepted.",
        "good": good_json,
        "bad": bad_json,
    });
    let mut f = std::fs::File::create(dir.join("manifest.json")).expect("create");
    writeln!(
        f,
        "{}",
        serde_json::to_string_pretty(&manifest).expect("json")
    )
    .expect("write");
    eprintln!(
        "wrote {} good and {} bad vectors",
        good_json.len(),
        bad_json.len()
    );
}
