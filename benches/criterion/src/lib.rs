//! Benchmarks live in `benches/throughput.rs`; run `cargo bench -p envstream-benches`.
