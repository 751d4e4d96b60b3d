//! The per-stream cost of a public-key recipient (FORMAT.md section 16)
//! against a local key file, in the library: key generation, sealing a
//! 1 KiB stream (header and body) and opening it, with one key each.
//! `cargo bench -p envstream-benches --bench recipients`.

use std::io::{Read, Write};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use envstream::{
    Backend, Identity, LocalKey, OpenOptions, Opener, PqIdentity, Recipient, SealOptions, Sealer,
};

fn seal(r: &dyn Recipient, plain: &[u8]) -> Vec<u8> {
    let sealer = Sealer::prepare_blocking(&[r], SealOptions::new()).expect("prepare");
    let mut w = sealer.seal_to(Vec::new()).expect("header");
    w.write_all(plain).expect("write");
    w.finish().expect("finish")
}

fn open(id: &dyn Identity, file: &[u8]) -> usize {
    let mut r = Opener::new(file)
        .expect("header")
        .unlock_blocking(&[id], OpenOptions::new())
        .expect("unlock");
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("read")
}

fn bench(c: &mut Criterion) {
    let be = Backend::default();
    let plain = vec![0x5au8; 1024];
    let (local, _) = LocalKey::generate(be).expect("key");
    let (id, _) = PqIdentity::generate(be).expect("identity");
    let mut g = c.benchmark_group("per_stream");
    g.bench_function(BenchmarkId::new("keygen", "local"), |b| {
        b.iter(|| LocalKey::generate(be).expect("key"))
    });
    g.bench_function(BenchmarkId::new("keygen", "recipient"), |b| {
        b.iter(|| PqIdentity::generate(be).expect("identity"))
    });
    g.bench_function(BenchmarkId::new("seal_1KiB", "local"), |b| {
        b.iter(|| seal(&local, &plain))
    });
    g.bench_function(BenchmarkId::new("seal_1KiB", "recipient"), |b| {
        b.iter(|| seal(id.recipient(), &plain))
    });
    let sealed_local = seal(&local, &plain);
    let sealed_pq = seal(id.recipient(), &plain);
    g.bench_function(BenchmarkId::new("open_1KiB", "local"), |b| {
        b.iter(|| open(&local, &sealed_local))
    });
    g.bench_function(BenchmarkId::new("open_1KiB", "recipient"), |b| {
        b.iter(|| open(&id, &sealed_pq))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
