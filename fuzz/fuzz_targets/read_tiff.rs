#![no_main]
//! The tiff reader on arbitrary bytes: Ok or an error, never a panic; what
//! reads must write back.
use libfuzzer_sys::fuzz_target;

// As in the CLI: allocations above 1.5 GiB are refused, not made.
#[global_allocator]
static ALLOC: medzip_io::CappedAlloc = medzip_io::CappedAlloc;

fuzz_target!(|data: &[u8]| {
    if let Ok(l) = medzip_io::read(data, Some("x.tif")) {
        if l.image.data.len() < (1 << 22) {
            let _ = medzip_io::write(&l.image, &l.meta);
        }
    }
});
