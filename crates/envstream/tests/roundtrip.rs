//! Round trips over sizes around chunk boundaries, several chunk sizes,
//! arbitrary write patterns, and both backends.

mod common;

use common::*;
use envstream::{Backend, Error, ErrorClass, Keyring, OpenOptions, Opener, SealOptions};
use proptest::prelude::*;

#[test]
fn sizes_around_chunk_boundaries() {
    let k = key(1);
    for chunk in [4096u32, 4097, 65536] {
        let c = chunk as usize;
        for len in [
            0,
            1,
            c - 1,
            c,
            c + 1,
            2 * c - 1,
            2 * c,
            2 * c + 1,
            3 * c,
            3 * c + 7,
        ] {
            let plain = pseudo_random(len, len as u64);
            let sealed = seal(&k, chunk, &plain);
            let full_chunks = len / c;
            let expected_len =
                envstream::Header::parse(&sealed).expect("header").1 + len + (full_chunks + 1) * 16;
            assert_eq!(
                sealed.len(),
                expected_len,
                "chunk {chunk} len {len}: exactly one final chunk"
            );
            assert_eq!(
                open(&[&k], &sealed).expect("opens"),
                plain,
                "chunk {chunk} len {len}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_length_any_write_pattern(len in 0usize..40_000, splits in proptest::collection::vec(1usize..9000, 1..8), seed in any::<u64>()) {
        let k = key(2);
        let plain = pseudo_random(len, seed);
        let opts = SealOptions::new().chunk_size(4096).expect("chunk size");
        let sealed = seal_with(&[&k], opts, &plain, &splits);
        prop_assert_eq!(open(&[&k], &sealed).expect("opens"), plain);
    }

    #[test]
    fn truncation_anywhere_fails(len in 0usize..20_000, cut in any::<prop::sample::Index>()) {
        let k = key(3);
        let plain = pseudo_random(len, 9);
        let sealed = seal(&k, 4096, &plain);
        let at = cut.index(sealed.len());
        let err = open(&[&k], &sealed[..at]).expect_err("truncated file must not open");
        prop_assert_eq!(err.class(), ErrorClass::Integrity);
    }
}

#[test]
fn every_backend_produces_identical_bytes() {
    let k = key(4);
    let plain = pseudo_random(3 * 4096 + 11, 4);
    let outputs: Vec<Vec<u8>> = Backend::available()
        .iter()
        .map(|&b| {
            let kb = envstream::LocalKey::from_secret(&[4; 32], b);
            let opts = SealOptions::new()
                .chunk_size(4096)
                .expect("chunk size")
                .backend(b)
                .context(ctx(&[("a", "b")]))
                .insecure_deterministic([9; 32]);
            common::seal_with(&[&kb], opts, &plain, &[1000])
        })
        .collect();
    for o in &outputs[1..] {
        assert_eq!(o, &outputs[0], "backends disagree");
    }
    // And each backend opens every backend's output.
    for &b in Backend::available() {
        let kb = envstream::LocalKey::from_secret(&[4; 32], b);
        let mut r = Opener::new(&outputs[0][..])
            .expect("header")
            .unlock_blocking(&[&kb], OpenOptions::new().backend(b))
            .expect("unlock");
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut out).expect("read");
        assert_eq!(out, plain);
    }
    let _ = &k;
}

#[cfg(all(feature = "aws-lc", feature = "ring", feature = "rustcrypto"))]
#[test]
fn aws_lc_ring_and_rustcrypto_are_all_compiled_and_agree() {
    assert_eq!(Backend::available().len(), 3);
    every_backend_produces_identical_bytes();
}

#[test]
fn random_seals_differ_but_both_open() {
    let k = key(5);
    let a = seal(&k, 4096, b"same");
    let b = seal(&k, 4096, b"same");
    assert_ne!(a, b, "fresh salt and data key per stream");
    assert_eq!(open(&[&k], &a).expect("a"), b"same");
    assert_eq!(open(&[&k], &b).expect("b"), b"same");
}

#[test]
fn any_of_several_keys_opens() {
    let (k1, k2, k3) = (key(6), key(7), key(8));
    let opts = SealOptions::new().context(ctx(&[("x", "y")]));
    let sealed = seal_with(&[&k1, &k2], opts, b"hello", &[]);
    assert_eq!(open(&[&k2], &sealed).expect("k2"), b"hello");
    assert_eq!(open(&[&k3, &k1], &sealed).expect("k1 after k3"), b"hello");
    let err = open(&[&k3], &sealed).expect_err("k3 is not a recipient");
    assert!(
        matches!(err, Error::Key(envstream::KeyError::NoMatchingKey { .. })),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Key);
}

#[test]
fn context_requirements() {
    let k = key(9);
    let opts = SealOptions::new().context(ctx(&[("env", "prod"), ("host", "db")]));
    let sealed = seal_with(&[&k], opts, b"x", &[]);
    let keys: [&dyn Keyring; 1] = [&k];
    let ok = Opener::new(&sealed[..])
        .expect("h")
        .unlock_blocking(&keys, OpenOptions::new().require_context("env", "prod"));
    assert!(ok.is_ok());
    for (kk, vv) in [("env", "dev"), ("missing", "x"), ("host", "")] {
        let err = Opener::new(&sealed[..])
            .expect("h")
            .unlock_blocking(&keys, OpenOptions::new().require_context(kk, vv))
            .err()
            .expect("mismatch");
        assert!(matches!(
            err,
            Error::Key(envstream::KeyError::ContextMismatch { .. })
        ));
        assert_eq!(err.class(), ErrorClass::Key);
    }
}

#[test]
fn dropping_the_writer_without_finish_does_not_open() {
    use std::io::Write;
    let k = key(10);
    let mut out = Vec::new();
    {
        let keys: [&dyn Keyring; 1] = [&k];
        let mut w = envstream::Sealer::prepare_blocking(
            &keys,
            SealOptions::new().chunk_size(4096).expect("cs"),
        )
        .expect("prepare")
        .seal_to(&mut out)
        .expect("header");
        w.write_all(&[1u8; 10_000]).expect("write");
        drop(w);
    }
    let err = open(&[&k], &out).expect_err("no final chunk");
    assert_eq!(err.class(), ErrorClass::Integrity);
}

#[test]
fn chunk_size_limits() {
    assert!(SealOptions::new().chunk_size(4095).is_err());
    assert!(SealOptions::new().chunk_size(16 * 1024 * 1024 + 1).is_err());
    assert!(SealOptions::new().chunk_size(4096).is_ok());
    assert!(SealOptions::new().chunk_size(16 * 1024 * 1024).is_ok());
}

#[test]
fn context_limits_on_seal() {
    let mut c = envstream::EncryptionContext::new();
    assert!(c.insert("", "v").is_err());
    assert!(c.insert("k".repeat(257), "v").is_err());
    assert!(c.insert("k", "v".repeat(1025)).is_err());
    c.insert("k", "v").expect("ok");
    assert!(c.insert("k", "w").is_err(), "duplicate key");
    let mut big = envstream::EncryptionContext::new();
    let mut failed = false;
    for i in 0..100 {
        if big.insert(format!("key{i:03}"), "v".repeat(200)).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "encoded context is capped");
}

mod seek {
    use super::common::*;
    use envstream::{ErrorClass, Keyring, OpenOptions, Opener};
    use std::io::{Read, Seek, SeekFrom};

    /// Counts the bytes read from the underlying source.
    struct Counting<R> {
        inner: R,
        read: std::rc::Rc<std::cell::Cell<u64>>,
    }
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }
    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    fn range(
        sealed: &[u8],
        k: &envstream::LocalKey,
        start: u64,
        len: usize,
    ) -> Result<Vec<u8>, envstream::Error> {
        let keys: [&dyn Keyring; 1] = [k];
        let mut r = Opener::new(std::io::Cursor::new(sealed))?
            .unlock_blocking(&keys, OpenOptions::new())?;
        r.seek(SeekFrom::Start(start))
            .map_err(envstream::Error::from)?;
        let mut out = vec![0u8; 0];
        r.take(len as u64)
            .read_to_end(&mut out)
            .map_err(envstream::Error::from)?;
        Ok(out)
    }

    #[test]
    fn ranges_at_and_around_chunk_boundaries() {
        let k = key(21);
        let c = 4096usize;
        for total in [0usize, 1, c - 1, c, c + 1, 3 * c, 3 * c + 17] {
            let plain = pseudo_random(total, total as u64);
            let sealed = seal(&k, c as u32, &plain);
            let mut points = vec![
                0,
                1,
                c - 1,
                c,
                c + 1,
                2 * c - 1,
                2 * c,
                3 * c - 1,
                3 * c,
                total.saturating_sub(1),
                total,
                total + 5,
            ];
            points.retain(|&p| p <= total + 5);
            for &a in &points {
                for &b in &points {
                    if b < a {
                        continue;
                    }
                    let got = range(&sealed, &k, a as u64, b - a).expect("range");
                    let want = &plain[a.min(total)..b.min(total)];
                    assert_eq!(got, want, "total {total} range {a}..{b}");
                }
            }
        }
    }

    #[test]
    fn seek_from_end_and_current() {
        let k = key(22);
        let plain = pseudo_random(10_000, 3);
        let sealed = seal(&k, 4096, &plain);
        let keys: [&dyn Keyring; 1] = [&k];
        let mut r = Opener::new(std::io::Cursor::new(&sealed[..]))
            .expect("h")
            .unlock_blocking(&keys, OpenOptions::new())
            .expect("u");
        assert_eq!(r.plaintext_size().expect("size"), 10_000);
        assert_eq!(r.seek(SeekFrom::End(-10)).expect("seek"), 9_990);
        let mut tail = Vec::new();
        r.read_to_end(&mut tail).expect("read");
        assert_eq!(tail, &plain[9_990..]);
        r.seek(SeekFrom::Start(5000)).expect("seek");
        let mut two = [0u8; 2];
        r.read_exact(&mut two).expect("read");
        assert_eq!(r.seek(SeekFrom::Current(100)).expect("seek"), 5102);
        r.read_exact(&mut two).expect("read");
        assert_eq!(two, plain[5102..5104]);
        assert!(r.seek(SeekFrom::Current(-100_000)).is_err());
    }

    #[test]
    fn a_range_reads_only_the_chunks_it_needs() {
        // 1 GiB of plaintext at the default chunk size, sealed to a temp file.
        let k = key(23);
        let keys: [&dyn Keyring; 1] = [&k];
        let dir = std::env::temp_dir().join(format!("envstream-range-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("big.envs");
        {
            let sealer = envstream::Sealer::prepare_blocking(&keys, envstream::SealOptions::new())
                .expect("prepare");
            let out = std::fs::File::create(&path).expect("create");
            let zeros = std::io::repeat(0).take(1 << 30);
            sealer
                .seal_stream(zeros, std::io::BufWriter::new(out), 2)
                .expect("seal");
        }
        let read = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let src = Counting {
            inner: std::fs::File::open(&path).expect("open"),
            read: read.clone(),
        };
        let mut r = Opener::new(src)
            .expect("h")
            .unlock_blocking(&keys, OpenOptions::new())
            .expect("u");
        let header = read.get();
        r.seek(SeekFrom::Start(700_000_000)).expect("seek");
        let mut out = Vec::new();
        (&mut r).take(100_000).read_to_end(&mut out).expect("read");
        assert_eq!(out, vec![0u8; 100_000]);
        let body_read = read.get() - header;
        // 100 kB spans at most 3 chunks of 64 KiB + 16.
        assert!(
            body_read <= 3 * (65536 + 16),
            "read {body_read} bytes for a 100 kB range of 1 GiB"
        );
        // The end of the file: the final chunk verifies.
        r.seek(SeekFrom::End(-3)).expect("seek");
        let mut end = Vec::new();
        r.read_to_end(&mut end).expect("final chunk");
        assert_eq!(end, [0, 0, 0]);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn truncation_and_final_chunk_rules_hold_for_ranges_at_the_end() {
        let k = key(24);
        let plain = pseudo_random(3 * 4096 + 100, 8);
        let sealed = seal(&k, 4096, &plain);
        let hl = envstream::Header::parse(&sealed).expect("h").1;
        // Final chunk dropped (EOF at a chunk boundary), cut inside it, or a byte appended.
        let mut appended = sealed.clone();
        appended.push(0);
        for bad in [
            &sealed[..hl + 3 * 4112],
            &sealed[..sealed.len() - 1],
            &appended[..],
        ] {
            let err = range(bad, &k, 3 * 4096 + 50, 10).expect_err("must fail");
            assert_eq!(err.class(), ErrorClass::Integrity, "{err}");
        }
        // A tampered final chunk fails even for a 1-byte range inside it.
        let mut t = sealed.clone();
        let n = t.len();
        t[n - 1] ^= 1;
        assert_eq!(
            range(&t, &k, 3 * 4096 + 1, 1)
                .expect_err("tampered")
                .class(),
            ErrorClass::Integrity
        );
        // Ranges before the damage still read.
        assert_eq!(range(&t, &k, 10, 20).expect("early range"), &plain[10..30]);
    }
}
