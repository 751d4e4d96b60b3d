//! Signed streams (suite 0x0002, `docs/FORMAT.md` section 15): the signer
//! value in the context, the trailer after the body, and the signed
//! message. Pure functions of bytes: hashing and signature checks live in
//! `crypto`.

use super::limits::{CHUNK_TAG_LEN, MAX_CHUNK_INDEX};
use crate::error::{Error, FormatError, IntegrityError};

/// The reserved context key that names a signed stream's signer.
pub const SIGNER_CONTEXT_KEY: &str = "envstream:signer";
/// Context keys with this prefix are reserved: writers refuse them.
pub const RESERVED_CONTEXT_PREFIX: &str = "envstream:";
/// The first 8 bytes of a trailer.
pub const TRAILER_MAGIC: [u8; 8] = *b"ENVSIG1\0";
/// Length of the body digest and of every BLAKE3 value in the format.
pub const DIGEST_LEN: usize = 32;
/// Domain string of the body digest (followed by a zero byte).
pub const BODY_DIGEST_LABEL: &[u8] = b"envstream v1 body digest";
/// Domain string of the signed message (followed by a zero byte).
pub const SIGNATURE_LABEL: &[u8] = b"envstream v1 signature";
/// The longest trailer (ECDSA P-384).
pub const MAX_TRAILER_LEN: usize = 8 + DIGEST_LEN + 96;
/// Length of the signed message.
pub const MESSAGE_LEN: usize = SIGNATURE_LABEL.len() + 1 + 2 * DIGEST_LEN + 24;

/// A signer's signature scheme.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// PureEd25519 (RFC 8032).
    Ed25519,
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
}

impl SignatureAlgorithm {
    /// The name used in signer values (`ed25519`, `ecdsa-p256`, `ecdsa-p384`).
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::Ed25519 => "ed25519",
            SignatureAlgorithm::EcdsaP256 => "ecdsa-p256",
            SignatureAlgorithm::EcdsaP384 => "ecdsa-p384",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            SignatureAlgorithm::Ed25519,
            SignatureAlgorithm::EcdsaP256,
            SignatureAlgorithm::EcdsaP384,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// Length of a public key: raw Ed25519, or an uncompressed SEC1 point.
    pub fn public_key_len(self) -> usize {
        match self {
            SignatureAlgorithm::Ed25519 => 32,
            SignatureAlgorithm::EcdsaP256 => 65,
            SignatureAlgorithm::EcdsaP384 => 97,
        }
    }

    /// Length of a signature (ECDSA as `r || s`).
    pub fn signature_len(self) -> usize {
        match self {
            SignatureAlgorithm::Ed25519 | SignatureAlgorithm::EcdsaP256 => 64,
            SignatureAlgorithm::EcdsaP384 => 96,
        }
    }

    /// Length of the trailer: magic, body digest, signature.
    pub fn trailer_len(self) -> usize {
        TRAILER_MAGIC.len() + DIGEST_LEN + self.signature_len()
    }
}

/// A signer's public key, as a signed stream's context names it
/// (`ALG:BASE64`). It is public: it verifies, it cannot sign.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignerKey {
    algorithm: SignatureAlgorithm,
    public_key: Vec<u8>,
    value: String,
}

impl SignerKey {
    /// Parses a signer value, which must be canonical: a known algorithm,
    /// standard padded base64 of exactly its key length, and for ECDSA an
    /// uncompressed point (first byte 0x04). Whether the point is on the
    /// curve is checked when a signature is verified.
    pub fn parse(value: &str) -> Result<SignerKey, Error> {
        let bad = |why: &str| {
            Error::Format(FormatError::MalformedHeader(format!(
                "the signer value is not valid: {why}"
            )))
        };
        let (name, b64) = value
            .split_once(':')
            .ok_or_else(|| bad("no algorithm name"))?;
        let algorithm = SignatureAlgorithm::from_name(name)
            .ok_or_else(|| bad("an unknown signature algorithm"))?;
        let public_key = decode_base64(b64).ok_or_else(|| bad("not canonical base64"))?;
        SignerKey::new(algorithm, public_key).map_err(|_| bad("a public key of the wrong form"))
    }

    /// The signer of a public key (raw Ed25519, or an uncompressed SEC1
    /// point for ECDSA).
    pub fn new(algorithm: SignatureAlgorithm, public_key: Vec<u8>) -> Result<SignerKey, Error> {
        let ok_len = public_key.len() == algorithm.public_key_len();
        let ok_form = algorithm == SignatureAlgorithm::Ed25519 || public_key.first() == Some(&4);
        if !ok_len || !ok_form {
            return Err(Error::Format(FormatError::MalformedHeader(format!(
                "a {} public key is {} bytes{}",
                algorithm.name(),
                algorithm.public_key_len(),
                if algorithm == SignatureAlgorithm::Ed25519 {
                    ""
                } else {
                    ", an uncompressed point (04 || X || Y)"
                }
            ))));
        }
        let value = format!("{}:{}", algorithm.name(), encode_base64(&public_key));
        Ok(SignerKey {
            algorithm,
            public_key,
            value,
        })
    }

    /// The signature scheme.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The public key bytes.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The value stored in the context (`ALG:BASE64`).
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A trailer, split into its fields (nothing verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// The body digest the writer signed.
    pub digest: [u8; DIGEST_LEN],
    /// The signature over the signed message.
    pub signature: Vec<u8>,
}

impl Trailer {
    /// Splits the last `alg.trailer_len()` bytes of a stream. A missing
    /// magic means the trailer was stripped or cut.
    pub fn parse(bytes: &[u8], alg: SignatureAlgorithm) -> Result<Trailer, Error> {
        if bytes.len() != alg.trailer_len() || bytes[..TRAILER_MAGIC.len()] != TRAILER_MAGIC {
            return Err(Error::Integrity(IntegrityError::SignatureMissing));
        }
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(&bytes[TRAILER_MAGIC.len()..TRAILER_MAGIC.len() + DIGEST_LEN]);
        Ok(Trailer {
            digest,
            signature: bytes[TRAILER_MAGIC.len() + DIGEST_LEN..].to_vec(),
        })
    }

    /// The trailer's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TRAILER_MAGIC.len() + DIGEST_LEN + self.signature.len());
        out.extend_from_slice(&TRAILER_MAGIC);
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&self.signature);
        out
    }
}

/// What a signature covers besides the header: the body digest, the chunk
/// count and the lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedBody {
    /// The body digest (FORMAT.md section 15.3).
    pub digest: [u8; DIGEST_LEN],
    /// Chunks, the final one included.
    pub chunks: u64,
    /// Body bytes (chunks and tags, no trailer).
    pub body_len: u64,
    /// Plaintext bytes.
    pub plaintext_len: u64,
}

impl SignedBody {
    /// Checks that the counts describe a body of this chunk size: every
    /// chunk but the last is full, and the chunk count fits the counter.
    pub fn is_consistent(&self, chunk_size: u32) -> bool {
        let tags = self.chunks.checked_mul(CHUNK_TAG_LEN as u64);
        self.chunks >= 1
            && self.chunks - 1 <= MAX_CHUNK_INDEX
            && tags.and_then(|t| t.checked_add(self.plaintext_len)) == Some(self.body_len)
            && self.plaintext_len / u64::from(chunk_size.max(1)) == self.chunks - 1
    }
}

/// The outer hash of a body digest, before any leaf (FORMAT.md section 15.3).
pub fn body_digest_hasher() -> blake3::Hasher {
    let mut h = blake3::Hasher::new();
    h.update(BODY_DIGEST_LABEL);
    h.update(&[0]);
    h
}

/// The leaf of one stored chunk (ciphertext and tag).
pub fn chunk_leaf(stored: &[u8]) -> [u8; DIGEST_LEN] {
    *blake3::hash(stored).as_bytes()
}

impl SignedBody {
    /// The values of a finished body: `outer` fed every leaf in order,
    /// `chunks` chunks (the final one included) holding `plaintext_len`
    /// plaintext bytes.
    pub fn finish(outer: &blake3::Hasher, chunks: u64, plaintext_len: u64) -> SignedBody {
        SignedBody {
            digest: *outer.finalize().as_bytes(),
            chunks,
            body_len: plaintext_len.saturating_add(chunks.saturating_mul(CHUNK_TAG_LEN as u64)),
            plaintext_len,
        }
    }
}

/// The signed message `M` (FORMAT.md section 15.4), from the BLAKE3 hash
/// of the header bytes as read and the body's values.
pub fn signed_message(header_hash: &[u8; DIGEST_LEN], body: &SignedBody) -> [u8; MESSAGE_LEN] {
    let mut m = [0u8; MESSAGE_LEN];
    let mut at = 0;
    for part in [
        SIGNATURE_LABEL,
        &[0u8],
        &header_hash[..],
        &body.digest[..],
        &body.chunks.to_be_bytes(),
        &body.body_len.to_be_bytes(),
        &body.plaintext_len.to_be_bytes(),
    ] {
        m[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    m
}

/// The DER `SubjectPublicKeyInfo` prefix of an uncompressed P-256 point.
const SPKI_P256: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The DER `SubjectPublicKeyInfo` prefix of an uncompressed P-384 point.
const SPKI_P384: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

impl SignerKey {
    /// The signer of a DER `SubjectPublicKeyInfo` (what KMS
    /// `GetPublicKey` returns) for `algorithm`: an uncompressed P-256 or
    /// P-384 point under exactly the standard prefix, nothing else.
    pub fn from_spki(algorithm: SignatureAlgorithm, der: &[u8]) -> Option<SignerKey> {
        let prefix: &[u8] = match algorithm {
            SignatureAlgorithm::EcdsaP256 => &SPKI_P256,
            SignatureAlgorithm::EcdsaP384 => &SPKI_P384,
            SignatureAlgorithm::Ed25519 => return None,
        };
        let point = der.strip_prefix(prefix)?;
        SignerKey::new(algorithm, point.to_vec()).ok()
    }
}

/// An ECDSA signature in DER (`SEQUENCE { INTEGER r, INTEGER s }`, what
/// KMS `Sign` returns) as the trailer holds it: `r || s`, each
/// left-padded to `field_len` bytes. Strict: minimal positive integers,
/// short-form lengths, nothing after the sequence.
pub fn ecdsa_der_to_fixed(der: &[u8], field_len: usize) -> Option<Vec<u8>> {
    fn integer(bytes: &[u8], field_len: usize) -> Option<(&[u8], &[u8])> {
        let (&tag, rest) = bytes.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = usize::from(len);
        if tag != 0x02 || len == 0 || len >= 0x80 || rest.len() < len {
            return None;
        }
        let (value, rest) = rest.split_at(len);
        // Positive and minimal: a leading zero only before a high bit.
        if value[0] & 0x80 != 0 || (value.len() > 1 && value[0] == 0 && value[1] & 0x80 == 0) {
            return None;
        }
        let value = if value[0] == 0 { &value[1..] } else { value };
        (value.len() <= field_len).then_some((value, rest))
    }
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || len >= 0x80 || body.len() != usize::from(len) {
        return None;
    }
    let (r, rest) = integer(body, field_len)?;
    let (s, rest) = integer(rest, field_len)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = vec![0u8; 2 * field_len];
    out[field_len - r.len()..field_len].copy_from_slice(r);
    out[2 * field_len - s.len()..].copy_from_slice(s);
    Some(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 section 4).
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(char::from(B64[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes canonical standard base64 with padding: anything that does not
/// re-encode to the same text is refused.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() % 4 != 0 || text.len() > 4096 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for group in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for &c in group {
            let v = if c == b'=' {
                pad += 1;
                0
            } else if pad > 0 {
                return None;
            } else {
                B64.iter().position(|&x| x == c)? as u32
            };
            n = n << 6 | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad.min(2)]);
        if pad > 2 {
            return None;
        }
    }
    (encode_base64(&out) == text).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_canonical() {
        for len in 0..40usize {
            let data: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            let text = encode_base64(&data);
            if len > 0 {
                assert_eq!(decode_base64(&text).as_deref(), Some(&data[..]));
            }
        }
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
        // Non-zero padding bits, missing padding, URL alphabet: refused.
        assert_eq!(decode_base64("Zm9="), None);
        assert_eq!(decode_base64("Zm8"), None);
        assert_eq!(decode_base64("Zm-="), None);
        assert_eq!(decode_base64("Z==="), None);
        assert_eq!(decode_base64("=m8="), None);
    }

    #[test]
    fn signer_values_round_trip_and_are_checked() {
        let k = SignerKey::new(SignatureAlgorithm::Ed25519, vec![7; 32]).expect("key");
        assert_eq!(SignerKey::parse(k.value()).expect("parse"), k);
        assert!(SignerKey::parse("ed25519:").is_err());
        assert!(SignerKey::parse("rsa:AAAA").is_err());
        let mut p = vec![4u8; 65];
        p[1] = 9;
        let e = SignerKey::new(SignatureAlgorithm::EcdsaP256, p.clone()).expect("point");
        assert_eq!(SignerKey::parse(e.value()).expect("parse"), e);
        p[0] = 2;
        assert!(SignerKey::new(SignatureAlgorithm::EcdsaP256, p).is_err());
        assert!(SignerKey::new(SignatureAlgorithm::EcdsaP384, vec![4; 65]).is_err());
    }

    #[test]
    fn der_signatures_become_fixed_and_hostile_ones_are_refused() {
        // r = 0x01, s = 0x80 (needs a leading zero).
        let der = [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80];
        let fixed = ecdsa_der_to_fixed(&der, 32).expect("valid");
        assert_eq!(fixed.len(), 64);
        assert_eq!((fixed[31], fixed[63], fixed[62]), (1, 0x80, 0));
        for bad in [
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x80][..], // negative s
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01][..], // non-minimal r
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00][..], // trailing byte
            &[0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01][..],       // cut
            &[][..],
        ] {
            assert_eq!(ecdsa_der_to_fixed(bad, 32), None, "{bad:02x?}");
        }
        let mut long = vec![0x30, 0x26, 0x02, 0x21];
        long.extend_from_slice(&[0x7f; 33]);
        long.extend_from_slice(&[0x02, 0x01, 0x01]);
        assert_eq!(
            ecdsa_der_to_fixed(&long, 32),
            None,
            "r longer than the field"
        );
        let mut spki = SPKI_P256.to_vec();
        spki.push(4);
        spki.extend_from_slice(&[1; 64]);
        let k = SignerKey::from_spki(SignatureAlgorithm::EcdsaP256, &spki).expect("spki");
        assert_eq!(k.public_key().len(), 65);
        assert!(SignerKey::from_spki(SignatureAlgorithm::EcdsaP384, &spki).is_none());
    }

    #[test]
    fn trailers_and_messages() {
        let t = Trailer {
            digest: [1; 32],
            signature: vec![2; 96],
        };
        let bytes = t.to_bytes();
        assert_eq!(bytes.len(), SignatureAlgorithm::EcdsaP384.trailer_len());
        assert_eq!(
            Trailer::parse(&bytes, SignatureAlgorithm::EcdsaP384).expect("parse"),
            t
        );
        assert!(Trailer::parse(&bytes[1..], SignatureAlgorithm::EcdsaP384).is_err());
        let body = SignedBody {
            digest: [3; 32],
            chunks: 2,
            body_len: 4096 + 10 + 32,
            plaintext_len: 4106,
        };
        assert!(body.is_consistent(4096));
        assert!(!body.is_consistent(8192));
        let m = signed_message(&[9; 32], &body);
        assert_eq!(m.len(), 111);
        assert_eq!(&m[..23], b"envstream v1 signature\0");
        assert_eq!(&m[103..], &4106u64.to_be_bytes());
    }
}
