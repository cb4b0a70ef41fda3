#![no_main]
//! The png reader on arbitrary bytes: Ok or an error, never a panic; what
//! reads must write back.
use libfuzzer_sys::fuzz_target;

// As in the CLI: allocations above 1.5 GiB are refused, not made.
#[global_allocator]
static ALLOC: medzip_io::CappedAlloc = medzip_io::CappedAlloc;

fuzz_target!(|data: &[u8]| {
    medzip_io::fuzz_read_and_write(data, "x.png");
});
