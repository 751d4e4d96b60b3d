//! Tokio adapters: round trips, cross-compatibility with the blocking
//! types, tampering, truncation, dropped writers and back-pressure.
#![cfg(feature = "tokio")]

mod common;

use std::io::{Read, Write};

use common::*;
use envstream::{AsyncOpener, ErrorClass, Keyring, OpenOptions, Opener, SealOptions, Sealer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn seal_async(k: &envstream::LocalKey, chunk: u32, plain: &[u8], piece: usize) -> Vec<u8> {
    let keys: [&dyn Keyring; 1] = [k];
    let sealer = Sealer::prepare(&keys, SealOptions::new().chunk_size(chunk).expect("cs"))
        .await
        .expect("prepare");
    let mut w = sealer.seal_to_async(Vec::new());
    for p in plain.chunks(piece.max(1)) {
        w.write_all(p).await.expect("write");
    }
    w.finish().await.expect("finish")
}

async fn open_async(k: &envstream::LocalKey, sealed: &[u8]) -> Result<Vec<u8>, envstream::Error> {
    let keys: [&dyn Keyring; 1] = [k];
    let mut r = AsyncOpener::new(sealed)
        .await?
        .unlock(&keys, OpenOptions::new())
        .await?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .await
        .map_err(envstream::Error::from)?;
    Ok(out)
}

#[tokio::test]
async fn round_trip_through_a_small_duplex_pipe() {
    let k = key(31);
    let plain = pseudo_random(100_000, 1);
    let (client, mut server) = tokio::io::duplex(64);
    let keys: [&dyn Keyring; 1] = [&k];
    let sealer = Sealer::prepare(&keys, SealOptions::new().chunk_size(4096).expect("cs"))
        .await
        .expect("prepare");
    let p2 = plain.clone();
    let writer = tokio::spawn(async move {
        let mut w = sealer.seal_to_async(client);
        for piece in p2.chunks(1000) {
            w.write_all(piece).await.expect("write");
        }
        w.finish().await.expect("finish");
    });
    // The reader side opens straight from the pipe, 64 bytes at a time.
    let reader = tokio::spawn(async move {
        let k = key(31);
        let keys: [&dyn Keyring; 1] = [&k];
        let mut r = AsyncOpener::new(&mut server)
            .await
            .expect("header")
            .unlock(&keys, OpenOptions::new())
            .await
            .expect("unlock");
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.expect("read");
        out
    });
    writer.await.expect("writer task");
    assert_eq!(reader.await.expect("reader task"), plain);
}

#[tokio::test]
async fn round_trip_through_files_and_sizes_around_chunks() {
    let k = key(32);
    let dir = std::env::temp_dir().join(format!("envstream-async-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await.expect("dir");
    for len in [0usize, 1, 4095, 4096, 4097, 3 * 4096, 50_001] {
        let plain = pseudo_random(len, len as u64);
        let path = dir.join(format!("f{len}"));
        let keys: [&dyn Keyring; 1] = [&k];
        let sealer = Sealer::prepare(&keys, SealOptions::new().chunk_size(4096).expect("cs"))
            .await
            .expect("prepare");
        let mut w = sealer.seal_to_async(tokio::fs::File::create(&path).await.expect("create"));
        w.write_all(&plain).await.expect("write");
        w.finish().await.expect("finish");
        let f = tokio::fs::File::open(&path).await.expect("open");
        let mut r = AsyncOpener::new(f)
            .await
            .expect("h")
            .unlock(&keys, OpenOptions::new())
            .await
            .expect("u");
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.expect("read");
        assert_eq!(out, plain, "len {len}");
    }
    tokio::fs::remove_dir_all(&dir).await.expect("cleanup");
}

#[tokio::test]
async fn async_and_blocking_interoperate() {
    let k = key(33);
    let plain = pseudo_random(70_000, 2);
    // Sealed async, opened blocking (sequential reader and parallel engine).
    let sealed = seal_async(&k, 4096, &plain, 333).await;
    assert_eq!(open(&[&k], &sealed).expect("blocking open"), plain);
    let keys: [&dyn Keyring; 1] = [&k];
    let r = Opener::new(&sealed[..])
        .expect("h")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("u");
    assert_eq!(r.copy_to(Vec::new(), 2).expect("engine").0, plain);
    // Sealed blocking (writer and engine), opened async.
    let s1 = seal(&k, 4096, &plain);
    assert_eq!(open_async(&k, &s1).await.expect("async open"), plain);
    let sealer = Sealer::prepare_blocking(&keys, SealOptions::new().chunk_size(4096).expect("cs"))
        .expect("p");
    let s2 = sealer
        .seal_stream(&plain[..], Vec::new(), 2)
        .expect("engine")
        .0;
    assert_eq!(open_async(&k, &s2).await.expect("async open"), plain);
    // Deterministic sealing: async and blocking produce the same bytes.
    let opts = || {
        SealOptions::new()
            .chunk_size(4096)
            .expect("cs")
            .insecure_deterministic([5; 32])
    };
    let mut a = Sealer::prepare(&keys, opts())
        .await
        .expect("p")
        .seal_to_async(Vec::new());
    a.write_all(&plain).await.expect("write");
    let a = a.finish().await.expect("finish");
    let mut b = Sealer::prepare_blocking(&keys, opts())
        .expect("p")
        .seal_to(Vec::new())
        .expect("h");
    b.write_all(&plain).expect("write");
    assert_eq!(a, b.finish().expect("finish"));
}

#[tokio::test]
async fn tampering_and_truncation_through_the_async_reader() {
    let k = key(34);
    let plain = pseudo_random(5 * 4096 + 10, 3);
    let sealed = seal_async(&k, 4096, &plain, 4096).await;
    let hl = envstream::Header::parse(&sealed).expect("h").1;
    let stride = 4096 + 16;
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for off in [hl - 1, hl + 5, hl + stride + 100, sealed.len() - 1] {
        let mut t = sealed.clone();
        t[off] ^= 4;
        cases.push(t);
    }
    for cut in [
        hl,
        hl + stride,
        hl + 2 * stride + 7,
        sealed.len() - 1,
        sealed.len() - 17,
    ] {
        cases.push(sealed[..cut].to_vec());
    }
    let mut swapped = sealed[..hl].to_vec();
    swapped.extend_from_slice(&sealed[hl + stride..hl + 2 * stride]);
    swapped.extend_from_slice(&sealed[hl..hl + stride]);
    swapped.extend_from_slice(&sealed[hl + 2 * stride..]);
    cases.push(swapped);
    let mut appended = sealed.clone();
    appended.push(0);
    cases.push(appended);
    for (i, c) in cases.iter().enumerate() {
        let err = open_async(&k, c).await.expect_err("must fail");
        assert_eq!(err.class(), ErrorClass::Integrity, "case {i}: {err}");
    }
    // Plaintext released before a failure is exactly the verified chunks.
    let mut t = sealed.clone();
    t[hl + 3 * stride + 1] ^= 1;
    let keys: [&dyn Keyring; 1] = [&k];
    let mut r = AsyncOpener::new(&t[..])
        .await
        .expect("h")
        .unlock(&keys, OpenOptions::new())
        .await
        .expect("u");
    let mut out = Vec::new();
    assert!(r.read_to_end(&mut out).await.is_err());
    assert_eq!(out, &plain[..3 * 4096]);
}

#[tokio::test]
async fn dropping_the_async_writer_without_finish_is_truncated() {
    let k = key(35);
    let keys: [&dyn Keyring; 1] = [&k];
    let sealer = Sealer::prepare(&keys, SealOptions::new().chunk_size(4096).expect("cs"))
        .await
        .expect("prepare");
    let mut sink = Vec::new();
    {
        let mut w = sealer.seal_to_async(&mut sink);
        w.write_all(&[7u8; 10_000]).await.expect("write");
        w.flush().await.expect("flush");
    }
    let err = open_async(&k, &sink).await.expect_err("no final chunk");
    assert_eq!(err.class(), ErrorClass::Integrity);
    let mut blocking = Vec::new();
    assert!(Opener::new(&sink[..])
        .and_then(|o| o.unlock_blocking(&keys, OpenOptions::new()))
        .and_then(|mut r| r.read_to_end(&mut blocking).map_err(envstream::Error::from))
        .is_err());
}

#[tokio::test]
async fn async_range_reads_only_what_it_needs() {
    let k = key(36);
    let plain = pseudo_random(10 * 4096 + 5, 4);
    let sealed = seal_async(&k, 4096, &plain, 9999).await;
    let keys: [&dyn Keyring; 1] = [&k];
    for (a, n) in [
        (0u64, 10u64),
        (4095, 2),
        (8192, 4096),
        (40_960, 100),
        (41_000, 10),
    ] {
        let cursor = std::io::Cursor::new(sealed.clone());
        let mut r = AsyncOpener::new(cursor)
            .await
            .expect("h")
            .unlock(&keys, OpenOptions::new())
            .await
            .expect("u");
        let at = r.seek_to(a).await.expect("seek");
        let mut out = Vec::new();
        (&mut r).take(n).read_to_end(&mut out).await.expect("read");
        let end = (at + n).min(plain.len() as u64) as usize;
        assert_eq!(out, &plain[at as usize..end], "range {a}+{n}");
    }
}

#[tokio::test]
async fn back_pressure_is_respected() {
    // A tiny pipe nobody reads: the writer must stall, not buffer the input.
    let k = key(37);
    let keys: [&dyn Keyring; 1] = [&k];
    let sealer = Sealer::prepare(&keys, SealOptions::new().chunk_size(4096).expect("cs"))
        .await
        .expect("prepare");
    let (client, _server) = tokio::io::duplex(1024);
    let mut w = sealer.seal_to_async(client);
    let big = vec![1u8; 10 << 20];
    let res = tokio::time::timeout(std::time::Duration::from_millis(300), w.write_all(&big)).await;
    assert!(
        res.is_err(),
        "write_all of 10 MiB into a stalled 1 KiB pipe must not complete"
    );
}
