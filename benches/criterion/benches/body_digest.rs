//! What a signed stream's body digest costs in the parallel engine: the
//! same seal with no leaves, BLAKE3 leaves and SHA-256 leaves (the two
//! candidates of FORMAT.md section 15.3), 64 MiB at 64 KiB chunks, one
//! and two workers. `cargo bench -p envstream-benches --bench body_digest`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use envstream::fuzzing::{seal_body_hashed, BenchLeafHash};
use envstream::Backend;

fn bench(c: &mut Criterion) {
    let input: Vec<u8> = (0..64u32 << 20).map(|i| (i * 31 + 7) as u8).collect();
    let mut g = c.benchmark_group("body_digest");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.sample_size(10);
    for threads in [1usize, 2] {
        for (name, hash) in [
            ("unsigned", BenchLeafHash::None),
            ("blake3", BenchLeafHash::Blake3),
            ("sha256", BenchLeafHash::Sha256),
        ] {
            g.bench_with_input(
                BenchmarkId::new(name, format!("{threads}t")),
                &threads,
                |b, &t| {
                    b.iter(|| {
                        seal_body_hashed(Backend::default(), &input, 65536, t, hash).expect("seal")
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
