//! The seed paper's residual paths, kept exact (its "alternative method"):
//! the reconstruction is an integer image, `delta = image − reconstruction`
//! exactly, and the delta is stored either Huffman-coded or as a PNG.
//!
//! Samples and reconstruction are given in the unsigned domain
//! (`0..2^bits`, signed images shifted by `2^(bits−1)`). Without a prior the
//! reconstruction is zero, so the delta is the image itself (what the
//! paper's PNG-of-the-original row measures).

use crate::{Error, Result};

/// Zigzag: 0, −1, 1, −2, … → 0, 1, 2, 3, …
fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}
fn unzigzag(u: u32) -> i32 {
    ((u >> 1) as i32) ^ -((u & 1) as i32)
}

/// Sample `i` of the reconstruction (`None`: all zero).
#[inline]
fn at(recon: Option<&[i32]>, i: usize) -> i32 {
    recon.map_or(0, |r| r[i])
}

/// Huffman-codes the exact delta.
pub fn huffman_encode(data: &[i32], recon: Option<&[i32]>) -> Vec<u8> {
    let syms: Vec<u32> = data
        .iter()
        .enumerate()
        .map(|(i, &v)| zigzag(v - at(recon, i)))
        .collect();
    medzip_entropy::huffman::encode(&syms)
}

/// Decodes `n` samples.
pub fn huffman_decode(bytes: &[u8], n: usize, recon: Option<&[i32]>) -> Result<Vec<i32>> {
    let syms = medzip_entropy::huffman::decode(bytes, n as u64)?;
    if syms.len() != n {
        return Err(Error::Corrupt(format!(
            "Huffman delta has {} samples, expected {n}",
            syms.len()
        )));
    }
    Ok(syms
        .iter()
        .enumerate()
        .map(|(i, &s)| at(recon, i).wrapping_add(unzigzag(s)))
        .collect())
}

/// Stores the delta as a grayscale PNG: `(image − recon) mod 2^depth` with
/// depth 8 or 16 (the decoder knows `recon`, so the wrap is exact).
pub fn png_encode(
    data: &[i32],
    recon: Option<&[i32]>,
    width: u32,
    height: u32,
    bits: u8,
) -> Result<Vec<u8>> {
    let depth16 = bits > 8;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(if depth16 {
            png::BitDepth::Sixteen
        } else {
            png::BitDepth::Eight
        });
        enc.set_compression(png::Compression::High);
        let mut w = enc
            .write_header()
            .map_err(|e| Error::Internal(format!("PNG delta: {e}")))?;
        let mut buf = Vec::with_capacity(data.len() * 2);
        for (i, &v) in data.iter().enumerate() {
            let d = v.wrapping_sub(at(recon, i));
            if depth16 {
                buf.extend_from_slice(&(d as u16).to_be_bytes());
            } else {
                buf.push(d as u8);
            }
        }
        w.write_image_data(&buf)
            .map_err(|e| Error::Internal(format!("PNG delta: {e}")))?;
    }
    Ok(out)
}

pub fn png_decode(
    bytes: &[u8],
    recon: Option<&[i32]>,
    width: u32,
    height: u32,
    bits: u8,
) -> Result<Vec<i32>> {
    let bad = |m: String| Error::Corrupt(format!("PNG delta: {m}"));
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_limits(png::Limits {
        bytes: width as usize * height as usize * 2 + (1 << 20),
    });
    let mut reader = dec.read_info().map_err(|e| bad(e.to_string()))?;
    let info = reader.info();
    let depth16 = bits > 8;
    let want_depth = if depth16 {
        png::BitDepth::Sixteen
    } else {
        png::BitDepth::Eight
    };
    if info.width != width
        || info.height != height
        || info.bit_depth != want_depth
        || info.color_type != png::ColorType::Grayscale
    {
        return Err(bad("unexpected PNG header".into()));
    }
    let mut buf = vec![
        0u8;
        reader
            .output_buffer_size()
            .ok_or_else(|| bad("size".into()))?
    ];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(e.to_string()))?;
    let buf = &buf[..frame.buffer_size()];
    let mask: i32 = if depth16 { 0xffff } else { 0xff };
    let out = (0..width as usize * height as usize)
        .map(|i| {
            let d = if depth16 {
                u16::from_be_bytes([buf[2 * i], buf[2 * i + 1]]) as i32
            } else {
                buf[i] as i32
            };
            // Samples are in 0..2^bits ⊆ 0..2^depth, so the wrap is undone exactly.
            at(recon, i).wrapping_add(d) & mask
        })
        .collect::<Vec<_>>();
    Ok(out)
}
