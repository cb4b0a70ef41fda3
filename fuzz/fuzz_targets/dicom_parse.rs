#![no_main]
//! The lenient DICOM structure reader on arbitrary bytes (see
//! `medzip_io::dicom::parse::fuzz_check`).
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: medzip_io::CappedAlloc = medzip_io::CappedAlloc;

fuzz_target!(|data: &[u8]| {
    medzip_io::dicom::parse::fuzz_check(data);
});
