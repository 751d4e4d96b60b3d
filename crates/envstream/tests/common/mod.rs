#![allow(dead_code, unreachable_pub)]
//! Shared helpers for the library tests.

use std::io::{Read, Write};

use envstream::{
    Backend, EncryptionContext, Keyring, LocalKey, OpenOptions, Opener, SealOptions, Sealer,
};

pub fn key(n: u8) -> LocalKey {
    LocalKey::from_secret(&[n; 32], Backend::default())
}

pub fn seal_with(
    keys: &[&dyn Keyring],
    opts: SealOptions,
    plain: &[u8],
    write_sizes: &[usize],
) -> Vec<u8> {
    let mut w = Sealer::prepare_blocking(keys, opts)
        .expect("prepare")
        .seal_to(Vec::new())
        .expect("header");
    let mut off = 0;
    let mut i = 0;
    while off < plain.len() {
        let step = if write_sizes.is_empty() {
            plain.len()
        } else {
            write_sizes[i % write_sizes.len()].max(1)
        };
        let end = (off + step).min(plain.len());
        w.write_all(&plain[off..end]).expect("write");
        off = end;
        i += 1;
    }
    w.finish().expect("finish")
}

pub fn seal(k: &LocalKey, chunk: u32, plain: &[u8]) -> Vec<u8> {
    let opts = SealOptions::new().chunk_size(chunk).expect("chunk size");
    seal_with(&[k], opts, plain, &[])
}

pub fn open(keys: &[&dyn Keyring], sealed: &[u8]) -> Result<Vec<u8>, envstream::Error> {
    let reader = Opener::new(sealed)?.unlock_blocking(keys, OpenOptions::new())?;
    let mut reader = reader;
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .map_err(envstream::Error::from)?;
    Ok(out)
}

pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).expect("context")
}
