//! Every constant and hard limit of format v1 (`docs/FORMAT.md`).

/// The 8-byte magic that starts every envstream file.
pub const MAGIC: [u8; 8] = *b"ENVSTRM\0";
/// The only format version this implementation reads and writes.
pub const VERSION: u8 = 1;
/// Suite 0x0001: AES-256-GCM chunks, HKDF-SHA-512 derivation, 32-byte key
/// commitment, HMAC-SHA-256 header tag.
pub const SUITE_AES256GCM_HKDF_SHA512: u16 = 0x0001;
/// Suite id of signed streams (suite 0x0001 plus a writer signature,
/// FORMAT.md section 15).
pub const SUITE_SIGNED: u16 = 0x0002;
/// Smallest allowed chunk size (plaintext bytes per chunk).
pub const MIN_CHUNK_SIZE: u32 = 4 * 1024;
/// Largest allowed chunk size.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Chunk size used when none is given.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Length of the per-stream salt.
pub const SALT_LEN: usize = 32;
/// Length of the key commitment.
pub const COMMITMENT_LEN: usize = 32;
/// Length of the header authentication tag.
pub const HEADER_TAG_LEN: usize = 32;
/// Length of each chunk's AES-GCM tag.
pub const CHUNK_TAG_LEN: usize = 16;
/// Length of the fixed prefix: magic, version, suite, chunk size, header length.
pub const PREFIX_LEN: usize = 19;
/// Largest allowed header, in bytes.
pub const MAX_HEADER_LEN: usize = 64 * 1024;
/// Most encryption-context pairs.
pub const MAX_CONTEXT_PAIRS: usize = 64;
/// Longest context key, in bytes.
pub const MAX_CONTEXT_KEY_LEN: usize = 256;
/// Longest context value, in bytes.
pub const MAX_CONTEXT_VALUE_LEN: usize = 1024;
/// Longest encoded context, in bytes (including its count field).
pub const MAX_CONTEXT_LEN: usize = 8 * 1024;
/// Most wrapped keys in one header.
pub const MAX_WRAPPED_KEYS: usize = 16;
/// Longest provider id.
pub const MAX_PROVIDER_ID_LEN: usize = 64;
/// Longest key id.
pub const MAX_KEY_ID_LEN: usize = 1024;
/// Longest wrapped-key ciphertext.
pub const MAX_WRAPPED_KEY_LEN: usize = 2048;
/// Highest chunk index: the counter is 32 bits and never wraps.
pub const MAX_CHUNK_INDEX: u64 = u32::MAX as u64;

/// The most plaintext bytes a writer encrypts under one payload key: 2^48
/// (256 TiB). AES-GCM's advantage grows with the square of the 16-byte
/// blocks encrypted under one key (about σ²/2^129), so 2^44 blocks keep it
/// near 2^-41 whatever the chunk size. A writer rule only: readers accept
/// any stream the chunk counter allows.
pub const MAX_SEALED_BYTES: u64 = 1 << 48;
