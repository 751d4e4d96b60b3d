//! The local key-file parser on arbitrary bytes: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    envstream::fuzzing::key_file(data);
});
