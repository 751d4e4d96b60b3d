//! Fuzzing entry points. Not part of the stable API.

/// Parses a header and, if it parses, asserts that writing it back
/// reproduces the input bytes exactly.
pub fn header_round_trip(data: &[u8]) {
    if let Ok((h, len)) = crate::Header::parse(data) {
        assert_eq!(h.to_bytes(), &data[..len], "header parse/write round trip");
        assert_eq!(h.len(), len);
    }
}

/// The fixed key used by [`open_with_fixed_key`]: the test vectors'
/// `key1` (bytes 0x20, 0x21, ..., 0x3f), so the vectors seed the corpus.
pub fn fixed_key() -> crate::LocalKey {
    let mut secret = [0u8; 32];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = 0x20 + i as u8;
    }
    crate::LocalKey::from_secret(&secret, crate::Backend::default())
}

/// Parses `data` as a key file: must never panic; a key that parses
/// must give the same key id when its file text is parsed again.
pub fn key_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::LocalKey::parse(text, crate::Backend::default());
        // Signing key files and public key files (FORMAT.md section 15.9).
        if let Ok(k) = crate::LocalSigningKey::parse(text, crate::Backend::default()) {
            let again =
                crate::LocalSigningKey::parse(&k.key_file_text(), crate::Backend::default());
            assert!(again.is_ok_and(|a| a.public_file_text() == k.public_file_text()));
        }
        if let Ok(s) = crate::SignerKey::parse_public_file(text) {
            let again = crate::SignerKey::parse_public_file(&crate::public_file_text(&s));
            assert!(again.is_ok_and(|a| a == s), "public key file round trip");
        }
        // Identity and recipient files (FORMAT.md section 16.2).
        let be = crate::Backend::default();
        if let Ok(id) = crate::PqIdentity::parse(text, be) {
            let r = crate::PqRecipient::parse(&id.recipient().to_text(), be);
            assert!(
                r.is_ok_and(|r| r.key_id() == id.key_id()),
                "identity's recipient"
            );
        }
        if let Ok(r) = crate::PqRecipient::parse_file_text(text, be) {
            let again = crate::PqRecipient::parse(&r.to_text(), be);
            assert!(
                again.is_ok_and(|a| a.key_id() == r.key_id()),
                "recipient round trip"
            );
        }
    }
    signer_values(data);
    pq_record(data);
}

/// Unwraps `data` as the wrapped key of an `mlkem768x25519` record
/// addressed to a fixed identity: must never panic, and (short of
/// breaking HPKE) never unwraps.
pub fn pq_record(data: &[u8]) {
    use crate::keyring::Identity;
    static ID: std::sync::OnceLock<crate::PqIdentity> = std::sync::OnceLock::new();
    let id =
        ID.get_or_init(|| crate::PqIdentity::from_secret(&[0x60; 32], crate::Backend::default()));
    let wk = crate::WrappedKey::new(crate::PQ_PROVIDER, id.key_id(), data.to_vec());
    let ctx = crate::EncryptionContext::new();
    let req = crate::UnwrapRequest {
        context: &ctx,
        suite: 1,
        chunk_size: 65536,
    };
    let got = crate::keyring::block_on(id.unwrap_key(&wk, &req));
    // (A FIPS build refuses the provider, as a configuration error.)
    let expected = if cfg!(feature = "fips") {
        crate::KeyringErrorKind::Configuration
    } else {
        crate::KeyringErrorKind::Corrupt
    };
    assert!(
        matches!(&got, Err(e) if e.kind() == expected),
        "an arbitrary record is corrupt"
    );
}

/// The signer-side parsers of FORMAT.md section 15 on arbitrary bytes: a
/// signer value (canonical: what parses re-encodes to the same text), a
/// DER ECDSA signature, a DER public key, a trailer. Must never panic.
pub fn signer_values(data: &[u8]) {
    use crate::format::{ecdsa_der_to_fixed, SignatureAlgorithm, Trailer};
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(s) = crate::SignerKey::parse(text) {
            assert_eq!(s.value(), text, "signer values are canonical");
            let _ = s.fingerprint();
            let _ = s.verify(&[0u8; 111], &[0u8; 96]);
        }
    }
    for field in [32, 48] {
        if let Some(fixed) = ecdsa_der_to_fixed(data, field) {
            assert_eq!(fixed.len(), 2 * field);
        }
    }
    for alg in [
        SignatureAlgorithm::Ed25519,
        SignatureAlgorithm::EcdsaP256,
        SignatureAlgorithm::EcdsaP384,
    ] {
        let _ = crate::SignerKey::from_spki(alg, data);
        if let Ok(t) = Trailer::parse(data, alg) {
            assert_eq!(t.to_bytes(), data, "trailer round trip");
        }
    }
}

/// What `envstream inspect` does: read the header from a stream and
/// touch every field. Must never panic; what parses must re-serialize
/// to the same bytes.
pub fn inspect(data: &[u8]) {
    if let Ok(opener) = crate::Opener::new(data) {
        let h = opener.header();
        let bytes = h.to_bytes();
        assert_eq!(&bytes[..], &data[..bytes.len()], "inspect round trip");
        let _ = (h.version(), h.suite().name(), h.chunk_size(), h.len());
        for (k, v) in h.context().iter() {
            let _ = (k.len(), v.len());
        }
        for w in h.wrapped_keys() {
            let _ = (w.provider(), w.key_id(), w.ciphertext().len());
        }
    }
}

/// The good vector `multi_chunk_context` (sealed to [`fixed_key`]) and its plaintext length.
pub const SEED_FILE: &[u8] = include_bytes!("../../../docs/vectors/good/multi_chunk_context.envs");

/// Structure-aware: applies the edits `ops` describes (bit flips, chunk
/// splices, length and count edits, truncation, appends) to a valid
/// file and opens the result. Asserts that a file that still opens is
/// byte-identical to the original: no edit goes undetected.
pub fn mutate_and_open(ops: &[u8]) {
    let original = SEED_FILE;
    let mut f = original.to_vec();
    let (hl, stride) = match crate::Header::parse(original) {
        Ok((h, hl)) => (hl, h.chunk_size() as usize + crate::format::CHUNK_TAG_LEN),
        Err(_) => return,
    };
    for op in ops.chunks(4) {
        if op.len() < 4 || f.is_empty() {
            break;
        }
        let arg = u16::from_be_bytes([op[1], op[2]]) as usize;
        match op[0] % 8 {
            0 => {
                let at = arg % f.len();
                f[at] ^= 1 << (op[3] % 8);
            }
            1 => {
                // Copy chunk a over chunk b.
                let n = (f.len().saturating_sub(hl)) / stride + 1;
                let (a, b) = (arg % n, op[3] as usize % n);
                let src: Vec<u8> = f
                    .iter()
                    .skip(hl + a * stride)
                    .take(stride)
                    .copied()
                    .collect();
                let start = (hl + b * stride).min(f.len());
                let end = (start + stride).min(f.len());
                f.splice(start..end, src);
            }
            2 => {
                // Remove a chunk.
                let n = (f.len().saturating_sub(hl)) / stride + 1;
                let start = (hl + (arg % n) * stride).min(f.len());
                let end = (start + stride).min(f.len());
                f.drain(start..end);
            }
            3 => f.truncate(arg % (f.len() + 1)),
            4 => f.extend(std::iter::repeat_n(op[3], arg % 64 + 1)),
            5 => {
                // Edit a header length/count byte: chunk size, header length, counts.
                let fields = [11usize, 12, 13, 14, 15, 16, 17, 18, 51, 52];
                let at = fields[arg % fields.len()];
                if at < f.len() {
                    f[at] = op[3];
                }
            }
            6 => {
                // Insert a byte inside the header.
                let at = arg % (hl.min(f.len()) + 1);
                f.insert(at, op[3]);
            }
            _ => {
                // Duplicate a chunk in place.
                let n = (f.len().saturating_sub(hl)) / stride + 1;
                let start = (hl + (arg % n) * stride).min(f.len());
                let end = (start + stride).min(f.len());
                let dup: Vec<u8> = f[start..end].to_vec();
                f.splice(start..start, dup);
            }
        }
    }
    if open_with_fixed_key(&f).is_some() {
        assert_eq!(&f[..], original, "an edited file opened");
    }
}

/// Opens `data` with [`fixed_key`] and reads it to the end into a
/// bounded sink. Must never panic or hang, whatever `data` holds.
/// Returns the plaintext length on success.
pub fn open_with_fixed_key(data: &[u8]) -> Option<u64> {
    use std::io::Read;
    let key = fixed_key();
    let keys: [&dyn crate::Keyring; 1] = [&key];
    let opener = crate::Opener::new(data).ok()?;
    let mut reader = opener
        .unlock_blocking(&keys, crate::OpenOptions::new())
        .ok()?;
    let mut buf = [0u8; 8192];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Some(total),
            Ok(n) => total += n as u64,
            Err(_) => return None,
        }
    }
}

/// The leaf hash a [`seal_body_hashed`] run computes per chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchLeafHash {
    /// No body digest (an unsigned stream).
    None,
    /// BLAKE3 leaves (the format's choice, FORMAT.md section 15.3).
    Blake3,
    /// SHA-256 leaves (aws-lc), only to measure the alternative.
    #[cfg(feature = "aws-lc")]
    Sha256,
}

/// Seals `input` as a body (no header) with the parallel engine on
/// `threads` workers under a fixed key with `backend`, hashing each chunk
/// as `hash` says and folding the leaves in order: what a signed seal adds
/// to an unsigned one. Returns the sealed byte count and the outer hash.
pub fn seal_body_hashed(
    backend: crate::Backend,
    input: &[u8],
    chunk_size: usize,
    threads: usize,
    hash: BenchLeafHash,
) -> Result<(u64, Option<[u8; 32]>), crate::Error> {
    use crate::io::bench::{run_body, LeafHash};
    let leaves = match hash {
        BenchLeafHash::None => None,
        BenchLeafHash::Blake3 => Some(LeafHash::Blake3),
        #[cfg(feature = "aws-lc")]
        BenchLeafHash::Sha256 => Some(LeafHash::Sha256),
    };
    run_body(backend, input, chunk_size, threads, leaves)
}

/// The steps of a seal and an open that call a primitive, one at a time,
/// so that a tool can read AWS-LC's FIPS service indicator around each
/// (`tools/fips-indicator`; docs/SECURITY.md, "FIPS").
#[cfg(feature = "aws-lc")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FipsStep {
    /// 32 random bytes (a data key or a salt).
    Random,
    /// The stream keys: three HKDF-SHA-512 expansions of the data key.
    StreamKeys,
    /// The header tag: one HMAC-SHA-256.
    HeaderTag,
    /// A local key file's key id: one HMAC-SHA-256 of a label under the
    /// file key.
    LocalKeyId,
    /// A local key file's KEK: one HKDF-SHA-512 with an empty salt.
    LocalKek,
    /// A local key's wrap: one AES-256-GCM seal under the KEK, with a
    /// nonce drawn (by envstream) before.
    LocalWrapSeal,
    /// A local key's unwrap: one AES-256-GCM open.
    LocalUnwrapOpen,
    /// One full chunk sealed with the payload key and its counter nonce.
    ChunkSeal,
    /// The final chunk sealed (the final flag in its nonce).
    FinalChunkSeal,
    /// One chunk opened.
    ChunkOpen,
}

#[cfg(feature = "aws-lc")]
impl FipsStep {
    /// Every step, in the order a seal and then an open use them.
    pub const ALL: [FipsStep; 10] = [
        FipsStep::Random,
        FipsStep::LocalKeyId,
        FipsStep::LocalKek,
        FipsStep::StreamKeys,
        FipsStep::HeaderTag,
        FipsStep::LocalWrapSeal,
        FipsStep::ChunkSeal,
        FipsStep::FinalChunkSeal,
        FipsStep::LocalUnwrapOpen,
        FipsStep::ChunkOpen,
    ];

    /// How many calls into the module the step makes.
    pub fn calls(self) -> u64 {
        match self {
            FipsStep::StreamKeys => 3,
            _ => 1,
        }
    }
}

/// Prepares `step` with the aws-lc backend and envstream's own code (the
/// stream keys of a real header, the chunk nonce rule, the local key
/// derivation), then hands its one operation to `measure`, which runs it
/// between two reads of the indicator. Returns whether the operation
/// itself succeeded.
#[cfg(feature = "aws-lc")]
pub fn fips_probe(step: FipsStep, measure: &mut dyn FnMut(&mut dyn FnMut())) -> bool {
    use crate::crypto::{open_chunk, seal_chunk, StreamKeys, KEY_LEN, TAG_LEN};
    let be = crate::Backend::AwsLc;
    let chunk = 4096usize;
    let dk = crate::DataKey::from_slice(&[7u8; KEY_LEN]);
    let ctx = crate::EncryptionContext::from_pairs([("host", "probe")]);
    let (Some(dk), Ok(ctx)) = (dk, ctx) else {
        return false;
    };
    let wk = crate::WrappedKey::new("local", "0".repeat(32), vec![0u8; 60]);
    let Ok(header) = crate::Header::new(chunk as u32, [9u8; 32], ctx, vec![wk]) else {
        return false;
    };
    let keys = StreamKeys::derive(be, &dk, &header);
    let aead = be.aead(&keys.payload);
    let mut ok = true;
    match step {
        FipsStep::Random => {
            let mut b = [0u8; 32];
            measure(&mut || ok = be.fill_random(&mut b).is_ok());
        }
        FipsStep::StreamKeys => measure(&mut || {
            let k = StreamKeys::derive(be, &dk, &header);
            ok = k.commitment == keys.commitment;
        }),
        FipsStep::HeaderTag => {
            let bytes = header.authenticated_bytes();
            measure(&mut || ok = keys.header_tag(be, &bytes) != [0u8; 32]);
        }
        // The two derivations of `LocalKey::from_secret`, as it makes them.
        FipsStep::LocalKeyId => {
            measure(&mut || ok = crate::keyring::derive_key_id(&[5u8; 32], be).len() == 32)
        }
        FipsStep::LocalKek => {
            measure(&mut || ok = crate::keyring::derive_kek(&[5u8; 32], be)[..] != [0u8; KEY_LEN])
        }
        FipsStep::LocalWrapSeal | FipsStep::LocalUnwrapOpen => {
            // The production wrap (with the system's random source, as a
            // seal uses it) and unwrap of a local key file.
            let local = crate::LocalKey::from_secret(&[5u8; KEY_LEN], be);
            let random = crate::RandomSource::system(be);
            let ctx = header.context();
            if step == FipsStep::LocalWrapSeal {
                measure(&mut || ok = local.wrap_sync(&dk, ctx, &random).is_ok());
            } else {
                let Ok(wk) = local.wrap_sync(&dk, ctx, &random) else {
                    return false;
                };
                measure(&mut || {
                    ok = local.unwrap_sync(&wk, ctx).is_ok_and(|d| d.is_some());
                });
            }
        }
        FipsStep::ChunkSeal | FipsStep::FinalChunkSeal => {
            let last = step == FipsStep::FinalChunkSeal;
            let mut buf = vec![1u8; if last { 100 } else { chunk }];
            measure(&mut || ok = seal_chunk(&aead, &mut buf, u64::from(last), last, chunk).is_ok());
        }
        FipsStep::ChunkOpen => {
            let mut buf = vec![1u8; chunk + TAG_LEN];
            let Ok(tag) = seal_chunk(&aead, &mut buf[..chunk], 0, false, chunk) else {
                return false;
            };
            buf[chunk..].copy_from_slice(&tag);
            measure(&mut || ok = open_chunk(&aead, &mut buf, chunk + TAG_LEN, 0, false).is_ok());
        }
    }
    ok
}
