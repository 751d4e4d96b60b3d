//! The transport inside and outside Tokio, against moto (started by
//! scripts/test.sh): the async API seals and opens inside current-thread
//! and multi-thread runtimes, and the blocking facade works from plain
//! threads, from a current-thread runtime and from a multi-thread
//! runtime's worker, without hanging (each run has a deadline).

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use envstream::{
    AsyncOpener, Backend, BodyLayout, Keyring, LocalKey, OpenOptions, Opener, SealOptions, Sealer,
};
use envstream_s3::{
    blocking, PartSchedule, S3Client, S3Object, S3Settings, S3Url, Upload, UploadOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn settings() -> S3Settings {
    S3Settings {
        endpoint_url: Some(
            std::env::var("ENVSTREAM_TEST_KMS_ENDPOINT")
                .expect("ENVSTREAM_TEST_KMS_ENDPOINT: run through scripts/test.sh"),
        ),
        region: Some("us-east-1".into()),
        ..S3Settings::default()
    }
}

/// A bucket created with one unsigned request (moto checks no signature).
fn bucket(name: &str) -> String {
    let hp = settings()
        .endpoint_url
        .unwrap_or_default()
        .trim_start_matches("http://")
        .to_owned();
    let name = format!("{name}-{}", std::process::id());
    let mut s = std::net::TcpStream::connect(&hp).expect("moto");
    write!(s, "PUT /{name} HTTP/1.1\r\nHost: {hp}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    name
}

fn key() -> LocalKey {
    LocalKey::from_secret(&[18; 32], Backend::default())
}

fn plain(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 257) as u8).collect()
}

/// Seals `data` to `url` and opens it again with the blocking facade.
fn blocking_round_trip(url: &S3Url, data: &[u8]) {
    let s3 = blocking::S3Client::load(settings()).expect("client");
    let k = key();
    let keys: [&dyn Keyring; 1] = [&k];
    let sealer = Sealer::prepare_blocking(&keys, SealOptions::new()).expect("prepare");
    let options = UploadOptions {
        schedule: PartSchedule::Growing,
        overwrite: false,
    };
    let up = blocking::Upload::new(s3.clone(), url.clone(), options).expect("upload");
    let (up, _) = sealer.seal_stream(data, up, 2).expect("seal");
    up.finish().expect("finish");
    let mut obj = blocking::S3Object::open(s3, url.clone()).expect("open");
    let header = obj.read_header().expect("header");
    let reader = obj.reader(&BodyLayout::new(&header), obj.size());
    let (out, _) = Opener::new(reader)
        .expect("header")
        .unlock_blocking(&keys, OpenOptions::new())
        .expect("unlock")
        .copy_to(Vec::new(), 2)
        .expect("open");
    assert!(out == data, "round trip of {} bytes", data.len());
}

/// Runs `f` on its own thread and fails if it does not end within a minute.
fn within_a_minute(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what}: did not finish (hung or panicked)"));
}

#[test]
fn the_blocking_facade_works_from_plain_threads_and_inside_both_runtime_flavors() {
    let b = bucket("facade");
    let small = plain(100_000);
    let big = plain(9 << 20);
    let url = |k: &str| S3Url::parse(&format!("s3://{b}/{k}")).expect("url");
    // Plain threads, two at once.
    let (u1, u2, s, g) = (url("plain-1"), url("plain-2"), small.clone(), big.clone());
    within_a_minute("plain threads", move || {
        let t = std::thread::spawn(move || blocking_round_trip(&u1, &s));
        blocking_round_trip(&u2, &g);
        t.join().expect("thread");
    });
    // Inside a current-thread runtime: in block_on, and in a spawned task.
    let (u1, u2, s, g) = (
        url("current-1"),
        url("current-2"),
        small.clone(),
        big.clone(),
    );
    within_a_minute("current-thread runtime", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            blocking_round_trip(&u1, &s);
            tokio::spawn(async move { blocking_round_trip(&u2, &g) })
                .await
                .expect("task");
        });
    });
    // On a worker of a multi-thread runtime, with another task running.
    let (u1, s) = (url("multi-1"), small.clone());
    within_a_minute("multi-thread runtime", move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let ticker = tokio::spawn(async {
                for _ in 0..10 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            tokio::spawn(async move { blocking_round_trip(&u1, &s) })
                .await
                .expect("task");
            ticker.await.expect("the runtime kept running other tasks");
        });
    });
}

async fn async_round_trip(url: S3Url, data: Vec<u8>) {
    let s3 = S3Client::load(settings()).await.expect("client");
    let k = key();
    let keys: [&dyn Keyring; 1] = [&k];
    let sealer = Sealer::prepare(&keys, SealOptions::new())
        .await
        .expect("prepare");
    let options = UploadOptions {
        schedule: PartSchedule::Growing,
        overwrite: false,
    };
    let up = Upload::new(&s3, url.clone(), options)
        .await
        .expect("upload");
    let mut w = sealer.seal_to_async(up);
    for piece in data.chunks(300_000) {
        w.write_all(piece).await.expect("write");
    }
    let up = w.finish().await.expect("seal");
    let summary = up.finish().await.expect("finish");
    assert!(summary.bytes > data.len() as u64);
    let mut obj = S3Object::open(&s3, url).await.expect("open");
    let header = obj.read_header().await.expect("header");
    let reader = obj.reader(&BodyLayout::new(&header), obj.size());
    let mut r = AsyncOpener::new(reader)
        .await
        .expect("header")
        .unlock(&keys, OpenOptions::new())
        .await
        .expect("unlock");
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.expect("open");
    assert!(out == data, "round trip of {} bytes", data.len());
    assert!(s3.stats().requests > 0);
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_api_seals_and_opens_on_a_current_thread_runtime() {
    let b = bucket("async-current");
    for (i, n) in [0usize, 100_000, 9 << 20].into_iter().enumerate() {
        let url = S3Url::parse(&format!("s3://{b}/o{i}")).expect("url");
        async_round_trip(url, plain(n)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_api_seals_and_opens_on_a_multi_thread_runtime() {
    let b = bucket("async-multi");
    let url = S3Url::parse(&format!("s3://{b}/o")).expect("url");
    async_round_trip(url, plain(20 << 20)).await;
}
