//! Hostile and malformed headers: rejected fast, with precise errors and no
//! large allocation; and exhaustive single-bit flips.

mod common;

use common::*;
use envstream::format::{MAX_HEADER_LEN, PREFIX_LEN};
use envstream::{Error, ErrorClass, Header};

fn prefix(chunk: u32, header_len: u32) -> Vec<u8> {
    let mut v = b"ENVSTRM\0".to_vec();
    v.push(1);
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&chunk.to_be_bytes());
    v.extend_from_slice(&header_len.to_be_bytes());
    v
}

#[test]
fn huge_declared_lengths_are_rejected_before_allocation() {
    // A reader that would hand out 4 GiB if asked: the opener must stop at the prefix.
    struct Endless(u64);
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            assert!(self.0 < 1 << 20, "read far past the prefix");
            buf.fill(0x41);
            Ok(buf.len())
        }
    }
    let mut input = prefix(65536, u32::MAX);
    let r = std::io::Read::chain(&input[..], Endless(0));
    assert!(matches!(
        envstream::Opener::new(r),
        Err(Error::Format(envstream::FormatError::MalformedHeader(_)))
    ));
    input = prefix(65536, (MAX_HEADER_LEN + 1) as u32);
    assert!(matches!(
        Header::parse(&input),
        Err(Error::Format(envstream::FormatError::MalformedHeader(_)))
    ));
    for cs in [0u32, 4095, 16 * 1024 * 1024 + 1, u32::MAX] {
        assert!(
            matches!(
                Header::parse(&prefix(cs, 200)),
                Err(Error::Format(envstream::FormatError::MalformedHeader(_)))
            ),
            "{cs}"
        );
    }
}

#[test]
fn hostile_counts_inside_a_valid_length() {
    // Context count 65535 and key counts above the cap, inside a small header.
    let mut h = prefix(4096, 200);
    h.extend_from_slice(&[0u8; 32]); // salt
    let mut many_pairs = h.clone();
    many_pairs.extend_from_slice(&u16::MAX.to_be_bytes());
    many_pairs.resize(200, 0);
    assert!(
        matches!(Header::parse(&many_pairs), Err(Error::Format(envstream::FormatError::MalformedHeader(m))) if m.contains("context pairs"))
    );
    let mut many_keys = h.clone();
    many_keys.extend_from_slice(&0u16.to_be_bytes());
    many_keys.push(255);
    many_keys.resize(200, 0);
    assert!(
        matches!(Header::parse(&many_keys), Err(Error::Format(envstream::FormatError::MalformedHeader(m))) if m.contains("wrapped key count"))
    );
    let mut long_key_id = h.clone();
    long_key_id.extend_from_slice(&0u16.to_be_bytes());
    long_key_id.push(1);
    long_key_id.push(5);
    long_key_id.extend_from_slice(b"local");
    long_key_id.extend_from_slice(&u16::MAX.to_be_bytes());
    long_key_id.resize(200, 0);
    assert!(matches!(
        Header::parse(&long_key_id),
        Err(Error::Format(envstream::FormatError::MalformedHeader(_)))
    ));
}

#[test]
fn short_inputs() {
    let k = key(1);
    let sealed = seal(&k, 4096, b"abc");
    for n in 0..PREFIX_LEN + 10 {
        let e = Header::parse(&sealed[..n]).expect_err("short");
        assert_eq!(e.class(), ErrorClass::Integrity, "{n}: {e}");
    }
    assert!(matches!(
        Header::parse(b"PK\x03\x04 zip file"),
        Err(Error::Format(envstream::FormatError::NotEnvstream))
    ));
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let k = key(2);
    let plain = pseudo_random(3 * 4096 + 50, 2);
    let sealed = seal_with(
        &[&k],
        envstream::SealOptions::new()
            .chunk_size(4096)
            .expect("cs")
            .context(ctx(&[("a", "1"), ("bb", "22")])),
        &plain,
        &[],
    );
    let (h, hl) = Header::parse(&sealed).expect("parse");
    let wrapped_region = {
        // The wrapped-key records sit between the context and the commitment.
        let start = PREFIX_LEN + 32 + h.context().encoded_len();
        start..hl - 64
    };
    let mut offsets: Vec<usize> = (0..hl).collect();
    for i in 1..=4usize {
        let b = hl + i * (4096 + 16);
        offsets.extend(b.saturating_sub(3)..(b + 3).min(sealed.len()));
    }
    offsets.extend(sealed.len() - 3..sealed.len());
    for off in offsets {
        for bit in 0..8 {
            let mut v = sealed.clone();
            v[off] ^= 1 << bit;
            let err = open(&[&k], &v).expect_err("flipped file must not open");
            let ok = match err.class() {
                ErrorClass::Integrity => true,
                ErrorClass::Key => wrapped_region.contains(&off),
                _ => false,
            };
            assert!(ok, "offset {off} bit {bit}: {err}");
        }
    }
}

#[test]
fn header_tag_and_commitment_are_both_checked() {
    let k = key(3);
    let sealed = seal(&k, 4096, b"data");
    let hl = Header::parse(&sealed).expect("parse").1;
    let mut v = sealed.clone();
    v[hl - 1] ^= 0x80;
    assert!(matches!(
        open(&[&k], &v),
        Err(Error::Integrity(
            envstream::IntegrityError::HeaderAuthentication
        ))
    ));
    let mut v = sealed.clone();
    v[hl - 40] ^= 0x80;
    assert!(matches!(
        open(&[&k], &v),
        Err(Error::Integrity(
            envstream::IntegrityError::CommitmentMismatch
        ))
    ));
    let mut v = sealed.clone();
    v[PREFIX_LEN] ^= 0x80; // salt
    assert!(matches!(
        open(&[&k], &v),
        Err(Error::Integrity(
            envstream::IntegrityError::CommitmentMismatch
        ))
    ));
}
