//! Structure-aware: the input is a list of edits (bit flips, chunk splices,
//! drops and duplicates, header length and count edits, truncation,
//! appends) applied to a valid file; an edited file must never open.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: &[u8]| {
    envstream::fuzzing::mutate_and_open(ops);
});
