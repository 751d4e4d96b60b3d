//! Cryptography: the backends behind one interface, the key hierarchy,
//! random bytes, and the sans-I/O chunk core.
//!
//! - `backend`: AES-256-GCM, HKDF-SHA-512 and HMAC-SHA-256 from aws-lc,
//!   ring or RustCrypto, chosen per CPU ([`Backend::auto`]).
//! - `keys`: the data key and the stream keys HKDF derives from it.
//! - `random`: the OS generator (or a deterministic one for vectors).
//! - `fips`: the FIPS status of the build, and what a FIPS build refuses.
//! - `chunk`: the nonce rule, one chunk sealed or opened, and the
//!   stateful sealer and opener every reader and writer is built on.

mod backend;
mod chunk;
mod fips;
mod keys;
mod random;
mod sign;

pub use backend::Backend;
pub(crate) use backend::{Aead, SecretKey, KEY_LEN, NONCE_LEN, TAG_LEN};
pub(crate) use chunk::{already_failed, open_chunk, seal_chunk, ChunkOpener, ChunkSealer, Next};
pub(crate) use fips::outside_module;
pub use fips::{fips_status, FipsStatus};
pub use keys::DataKey;
pub(crate) use keys::StreamKeys;
pub use random::RandomSource;
