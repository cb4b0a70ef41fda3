//! Shared by the `roundtrip` and `jpeg` fuzz targets and the test that replays their
//! regression inputs (not part of the API).

use crate::{compress, decompress, decompress_frames, Image, Metadata, Options, Residual};
use medzip_format::Photometric;

/// Builds a small image from arbitrary bytes (any depth 1–16, signed or not,
/// any residual coder, small stripes, with or without the trained state;
/// one to three frames, grey or of three RGB planes), encodes and decodes
/// it, and panics unless the round trip is exact, the last frame decoded
/// alone included.
pub fn roundtrip_arbitrary(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let bits = data[0] % 16 + 1;
    let signed = data[1] & 1 == 1;
    let residual = match data[1] >> 1 & 3 {
        0 if data[0] & 128 != 0 => Residual::Logistic,
        0 => Residual::Context,
        1 => Residual::Huffman,
        2 => Residual::Png,
        _ => Residual::Fast,
    };
    let w = (data[2] % 40) as u32 + 1;
    let body = &data[3..];
    let n = (body.len() / 2).max(1);
    let (frames, planes) = (
        data[3] as u32 % 3 + 1,
        if data[1] & 32 != 0 { 3 } else { 1 },
    );
    let layers = frames * planes as u32;
    let h = (n as u32).div_ceil(w).div_ceil(layers).max(1) * layers;
    let (lo, hi) = Image::range(bits, signed);
    let span = (hi - lo + 1) as u32;
    let px: Vec<i32> = (0..(w * h) as usize)
        .map(|i| {
            let b = |k: usize| *body.get(k).unwrap_or(&0);
            let v = u16::from_le_bytes([b(2 * i), b(2 * i + 1)]) as u32;
            lo + (v % span) as i32
        })
        .collect();
    let img = Image::new(w, h, bits, signed, px).expect("valid by construction");
    let opts = Options {
        residual,
        stripe_pixels: 64 + data[2] as u64,
        trained: data[1] & 8 == 0,
        net: data[1] & 16 == 0,
        models: Default::default(),
        simd: Default::default(),
        jpeg: data[1] & 32 == 0,
        tokens_too: data[1] & 64 == 0,
    };
    let meta = Metadata {
        frames,
        planes,
        photometric: match planes {
            3 => Photometric::Rgb,
            _ => Photometric::Monochrome2,
        },
        ..Metadata::raw()
    };
    let f = compress(&img, &meta, &opts).expect("encoding a valid image");
    let (back, _) = decompress(&f, &Default::default(), None).expect("decoding what was encoded");
    assert_eq!(back, img);
    let (last, _) = decompress_frames(&f, frames - 1..frames, None, &Default::default())
        .expect("decoding the last frame");
    let frame = img.data.len() / frames as usize;
    assert_eq!(last[0].data, img.data[img.data.len() - frame..]);
}

/// The recovered-JPEG coder alone (fuzz target `jpeg`): `data` as the steps
/// and coded stream of a small image decodes or is refused, never panics;
/// what decodes (blocks of dequantized coefficients, plus differences),
/// when the encoder recovers a JPEG from it, codes back to the same samples.
pub fn jpeg_arbitrary(data: &[u8]) {
    use crate::jpeg;
    if data.len() < 2 {
        return;
    }
    let (w, h) = (1 + data[0] as usize % 96, 1 + data[1] as usize % 96);
    let mut body = vec![jpeg::ISLOW];
    // Steps from the input (never zero), then the stream.
    for i in 0..64 {
        body.extend_from_slice(&(1 + *data.get(2 + i).unwrap_or(&7) as u16).to_le_bytes());
    }
    let rest = data.get(66..).unwrap_or_default();
    body.extend_from_slice(&rest[..rest.len() - rest.len() % 4]);
    let Some(px) = jpeg::decode(&body, w, h) else {
        return;
    };
    assert_eq!(px.len(), w * h);
    if px.iter().any(|&v| !(0..=255).contains(&v)) {
        return; // (the codec refuses such samples as damage)
    }
    if let Some(r) = jpeg::recover(&px, w, h) {
        let coded = jpeg::encode(&r, &px, w, h);
        assert_eq!(jpeg::decode(&coded, w, h).as_deref(), Some(&px[..]));
    }
}
