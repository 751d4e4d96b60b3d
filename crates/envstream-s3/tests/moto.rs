//! The transport against moto's S3 (started by scripts/test.sh), through
//! the library: uploads at part boundaries, ranged reads, conditional
//! writes, aborts and the server-side rekey copy.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use envstream::{Backend, BodyLayout, Keyring, LocalKey, OpenOptions, Opener, SealOptions, Sealer};
use envstream_s3::blocking::{rekey_copy, S3Client, S3Object, Upload};
use envstream_s3::{PartSchedule, Rewrite, S3ErrorKind, S3Settings, S3Url, UploadOptions};

fn moto() -> String {
    std::env::var("ENVSTREAM_TEST_KMS_ENDPOINT").expect(
        "ENVSTREAM_TEST_KMS_ENDPOINT is not set: run the tests through scripts/test.sh, which starts moto",
    )
}

fn settings(tweak: impl FnOnce(&mut S3Settings)) -> S3Settings {
    let mut settings = S3Settings {
        endpoint_url: Some(moto()),
        region: Some("us-east-1".into()),
        ..S3Settings::default()
    };
    tweak(&mut settings);
    settings
}

fn client(tweak: impl FnOnce(&mut S3Settings)) -> Arc<S3Client> {
    S3Client::load(settings(tweak)).expect("client")
}

/// One unsigned request straight to moto (test setup only: moto checks no
/// signature); returns the status and body.
fn http(method: &str, path: &str) -> (u16, Vec<u8>) {
    use std::net::TcpStream;
    let hp = moto().trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&hp).expect("moto");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {hp}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer")
        + 4;
    let status = String::from_utf8_lossy(&raw[..split])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, raw[split..].to_vec())
}

/// A fresh bucket per test run (moto keeps state between runs).
fn bucket(_s3: &Arc<S3Client>, prefix: &str) -> String {
    let name = format!("{prefix}-{}", std::process::id());
    let (status, _) = http("PUT", &format!("/{name}"));
    assert_eq!(status, 200, "create bucket {name}");
    name
}

fn open_uploads(_s3: &Arc<S3Client>, name: &str) -> usize {
    let (status, body) = http("GET", &format!("/{name}?uploads"));
    assert_eq!(status, 200);
    String::from_utf8_lossy(&body).matches("<Upload>").count()
}

fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn seal_to(
    s3: &Arc<S3Client>,
    url: &S3Url,
    plain: &[u8],
    key: &LocalKey,
    schedule: PartSchedule,
    overwrite: bool,
) -> Result<(), envstream_s3::S3Error> {
    let keys: [&dyn Keyring; 1] = [key];
    let sealer =
        Sealer::prepare_blocking(&keys, SealOptions::new().chunk_size(4096).expect("size"))
            .expect("prepare");
    let up = Upload::new(
        s3.clone(),
        url.clone(),
        UploadOptions {
            schedule,
            overwrite,
        },
    )?;
    let (up, _) = sealer.seal_stream(plain, up, 2).map_err(|e| match e {
        envstream::Error::Io(io) => envstream_s3::S3Error::from_io_ref(&io)
            .cloned()
            .expect("an S3 error"),
        other => panic!("{other}"),
    })?;
    up.finish().map(|_| ())
}

fn open_from(s3: &Arc<S3Client>, url: &S3Url, key: &LocalKey) -> Vec<u8> {
    let mut obj = S3Object::open(s3.clone(), url.clone()).expect("open");
    let header = obj.read_header().expect("header");
    let reader = obj.reader(&BodyLayout::new(&header), obj.size());
    let keys: [&dyn Keyring; 1] = [key];
    let r = Opener::new(reader)
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    let (out, _) = r.copy_to(Vec::new(), 2).expect("decrypt");
    out
}

#[test]
fn round_trips_across_part_and_range_boundaries() {
    let s3 = client(|s| {
        s.range_size = 100_000;
        s.concurrency = 3;
    });
    let b = bucket(&s3, "lib-roundtrip");
    let key = LocalKey::from_secret(&[7; 32], Backend::default());
    const MIB: usize = 1 << 20;
    for (i, n) in [0usize, 1, 4096, 5 * MIB - 300, 5 * MIB, 11 * MIB + 17]
        .into_iter()
        .enumerate()
    {
        let url = S3Url::parse(&format!("s3://{b}/obj-{i}")).expect("url");
        let plain = data(n, i as u32);
        seal_to(
            &s3,
            &url,
            &plain,
            &key,
            PartSchedule::Uniform(5 * MIB as u64),
            false,
        )
        .expect("upload");
        assert_eq!(open_from(&s3, &url, &key), plain, "size {n}");
    }
    assert_eq!(open_uploads(&s3, &b), 0);
}

#[test]
fn an_existing_object_is_refused_and_replaced_only_with_overwrite() {
    let s3 = client(|_| {});
    let b = bucket(&s3, "lib-exists");
    let key = LocalKey::from_secret(&[7; 32], Backend::default());
    let url = S3Url::parse(&format!("s3://{b}/b.envs")).expect("url");
    seal_to(&s3, &url, b"first", &key, PartSchedule::Growing, false).expect("first");
    let e = seal_to(&s3, &url, b"second", &key, PartSchedule::Growing, false).expect_err("exists");
    assert_eq!(e.kind(), S3ErrorKind::Exists, "{e}");
    assert_eq!(open_from(&s3, &url, &key), b"first");
    seal_to(&s3, &url, b"second", &key, PartSchedule::Growing, true).expect("overwrite");
    assert_eq!(open_from(&s3, &url, &key), b"second");
}

#[test]
fn a_dropped_upload_is_aborted() {
    let s3 = client(|_| {});
    let b = bucket(&s3, "lib-abort");
    let url = S3Url::parse(&format!("s3://{b}/partial")).expect("url");
    let mut up = Upload::new(
        s3.clone(),
        url.clone(),
        UploadOptions {
            schedule: PartSchedule::Uniform(5 << 20),
            overwrite: false,
        },
    )
    .expect("upload");
    up.write_all(&data(12 << 20, 1)).expect("two parts sent");
    assert_eq!(open_uploads(&s3, &b), 1);
    drop(up);
    assert_eq!(open_uploads(&s3, &b), 0);
    let e = S3Object::open(s3.clone(), url).expect_err("no object");
    assert_eq!(e.kind(), S3ErrorKind::NoSuchObject, "{e}");
}

#[test]
fn a_range_reads_only_its_chunks() {
    let s3 = client(|s| s.range_size = 64 * 1024);
    let b = bucket(&s3, "lib-range");
    let key = LocalKey::from_secret(&[7; 32], Backend::default());
    let url = S3Url::parse(&format!("s3://{b}/r")).expect("url");
    let plain = data(3 << 20, 9);
    seal_to(&s3, &url, &plain, &key, PartSchedule::Growing, false).expect("upload");
    let before = s3.stats();
    let mut obj = S3Object::open(s3.clone(), url.clone()).expect("open");
    let header = obj.read_header().expect("header");
    let layout = BodyLayout::new(&header);
    let (start, len) = (1_000_000u64, 10_000u64);
    let first = start / 4096;
    let last = (start + len - 1) / 4096;
    let end = layout.chunk_offset(last + 1).expect("offset");
    let keys: [&dyn Keyring; 1] = [&key];
    let mut r = Opener::new(obj.reader(&layout, end))
        .expect("h")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    r.seek(SeekFrom::Start(start)).expect("seek");
    let mut got = vec![0u8; len as usize];
    r.read_exact(&mut got).expect("read");
    assert_eq!(got, plain[start as usize..(start + len) as usize]);
    let after = s3.stats();
    // The first GET, then one GET for chunks first..=last (within one range).
    assert_eq!(after.requests - before.requests, 2);
    assert_eq!(
        after.bytes_down - before.bytes_down,
        16 * 1024 + (last - first + 1) * 4112
    );
}

#[test]
fn rekey_copies_the_body_inside_s3() {
    let s3 = client(|s| s.copy_part_size = 5 << 20);
    let b = bucket(&s3, "lib-rekey");
    let old = LocalKey::from_secret(&[1; 32], Backend::default());
    let new = LocalKey::from_secret(&[2; 32], Backend::default());
    let src = S3Url::parse(&format!("s3://{b}/old")).expect("url");
    let dst = S3Url::parse(&format!("s3://{b}/new")).expect("url");
    let plain = data(23 << 20, 4);
    seal_to(&s3, &src, &plain, &old, PartSchedule::Growing, false).expect("upload");
    let mut obj = S3Object::open(s3.clone(), src.clone()).expect("open");
    let header = obj.read_header().expect("header");
    let layout = BodyLayout::new(&header);
    let reader = obj.reader(&layout, obj.size());
    let keys: [&dyn Keyring; 1] = [&old];
    let adds: [&dyn Keyring; 1] = [&new];
    let rekeyed = Opener::new(reader)
        .expect("h")
        .rekey_blocking(&keys, OpenOptions::new(), &adds, &[old.key_id().to_owned()])
        .expect("rekey");
    let up = Upload::new(
        s3.clone(),
        dst.clone(),
        UploadOptions {
            schedule: PartSchedule::Growing,
            overwrite: false,
        },
    )
    .expect("upload");
    let new_header = rekeyed.header().to_bytes();
    let rewrite = Rewrite {
        old_header_len: header.len() as u64,
        old_trailer_len: 0,
        header: &new_header,
        trailer: &[],
    };
    let stats = rekey_copy(&obj, rewrite, up).expect("copy");
    // The copied range: 23 MiB of body less the first part, in 5 MiB parts.
    assert!(s3.stats().requests > 5);
    let body = obj.size() - header.len() as u64;
    let first = (8 << 20) - rekeyed.header().len() as u64;
    assert_eq!(stats.bytes_up, 8 << 20);
    assert_eq!(stats.bytes_down, first);
    assert_eq!(stats.bytes_copied, body - first);
    assert_eq!(open_from(&s3, &dst, &new), plain);
    assert_eq!(open_uploads(&s3, &b), 0);
}

#[test]
fn the_conditional_write_refuses_an_object_created_during_the_upload() {
    let s3 = client(|_| {});
    let b = bucket(&s3, "lib-race");
    let key = LocalKey::from_secret(&[7; 32], Backend::default());
    for (name, n) in [("small", 1000usize), ("multipart", 11 << 20)] {
        let url = S3Url::parse(&format!("s3://{b}/{name}")).expect("url");
        // The existence check passes, then another writer creates the key.
        let mut up = Upload::new(
            s3.clone(),
            url.clone(),
            UploadOptions {
                schedule: PartSchedule::Uniform(5 << 20),
                overwrite: false,
            },
        )
        .expect("absent");
        up.write_all(&data(n, 3)).expect("write");
        seal_to(
            &s3,
            &url,
            b"the other writer",
            &key,
            PartSchedule::Growing,
            false,
        )
        .expect("other writer");
        let e = up.finish().expect_err("If-None-Match: *");
        assert_eq!(e.kind(), S3ErrorKind::Exists, "{name}: {e}");
        assert_eq!(open_from(&s3, &url, &key), b"the other writer", "{name}");
    }
    assert_eq!(open_uploads(&s3, &b), 0);
}

#[test]
fn a_header_longer_than_the_first_read_costs_one_more_get() {
    let s3 = client(|s| s.first_read = 100);
    let b = bucket(&s3, "lib-long-header");
    let key = LocalKey::from_secret(&[7; 32], Backend::default());
    let url = S3Url::parse(&format!("s3://{b}/h")).expect("url");
    seal_to(&s3, &url, b"hello", &key, PartSchedule::Growing, false).expect("upload");
    let before = s3.stats();
    let mut obj = S3Object::open(s3.clone(), url.clone()).expect("open");
    let header = obj.read_header().expect("header");
    assert!(header.len() > 100);
    assert_eq!(s3.stats().requests - before.requests, 2);
    assert_eq!(open_from(&s3, &url, &key), b"hello");
}

#[test]
fn an_object_replaced_during_a_restore_fails_cleanly() {
    let s3 = client(|s| s.range_size = 64 * 1024);
    let b = bucket(&s3, "lib-changed");
    let key = LocalKey::from_secret(&[7; 32], Backend::default());
    let url = S3Url::parse(&format!("s3://{b}/c")).expect("url");
    let plain = data(2 << 20, 5);
    seal_to(&s3, &url, &plain, &key, PartSchedule::Growing, false).expect("upload");
    let mut obj = S3Object::open(s3.clone(), url.clone()).expect("open");
    let header = obj.read_header().expect("header");
    // Someone replaces the object after the first read.
    seal_to(
        &s3,
        &url,
        &data(2 << 20, 6),
        &key,
        PartSchedule::Growing,
        true,
    )
    .expect("replace");
    let keys: [&dyn Keyring; 1] = [&key];
    let r = Opener::new(obj.reader(&BodyLayout::new(&header), obj.size()))
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    let err = r.copy_to(Vec::new(), 2).expect_err("If-Match fails");
    let envstream::Error::Io(io) = err else {
        panic!("an I/O error carrying the S3 error: {err}")
    };
    let e = envstream_s3::S3Error::from_io_ref(&io).expect("an S3 error");
    assert_eq!(e.kind(), S3ErrorKind::Changed, "{e}");
    assert!(e.to_string().contains("PreconditionFailed"), "{e}");
}

#[test]
fn a_restore_fetches_every_range_once() {
    // Regression: with the window empty after taking a range, the next GET
    // started again from the range just taken (a duplicate request).
    for concurrency in [1, 3] {
        let s3 = client(|s| {
            s.range_size = 64 * 1024;
            s.concurrency = concurrency;
        });
        let b = bucket(&s3, &format!("lib-once-{concurrency}"));
        let key = LocalKey::from_secret(&[7; 32], Backend::default());
        let url = S3Url::parse(&format!("s3://{b}/o")).expect("url");
        let plain = data(1 << 20, 12);
        seal_to(&s3, &url, &plain, &key, PartSchedule::Growing, false).expect("upload");
        let before = s3.stats();
        assert_eq!(open_from(&s3, &url, &key), plain);
        let after = s3.stats();
        let mut obj = S3Object::open(s3.clone(), url.clone()).expect("open");
        let layout = BodyLayout::new(&obj.read_header().expect("header"));
        // The first read, then ranges of 15 whole chunks (15 x 4112 bytes)
        // on the chunk grid from the end of the first read.
        let per = (64 * 1024 / layout.stride()) * layout.stride();
        let base = layout.chunk_offset(0).expect("offset");
        let (mut at, mut ranges) = (envstream_s3::FIRST_READ, 0);
        while at < obj.size() {
            at = base + ((at - base) / per + 1) * per;
            ranges += 1;
        }
        assert_eq!(
            after.requests - before.requests,
            1 + ranges,
            "concurrency {concurrency}"
        );
        assert_eq!(
            after.bytes_down - before.bytes_down,
            obj.size(),
            "each byte once"
        );
    }
}

/// Review finding W1 on the S3 reader: an object cut at a chunk boundary
/// plus 16 bytes has a plausible length, and an end-relative seek through
/// a `RangeReader` fails instead of serving bytes from its middle as its
/// last ones. On an intact object, a reader bounded to a range still
/// authenticates the end, fetching only the final chunk beyond its range.
#[test]
fn an_end_relative_seek_on_a_cut_object_fails() {
    let s3 = client(|_| {});
    let b = bucket(&s3, "lib-w1");
    let key = LocalKey::from_secret(&[23; 32], Backend::default());
    let keys: [&dyn Keyring; 1] = [&key];
    let plain = data(40 * 4096 + 100, 23);
    let whole = S3Url::parse(&format!("s3://{b}/whole.envs")).expect("url");
    seal_to(&s3, &whole, &plain, &key, PartSchedule::Growing, false).expect("seal");
    let mut obj = S3Object::open(s3.clone(), whole.clone()).expect("open");
    let header = obj.read_header().expect("header");
    let layout = BodyLayout::new(&header);
    // The intact object, read through a reader bounded to its first chunks.
    let bounded_end = layout.chunk_offset(3).expect("offset");
    let mut r = Opener::new(obj.reader(&layout, bounded_end))
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    assert_eq!(r.plaintext_size().expect("size"), plain.len() as u64);
    r.seek(SeekFrom::End(-8)).expect("seek");
    let mut last = [0u8; 8];
    r.read_exact(&mut last)
        .expect("the final chunk, fetched on demand");
    assert_eq!(last, plain[plain.len() - 8..]);
    // The same stream cut after chunk 20 plus 16 bytes.
    let mut sealed = Vec::new();
    obj.reader(&layout, obj.size())
        .read_to_end(&mut sealed)
        .expect("download");
    let cut_at = layout.chunk_offset(20).expect("offset") + 16;
    let cut = S3Url::parse(&format!("s3://{b}/cut.envs")).expect("url");
    let mut up = Upload::new(
        s3.clone(),
        cut.clone(),
        UploadOptions {
            schedule: PartSchedule::Growing,
            overwrite: false,
        },
    )
    .expect("upload");
    up.write_all(&sealed[..cut_at as usize]).expect("write");
    up.finish().expect("put");
    let mut obj = S3Object::open(s3.clone(), cut).expect("open");
    let header = obj.read_header().expect("header");
    let mut r = Opener::new(obj.reader(&BodyLayout::new(&header), obj.size()))
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock");
    let err = envstream::Error::from(r.seek(SeekFrom::End(-8)).expect_err("not authentic"));
    assert_eq!(err.class(), envstream::ErrorClass::Integrity, "{err}");
}
