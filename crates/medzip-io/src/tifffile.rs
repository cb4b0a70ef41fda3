//! TIFF files back byte for byte: every tag, every byte outside the image
//! data, kept (since format version 7).
//!
//! A single-image TIFF whose image data is uncompressed strips of the
//! samples medzip decodes (8 or 16 bits, grey or chunky RGB, either byte
//! order) is split into the file with the strips cut out, kept verbatim
//! (compressed by the byte coder of `medzip_entropy::bytes`), and the
//! strips, rebuilt from the decoded samples. Any other TIFF (compressed
//! strips, tiles, several images, planar RGB, …) is not read as an image,
//! so it is stored whole ([`crate::stored`]) and comes back byte for byte
//! too; a TIFF is never given back with its tags dropped.
//!
//! Stored block (the container's `SRC` section): layout `01`, then a
//! stream of the byte coder holding: the file's length u64, the strip
//! count u32, each strip's offset and length (u64, u64), the byte order
//! (`0` little, `1` big endian), and the file's bytes outside the strips.

use crate::{Error, Result};
use medzip_entropy::bytes;
use medzip_format::{put_part, Image, Reader};

const LAYOUT_STRIPS: u8 = 1;
/// Largest stored block decoded again (bounded memory).
const MAX_BLOCK: usize = 1 << 30;

fn refuse<T>(why: &str) -> std::result::Result<T, String> {
    Err(why.to_string())
}

/// The strips (offset, length) of the only image of an uncompressed,
/// stripped, chunky TIFF, and its byte order (big endian?).
fn strips(b: &[u8]) -> std::result::Result<(Vec<(u64, u64)>, bool), String> {
    let big = match b.get(..4) {
        Some(b"II*\0") => false,
        Some(b"MM\0*") => true,
        _ => return refuse("not a classic TIFF header (BigTIFF, or damaged)"),
    };
    let u16_at = |o: usize| -> Option<u16> {
        let s: [u8; 2] = b.get(o..o + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(s)
        } else {
            u16::from_le_bytes(s)
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        })
    };
    let ifd = u32_at(4).ok_or("truncated header")? as usize;
    let n = u16_at(ifd).ok_or("truncated IFD")? as usize;
    let next = u32_at(ifd + 2 + 12 * n).ok_or("truncated IFD")?;
    if next != 0 {
        return refuse("several images (pages)");
    }
    // (tag → values) for the tags that matter here.
    let values = |tag: u16| -> std::result::Result<Option<Vec<u64>>, String> {
        for e in 0..n {
            let at = ifd + 2 + 12 * e;
            if u16_at(at) != Some(tag) {
                continue;
            }
            let ty = u16_at(at + 2).ok_or("truncated IFD")?;
            let count = u32_at(at + 4).ok_or("truncated IFD")? as usize;
            let size = match ty {
                3 => 2,
                4 => 4,
                _ => return refuse("a strip or layout tag of an unexpected type"),
            };
            if count > b.len() / size {
                return refuse("a tag longer than the file");
            }
            let base = match count * size {
                0..=4 => at + 8,
                _ => u32_at(at + 8).ok_or("truncated IFD")? as usize,
            };
            let v = (0..count)
                .map(|i| match size {
                    2 => u16_at(base + 2 * i).map(u64::from),
                    _ => u32_at(base + 4 * i).map(u64::from),
                })
                .collect::<Option<Vec<u64>>>()
                .ok_or("a tag's values beyond the file")?;
            return Ok(Some(v));
        }
        Ok(None)
    };
    let one = |tag: u16, default: u64| -> std::result::Result<u64, String> {
        Ok(values(tag)?
            .and_then(|v| v.first().copied())
            .unwrap_or(default))
    };
    if one(259, 1)? != 1 {
        return refuse("compressed image data");
    }
    if one(284, 1)? != 1 {
        return refuse("planar configuration 2");
    }
    if one(317, 1)? != 1 {
        return refuse("a predictor");
    }
    if values(324)?.is_some() {
        return refuse("tiles");
    }
    let offsets = values(273)?.ok_or("no StripOffsets")?;
    let counts = values(279)?.ok_or("no StripByteCounts")?;
    if offsets.len() != counts.len() {
        return refuse("StripOffsets and StripByteCounts differ in length");
    }
    let strips: Vec<(u64, u64)> = offsets.into_iter().zip(counts).collect();
    // In file order, not overlapping, inside the file.
    let mut end = 0;
    for &(o, l) in &strips {
        if o < end || o.checked_add(l).is_none_or(|e| e > b.len() as u64) {
            return refuse("strips out of order, overlapping or beyond the file");
        }
        end = o + l;
    }
    Ok((strips, big))
}

/// The stored block of a TIFF whose samples (in the file's order: pixel by
/// pixel, samples within a pixel) are `samples`: `Ok` only if the file
/// rebuilds from it byte for byte (checked here), else why not.
pub(crate) fn exact(
    bytes: &[u8],
    samples: &[i32],
    sample_bytes: usize,
) -> std::result::Result<Vec<u8>, String> {
    let (strips, big) = strips(bytes)?;
    let data: u64 = strips.iter().map(|s| s.1).sum();
    if data != (samples.len() * sample_bytes) as u64 {
        return refuse("strips that do not hold exactly the image");
    }
    let mut rest = Vec::with_capacity(bytes.len() - data as usize);
    let mut at = 0;
    for &(o, l) in &strips {
        rest.extend_from_slice(&bytes[at..o as usize]);
        at = (o + l) as usize;
    }
    rest.extend_from_slice(&bytes[at..]);
    let mut blob = Vec::new();
    blob.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    blob.extend_from_slice(&(strips.len() as u32).to_le_bytes());
    for &(o, l) in &strips {
        blob.extend_from_slice(&o.to_le_bytes());
        blob.extend_from_slice(&l.to_le_bytes());
    }
    blob.push(big as u8);
    put_part(&mut blob, &rest);
    let mut src = vec![LAYOUT_STRIPS];
    src.extend_from_slice(&bytes::compress(&blob));
    match rebuild_samples(samples, sample_bytes, &src) {
        Ok(b) if b == bytes => Ok(src),
        Ok(_) => refuse("it does not rebuild byte for byte"),
        Err(e) => Err(format!("it does not rebuild ({e})")),
    }
}

/// The file a stored block and the samples (in the file's order) rebuild.
pub(crate) fn rebuild_samples(samples: &[i32], sample_bytes: usize, src: &[u8]) -> Result<Vec<u8>> {
    let bad = |m: String| Error::Malformed {
        kind: "TIFF",
        msg: format!("stored TIFF block: {m}"),
    };
    let [LAYOUT_STRIPS, rest @ ..] = src else {
        return Err(bad("unknown layout".into()));
    };
    let blob = bytes::decompress(rest, MAX_BLOCK).map_err(|e| bad(e.to_string()))?;
    let r = |e: medzip_format::Error| bad(e.to_string());
    let mut p = Reader::new(&blob, "stored TIFF block");
    let len = p.u64().map_err(r)?;
    let n = p.u32().map_err(r)? as usize;
    if n > p.remaining() / 16 {
        return Err(bad("more strips than bytes".into()));
    }
    let strips = (0..n)
        .map(|_| Ok((p.u64()?, p.u64()?)))
        .collect::<medzip_format::Result<Vec<(u64, u64)>>>()
        .map_err(r)?;
    let big = p.u8().map_err(r)? == 1;
    let rest = p.part().map_err(r)?;
    p.finish().map_err(r)?;
    let data: u64 = strips.iter().map(|s| s.1).sum();
    if len > MAX_BLOCK as u64
        || data != (samples.len() * sample_bytes) as u64
        || rest.len() as u64 + data != len
    {
        return Err(bad("it does not fit the image".into()));
    }
    let mut px = Vec::with_capacity(data as usize);
    for &v in samples {
        match (sample_bytes, big) {
            (1, _) => px.push(v as u8),
            (_, false) => px.extend_from_slice(&(v as u16).to_le_bytes()),
            (_, true) => px.extend_from_slice(&(v as u16).to_be_bytes()),
        }
    }
    let mut out = Vec::with_capacity(len as usize);
    let (mut at, mut used) = (0usize, 0usize);
    for &(o, l) in &strips {
        let gap = (o as usize)
            .checked_sub(out.len())
            .ok_or_else(|| bad("strips out of order".into()))?;
        let piece = rest
            .get(at..at + gap)
            .ok_or_else(|| bad("strips beyond the file".into()))?;
        out.extend_from_slice(piece);
        at += gap;
        out.extend_from_slice(&px[used..used + l as usize]);
        used += l as usize;
    }
    out.extend_from_slice(&rest[at..]);
    Ok(out)
}

/// The samples of `img` in a TIFF's order (RGB: three planes back to pixel
/// by pixel), and the stored block's rebuild of the file.
pub(crate) fn rebuild(img: &Image, rgb: bool, src: &[u8]) -> Result<Vec<u8>> {
    let sample_bytes = if img.bits > 8 { 2 } else { 1 };
    match rgb {
        true => rebuild_samples(&crate::interleaved(&img.data, 3), sample_bytes, src),
        false => rebuild_samples(&img.data, sample_bytes, src),
    }
}
