//! Header parse → write round trip: any header that parses must serialize
//! back to exactly the bytes it was parsed from.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    envstream::fuzzing::header_round_trip(data);
});
