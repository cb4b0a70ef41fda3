#![no_main]
//! Encode an arbitrary small image (any depth 1–16, signed or not, any
//! residual coder), decode it: must be bit-exact.
use libfuzzer_sys::fuzz_target;
use medzip_codec::{Image, Metadata, Options, Residual};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let bits = data[0] % 16 + 1;
    let signed = data[1] & 1 == 1;
    let residual = match data[1] >> 1 & 3 {
        0 | 3 => Residual::Context,
        1 => Residual::Huffman,
        _ => Residual::Png,
    };
    let w = (data[2] % 40) as u32 + 1;
    let body = &data[3..];
    let n = (body.len() / 2).max(1);
    let h = (n as u32).div_ceil(w).max(1);
    let (lo, hi) = Image::range(bits, signed);
    let span = (hi - lo + 1) as u32;
    let px: Vec<i32> = (0..(w * h) as usize)
        .map(|i| {
            let v = u16::from_le_bytes([*body.get(2 * i).unwrap_or(&0), *body.get(2 * i + 1).unwrap_or(&0)]) as u32;
            lo + (v % span) as i32
        })
        .collect();
    let img = Image::new(w, h, bits, signed, px).unwrap();
    let opts = Options { residual, stripe_pixels: 64 + data[2] as u64, trained: data[1] & 8 == 0 };
    let f = medzip_codec::compress(&img, &Metadata::raw(), &opts).unwrap();
    let (back, _) = medzip_codec::decompress(&f, &Default::default(), None).unwrap();
    assert_eq!(back, img);
});
