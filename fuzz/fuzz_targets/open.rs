//! Open arbitrary bytes under a fixed key: never panic, never hang, memory
//! bounded by the 16 MiB chunk-size cap (libFuzzer's -rss_limit_mb catches
//! anything larger).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    envstream::fuzzing::open_with_fixed_key(data);
});
