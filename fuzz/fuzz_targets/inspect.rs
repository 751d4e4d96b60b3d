//! `inspect` on arbitrary bytes: reading a header from a stream never
//! panics, and what parses re-serializes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    envstream::fuzzing::inspect(data);
});
