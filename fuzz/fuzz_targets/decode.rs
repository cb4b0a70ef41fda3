#![no_main]
//! Full decode (checksums and hashes are skipped under cfg(fuzzing), so the
//! entropy decoders see the mutated bytes). Also the source-file rebuild,
//! and the last frame decoded alone.
use libfuzzer_sys::fuzz_target;

// As in the CLI: allocations above 1.5 GiB are refused, not made.
#[global_allocator]
static ALLOC: medzip_io::CappedAlloc = medzip_io::CappedAlloc;

fuzz_target!(|data: &[u8]| {
    // Small images keep executions fast; the limit itself is what stops big claims.
    let limits = medzip_format::Limits { max_pixels: 1 << 16, max_section_bytes: 1 << 24, ..Default::default() };
    if let Ok((img, meta)) = medzip_codec::decompress(data, &limits, None) {
        let _ = medzip_io::write(&img, &meta);
        let opts = medzip_codec::DecodeOptions { limits, ..Default::default() };
        let n = meta.frames;
        let _ = medzip_codec::decompress_frames(data, n.saturating_sub(1)..n, None, &opts);
    }
});
