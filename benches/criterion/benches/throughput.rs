//! Seal and open throughput per chunk size, backend and thread count,
//! in memory (no system calls): bytes per second of plaintext.
//!
//! `cargo bench -p envstream-benches` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use envstream::{Backend, Keyring, LocalKey, OpenOptions, Opener, SealOptions, Sealer};

const DATA: usize = 64 << 20;
const CHUNK_SIZES: [u32; 4] = [16 << 10, 64 << 10, 256 << 10, 1 << 20];

fn sealed(key: &LocalKey, backend: Backend, chunk: u32, plain: &[u8]) -> Vec<u8> {
    let keys: [&dyn Keyring; 1] = [key];
    let opts = SealOptions::new()
        .chunk_size(chunk)
        .expect("valid chunk size")
        .backend(backend);
    let sealer = Sealer::prepare_blocking(&keys, opts).expect("prepare");
    sealer
        .seal_stream(
            plain,
            Vec::with_capacity(plain.len() + plain.len() / 1000 + 4096),
            1,
        )
        .expect("seal")
        .0
}

fn bench(c: &mut Criterion) {
    let plain: Vec<u8> = (0..DATA).map(|i| (i * 31 + 7) as u8).collect();
    for &backend in Backend::available() {
        let key = LocalKey::from_secret(&[7; 32], backend);
        let keys: [&dyn Keyring; 1] = [&key];
        for threads in [1usize, 2] {
            let mut g = c.benchmark_group(format!("seal/{}/threads={threads}", backend.name()));
            g.throughput(Throughput::Bytes(DATA as u64));
            g.sample_size(10);
            for chunk in CHUNK_SIZES {
                g.bench_with_input(BenchmarkId::from_parameter(chunk), &chunk, |b, &chunk| {
                    b.iter(|| {
                        let opts = SealOptions::new()
                            .chunk_size(chunk)
                            .expect("valid")
                            .backend(backend);
                        let sealer = Sealer::prepare_blocking(&keys, opts).expect("prepare");
                        let (_, stats) = sealer
                            .seal_stream(&plain[..], std::io::sink(), threads)
                            .expect("seal");
                        black_box(stats)
                    })
                });
            }
            g.finish();
            let mut g = c.benchmark_group(format!("open/{}/threads={threads}", backend.name()));
            g.throughput(Throughput::Bytes(DATA as u64));
            g.sample_size(10);
            for chunk in CHUNK_SIZES {
                let file = sealed(&key, backend, chunk, &plain);
                g.bench_with_input(BenchmarkId::from_parameter(chunk), &file, |b, file| {
                    b.iter(|| {
                        let reader = Opener::new(&file[..])
                            .expect("header")
                            .unlock_blocking(&keys, OpenOptions::new().backend(backend))
                            .expect("unlock");
                        let (_, stats) = reader.copy_to(std::io::sink(), threads).expect("open");
                        black_box(stats)
                    })
                });
            }
            g.finish();
        }
        // The sequential Write/Read adapters, for comparison.
        let mut g = c.benchmark_group(format!("seal-writer/{}", backend.name()));
        g.throughput(Throughput::Bytes(DATA as u64));
        g.sample_size(10);
        g.bench_function("64KiB", |b| {
            b.iter(|| {
                let opts = SealOptions::new().backend(backend);
                let mut w = Sealer::prepare_blocking(&keys, opts)
                    .expect("prepare")
                    .seal_to(std::io::sink())
                    .expect("header");
                w.write_all(&plain).expect("write");
                black_box(w.finish().expect("finish"))
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
