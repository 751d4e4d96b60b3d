//! Findings of the cryptographic review (issue 23) that the library fixes.
//!
//! W1: the plaintext length computed from the file length is authentic
//! only once the final chunk verifies (FORMAT.md section 7.5). A file cut
//! at a chunk boundary plus 16 bytes has a plausible length; an
//! end-relative seek on it must fail, not return bytes from the middle of
//! the stream as its last ones.

mod common;

use std::io::{Cursor, Read, Seek, SeekFrom};

use common::*;
use envstream::{BodyLayout, Error, ErrorClass, Header, Keyring, OpenOptions, Opener};

const CHUNK: u32 = 4096;

/// A sealed stream of 10 full chunks and a short final one, and the same
/// stream cut after its 6th chunk plus 16 bytes (a plausible length).
fn sealed_and_cut() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let k = key(23);
    let plain = pseudo_random(10 * CHUNK as usize + 100, 23);
    let sealed = seal(&k, CHUNK, &plain);
    let (h, _) = Header::parse(&sealed).expect("header");
    let layout = BodyLayout::new(&h);
    let cut_at = layout.chunk_offset(6).expect("offset") + 16;
    let cut = sealed[..cut_at as usize].to_vec();
    // The cut file's length alone claims a stream of 6 full chunks.
    assert_eq!(
        layout.plaintext_size(cut.len() as u64).expect("plausible"),
        6 * u64::from(CHUNK)
    );
    (plain, sealed, cut)
}

fn integrity(e: &Error) -> bool {
    e.class() == ErrorClass::Integrity
}

#[test]
fn w1_an_end_relative_seek_on_a_truncated_file_fails_with_the_integrity_error() {
    let (plain, sealed, cut) = sealed_and_cut();
    let k = key(23);
    let keys: [&dyn Keyring; 1] = [&k];
    // The attack: seek(End(-8)), then read 8 bytes.
    let mut r = Opener::new(Cursor::new(cut.clone()))
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    let err = r
        .seek(SeekFrom::End(-8))
        .expect_err("the end is not authentic");
    let err = Error::from(err);
    assert!(integrity(&err), "{err}");
    // The stream is failed: no later read serves anything.
    assert!(r.read(&mut [0u8; 8]).is_err());
    // plaintext_size() itself verifies.
    let mut r = Opener::new(Cursor::new(cut))
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    let err = r.plaintext_size().expect_err("the length is not authentic");
    assert!(integrity(&err), "{err}");
    // The intact file: the real last 8 bytes, and the size, cached.
    let mut r = Opener::new(Cursor::new(sealed))
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    assert_eq!(r.plaintext_size().expect("size"), plain.len() as u64);
    assert!(!r.is_complete(), "verifying the end reads nothing out");
    r.seek(SeekFrom::End(-8)).expect("seek");
    let mut last = [0u8; 8];
    r.read_exact(&mut last).expect("read");
    assert_eq!(last, plain[plain.len() - 8..]);
    assert_eq!(r.read(&mut [0u8; 1]).expect("end"), 0);
    assert!(r.is_complete());
}

#[test]
fn w1_plaintext_size_keeps_the_read_position() {
    let (plain, sealed, _) = sealed_and_cut();
    let k = key(23);
    let keys: [&dyn Keyring; 1] = [&k];
    let mut r = Opener::new(Cursor::new(sealed))
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    let mut head = vec![0u8; 5000];
    r.read_exact(&mut head).expect("read");
    assert_eq!(r.plaintext_size().expect("size"), plain.len() as u64);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("rest");
    head.extend_from_slice(&rest);
    assert_eq!(head, plain);
}

#[test]
fn w1_a_start_relative_seek_past_a_cut_end_fails_on_read() {
    // Start-relative seeks are clipped with the unauthenticated length,
    // but reading at the clipped end opens the "final" chunk, which fails.
    let (_, _, cut) = sealed_and_cut();
    let k = key(23);
    let keys: [&dyn Keyring; 1] = [&k];
    let mut r = Opener::new(Cursor::new(cut))
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    r.seek(SeekFrom::Start(u64::MAX / 2)).expect("clipped");
    let err = Error::from(r.read(&mut [0u8; 8]).expect_err("the cut end"));
    assert!(integrity(&err), "{err}");
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn w1_the_async_reader_verifies_the_end_too() {
    use envstream::AsyncOpener;
    use tokio::io::AsyncReadExt;
    let (plain, sealed, cut) = sealed_and_cut();
    let k = key(23);
    let keys: [&dyn Keyring; 1] = [&k];
    let mut r = AsyncOpener::new(Cursor::new(cut.clone()))
        .await
        .expect("header")
        .unlock(&keys, OpenOptions::new())
        .await
        .expect("unlock");
    let err = r
        .seek_from_end(8)
        .await
        .expect_err("the end is not authentic");
    assert!(integrity(&err), "{err}");
    let mut r = AsyncOpener::new(Cursor::new(cut))
        .await
        .expect("header")
        .unlock(&keys, OpenOptions::new())
        .await
        .expect("unlock");
    assert!(r.plaintext_size().await.is_err());
    let mut r = AsyncOpener::new(Cursor::new(sealed))
        .await
        .expect("header")
        .unlock(&keys, OpenOptions::new())
        .await
        .expect("unlock");
    assert_eq!(r.plaintext_size().await.expect("size"), plain.len() as u64);
    assert_eq!(
        r.seek_from_end(8).await.expect("seek"),
        plain.len() as u64 - 8
    );
    let mut last = Vec::new();
    r.read_to_end(&mut last).await.expect("read");
    assert_eq!(last, plain[plain.len() - 8..]);
}
