#![no_main]
//! Encode an arbitrary small image (any depth 1–16, signed or not, any
//! residual coder), decode it: must be bit-exact.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    medzip_codec::fuzzing::roundtrip_arbitrary(data);
});
