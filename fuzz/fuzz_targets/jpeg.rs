#![no_main]
//! The recovered-JPEG coder alone (`medzip_codec::fuzzing::jpeg_arbitrary`).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| medzip_codec::fuzzing::jpeg_arbitrary(data));
