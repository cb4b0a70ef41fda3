#![no_main]
//! Container parsing: any bytes give Ok or an error, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = medzip_format::Limits { max_pixels: 1 << 22, ..Default::default() };
    let _ = medzip_format::Container::parse(data, &limits);
});
