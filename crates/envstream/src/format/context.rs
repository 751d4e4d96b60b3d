//! The encryption context: public, authenticated key/value pairs.

use std::collections::BTreeMap;

use super::limits::{
    MAX_CONTEXT_KEY_LEN, MAX_CONTEXT_LEN, MAX_CONTEXT_PAIRS, MAX_CONTEXT_VALUE_LEN,
};
use crate::error::{Error, UsageError};

/// UTF-8 key/value pairs bound to a stream.
///
/// The context is stored in the clear in the header, fed into every key
/// derivation, and passed to key services (KMS `EncryptionContext`). Pairs
/// are kept in canonical order: sorted by the bytes of their keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionContext {
    pairs: BTreeMap<String, String>,
}

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pair, checking the limits in `docs/FORMAT.md`. Keys that
    /// begin with `envstream:` are reserved for the format (the signer of
    /// a signed stream) and refused.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), Error> {
        let key = key.into();
        if key.starts_with(super::signer::RESERVED_CONTEXT_PREFIX) {
            return Err(Error::Usage(UsageError::InvalidContext(format!(
                "key {key:?} is reserved: keys beginning {:?} belong to the format",
                super::signer::RESERVED_CONTEXT_PREFIX
            ))));
        }
        self.insert_reserved(key, value.into())
    }

    /// [`insert`](Self::insert) without the reserved-prefix check: for the
    /// keys the format itself adds.
    pub(crate) fn insert_reserved(&mut self, key: String, value: String) -> Result<(), Error> {
        if key.is_empty() {
            return Err(Error::Usage(UsageError::InvalidContext(
                "keys must not be empty".into(),
            )));
        }
        if key.len() > MAX_CONTEXT_KEY_LEN {
            return Err(Error::Usage(UsageError::InvalidContext(format!(
                "key {key:.32}... is longer than {MAX_CONTEXT_KEY_LEN} bytes"
            ))));
        }
        if value.len() > MAX_CONTEXT_VALUE_LEN {
            return Err(Error::Usage(UsageError::InvalidContext(format!(
                "value of {key:?} is longer than {MAX_CONTEXT_VALUE_LEN} bytes"
            ))));
        }
        if self.pairs.contains_key(&key) {
            return Err(Error::Usage(UsageError::InvalidContext(format!(
                "key {key:?} given twice"
            ))));
        }
        if self.pairs.len() >= MAX_CONTEXT_PAIRS {
            return Err(Error::Usage(UsageError::InvalidContext(format!(
                "more than {MAX_CONTEXT_PAIRS} pairs"
            ))));
        }
        let added = 4 + key.len() + value.len();
        if self.encoded_len() + added > MAX_CONTEXT_LEN {
            return Err(Error::Usage(UsageError::InvalidContext(format!(
                "encoded context exceeds {MAX_CONTEXT_LEN} bytes"
            ))));
        }
        self.pairs.insert(key, value);
        Ok(())
    }

    /// Builds a context from pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, Error> {
        let mut ctx = Self::new();
        for (k, v) in pairs {
            ctx.insert(k, v)?;
        }
        Ok(ctx)
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.get(key).map(String::as_str)
    }

    /// Pairs in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Length of the canonical encoding.
    pub fn encoded_len(&self) -> usize {
        2 + self
            .pairs
            .iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum::<usize>()
    }

    /// The canonical encoding (`docs/FORMAT.md`, "Encryption context").
    /// `String` ordering is byte ordering, so BTreeMap order is canonical.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        // Invariant: insert() caps the pair count at 64 and each length at
        // 1024, so every value fits in a u16.
        out.extend_from_slice(&(self.pairs.len() as u16).to_be_bytes());
        for (k, v) in &self.pairs {
            out.extend_from_slice(&(k.len() as u16).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&(v.len() as u16).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// Inserts a pair that the parser has already validated.
    pub(crate) fn insert_parsed(&mut self, key: String, value: String) {
        self.pairs.insert(key, value);
    }
}
