//! A PNG file beyond its pixels: every chunk kept, and with
//! [`ReadOptions::exact_file`](crate::ReadOptions) the file byte for byte.
//!
//! The source block (the container's `SRC` section; empty for files made
//! before 2026-11-30, which come back with their pixels only) is a layout
//! byte and a stream of the byte coder ([`medzip_entropy::bytes`]) holding:
//!
//! * layout 1, **every chunk**: the chunks other than `IHDR`, `IDAT` and
//!   `IEND`, each as position u8 (0 before the image data, 1 after), type
//!   (4 bytes), length u32, data. Decoding writes the pixels as a new PNG
//!   with those chunks in their places: the same pixels, text, ICC profile,
//!   resolution, private chunks; other bytes of image data.
//! * layout 2, **the file**: everything before the first `IDAT` and after
//!   the last, the `IDAT` chunks' lengths, the zlib stream's header and
//!   trailer, each row's filter type, and the corrections of `preflate-rs`
//!   that rebuild the stream's deflate data byte for byte from the filtered
//!   rows (whatever encoder made them). Decoding filters the rows of the
//!   decoded pixels as the file did, re-deflates them, and cuts the stream
//!   into the same chunks: the same file.

use crate::{Error, Result};
use medzip_entropy::bytes;
use medzip_format::{put_part, Image, Reader};

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
const LAYOUT_CHUNKS: u8 = 1;
const LAYOUT_EXACT: u8 = 2;
/// Largest stored block decoded (the inflated rows of the largest image
/// are below 2^31 bytes; the block holds only what is around them).
const MAX_BLOCK: usize = 1 << 28;

/// A chunk of a PNG file: its type, data, and its span in the file (from
/// its length field to the end of its CRC).
pub(crate) struct Chunk<'a> {
    pub(crate) ty: [u8; 4],
    data: &'a [u8],
    start: usize,
    end: usize,
}

/// The chunks of a PNG file up to and including `IEND` (`None` if they do
/// not parse).
pub(crate) fn chunks(bytes: &[u8]) -> Option<Vec<Chunk<'_>>> {
    if !bytes.starts_with(SIGNATURE) {
        return None;
    }
    let mut v = Vec::new();
    let mut at = SIGNATURE.len();
    loop {
        let len = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        let ty: [u8; 4] = bytes.get(at + 4..at + 8)?.try_into().ok()?;
        let data = bytes.get(at + 8..(at + 8).checked_add(len)?)?;
        let end = at + 12 + len;
        bytes.get(end - 4..end)?;
        v.push(Chunk {
            ty,
            data,
            start: at,
            end,
        });
        if &ty == b"IEND" {
            return Some(v);
        }
        at = end;
    }
}

/// Chunks whose meaning depends on the colour type: kept only for grey
/// files (colour type 0), which is what medzip writes.
const COLOUR_BOUND: [&[u8; 4]; 6] = [b"PLTE", b"tRNS", b"bKGD", b"sBIT", b"hIST", b"sPLT"];

/// Layout 1: every chunk but `IHDR`, `IDAT`, `IEND` (and, for a file that
/// is not grey, those tied to its colour type), in its place; empty when
/// there is none. Chunks too large to decode again are refused (the file
/// is then stored whole).
pub(crate) fn keep_chunks(bytes: &[u8], grey: bool) -> Result<Vec<u8>> {
    let Some(cs) = chunks(bytes) else {
        return Ok(Vec::new());
    };
    let mut blob = Vec::new();
    let mut after = 0u8;
    for c in &cs {
        match &c.ty {
            b"IDAT" => after = 1,
            b"IHDR" | b"IEND" => {}
            t if !grey && COLOUR_BOUND.contains(&t) => {}
            t => {
                blob.push(after);
                blob.extend_from_slice(t);
                put_part(&mut blob, c.data);
            }
        }
    }
    if blob.is_empty() {
        return Ok(blob);
    }
    if blob.len() > MAX_BLOCK {
        return Err(Error::Unsupported(format!(
            "PNG with {} bytes of chunks besides its image (more than {MAX_BLOCK})",
            blob.len()
        )));
    }
    let mut src = vec![LAYOUT_CHUNKS];
    src.extend_from_slice(&bytes::compress(&blob));
    Ok(src)
}

/// Layout 2 for a grey, non-interlaced PNG whose pixels are `img`: `Ok` only
/// if the rebuilt file is `bytes` exactly (checked here), else why not.
pub(crate) fn exact(bytes: &[u8], img: &Image) -> std::result::Result<Vec<u8>, String> {
    let cs = chunks(bytes).ok_or("its chunks do not parse")?;
    let ihdr = cs
        .first()
        .filter(|c| &c.ty == b"IHDR" && c.data.len() == 13)
        .ok_or("no IHDR first")?;
    let (depth, colour, interlace) = (ihdr.data[8], ihdr.data[9], ihdr.data[12]);
    if colour != 0 || interlace != 0 {
        return Err("not a grey, non-interlaced PNG".into());
    }
    let first = cs.iter().position(|c| &c.ty == b"IDAT").ok_or("no IDAT")?;
    let last = cs.iter().rposition(|c| &c.ty == b"IDAT").expect("one IDAT");
    if cs[first..=last].iter().any(|c| &c.ty != b"IDAT") {
        return Err("its IDAT chunks are not consecutive".into());
    }
    let zdata: Vec<u8> = cs[first..=last]
        .iter()
        .flat_map(|c| c.data)
        .copied()
        .collect();
    if zdata.len() < 2 {
        return Err("its zlib stream is truncated".into());
    }
    let config = preflate_rs::PreflateConfig {
        plain_text_limit: usize::MAX >> 1,
        ..Default::default()
    };
    let (r, plain) = preflate_rs::preflate_whole_deflate_stream(&zdata[2..], &config)
        .map_err(|e| format!("its deflate stream cannot be taken apart ({e})"))?;
    let line = row_bytes(img.width as usize, depth).ok_or("a bit depth PNG does not have")?;
    let rows = img.height as usize;
    let inflated = plain.text();
    if inflated.len() != rows * (line + 1) {
        return Err("its image data is not one row per line".into());
    }
    let filters: Vec<u8> = (0..rows).map(|y| inflated[y * (line + 1)]).collect();
    let mut blob = Vec::new();
    put_part(&mut blob, &bytes[..cs[first].start]);
    put_part(&mut blob, &bytes[cs[last].end..]);
    blob.extend_from_slice(&((last - first + 1) as u32).to_le_bytes());
    for c in &cs[first..=last] {
        blob.extend_from_slice(&(c.data.len() as u32).to_le_bytes());
    }
    blob.push(depth);
    put_part(&mut blob, &zdata[..2]);
    put_part(&mut blob, &zdata[2 + r.compressed_size..]);
    put_part(&mut blob, &filters);
    put_part(&mut blob, &r.corrections);
    let mut src = vec![LAYOUT_EXACT];
    src.extend_from_slice(&bytes::compress(&blob));
    match rebuild(img, &src) {
        Ok(Some(b)) if b == bytes => Ok(src),
        Ok(_) => Err("it does not rebuild byte for byte".into()),
        Err(e) => Err(format!("it does not rebuild ({e})")),
    }
}

/// Bytes of one row of `w` grey samples of `depth` bits.
fn row_bytes(w: usize, depth: u8) -> Option<usize> {
    matches!(depth, 1 | 2 | 4 | 8 | 16).then(|| (w * depth as usize).div_ceil(8))
}

/// The stored block's blob and layout.
fn unpack(src: &[u8]) -> Result<(u8, Vec<u8>)> {
    let [layout, rest @ ..] = src else {
        return crate::malformed("PNG", "empty stored PNG block");
    };
    let blob = bytes::decompress(rest, MAX_BLOCK).map_err(|e| Error::Malformed {
        kind: "PNG",
        msg: format!("stored PNG block: {e}"),
    })?;
    Ok((*layout, blob))
}

/// A kept chunk: whether it follows the image data, its type, its data.
pub(crate) type KeptChunk = (bool, [u8; 4], Vec<u8>);

/// The chunks of layout 1.
pub(crate) fn kept_chunks(src: &[u8]) -> Result<Vec<KeptChunk>> {
    let (layout, blob) = unpack(src)?;
    if layout != LAYOUT_CHUNKS {
        return crate::malformed("PNG", "stored PNG block is not a chunk list");
    }
    let mut p = Reader::new(&blob, "stored PNG chunks");
    let mut v = Vec::new();
    while p.remaining() > 0 {
        let after = p.u8()? == 1;
        let ty: [u8; 4] = p.bytes(4)?.try_into().expect("4 bytes");
        v.push((after, ty, p.part()?.to_vec()));
    }
    Ok(v)
}

/// What a PNG source block keeps (`medzip info`).
pub fn notes(src: &[u8]) -> Vec<String> {
    match src.first() {
        Some(&LAYOUT_EXACT) => {
            vec!["the file byte for byte (its deflate stream rebuilt by preflate-rs)".into()]
        }
        Some(&LAYOUT_CHUNKS) => match kept_chunks(src) {
            Ok(cs) => vec![format!(
                "chunks kept: {}",
                cs.iter()
                    .map(|c| String::from_utf8_lossy(&c.1).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            Err(e) => vec![format!("damaged chunk list: {e}")],
        },
        _ => Vec::new(),
    }
}

/// The file of layout 2 (`None` for another layout).
pub(crate) fn rebuild(img: &Image, src: &[u8]) -> Result<Option<Vec<u8>>> {
    if src.first() != Some(&LAYOUT_EXACT) {
        return Ok(None);
    }
    let (_, blob) = unpack(src)?;
    let mut p = Reader::new(&blob, "stored PNG file");
    let (pre, post) = (p.part()?, p.part()?);
    let n = p.u32()?;
    let lens = (0..n)
        .map(|_| Ok(p.u32()? as usize))
        .collect::<Result<Vec<_>>>()?;
    let depth = p.u8()?;
    let (head, tail, filters, corrections) = (p.part()?, p.part()?, p.part()?, p.part()?);
    let bad = |m: &str| crate::malformed("PNG", format!("stored PNG block: {m}"));
    let w = img.width as usize;
    let Some(line) = row_bytes(w, depth) else {
        return bad("bit depth");
    };
    if filters.len() != img.height as usize || img.signed || img.bits > depth {
        return bad("it does not fit the image");
    }
    // The rows as the file held them, filtered as the file had them.
    let mut inflated = Vec::with_capacity(filters.len() * (line + 1));
    let mut prev = vec![0u8; line];
    let mut raw = vec![0u8; line];
    let bpp = (depth as usize).div_ceil(8);
    for (row, &f) in img.data.chunks_exact(w).zip(filters) {
        raw.fill(0);
        for (x, &v) in row.iter().enumerate() {
            match depth {
                16 => raw[2 * x..2 * x + 2].copy_from_slice(&(v as u16).to_be_bytes()),
                8 => raw[x] = v as u8,
                d => {
                    let bit = x * d as usize;
                    raw[bit / 8] |= (v as u8) << (8 - d as usize - bit % 8);
                }
            }
        }
        inflated.push(f);
        if filter(f, bpp, &raw, &prev, &mut inflated).is_err() {
            return bad("filter type");
        }
        std::mem::swap(&mut prev, &mut raw);
    }
    let deflate =
        preflate_rs::recreate_whole_deflate_stream(&inflated, corrections).map_err(|e| {
            Error::Malformed {
                kind: "PNG",
                msg: format!("stored deflate corrections: {e}"),
            }
        })?;
    let zdata = [head, &deflate, tail].concat();
    if lens.iter().sum::<usize>() != zdata.len() {
        return bad("IDAT lengths");
    }
    let mut out = pre.to_vec();
    let mut at = 0;
    for len in lens {
        let data = &zdata[at..at + len];
        at += len;
        out.extend_from_slice(&(len as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(b"IDAT");
        out.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(&out[start..]);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    out.extend_from_slice(post);
    Ok(Some(out))
}

/// Appends row `raw` filtered with PNG filter type `f` (`prev`: the row
/// above, unfiltered; `bpp`: bytes per pixel, at least 1).
fn filter(
    f: u8,
    bpp: usize,
    raw: &[u8],
    prev: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(), ()> {
    let left = |i: usize| if i >= bpp { raw[i - bpp] } else { 0 };
    let upleft = |i: usize| if i >= bpp { prev[i - bpp] } else { 0 };
    for i in 0..raw.len() {
        let (a, b, c) = (left(i), prev[i], upleft(i));
        let pred = match f {
            0 => 0,
            1 => a,
            2 => b,
            3 => ((a as u16 + b as u16) / 2) as u8,
            4 => {
                let p = a as i16 + b as i16 - c as i16;
                let (pa, pb, pc) = (
                    (p - a as i16).abs(),
                    (p - b as i16).abs(),
                    (p - c as i16).abs(),
                );
                if pa <= pb && pa <= pc {
                    a
                } else if pb <= pc {
                    b
                } else {
                    c
                }
            }
            _ => return Err(()),
        };
        out.push(raw[i].wrapping_sub(pred));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{read_or_store, write, ReadOptions};
    use medzip_format::SourceKind;

    /// A grey PNG of `w × h` samples of `depth` bits with text, physical
    /// size and a private chunk, written by the png crate with
    /// `compression` (its encoders differ by level) in IDAT chunks of at
    /// most `idat` bytes.
    fn png(w: u32, h: u32, depth: u8, compression: png::Compression, idat: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::from_u8(depth).unwrap());
        enc.set_compression(compression);
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 2835,
            yppu: 2835,
            unit: png::Unit::Meter,
        }));
        enc.add_text_chunk("Comment".into(), "chest PA, 13×7 odd".into())
            .unwrap();
        let mut wr = enc.write_header().unwrap();
        wr.write_chunk(png::chunk::ChunkType(*b"prIv"), b"site data")
            .unwrap();
        let line = (w as usize * depth as usize).div_ceil(8);
        let mut seed = 7u32;
        let mut data = vec![0u8; line * h as usize];
        for (i, b) in data.iter_mut().enumerate() {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *b = (i as u32 / 3 + (seed >> 28)) as u8;
        }
        // Padding bits beyond the last sample of a row are zero.
        if !(w as usize * depth as usize).is_multiple_of(8) {
            let keep = (w as usize * depth as usize) % 8;
            for y in 0..h as usize {
                data[y * line + line - 1] &= !(0xffu8 >> keep);
            }
        }
        let mut sw = wr.stream_writer_with_size(idat).unwrap();
        std::io::Write::write_all(&mut sw, &data).unwrap();
        sw.finish().unwrap();
        drop(wr);
        out
    }

    fn chunk_types(bytes: &[u8]) -> Vec<[u8; 4]> {
        super::chunks(bytes)
            .unwrap()
            .iter()
            .map(|c| c.ty)
            .filter(|t| t != b"IDAT")
            .collect()
    }

    #[test]
    fn every_chunk_comes_back_and_with_exact_file_every_byte() {
        for (depth, w, h) in [
            (8, 13, 7),
            (8, 61, 37),
            (16, 31, 9),
            (16, 45, 29),
            (1, 19, 7),
            (4, 17, 9),
            (2, 33, 4),
        ] {
            for comp in [
                png::Compression::Fast,
                png::Compression::Balanced,
                png::Compression::High,
            ] {
                for idat in [64, 1 << 16] {
                    let file = png(w, h, depth, comp, idat);
                    let what = format!("{depth}-bit {w}×{h} {comp:?} IDAT ≤ {idat}");
                    // Default: the pixels and every chunk, in its place.
                    let (l, why) = read_or_store(&file, None, &ReadOptions::default()).unwrap();
                    assert!(why.is_none(), "{what}: {why:?}");
                    let back = write(&l.image, &l.meta).unwrap();
                    assert_eq!(chunk_types(&back), chunk_types(&file), "{what}");
                    let again = read_or_store(&back, None, &ReadOptions::default())
                        .unwrap()
                        .0;
                    assert_eq!(again.image, l.image, "{what}");
                    // Exact: the same bytes.
                    let exact = ReadOptions {
                        exact_file: true,
                        ..Default::default()
                    };
                    // (preflate-rs 0.7.6 takes apart the streams of the png
                    // crate's zlib levels, not those of its `Fast` level nor
                    // small ones with incomplete Huffman codes: those files are stored whole.)
                    let (l, why) = read_or_store(&file, None, &exact).unwrap();
                    if !matches!(comp, png::Compression::Fast) && w * h > 1000 {
                        assert_eq!(l.meta.source, SourceKind::Png, "{what}: {why:?}");
                    }
                    assert!(write(&l.image, &l.meta).unwrap() == file, "{what}");
                }
            }
        }
    }

    #[test]
    fn a_png_that_cannot_be_rebuilt_exactly_is_stored_whole() {
        let mut file = png(61, 37, 8, png::Compression::Balanced, 1 << 16);
        // Bytes after IEND: kept (they are outside the image data).
        file.extend_from_slice(b"trailing");
        let exact = ReadOptions {
            exact_file: true,
            ..Default::default()
        };
        let (l, why) = read_or_store(&file, None, &exact).unwrap();
        assert!(why.is_none(), "{why:?}");
        assert!(write(&l.image, &l.meta).unwrap() == file);
        // A wrong IDAT CRC cannot be made again: the file is stored whole,
        // and comes back as it was.
        let mut bad = file.clone();
        let cs = super::chunks(&file).unwrap();
        let idat = cs.iter().find(|c| &c.ty == b"IDAT").unwrap();
        bad[idat.end - 1] ^= 1;
        let (l, why) = read_or_store(&bad, None, &exact).unwrap();
        assert_eq!(l.meta.source, SourceKind::File, "{why:?}");
        assert!(write(&l.image, &l.meta).unwrap() == bad);
        // Damaged stored blocks are errors.
        let (l, _) = read_or_store(&file, None, &exact).unwrap();
        let mut m = l.meta.clone();
        m.source_data.truncate(m.source_data.len() / 2);
        assert!(write(&l.image, &m).is_err());
    }
}
