#!/usr/bin/env python3
"""Independent envstream v1 decryptor and test-vector checker.

Written from docs/FORMAT.md alone (not from the Rust code), to show that the
specification is complete. For every vector in docs/vectors/manifest.json:

- good vectors: parse the header with every limit, load the listed local key
  files, unwrap the data key, check the key commitment and header tag,
  decrypt every chunk (sequentially, section 7.4, and again by random
  access, section 7.5) and compare with the expected plaintext; the file
  must also open with each listed key alone;
- signed streams (section 15): the trailer is held back, every chunk's
  BLAKE3 leaf is hashed, and the body digest and the signature (Ed25519,
  ECDSA P-256/P-384) are checked, pinned to the vector's signer or not;
- public-key recipients (section 16): X-Wing (ML-KEM-768 from `kyber-py`,
  X25519 from `cryptography`, SHA-3 from hashlib) and RFC 9180 HPKE
  written out here; identity and recipient files are parsed and matched,
  and the X-Wing draft's test vectors (xwing_draft.json) are reproduced;
- bad vectors: opening must fail, with the error class the manifest names
  (pinning the signers the manifest lists).

Usage: python3 scripts/check_vectors.py [--vectors DIR] [-v]
Needs the standard library and the `cryptography`, `blake3` and `kyber-py`
packages.
Exit status: 0 when every vector passes, 1 otherwise (2 for usage problems).
"""

import argparse
import hashlib
import hmac
import io
import json
import os
import sys

try:
    import blake3
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.asymmetric import x25519
    from cryptography.hazmat.primitives import serialization
    from kyber_py.ml_kem import ML_KEM_768
except ImportError:  # pragma: no cover
    sys.stderr.write("check_vectors.py needs the `cryptography`, `blake3` and `kyber-py` packages "
                     "(pip install cryptography blake3 kyber-py)\n")
    sys.exit(2)

# ---------------------------------------------------------------------------
# Constants (FORMAT.md sections 4, 5, 6, 7, 11)

MAGIC = b"ENVSTRM\x00"
VERSION = 1
SUITE = 0x0001
SIGNED_SUITE = 0x0002
PREFIX_LEN = 19
SALT_LEN = 32
COMMITMENT_LEN = 32
HEADER_TAG_LEN = 32
CHUNK_TAG_LEN = 16
MIN_CHUNK_SIZE = 4096
MAX_CHUNK_SIZE = 16777216
MIN_HEADER_LEN = 19 + 32 + 2 + 1 + 32 + 32  # 118
MAX_HEADER_LEN = 65536
MAX_CONTEXT_PAIRS = 64
MAX_CONTEXT_KEY_LEN = 256
MAX_CONTEXT_VALUE_LEN = 1024
MAX_CONTEXT_LEN = 8192
MAX_WRAPPED_KEYS = 16
MAX_PROVIDER_ID_LEN = 64
MAX_KEY_ID_LEN = 1024
MAX_WRAPPED_KEY_LEN = 2048
MAX_CHUNK_INDEX = 2**32 - 1

INFO_PREFIX = b"envstream v1 "
LOCAL_PROVIDER = "local"
LOCAL_KEY_PREFIX = "ENVSTREAM-LOCAL-KEY-V1-"
LOCAL_KEY_ID_MSG = b"envstream v1 local key id"
LOCAL_KEK_INFO = b"envstream v1 local kek"
LOCAL_WRAP_AAD_PREFIX = b"envstream v1 local wrap\x00"
LOCAL_WRAPPED_LEN = 60
MAX_KEY_FILE_LEN = 16384
# Unicode White_Space characters, trimmed from key file lines (section 11.1).
WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
               + "\u2028\u2029\u202f\u205f\u3000")

# Signed streams (section 15).
SIGNER_KEY = "envstream:signer"
RESERVED_PREFIX = "envstream:"
TRAILER_MAGIC = b"ENVSIG1\x00"
BODY_DIGEST_LABEL = b"envstream v1 body digest\x00"
SIGNATURE_LABEL = b"envstream v1 signature\x00"
# alg: (public key length, signature length S, ECDSA curve and hash or None)
SIGNER_ALGS = {
    "ed25519": (32, 64, None),
    "ecdsa-p256": (65, 64, (ec.SECP256R1, hashes.SHA256)),
    "ecdsa-p384": (97, 96, (ec.SECP384R1, hashes.SHA384)),
}

# Public-key recipients (section 16).
PQ_PROVIDER = "mlkem768x25519"
RECIPIENT_PREFIX = "mlkem768x25519:"
IDENTITY_PREFIX = "ENVSTREAM-IDENTITY-MLKEM768X25519-V1-"
PQ_KEY_ID_MSG = b"envstream v1 mlkem768x25519 key id"
PQ_INFO_LABEL = b"envstream v1 mlkem768x25519 wrap\x00"
XWING_LABEL = bytes([0x5C, 0x2E, 0x2F, 0x2F, 0x5E, 0x5C])
XWING_PK_LEN, XWING_ENC_LEN, PQ_WRAPPED_LEN = 1216, 1120, 1168
HPKE_SUITE_ID = b"HPKE" + bytes([0x64, 0x7A, 0x00, 0x01, 0x00, 0x02])

# Error classes and their exit codes (section 12).
EXIT_CODES = {"io": 1, "usage": 2, "integrity": 3, "key": 4, "key-service": 5}


class Reject(Exception):
    """A failure: `cls` is the error class, `check` names the check that failed."""

    def __init__(self, cls, check, detail=""):
        super().__init__(f"{check}: {detail}" if detail else check)
        self.cls = cls
        self.check = check
        self.detail = detail


def integrity(check, detail=""):
    return Reject("integrity", check, detail)


# ---------------------------------------------------------------------------
# Primitives (section 1)


def hkdf_sha512(salt, ikm, info, length):
    """RFC 5869 HKDF with SHA-512 (an empty salt is HashLen zero bytes)."""
    if not salt:
        salt = b"\x00" * 64
    prk = hmac.new(salt, ikm, hashlib.sha512).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha512).digest()
        out += block
        counter += 1
    return out[:length]


def hmac_sha256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def be16(n):
    return n.to_bytes(2, "big")


def be32(n):
    return n.to_bytes(4, "big")


# ---------------------------------------------------------------------------
# Header (sections 4 and 5)


def parse_prefix(prefix):
    """Checks the fixed prefix (section 4.3 rules 1-6); returns (chunk_size, H)."""
    if len(prefix) == 0:
        raise integrity("truncated", "the input is empty")
    n = min(len(prefix), len(MAGIC))
    if prefix[:n] != MAGIC[:n]:
        raise integrity("magic", "not an envstream file")
    if len(prefix) < PREFIX_LEN:
        raise integrity("truncated", "the input ends inside the header")
    if prefix[8] != VERSION:
        raise integrity("version", f"unsupported version {prefix[8]}")
    suite = int.from_bytes(prefix[9:11], "big")
    if suite not in (SUITE, SIGNED_SUITE):
        raise integrity("suite", f"unsupported suite 0x{suite:04x}")
    chunk_size = int.from_bytes(prefix[11:15], "big")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise integrity("chunk size limit", f"chunk size {chunk_size}")
    header_len = int.from_bytes(prefix[15:19], "big")
    if not MIN_HEADER_LEN <= header_len <= MAX_HEADER_LEN:
        raise integrity("header length limit", f"header length {header_len}")
    return chunk_size, header_len


class Cursor:
    """Reads fields of header[PREFIX_LEN : H - 32]; nothing may run into the tag."""

    def __init__(self, data, pos, end):
        self.data, self.pos, self.end = data, pos, end

    def take(self, n, what):
        if self.pos + n > self.end:
            raise integrity("header bounds", f"{what} runs past the declared header length")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return int.from_bytes(self.take(2, what), "big")


def utf8(b, what):
    try:
        return b.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise integrity("utf-8", f"{what} is not UTF-8") from None


def parse_header(header):
    """Parses exactly H header bytes (already checked by parse_prefix)."""
    chunk_size, header_len = parse_prefix(header[:PREFIX_LEN])
    if len(header) < header_len:
        raise integrity("truncated", "the input ends inside the header")
    c = Cursor(header, PREFIX_LEN, header_len - HEADER_TAG_LEN)
    salt = c.take(SALT_LEN, "salt")

    ctx_start = c.pos
    npairs = c.u16("context pair count")
    if npairs > MAX_CONTEXT_PAIRS:
        raise integrity("context pair limit", f"{npairs} pairs")
    context = []
    prev = None
    for _ in range(npairs):
        klen = c.u16("context key length")
        if not 1 <= klen <= MAX_CONTEXT_KEY_LEN:
            raise integrity("context key length limit", f"{klen}")
        k = c.take(klen, "context key")
        vlen = c.u16("context value length")
        if vlen > MAX_CONTEXT_VALUE_LEN:
            raise integrity("context value length limit", f"{vlen}")
        v = c.take(vlen, "context value")
        if prev is not None and not prev < k:  # bytes compare as unsigned, lexicographically
            raise integrity("context order", "context keys are not strictly increasing")
        prev = k
        context.append((utf8(k, "context key"), utf8(v, "context value")))
    ctx_bytes = header[ctx_start:c.pos]
    if len(ctx_bytes) > MAX_CONTEXT_LEN:
        raise integrity("context length limit", f"{len(ctx_bytes)} bytes")

    nkeys = c.u8("wrapped key count")
    if not 1 <= nkeys <= MAX_WRAPPED_KEYS:
        raise integrity("wrapped key count limit", f"{nkeys} wrapped keys")
    wrapped = []
    for _ in range(nkeys):
        plen = c.u8("provider id length")
        if not 1 <= plen <= MAX_PROVIDER_ID_LEN:
            raise integrity("provider id limit", f"length {plen}")
        provider = c.take(plen, "provider id")
        if not all(0x21 <= b <= 0x7E for b in provider):
            raise integrity("provider id limit", "not printable ASCII")
        ilen = c.u16("key id length")
        if not 1 <= ilen <= MAX_KEY_ID_LEN:
            raise integrity("key id limit", f"length {ilen}")
        key_id = utf8(c.take(ilen, "key id"), "key id")
        wlen = c.u16("wrapped key length")
        if not 1 <= wlen <= MAX_WRAPPED_KEY_LEN:
            raise integrity("wrapped key limit", f"length {wlen}")
        ct = c.take(wlen, "wrapped key")
        wrapped.append((provider.decode("ascii"), key_id, ct))
    commitment = c.take(COMMITMENT_LEN, "key commitment")
    if c.pos != header_len - HEADER_TAG_LEN:
        raise integrity("header length match", f"declared {header_len}, parsed {c.pos + HEADER_TAG_LEN}")
    # Section 15.1: the signer in the context follows the suite.
    suite = int.from_bytes(header[9:11], "big")
    value = dict(context).get(SIGNER_KEY)
    signer = None
    if suite == SIGNED_SUITE:
        if value is None:
            raise integrity("signer", "suite 0x0002 without envstream:signer")
        signer = parse_signer(value)
        if signer is None:
            raise integrity("signer", "envstream:signer is not canonical")
    elif value is not None:
        raise integrity("signer", "an unsigned stream names a signer")
    return {
        "suite": suite,
        "signer": signer,
        "chunk_size": chunk_size,
        "header_len": header_len,
        "suite_bytes": header[9:11],
        "chunk_size_bytes": header[11:15],
        "salt": salt,
        "context": context,
        "context_bytes": ctx_bytes,
        "wrapped": wrapped,
        "commitment": commitment,
        "tag": header[header_len - HEADER_TAG_LEN:header_len],
        "authenticated": header[:header_len - HEADER_TAG_LEN],
        "raw": header[:header_len],
    }


def b64_canonical(text):
    """RFC 4648 section 4 (standard alphabet, padded); None unless canonical."""
    import base64
    import binascii
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def parse_signer(value):
    """A canonical signer value (section 15.1) as (alg, public key, value), or None."""
    alg, sep, b64 = value.partition(":")
    if not sep or alg not in SIGNER_ALGS:
        return None
    key = b64_canonical(b64)
    want_len, _, curve = SIGNER_ALGS[alg]
    if key is None or len(key) != want_len or (curve is not None and key[0] != 0x04):
        return None
    return (alg, key, value)


def fingerprint(value):
    return hashlib.sha256(value.encode("utf-8")).digest()[:16].hex()


def trailer_len(signer):
    return 0 if signer is None else len(TRAILER_MAGIC) + 32 + SIGNER_ALGS[signer[0]][1]


def verify_signature(signer, message, sig):
    alg, key, _ = signer
    _, sig_len, curve = SIGNER_ALGS[alg]
    if len(sig) != sig_len:
        return False
    try:
        if curve is None:
            ed25519.Ed25519PublicKey.from_public_bytes(key).verify(sig, message)
        else:
            pk = ec.EllipticCurvePublicKey.from_encoded_point(curve[0](), key)
            half = sig_len // 2
            der = utils.encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                             int.from_bytes(sig[half:], "big"))
            pk.verify(der, message, ec.ECDSA(curve[1]()))
    except (InvalidSignature, ValueError):
        return False
    return True


def load_signer_file(path):
    """A public key file: `#` comments, blank lines and one signer value."""
    with open(path, "rb") as f:
        text = f.read(MAX_KEY_FILE_LEN + 1).decode("utf-8")
    lines = [ln.strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(lines) != 1 or parse_signer(lines[0]) is None:
        raise Reject("io", "public key file", f"{path}: not one signer value")
    return lines[0]


def check_pinned(h, signers):
    """Section 15.5 step 2: before anything is unwrapped."""
    if not signers:
        return
    if h["signer"] is None:
        raise Reject("key", "not signed")
    if h["signer"][2] not in signers:
        raise Reject("key", "wrong signer", fingerprint(h["signer"][2]))


def check_trailer(h, trailer):
    """Section 15.5 step 7, first check: the trailer magic. Returns (D, signature)."""
    t = trailer_len(h["signer"])
    if len(trailer) != t or trailer[:len(TRAILER_MAGIC)] != TRAILER_MAGIC:
        raise integrity("signature missing", "no trailer")
    return trailer[8:40], trailer[40:]


def check_signature(h, leaves, trailer_fields, plain_len):
    """Section 15.5 step 7, after the final chunk: D, then the signature."""
    d_trailer, sig = trailer_fields
    d = blake3.blake3(BODY_DIGEST_LABEL + b"".join(leaves)).digest()
    if d != d_trailer:
        raise integrity("body digest", "the body does not match the signed digest")
    n = len(leaves)
    body_len = plain_len + n * CHUNK_TAG_LEN
    m = (SIGNATURE_LABEL + blake3.blake3(h["raw"]).digest() + d
         + n.to_bytes(8, "big") + body_len.to_bytes(8, "big") + plain_len.to_bytes(8, "big"))
    assert len(m) == 111
    if not verify_signature(h["signer"], m, sig):
        raise integrity("signature invalid")


def encode_context(pairs):
    """Canonical context encoding (section 5) from (key, value) string pairs."""
    pairs = sorted(((k.encode(), v.encode()) for k, v in pairs), key=lambda kv: kv[0])
    out = be16(len(pairs))
    for k, v in pairs:
        out += be16(len(k)) + k + be16(len(v)) + v
    return out


def encode_header(h):
    """Serializes a parsed header; section 4.4 says this reproduces the input."""
    out = MAGIC + bytes([VERSION]) + be16(h["suite"]) + be32(h["chunk_size"])
    body = h["salt"] + encode_context(h["context"]) + bytes([len(h["wrapped"])])
    for provider, key_id, ct in h["wrapped"]:
        p, i = provider.encode("ascii"), key_id.encode("utf-8")
        body += bytes([len(p)]) + p + be16(len(i)) + i + be16(len(ct)) + ct
    body += h["commitment"]
    total = len(out) + 4 + len(body) + HEADER_TAG_LEN
    return out + be32(total) + body + h["tag"]


# ---------------------------------------------------------------------------
# Local keys (section 11)


class LocalKey:
    def __init__(self, file_key, name="?"):
        self.name = name
        self.key_id = hmac_sha256(file_key, LOCAL_KEY_ID_MSG)[:16].hex()
        self.kek = hkdf_sha512(b"", file_key, LOCAL_KEK_INFO, 32)

    @classmethod
    def load(cls, path):
        with open(path, "rb") as f:
            raw = f.read(MAX_KEY_FILE_LEN + 1)
        if len(raw) > MAX_KEY_FILE_LEN:
            raise Reject("io", "key file", f"{path} is too large")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Reject("io", "key file", f"{path} is not UTF-8") from None
        found = None
        for line in text.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            line = line.strip(WHITE_SPACE)
            if not line or line.startswith("#"):
                continue
            if not line.startswith(LOCAL_KEY_PREFIX):
                raise Reject("io", "key file", f"{path}: unexpected line")
            if found is not None:
                raise Reject("io", "key file", f"{path}: more than one key line")
            digits = line[len(LOCAL_KEY_PREFIX):]
            if len(digits) != 64 or any(ch not in "0123456789abcdef" for ch in digits):
                raise Reject("io", "key file", f"{path}: the key must be 64 lowercase hex digits")
            found = bytes.fromhex(digits)
        if found is None:
            raise Reject("io", "key file", f"{path}: no key line")
        return cls(found, os.path.basename(path))

    def aad(self, ctx_bytes):
        kid = self.key_id.encode("ascii")
        return LOCAL_WRAP_AAD_PREFIX + be16(len(kid)) + kid + ctx_bytes

    def unwrap(self, record, ctx_bytes, header=None):
        """Returns None ("not mine") or the data key; raises Reject("corrupt")."""
        provider, key_id, ct = record
        if provider != LOCAL_PROVIDER or key_id != self.key_id:
            return None
        if len(ct) != LOCAL_WRAPPED_LEN:
            raise Reject("corrupt", "wrapped key authentication", f"{self.name}: wrong length")
        try:
            dk = AESGCM(self.kek).decrypt(ct[:12], ct[12:], self.aad(ctx_bytes))
        except InvalidTag:
            raise Reject("corrupt", "wrapped key authentication", f"{self.name}") from None
        if len(dk) != 32:
            raise Reject("corrupt", "wrapped key authentication", f"{self.name}: not 32 bytes")
        return dk


# ---------------------------------------------------------------------------
# Public-key recipients (section 16): X-Wing, HPKE, identities


def x25519_pub(sk):
    return x25519.X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def x25519_dh(sk, pk):
    return x25519.X25519PrivateKey.from_private_bytes(sk).exchange(
        x25519.X25519PublicKey.from_public_bytes(pk))


def xwing_expand(sk):
    e = hashlib.shake_256(sk).digest(96)
    pk_m, sk_m = ML_KEM_768._keygen_internal(e[0:32], e[32:64])
    return pk_m, sk_m, e[64:96], x25519_pub(e[64:96])


def xwing_keygen(sk):
    pk_m, _, _, pk_x = xwing_expand(sk)
    return pk_m + pk_x


def xwing_combine(ss_m, ss_x, ct_x, pk_x):
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()


def xwing_encaps(pk, eseed):
    pk_m, pk_x = pk[:1184], pk[1184:]
    ss_m, ct_m = ML_KEM_768._encaps_internal(pk_m, eseed[:32])
    ct_x = x25519_pub(eseed[32:64])
    ss_x = x25519_dh(eseed[32:64], pk_x)
    return xwing_combine(ss_m, ss_x, ct_x, pk_x), ct_m + ct_x


def xwing_decaps(sk, ct):
    _, sk_m, sk_x, pk_x = xwing_expand(sk)
    ss_m = ML_KEM_768._decaps_internal(sk_m, ct[:1088])
    ct_x = ct[1088:]
    return xwing_combine(ss_m, x25519_dh(sk_x, ct_x), ct_x, pk_x)


def mlkem_key_ok(pk_m):
    """FIPS 203 section 7.2: every 12-bit coefficient of the key is below q."""
    t = pk_m[:1152]
    for i in range(0, len(t), 3):
        a, b, c = t[i], t[i + 1], t[i + 2]
        if (a | (b & 0x0F) << 8) >= 3329 or (b >> 4 | c << 4) >= 3329:
            return False
    return True


def hkdf_extract256(salt, ikm):
    return hmac.new(salt or b"\x00" * 32, ikm, hashlib.sha256).digest()


def hkdf_expand256(prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + t, i + 1
    return out[:length]


def hpke_key_schedule(ss, info):
    """RFC 9180 base mode, KEM 0x647A, HKDF-SHA256, AES-256-GCM (section 16.1)."""
    def extract(salt, label, ikm):
        return hkdf_extract256(salt, b"HPKE-v1" + HPKE_SUITE_ID + label + ikm)

    def expand(prk, label, info, length):
        return hkdf_expand256(prk, be16(length) + b"HPKE-v1" + HPKE_SUITE_ID + label + info, length)

    ks_context = b"\x00" + extract(b"", b"psk_id_hash", b"") + extract(b"", b"info_hash", info)
    secret = extract(ss, b"secret", b"")
    return expand(secret, b"key", ks_context, 32), expand(secret, b"base_nonce", ks_context, 12)


def pq_key_id(pk):
    return hmac_sha256(pk, PQ_KEY_ID_MSG)[:16].hex()


def pq_info(suite_bytes, chunk_size_bytes, key_id):
    kid = key_id.encode("ascii")
    return PQ_INFO_LABEL + suite_bytes + chunk_size_bytes + be16(len(kid)) + kid


def key_file_lines(path):
    """The content lines of a key file (section 11.1 comment and trim rules)."""
    with open(path, "rb") as f:
        raw = f.read(MAX_KEY_FILE_LEN + 1)
    if len(raw) > MAX_KEY_FILE_LEN:
        raise Reject("io", "key file", f"{path} is too large")
    out = []
    for line in raw.decode("utf-8").split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        line = line.strip(WHITE_SPACE)
        if line and not line.startswith("#"):
            out.append(line)
    return out


def parse_recipient(text):
    if not text.startswith(RECIPIENT_PREFIX):
        raise Reject("io", "recipient", "wrong prefix")
    pk = b64_canonical(text[len(RECIPIENT_PREFIX):])
    if pk is None or len(pk) != XWING_PK_LEN:
        raise Reject("io", "recipient", "not canonical base64 of 1216 bytes")
    if not mlkem_key_ok(pk[:1184]):
        raise Reject("io", "recipient", "ML-KEM key check")
    return pk


def load_recipient_file(path):
    lines = key_file_lines(path)
    if any(l.startswith((IDENTITY_PREFIX, LOCAL_KEY_PREFIX, "ENVSTREAM-SIGNING-KEY-V1-")) for l in lines):
        raise Reject("io", "recipient file", f"{path} holds a secret")
    if len(lines) != 1:
        raise Reject("io", "recipient file", f"{path}: {len(lines)} recipient lines")
    return parse_recipient(lines[0])


class PqIdentity:
    def __init__(self, sk, name="?"):
        self.name, self.sk = name, sk
        self.pk = xwing_keygen(sk)
        self.key_id = pq_key_id(self.pk)

    @classmethod
    def load(cls, path):
        lines = key_file_lines(path)
        if len(lines) != 1 or not lines[0].startswith(IDENTITY_PREFIX):
            raise Reject("io", "identity file", f"{path}: expected one identity line")
        digits = lines[0][len(IDENTITY_PREFIX):]
        if len(digits) != 64 or any(ch not in "0123456789abcdef" for ch in digits):
            raise Reject("io", "identity file", f"{path}: 64 lowercase hex digits expected")
        return cls(bytes.fromhex(digits), os.path.basename(path))

    def unwrap(self, record, ctx_bytes, header=None):
        provider, key_id, wrapped = record
        if provider != PQ_PROVIDER or key_id != self.key_id:
            return None
        if len(wrapped) != PQ_WRAPPED_LEN:
            raise Reject("corrupt", "wrapped key authentication", f"{self.name}: wrong length")
        enc, ct = wrapped[:XWING_ENC_LEN], wrapped[XWING_ENC_LEN:]
        ss = xwing_decaps(self.sk, enc)
        key, base_nonce = hpke_key_schedule(
            ss, pq_info(header["suite_bytes"], header["chunk_size_bytes"], self.key_id))
        try:
            dk = AESGCM(key).decrypt(base_nonce, ct, ctx_bytes)
        except InvalidTag:
            raise Reject("corrupt", "wrapped key authentication", f"{self.name}") from None
        if len(dk) != 32:
            raise Reject("corrupt", "wrapped key authentication", f"{self.name}: not 32 bytes")
        return dk


def keyrings_of(vdir, v):
    """A vector's identities, then its local key files."""
    ids = [PqIdentity.load(os.path.join(vdir, p)) for p in v.get("identities", [])]
    return ids + [LocalKey.load(os.path.join(vdir, k)) for k in v["keys"]]


def check_pq_files(vdir):
    """Each identity's .pub file holds its recipient; the draft's X-Wing vectors."""
    passed = failed = 0
    keys = os.path.join(vdir, "keys")
    for name in sorted(os.listdir(keys)):
        if not name.endswith(".id"):
            continue
        ident = PqIdentity.load(os.path.join(keys, name))
        ok = load_recipient_file(os.path.join(keys, name + ".pub")) == ident.pk
        try:
            load_recipient_file(os.path.join(keys, name))
            ok = False  # an identity file must not pass as a recipient
        except Reject:
            pass
        print(f"{'PASS' if ok else 'FAIL'} pq   {name}: key id {ident.key_id}, .pub matches, refused as a recipient")
        passed, failed = passed + ok, failed + (not ok)
    path = os.path.join(vdir, "xwing_draft.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            draft = json.load(f)
        for i, t in enumerate(draft["vectors"]):
            sk, eseed = bytes.fromhex(t["sk"]), bytes.fromhex(t["eseed"])
            pk = xwing_keygen(sk)
            ss, ct = xwing_encaps(pk, eseed)
            ok = (pk.hex() == t["pk"] and ct.hex() == t["ct"] and ss.hex() == t["ss"]
                  and xwing_decaps(sk, ct).hex() == t["ss"] and mlkem_key_ok(pk[:1184]))
            print(f"{'PASS' if ok else 'FAIL'} pq   X-Wing draft vector {i}: keygen, encaps, decaps")
            passed, failed = passed + ok, failed + (not ok)
    return passed, failed


# ---------------------------------------------------------------------------
# Opening (sections 6, 7, 8, 9)


def stream_keys(h, dk):
    def derive(label):
        info = INFO_PREFIX + label + b"\x00" + h["suite_bytes"] + h["chunk_size_bytes"] + h["context_bytes"]
        return hkdf_sha512(h["salt"], dk, info, 32)

    return derive(b"payload key"), derive(b"key commitment"), derive(b"header key")


def nonce(index, final):
    if index > MAX_CHUNK_INDEX:
        raise integrity("chunk index limit", f"chunk {index}")
    return b"\x00" * 7 + be32(index) + (b"\x01" if final else b"\x00")


def read_full(f, n):
    out = b""
    while len(out) < n:
        b = f.read(n - len(out))
        if not b:
            break
        out += b
    return out


def unlock(h, keyrings, required=()):
    """Section 9 steps 2-5; returns the payload key."""
    ctx = dict(h["context"])
    for k, v in required:
        if ctx.get(k) != v:
            raise Reject("key", "context requirement", f"{k}={v}")
    if not keyrings:
        raise Reject("usage", "no keyring")
    dk, errors = None, []
    for kr in keyrings:
        for rec in h["wrapped"]:
            try:
                dk = kr.unwrap(rec, h["context_bytes"], header=h)
            except Reject as e:
                errors.append(e)
                continue
            if dk is not None:
                break
        if dk is not None:
            break
    if dk is None:
        if any(e.cls == "corrupt" for e in errors):
            raise integrity("wrapped key authentication", "; ".join(e.detail for e in errors))
        if any(e.cls == "unavailable" for e in errors):
            raise Reject("key-service", "key service unavailable")
        if errors:
            raise Reject("key", "key denied")
        raise Reject("key", "no matching key",
                     "tried " + ", ".join(k.key_id for k in keyrings)
                     + "; sealed to " + ", ".join(f"{p}/{i}" for p, i, _ in h["wrapped"]))
    payload, commitment, header_key = stream_keys(h, dk)
    if not hmac.compare_digest(commitment, h["commitment"]):
        raise integrity("key commitment")
    if not hmac.compare_digest(hmac_sha256(header_key, h["authenticated"]), h["tag"]):
        raise integrity("header tag")
    return payload


def open_sequential(stream, keyrings, required=(), signers=()):
    """Reads a stream front to back (sections 4, 7.4, 9, 15.2). Returns (header, plaintext)."""
    prefix = read_full(stream, PREFIX_LEN)
    _, header_len = parse_prefix(prefix)
    rest = read_full(stream, header_len - PREFIX_LEN)
    if len(rest) < header_len - PREFIX_LEN:
        raise integrity("truncated", "the input ends inside the header")
    h = parse_header(prefix + rest)
    check_pinned(h, signers)
    aead = AESGCM(unlock(h, keyrings, required))
    stride = h["chunk_size"] + CHUNK_TAG_LEN
    t = trailer_len(h["signer"])  # held back: the input ends T bytes early
    released, leaves = [], []
    index = 0
    buf = read_full(stream, stride + t)
    while True:
        if len(buf) == stride + t:
            data, final = buf[:stride], False
            buf = buf[stride:] + read_full(stream, stride)
        else:
            fields = None
            if t:
                fields = check_trailer(h, buf[-t:] if len(buf) >= t else buf)
            data, final = buf[:len(buf) - t], True
        if len(data) == 0:
            raise integrity("truncated", "the final chunk is missing")
        if len(data) < CHUNK_TAG_LEN:
            raise integrity("truncated", "the final chunk is shorter than its tag")
        leaves.append(blake3.blake3(data).digest())
        try:
            plain = aead.decrypt(nonce(index, final), data, b"")
        except InvalidTag:
            raise integrity("chunk authentication", f"chunk {index}") from None
        released.append(plain)  # released only after its tag verified
        index += 1
        if final:
            plaintext = b"".join(released)
            if t:  # the end is signalled only after the signature verified
                check_signature(h, leaves, fields, len(plaintext))
            return h, plaintext


def open_random_access(data, keyrings, required=(), signers=()):
    """Decrypts a whole file by computing chunk positions from its length
    (sections 7.5, 15.2); a signed file's signature is checked too, since
    every chunk is read."""
    _, header_len = parse_prefix(data[:PREFIX_LEN])
    h = parse_header(data)
    check_pinned(h, signers)
    aead = AESGCM(unlock(h, keyrings, required))
    stride = h["chunk_size"] + CHUNK_TAG_LEN
    t = trailer_len(h["signer"])
    fields = None
    if t:
        if len(data) < header_len + t:
            raise integrity("signature missing", "the input is shorter than header and trailer")
        fields = check_trailer(h, data[len(data) - t:])
    body = len(data) - header_len - t
    q, r = divmod(body, stride)
    if r == 0:
        raise integrity("truncated", "the final chunk is missing")
    if r < CHUNK_TAG_LEN:
        raise integrity("truncated", "the final chunk is shorter than its tag")
    if q > MAX_CHUNK_INDEX:
        raise integrity("chunk index limit")
    out = []
    # Verify the final chunk first: it authenticates the length.
    order = [q] + list(range(q))
    chunks, leaves = {}, {}
    for i in order:
        off = header_len + i * stride
        final = i == q
        enc = data[off:off + (r if final else stride)]
        leaves[i] = blake3.blake3(enc).digest()
        try:
            chunks[i] = aead.decrypt(nonce(i, final), enc, b"")
        except InvalidTag:
            raise integrity("chunk authentication", f"chunk {i}") from None
    for i in range(q + 1):
        out.append(chunks[i])
    plain = b"".join(out)
    assert len(plain) == q * h["chunk_size"] + r - CHUNK_TAG_LEN
    if t:
        check_signature(h, [leaves[i] for i in range(q + 1)], fields, len(plain))
    return h, plain


# ---------------------------------------------------------------------------
# Vector checking


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check_good(vdir, v):
    data = open(os.path.join(vdir, v["file"]), "rb").read()
    expected = open(os.path.join(vdir, v["plaintext"]), "rb").read()
    keys = keyrings_of(vdir, v)
    pinned = [load_signer_file(os.path.join(vdir, v["signer"]))] if "signer" in v else []
    h, plain = open_sequential(io.BytesIO(data), keys)
    if plain != expected:
        return False, "plaintext differs"
    if pinned:
        if h["signer"] is None or h["signer"][2] != pinned[0]:
            return False, "the stream does not name the manifest's signer"
        if fingerprint(pinned[0]) != v.get("signer_fingerprint"):
            return False, "fingerprint differs from the manifest's"
        _, p = open_sequential(io.BytesIO(data), keys, signers=pinned)
        if p != expected:
            return False, "plaintext differs with the signer pinned"
    elif h["signer"] is not None:
        return False, "a signed stream without a signer in the manifest"
    if encode_header(h) != h["raw"]:
        return False, "header is not canonical (re-encoding differs)"
    if h["chunk_size"] != v["chunk_size"]:
        return False, f"chunk size {h['chunk_size']} != manifest {v['chunk_size']}"
    # The manifest lists the caller's context; a signed stream's header adds
    # the reserved envstream:signer pair (section 15.1), checked above.
    callers = {k: val for k, val in h["context"] if k != SIGNER_KEY}
    if callers != v["context"]:
        return False, f"context {callers} != manifest {v['context']}"
    _, plain2 = open_random_access(data, keys, signers=pinned)
    if plain2 != expected:
        return False, "random-access plaintext differs"
    # Each listed key on its own also opens it, and a context requirement
    # naming the header's own context is met.
    for k in keys:
        _, p = open_sequential(io.BytesIO(data), [k], required=list(h["context"]))
        if p != expected:
            return False, f"plaintext differs when opened with {k.name} alone"
    nchunks = len(expected) // h["chunk_size"] + 1
    signed = f", signed ({h['signer'][0]}, {fingerprint(h['signer'][2])})" if pinned else ""
    return True, (f"{len(expected)} bytes, {nchunks} chunk(s), header {h['header_len']} bytes, "
                  f"{len(h['wrapped'])} wrapped key(s){signed}")


def check_bad(vdir, v):
    data = open(os.path.join(vdir, v["file"]), "rb").read()
    keys = keyrings_of(vdir, v)
    pinned = [load_signer_file(os.path.join(vdir, p)) for p in v.get("signers", [])]
    results = []
    for how, fn in (("sequential", lambda: open_sequential(io.BytesIO(data), keys, signers=pinned)),
                    ("random-access", lambda: open_random_access(data, keys, signers=pinned))):
        try:
            fn()
        except Reject as e:
            results.append((how, e))
            continue
        return False, f"{how} reader accepted it"
    (_, e), (_, e2) = results
    want_class, want_exit = v["error_class"], v["exit_code"]
    if e.cls != want_class or EXIT_CODES[e.cls] != want_exit:
        return False, f"rejected by {e.check} as {e.cls} (exit {EXIT_CODES[e.cls]}), expected {want_class} (exit {want_exit})"
    if e2.cls != e.cls:
        return False, f"random-access reader rejected it as {e2.cls} ({e2.check}), sequential as {e.cls}"
    return True, f"rejected by {e.check} -> {e.cls} (exit {EXIT_CODES[e.cls]})"


# ---------------------------------------------------------------------------
# aws-kms matching (section 11.5): which ARN a reader calls Decrypt with


def parse_kms_arn(s):
    parts = s.split(":", 5)
    if len(parts) != 6:
        return None
    arn, partition, service, region, account, resource = parts
    ok = (arn == "arn" and partition.startswith("aws") and service == "kms" and region
          and len(account) == 12 and account.isdigit()
          and (resource.startswith("key/") or resource.startswith("alias/")) and len(resource) > 6)
    return {"partition": partition, "region": region, "account": account, "resource": resource} if ok else None


def is_mrk(s):
    a = parse_kms_arn(s)
    return a["resource"].startswith("key/mrk-") if a else s.startswith("mrk-")


def mrk_match(configured, record):
    if configured == record:
        return True
    c, r = parse_kms_arn(configured), parse_kms_arn(record)
    if not c or not r or not is_mrk(configured) or not is_mrk(record):
        return False
    return all(c[k] == r[k] for k in ("partition", "account", "resource"))


def region_shaped(r):
    parts = r.split("-")
    return len(parts) >= 3 and parts[-1].isdigit() and all(p.isalpha() and p.islower() for p in parts[:-1])


def decrypt_target(case):
    rec = case["record"]
    if case["policy"] == "strict":
        for c in case["configured"]:
            if c == rec:
                return c
        for c in case["configured"]:
            if mrk_match(c, rec):
                return c
        return None
    a = parse_kms_arn(rec)
    if (not a or not a["resource"].startswith("key/") or a["partition"] != case["partition"]
            or not region_shaped(a["region"]) or a["account"] not in case["accounts"]):
        return None
    if case.get("region") and is_mrk(rec):
        return f"arn:{a['partition']}:kms:{case['region']}:{a['account']}:{a['resource']}"
    return rec


def duplicate_mrks(ids):
    groups = {}
    for s in ids:
        if not is_mrk(s):
            continue
        a = parse_kms_arn(s)
        key = a["resource"][4:] if a else s
        g = groups.setdefault(key, [])
        if s not in g:
            g.append(s)
    return [g for g in groups.values() if len(g) > 1]


def check_kms_matching(vdir):
    path = os.path.join(vdir, "kms_matching.json")
    if not os.path.exists(path):
        return 0, 0
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    passed = failed = 0
    for c in table["cases"]:
        got = decrypt_target(c)
        ok = got == c["target"]
        print(f"{'PASS' if ok else 'FAIL'} kms  {c['description']}: {got}")
        passed, failed = passed + ok, failed + (not ok)
    for c in table["unique"]:
        got = duplicate_mrks(c["configured"])
        ok = got == c["duplicates"]
        print(f"{'PASS' if ok else 'FAIL'} kms  {c['description']}: {got}")
        passed, failed = passed + ok, failed + (not ok)
    return passed, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vectors", default=os.path.join(repo_root(), "docs", "vectors"),
                    help="directory holding manifest.json (default: docs/vectors in the repository)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print details for passing vectors too")
    args = ap.parse_args()
    manifest_path = os.path.join(args.vectors, "manifest.json")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except OSError as e:
        sys.stderr.write(f"cannot read {manifest_path}: {e}\n")
        return 2
    if manifest.get("format_version") != 1:
        sys.stderr.write(f"unsupported manifest format_version {manifest.get('format_version')}\n")
        return 2
    passed = failed = 0
    for kind, vectors, fn in (("good", manifest["good"], check_good), ("bad", manifest["bad"], check_bad)):
        for v in vectors:
            try:
                ok, msg = fn(args.vectors, v)
            except Reject as e:
                ok, msg = False, f"unexpected rejection by {e.check} ({e.cls}): {e.detail}"
            except Exception as e:  # report and keep going
                ok, msg = False, f"checker error: {type(e).__name__}: {e}"
            print(f"{'PASS' if ok else 'FAIL'} {kind:4} {v['name']}: {msg}")
            if ok:
                passed += 1
            else:
                failed += 1
    p, f = check_kms_matching(args.vectors)
    passed, failed = passed + p, failed + f
    p, f = check_pq_files(args.vectors)
    passed, failed = passed + p, failed + f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
