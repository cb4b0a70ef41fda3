//! Encapsulated pixel data kept byte for byte while its pixels are coded by
//! medzip: the Pixel Data value (an offset-table item, fragment items, a
//! sequence delimiter) is taken apart into each frame's samples and a
//! recipe — the offset table, each frame's fragment lengths, and the bytes
//! of each frame's stream that the samples do not determine — from which
//! [`rebuild`] writes the value again. [`take_apart`] keeps a value only
//! where that rebuild gives back exactly the original bytes.
//!
//! The stream kinds ([`Kind`]): JPEG Lossless, process 14
//! ([`super::ljpeg`]); RLE (PS3.5 annex G: per frame a 64-byte header of
//! segment offsets, then one PackBits segment per byte of each sample, most
//! significant first, plane after plane); JPEG-LS of one component,
//! lossless or near-lossless (T.87; `pure_jpegls` decodes and re-encodes
//! the scan from the precision and NEAR of the stream's header with the
//! default coding parameters, so a stream with other presets (an LSE
//! segment that changes them) or restart markers is refused, and kept
//! whole); JPEG 2000 of one component, lossless ([`super::j2k`]: the tile
//! data as `openjp2` writes it for the main header's coding parameters).
//!
//! Recipe: kind u8, the offset table's bytes (a part: u32 length + bytes),
//! frames u32, then per frame: fragments u32, each fragment's length u32,
//! then for JPEG Lossless the stream's header (a part: SOI through SOS),
//! its trailer (a part: from the marker after the entropy-coded data on)
//! and the padding bit u8 (1: ones); for RLE the 64-byte header (a part)
//! and per segment how its PackBits header bytes are known (u8: 0, as a
//! part that follows; 1–3, by the [`Packing`] rule of that number, which
//! gives the same ones from the byte plane) and what follows its data up
//! to the next segment (a part); for JPEG-LS the stream's header (a part:
//! SOI through SOS) and its trailer (a part: from the marker after the
//! scan on); for JPEG 2000 the main header (a part: SOC up to the first
//! SOT) and what follows the last EOC (a part).

use super::{j2k, ljpeg, Words};
use medzip_format::{put_part, Reader};

const ITEM: [u8; 4] = [0xFE, 0xFF, 0x00, 0xE0];
const DELIMITER: [u8; 8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];

/// How each frame's stream codes its samples.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    JpegLossless = 1,
    Rle = 2,
    JpegLs = 3,
    Jpeg2000 = 4,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::JpegLossless => "JPEG Lossless",
            Kind::Rle => "RLE",
            Kind::JpegLs => "JPEG-LS",
            Kind::Jpeg2000 => "JPEG 2000",
        }
    }

    /// The kind a stored recipe is of.
    pub(super) fn of_recipe(recipe: &[u8]) -> Option<Kind> {
        match recipe.first()? {
            1 => Some(Kind::JpegLossless),
            2 => Some(Kind::Rle),
            3 => Some(Kind::JpegLs),
            4 => Some(Kind::Jpeg2000),
            _ => None,
        }
    }
}

/// What the recipe does not hold: the frames' samples and their layout.
pub(super) struct Shape {
    pub rows: u32,
    pub cols: u32,
    pub frames: u32,
    pub planes: u32,
    pub signed: bool,
    /// BitsAllocated, BitsStored and HighBit (RLE segments hold the whole
    /// words; a JPEG stream says its precision itself). Only taking apart
    /// reads `bits_stored`; a rebuild is given the samples' bits.
    pub bits_allocated: u8,
    pub bits_stored: u8,
    pub high_bit: u8,
}

impl Shape {
    fn words(&self, bits: u8) -> Words {
        Words {
            ba: self.bits_allocated,
            shift: (self.high_bit + 1).saturating_sub(bits) as u32,
            bits,
            signed: self.signed,
            zero_high: false,
        }
    }
}

/// The Pixel Data value that begins at `ds[offset..]`, taken apart: the
/// samples (frame after frame, plane after plane), their bits, the recipe,
/// and where the value ends in `ds`. A refusal says why.
pub(super) fn take_apart(
    ds: &[u8],
    offset: usize,
    sh: &Shape,
    kind: Kind,
) -> Result<(Vec<i32>, u8, Vec<u8>, usize), ljpeg::Why> {
    // The items.
    let mut items: Vec<&[u8]> = Vec::new();
    let mut at = offset;
    let end = loop {
        let head = ds
            .get(at..at + 8)
            .ok_or("encapsulated pixel data truncated")?;
        if head == DELIMITER {
            break at + 8;
        }
        if head[..4] != ITEM {
            return Err(format!(
                "no item or delimiter at byte {at} of the pixel data"
            ));
        }
        let len = u32::from_le_bytes(head[4..].try_into().expect("4 bytes")) as usize;
        items.push(
            ds.get(at + 8..at + 8 + len)
                .ok_or("a fragment past the end of the file")?,
        );
        at += 8 + len;
    };
    let (bot, fragments) = items.split_first().ok_or("no offset table item")?;
    // Fragments to frames: all in one frame, one each, or (JPEG, JPEG-LS,
    // JPEG 2000) a new frame at each fragment that begins a stream (SOI,
    // SOC).
    let frames = sh.frames as usize;
    let groups: Vec<&[&[u8]]> = if frames == 1 {
        vec![fragments]
    } else if fragments.len() == frames {
        fragments.chunks(1).collect()
    } else if kind != Kind::Rle {
        let mut g: Vec<&[&[u8]]> = Vec::new();
        let mut start = 0;
        let begins: &[u8] = if kind == Kind::Jpeg2000 {
            &[0xFF, 0x4F, 0xFF, 0x51]
        } else {
            &[0xFF, 0xD8, 0xFF]
        };
        for i in 1..=fragments.len() {
            if i == fragments.len() || fragments[i].starts_with(begins) {
                g.push(&fragments[start..i]);
                start = i;
            }
        }
        g
    } else {
        Vec::new()
    };
    if groups.len() != frames || fragments.is_empty() {
        return Err(format!(
            "{} fragments do not divide into {frames} frames",
            fragments.len()
        ));
    }
    let mut recipe = vec![kind as u8];
    put_part(&mut recipe, bot);
    recipe.extend_from_slice(&(frames as u32).to_le_bytes());
    let mut data = Vec::new();
    let mut bits = None;
    for g in groups {
        let stream = g.concat();
        recipe.extend_from_slice(&(g.len() as u32).to_le_bytes());
        for f in g {
            recipe.extend_from_slice(&(f.len() as u32).to_le_bytes());
        }
        let b = match kind {
            Kind::JpegLossless => jpeg_apart(&stream, sh, &mut recipe, &mut data)?,
            Kind::Rle => rle_apart(&stream, sh, &mut recipe, &mut data)?,
            Kind::JpegLs => jpegls_apart(&stream, sh, &mut recipe, &mut data)?,
            Kind::Jpeg2000 => jpeg2000_apart(&stream, sh, &mut recipe, &mut data)?,
        };
        if *bits.get_or_insert(b) != b {
            return Err("frames of different precisions".into());
        }
    }
    let bits = bits.ok_or("no frame")?;
    if rebuild(&recipe, &data, bits, sh)? != ds[offset..end] {
        return Err("the streams are not rewritten byte for byte from their samples".into());
    }
    Ok((data, bits, recipe, end))
}

/// One frame's JPEG Lossless stream: its samples appended to `data`, its
/// part of the recipe to `recipe`; returns the samples' bits.
fn jpeg_apart(
    stream: &[u8],
    sh: &Shape,
    recipe: &mut Vec<u8>,
    data: &mut Vec<i32>,
) -> Result<u8, ljpeg::Why> {
    // (The shape first: a header's sizes are not allocated unchecked.)
    let (w, h, nc) = ljpeg::dimensions(stream)?;
    if (w, h, nc) != (sh.cols as usize, sh.rows as usize, sh.planes as usize) {
        return Err(format!(
            "a stream of {w}×{h} pixels of {nc} components in a {}×{} image of {}",
            sh.cols, sh.rows, sh.planes
        ));
    }
    let d = ljpeg::decode(stream)?;
    put_part(recipe, &stream[..d.ecs.start]);
    put_part(recipe, &stream[d.ecs.end..]);
    recipe.push(d.pad_ones as u8);
    data.extend(d.samples.iter().map(|&s| value(s, d.bits, sh.signed)));
    Ok(d.bits)
}

/// Where each RLE segment of a frame begins: the offsets of its 64-byte
/// header `head`, checked (one segment per byte plane, in order).
fn rle_segments(head: &[u8], sh: &Shape) -> Result<Vec<usize>, ljpeg::Why> {
    if sh.bits_allocated != 8 && sh.bits_allocated != 16 {
        return Err(format!("RLE of {}-bit samples", sh.bits_allocated));
    }
    if head.len() != 64 {
        return Err("an RLE frame shorter than its header".into());
    }
    let word = |i: usize| u32::from_le_bytes(head[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    let nseg = sh.planes as usize * sh.bits_allocated as usize / 8;
    if nseg > 15 {
        return Err(format!("RLE of {nseg} byte planes (at most 15)"));
    }
    if word(0) as usize != nseg {
        return Err(format!("{} RLE segments for {nseg} byte planes", word(0)));
    }
    let starts: Vec<usize> = (1..=nseg).map(|i| word(i) as usize).collect();
    if starts[0] != 64 || starts.windows(2).any(|w| w[0] >= w[1]) {
        return Err("RLE segment offsets out of order".into());
    }
    Ok(starts)
}

/// The bytes of segment `i` of `stream`.
fn segment<'a>(stream: &'a [u8], starts: &[usize], i: usize) -> &'a [u8] {
    let end = starts.get(i + 1).copied().unwrap_or(stream.len());
    &stream[starts[i]..end]
}

/// One frame's RLE stream: as [`jpeg_apart`].
fn rle_apart(
    stream: &[u8],
    sh: &Shape,
    recipe: &mut Vec<u8>,
    data: &mut Vec<i32>,
) -> Result<u8, ljpeg::Why> {
    let starts = rle_segments(stream.get(..64).unwrap_or(stream), sh)?;
    if starts[starts.len() - 1] >= stream.len() {
        return Err("an RLE segment offset past the end of its frame".into());
    }
    put_part(recipe, &stream[..64]);
    let n = sh.rows as usize * sh.cols as usize;
    let mut planes = Vec::with_capacity(starts.len());
    for i in 0..starts.len() {
        let seg = segment(stream, &starts, i);
        let (bytes, headers, used) = unpack_bits(seg, n)?;
        match Packing::ALL
            .iter()
            .find(|p| p.headers(&bytes, sh.cols as usize) == headers)
        {
            Some(&p) => recipe.push(p as u8),
            None => {
                recipe.push(0);
                put_part(recipe, &headers);
            }
        }
        put_part(recipe, &seg[used..]);
        planes.push(bytes);
    }
    let per = sh.bits_allocated as usize / 8;
    let words = sh.words(sh.bits_stored);
    for p in planes.chunks_exact(per) {
        data.extend((0..n).map(|j| {
            let w = p.iter().fold(0u32, |w, b| w << 8 | b[j] as u32);
            words.value(w)
        }));
    }
    Ok(sh.bits_stored)
}

/// What the header of a JPEG-LS stream (SOI through SOS) says: where the
/// scan begins, precision, width, height, NEAR; one component, no point
/// transform, else refused.
fn jpegls_header(s: &[u8]) -> Result<(usize, u8, usize, usize, u8), ljpeg::Why> {
    if !s.starts_with(&[0xFF, 0xD8]) {
        return Err("no JPEG-LS SOI marker".into());
    }
    let mut at = 2;
    let mut frame = None;
    loop {
        let m = match s.get(at..at + 2) {
            Some(&[0xFF, m]) => m,
            _ => return Err(format!("no JPEG-LS marker at byte {at}")),
        };
        let len = s
            .get(at + 2..at + 4)
            .map(|v| u16::from_be_bytes([v[0], v[1]]) as usize)
            .filter(|&l| l >= 2)
            .ok_or("truncated JPEG-LS header")?;
        let seg = s
            .get(at + 4..at + 2 + len)
            .ok_or("truncated JPEG-LS segment")?;
        at += 2 + len;
        match m {
            0xF7 if seg.len() == 9 && seg[5] == 1 => {
                let (h, w) = (
                    u16::from_be_bytes([seg[1], seg[2]]) as usize,
                    u16::from_be_bytes([seg[3], seg[4]]) as usize,
                );
                frame = Some((seg[0], w, h));
            }
            0xF7 => return Err("a JPEG-LS frame of other than one component".into()),
            0xDA => {
                let (p, w, h) = frame.ok_or("JPEG-LS SOS before SOF55")?;
                if seg.len() != 6 || seg[0] != 1 || seg[5] != 0 {
                    return Err(
                        "a JPEG-LS scan of other than one component, or a point transform".into(),
                    );
                }
                return Ok((at, p, w, h, seg[3]));
            }
            _ => {}
        }
    }
}

/// Where a JPEG-LS scan that begins at `from` ends: the next marker (an
/// 0xFF followed by a byte of its high bit set; in the scan an 0xFF is
/// followed by a stuffed zero bit).
fn jpegls_scan_end(s: &[u8], from: usize) -> Result<usize, ljpeg::Why> {
    (from..s.len().saturating_sub(1))
        .find(|&i| s[i] == 0xFF && s[i + 1] >= 0x80)
        .ok_or_else(|| "a JPEG-LS scan without a marker after it".into())
}

/// The scan `pure_jpegls` writes for `samples` at precision `p` and `near`.
fn jpegls_scan(
    samples: &[u16],
    w: usize,
    h: usize,
    p: u8,
    near: u8,
) -> Result<Vec<u8>, ljpeg::Why> {
    let mut o = jpegls::EncodeOptions::default();
    o.near = near;
    o.precision = Some(p);
    let mut out = Vec::new();
    jpegls::encode_with_options(samples, w as u32, h as u32, &o, &mut out)
        .map_err(|e| format!("JPEG-LS re-encoding: {e}"))?;
    let (start, ..) = jpegls_header(&out)?;
    let end = jpegls_scan_end(&out, start)?;
    out.truncate(end);
    Ok(out.split_off(start))
}

/// One frame's JPEG-LS stream: as [`jpeg_apart`].
fn jpegls_apart(
    stream: &[u8],
    sh: &Shape,
    recipe: &mut Vec<u8>,
    data: &mut Vec<i32>,
) -> Result<u8, ljpeg::Why> {
    let (start, p, w, h, _) = jpegls_header(stream)?;
    if (w, h, 1) != (sh.cols as usize, sh.rows as usize, sh.planes) || !(2..=16).contains(&p) {
        return Err(format!(
            "a JPEG-LS stream of {w}×{h} pixels, {p} bits, in a {}×{} image of {} planes",
            sh.cols, sh.rows, sh.planes
        ));
    }
    let end = jpegls_scan_end(stream, start)?;
    let (samples, ..) =
        jpegls::decode(stream, w as u32, h as u32).map_err(|e| format!("JPEG-LS decoding: {e}"))?;
    if samples.len() != w * h || samples.iter().any(|&v| (v as u32) >> p != 0) {
        return Err("JPEG-LS samples beyond the stream's precision".into());
    }
    put_part(recipe, &stream[..start]);
    put_part(recipe, &stream[end..]);
    data.extend(samples.iter().map(|&s| value(s, p, sh.signed)));
    Ok(p)
}

/// A frame's JPEG-LS stream from its part of the recipe.
fn jpegls_stream(
    r: &mut Reader,
    samples: &[i32],
    bits: u8,
    sh: &Shape,
) -> Result<Vec<u8>, ljpeg::Why> {
    let (head, trail) = (r.part().map_err(stored)?, r.part().map_err(stored)?);
    let (_, p, w, h, near) = jpegls_header(head)?;
    if p != bits || (w, h) != (sh.cols as usize, sh.rows as usize) {
        return Err("stored JPEG-LS header does not fit the image".into());
    }
    let mask = (1u32 << bits) - 1;
    let samples: Vec<u16> = samples.iter().map(|&v| (v as u32 & mask) as u16).collect();
    Ok([head, &jpegls_scan(&samples, w, h, p, near)?, trail].concat())
}

/// One frame's JPEG 2000 stream: as [`jpeg_apart`]. The recipe keeps the
/// main header (a part: SOC up to the first SOT) and what follows the
/// stream's EOC (a part); the tile-parts between are rewritten from the
/// samples ([`j2k::encode_tiles`]), which [`take_apart`]'s final rebuild
/// checks.
fn jpeg2000_apart(
    stream: &[u8],
    sh: &Shape,
    recipe: &mut Vec<u8>,
    data: &mut Vec<i32>,
) -> Result<u8, ljpeg::Why> {
    let head = &stream[..j2k::main_header_end(stream)?];
    let c = j2k::coding(head)?;
    if (c.cols, c.rows, 1) != (sh.cols, sh.rows, sh.planes) {
        return Err(format!(
            "a JPEG 2000 stream of {}×{} pixels in a {}×{} image of {} planes",
            c.cols, c.rows, sh.cols, sh.rows, sh.planes
        ));
    }
    let eoc = stream
        .windows(2)
        .rposition(|m| m == [0xFF, 0xD9])
        .filter(|&e| e >= head.len())
        .ok_or("a JPEG 2000 stream without EOC")?;
    let samples = j2k::decode(stream, &c)?;
    put_part(recipe, head);
    put_part(recipe, &stream[eoc + 2..]);
    // The image takes the data set's sign (PixelRepresentation) over the
    // stream's bit patterns, which the rebuild reads with the stream's own
    // sign (Ssiz) again: writers that disagree with themselves come back
    // as they were.
    data.extend(samples.iter().map(|&s| with_sign(s, c.bits, sh.signed)));
    Ok(c.bits)
}

/// A frame's JPEG 2000 stream from its part of the recipe.
fn jpeg2000_stream(
    r: &mut Reader,
    samples: &[i32],
    bits: u8,
    sh: &Shape,
) -> Result<Vec<u8>, ljpeg::Why> {
    let (head, trail) = (r.part().map_err(stored)?, r.part().map_err(stored)?);
    let c = j2k::coding(head)?;
    if c.bits != bits || (c.cols, c.rows, 1) != (sh.cols, sh.rows, sh.planes) {
        return Err("stored JPEG 2000 header does not fit the image".into());
    }
    let samples: Vec<i32> = samples
        .iter()
        .map(|&v| with_sign(v, bits, c.signed))
        .collect();
    Ok([head, &j2k::encode_tiles(&samples, &c)?, trail].concat())
}

/// How DICOM writers cut a byte plane into PackBits runs, each row alone
/// (PS3.5 G.3.1): a segment written by one of these rules needs no stored
/// headers (RLE files of pydicom's and pydicom-data's test sets: of their
/// 8- and 16-bit segments, most follow [`Packing::Adaptive`]).
#[derive(Clone, Copy)]
enum Packing {
    /// Equal bytes replicated from three on, or from two where no literal
    /// run is open (GDCM's encoder).
    Adaptive = 1,
    /// Equal bytes replicated from three on.
    FromThree = 2,
    /// Equal bytes replicated from two on.
    FromTwo = 3,
}

impl Packing {
    const ALL: [Packing; 3] = [Packing::Adaptive, Packing::FromThree, Packing::FromTwo];

    /// The header bytes this rule writes for `plane`, rows of `cols` bytes.
    fn headers(self, plane: &[u8], cols: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(plane.len() / 64);
        let flush = |out: &mut Vec<u8>, mut lit: usize| {
            while lit > 0 {
                let k = lit.min(128);
                out.push(k as u8 - 1);
                lit -= k;
            }
        };
        for row in plane.chunks(cols.max(1)) {
            let (mut i, mut lit) = (0, 0);
            while i < row.len() {
                let run = row[i..]
                    .iter()
                    .take(128)
                    .take_while(|&&b| b == row[i])
                    .count();
                let replicate = match self {
                    Packing::Adaptive => run >= 3 || (run == 2 && lit == 0),
                    Packing::FromThree => run >= 3,
                    Packing::FromTwo => run >= 2,
                };
                if replicate {
                    flush(&mut out, lit);
                    lit = 0;
                    out.push((257 - run) as u8);
                    i += run;
                } else {
                    lit += 1;
                    i += 1;
                }
            }
            flush(&mut out, lit);
        }
        out
    }
}

/// A PackBits segment (PS3.5 G.3.1) decoded to `n` bytes: the bytes, its
/// header bytes in order, and how many bytes of `seg` that took.
fn unpack_bits(seg: &[u8], n: usize) -> Result<(Vec<u8>, Vec<u8>, usize), ljpeg::Why> {
    const SHORT: &str = "an RLE segment ends before its samples";
    let mut out = Vec::with_capacity(n);
    let mut headers = Vec::with_capacity(n / 64);
    let mut at = 0;
    while out.len() < n {
        let h = *seg.get(at).ok_or(SHORT)?;
        headers.push(h);
        at += 1;
        match h {
            0..=127 => {
                let k = h as usize + 1;
                out.extend_from_slice(seg.get(at..at + k).ok_or(SHORT)?);
                at += k;
            }
            128 => {}
            _ => {
                let b = *seg.get(at).ok_or(SHORT)?;
                out.resize(out.len() + 257 - h as usize, b);
                at += 1;
            }
        }
    }
    if out.len() != n {
        return Err("an RLE run past the end of its byte plane".into());
    }
    Ok((out, headers, at))
}

/// A PackBits segment of `plane` written with the header bytes `headers`.
fn pack_bits(plane: &[u8], headers: &[u8], out: &mut Vec<u8>) -> Result<(), ljpeg::Why> {
    let mut at = 0;
    for &h in headers {
        out.push(h);
        match h {
            0..=127 => {
                let k = h as usize + 1;
                out.extend_from_slice(plane.get(at..at + k).ok_or("stored RLE headers too long")?);
                at += k;
            }
            128 => {}
            _ => {
                out.push(*plane.get(at).ok_or("stored RLE headers too long")?);
                at += 257 - h as usize;
            }
        }
    }
    if at != plane.len() {
        return Err("stored RLE headers do not fit the byte plane".into());
    }
    Ok(())
}

/// A sample of `bits` bits as the image holds it: sign-extended for signed
/// data (the stream holds the bit pattern).
fn value(s: u16, bits: u8, signed: bool) -> i32 {
    let s = s as i32;
    if signed && s >> (bits - 1) & 1 == 1 {
        s - (1 << bits)
    } else {
        s
    }
}

/// The low `bits` bits of `v` (a sample of either sign) read as [`value`]
/// reads them: the same bit pattern, sign-extended or not.
fn with_sign(v: i32, bits: u8, signed: bool) -> i32 {
    value((v as u32 & ((1u32 << bits) - 1)) as u16, bits, signed)
}

/// The Pixel Data value (items and delimiter) from the recipe and the
/// samples.
pub(super) fn rebuild(
    recipe: &[u8],
    data: &[i32],
    bits: u8,
    sh: &Shape,
) -> Result<Vec<u8>, ljpeg::Why> {
    let bad = stored;
    let mut r = Reader::new(recipe, "encapsulated pixel data");
    let kind = Kind::of_recipe(recipe).ok_or("stored recipe of an unknown kind")?;
    r.u8().map_err(bad)?;
    let bot = r.part().map_err(bad)?;
    let frames = r.u32().map_err(bad)? as usize;
    let per_frame = sh.rows as usize * sh.cols as usize * sh.planes as usize;
    if frames != sh.frames as usize || data.len() != frames * per_frame {
        return Err("stored recipe does not fit the image".into());
    }
    let mut out = Vec::with_capacity(recipe.len() + data.len() * bits.div_ceil(8) as usize);
    let item = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&ITEM);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    item(&mut out, bot);
    for f in 0..frames {
        let nfrag = r.u32().map_err(bad)? as usize;
        if nfrag > r.remaining() / 4 {
            return Err("stored recipe: more fragments than bytes".into());
        }
        let lens: Vec<usize> = (0..nfrag)
            .map(|_| r.u32().map(|v| v as usize))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        let samples = &data[f * per_frame..(f + 1) * per_frame];
        let stream = match kind {
            Kind::JpegLossless => jpeg_stream(&mut r, samples, bits)?,
            Kind::Rle => rle_stream(&mut r, samples, bits, sh)?,
            Kind::JpegLs => jpegls_stream(&mut r, samples, bits, sh)?,
            Kind::Jpeg2000 => jpeg2000_stream(&mut r, samples, bits, sh)?,
        };
        if lens.iter().sum::<usize>() != stream.len() {
            return Err("the rewritten stream's length differs from its fragments'".into());
        }
        let mut at = 0;
        for len in lens {
            item(&mut out, &stream[at..at + len]);
            at += len;
        }
    }
    r.finish().map_err(bad)?;
    out.extend_from_slice(&DELIMITER);
    Ok(out)
}

fn stored(e: medzip_format::Error) -> ljpeg::Why {
    format!("stored recipe: {e}")
}

/// A frame's JPEG Lossless stream from its part of the recipe.
fn jpeg_stream(r: &mut Reader, samples: &[i32], bits: u8) -> Result<Vec<u8>, ljpeg::Why> {
    let (head, trail) = (r.part().map_err(stored)?, r.part().map_err(stored)?);
    let pad = r.u8().map_err(stored)? != 0;
    let mask = (1u32 << bits) - 1;
    let samples: Vec<u16> = samples.iter().map(|&v| (v as u32 & mask) as u16).collect();
    Ok([head, &ljpeg::encode(head, &samples, pad)?, trail].concat())
}

/// A frame's RLE stream from its part of the recipe.
fn rle_stream(
    r: &mut Reader,
    samples: &[i32],
    bits: u8,
    sh: &Shape,
) -> Result<Vec<u8>, ljpeg::Why> {
    if sh.high_bit >= sh.bits_allocated || sh.high_bit + 1 < bits {
        return Err("stored RLE layout does not fit the samples".into());
    }
    let head = r.part().map_err(stored)?;
    let mut stream = head.to_vec();
    let starts = rle_segments(head, sh)?;
    let per = sh.bits_allocated as usize / 8;
    let n = sh.rows as usize * sh.cols as usize;
    let words = sh.words(bits);
    let mut plane = vec![0u8; n];
    for i in 0..starts.len() {
        let (p, b) = (i / per, per - 1 - i % per);
        for (d, &v) in plane.iter_mut().zip(&samples[p * n..(p + 1) * n]) {
            *d = (words.canonical(v) >> (8 * b)) as u8;
        }
        let headers = match r.u8().map_err(stored)? {
            0 => r.part().map_err(stored)?.to_vec(),
            p @ 1..=3 => Packing::ALL[p as usize - 1].headers(&plane, sh.cols as usize),
            _ => return Err("stored recipe: an unknown RLE packing".into()),
        };
        pack_bits(&plane, &headers, &mut stream)?;
        stream.extend_from_slice(r.part().map_err(stored)?);
    }
    Ok(stream)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::dicom::ljpeg::tests::header_for;

    /// The shape of `frames` frames of `rows` × `cols` samples of
    /// `planes` components, `bits_stored` bits in words of `bits_allocated`
    /// (HighBit `bits_stored − 1`).
    fn shape(
        (rows, cols, frames, planes): (u32, u32, u32, u32),
        signed: bool,
        bits_allocated: u8,
        bits_stored: u8,
    ) -> Shape {
        Shape {
            rows,
            cols,
            frames,
            planes,
            signed,
            bits_allocated,
            bits_stored,
            high_bit: bits_stored - 1,
        }
    }

    /// A Pixel Data value (items and delimiter, from the offset-table item
    /// on) of `frames` JPEG Lossless streams of the samples `raw` (frame
    /// after frame, component after component), each frame's stream cut
    /// into `split` fragments (even lengths, as DICOM pads them).
    pub(in crate::dicom) fn value_of(
        raw: &[u16],
        (w, h, p, nc, frames): (u16, u16, u8, u8, usize),
        sel: u8,
        split: usize,
    ) -> Vec<u8> {
        let per_frame = raw.len() / frames;
        let mut bot = Vec::new();
        let mut items: Vec<Vec<u8>> = Vec::new();
        let mut at = 0u32;
        for f in 0..frames {
            let hd = header_for(w, h, p, nc, sel, 0, 0);
            let ecs = ljpeg::encode(&hd, &raw[f * per_frame..(f + 1) * per_frame], true).unwrap();
            let mut s = [&hd[..], &ecs, &[0xFF, 0xD9]].concat();
            if s.len() % 2 == 1 {
                s.push(0);
            }
            bot.extend_from_slice(&at.to_le_bytes());
            let cut = (s.len() / split) & !1;
            for k in 0..split {
                let end = if k + 1 == split {
                    s.len()
                } else {
                    (k + 1) * cut
                };
                items.push(s[k * cut..end].to_vec());
                at += 8 + (end - k * cut) as u32;
            }
        }
        let mut v = Vec::new();
        for it in std::iter::once(&bot).chain(&items) {
            v.extend_from_slice(&ITEM);
            v.extend_from_slice(&(it.len() as u32).to_le_bytes());
            v.extend_from_slice(it);
        }
        v.extend_from_slice(&DELIMITER);
        v
    }

    #[test]
    fn values_of_frames_and_fragments_are_rebuilt_byte_for_byte() {
        for (w, h, p, nc, frames, split, signed) in [
            (13u16, 7u16, 8u8, 1u8, 1usize, 1usize, false),
            (13, 7, 12, 1, 3, 1, true),
            (11, 5, 16, 1, 2, 3, true),
            (9, 3, 8, 3, 2, 2, false),
        ] {
            let n = w as usize * h as usize * nc as usize * frames;
            let raw: Vec<u16> = (0..n)
                .map(|i| ((i * 7919 + i * i * 31) & ((1 << p) - 1)) as u16)
                .collect();
            let v = value_of(&raw, (w, h, p, nc, frames), 4, split);
            let ds = [&b"head"[..], &v, b"tail"].concat();
            let sh = shape(
                (h as u32, w as u32, frames as u32, nc as u32),
                signed,
                if p > 8 { 16 } else { 8 },
                p,
            );
            let (data, bits, recipe, end) = take_apart(&ds, 4, &sh, Kind::JpegLossless).unwrap();
            assert_eq!((bits, end), (p, ds.len() - 4));
            assert_eq!(
                data.iter()
                    .map(|&s| (s as u32 & ((1 << p) - 1)) as u16)
                    .collect::<Vec<_>>(),
                raw
            );
            if signed {
                assert!(data.iter().any(|&s| s < 0));
            }
            assert_eq!(rebuild(&recipe, &data, bits, &sh).unwrap(), v);
            // Other samples give another value; a recipe cut short is an error.
            let mut other = data.clone();
            other[n / 2] ^= 1;
            assert_ne!(rebuild(&recipe, &other, bits, &sh).unwrap(), v);
            for cut in [1, recipe.len() / 2, recipe.len() - 1] {
                assert!(rebuild(&recipe[..cut], &data, bits, &sh).is_err());
            }
        }
    }

    #[test]
    fn values_it_cannot_rebuild_are_refused() {
        let raw: Vec<u16> = (0..13 * 7).map(|i| (i * 3 % 256) as u16).collect();
        let v = value_of(&raw, (13, 7, 8, 1, 1), 1, 1);
        let sh = shape((7, 13, 1, 1), false, 8, 8);
        let take_apart = |v: &[u8], sh: &Shape| take_apart(v, 0, sh, Kind::JpegLossless);
        assert!(take_apart(&v, &sh).is_ok());
        // Another shape than the stream's.
        let err = take_apart(&v, &Shape { rows: 8, ..sh }).unwrap_err();
        assert!(err.contains("13×7"), "{err}");
        // No delimiter: truncated.
        assert!(take_apart(&v[..v.len() - 8], &sh).is_err());
        // A stray byte between the segment and EOI.
        let mut odd = v.clone();
        let eoi = odd.windows(2).rposition(|m| m == [0xFF, 0xD9]).unwrap();
        odd.insert(eoi, 0x00);
        let len_at = 8 + 4 + 4; // the fragment's length (after the offset table's item)
        let len = u32::from_le_bytes(odd[len_at..len_at + 4].try_into().unwrap()) + 1;
        odd[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        let err = take_apart(&odd, &sh).unwrap_err();
        assert!(err.contains("next marker"), "{err}");
        // Fragments that do not divide into the frames.
        let two = Shape { frames: 2, ..sh };
        assert!(take_apart(&v, &two).unwrap_err().contains("frames"));
    }

    /// PackBits: runs of three or more equal bytes replicated, the rest
    /// literal, at most 128 bytes a header; each row alone as DICOM asks
    /// (`cols`), or across rows as some writers do.
    fn pack(plane: &[u8], cols: Option<usize>) -> Vec<u8> {
        if let Some(c) = cols {
            return plane.chunks(c).flat_map(|row| pack(row, None)).collect();
        }
        let mut out = Vec::new();
        let mut lit: Vec<u8> = Vec::new();
        let flush = |out: &mut Vec<u8>, lit: &mut Vec<u8>| {
            for c in lit.chunks(128) {
                out.push(c.len() as u8 - 1);
                out.extend_from_slice(c);
            }
            lit.clear();
        };
        let mut i = 0;
        while i < plane.len() {
            let run = plane[i..]
                .iter()
                .take(128)
                .take_while(|&&b| b == plane[i])
                .count();
            if run >= 3 {
                flush(&mut out, &mut lit);
                out.extend_from_slice(&[(257 - run) as u8, plane[i]]);
                i += run;
            } else {
                lit.push(plane[i]);
                i += 1;
            }
        }
        flush(&mut out, &mut lit);
        out
    }

    /// A Pixel Data value of RLE frames, one fragment each, of the
    /// samples `values` (frame after frame, plane after plane), rows packed
    /// alone if `by_row`; odd segments padded with a zero byte.
    pub(in crate::dicom) fn rle_value_of(values: &[i32], sh: &Shape, by_row: bool) -> Vec<u8> {
        let words = sh.words(sh.bits_stored);
        let per = sh.bits_allocated as usize / 8;
        let n = sh.rows as usize * sh.cols as usize;
        let mut v = [&ITEM[..], &[0; 4]].concat();
        for frame in values.chunks(n * sh.planes as usize) {
            let mut segs = Vec::new();
            for p in frame.chunks(n) {
                for b in (0..per).rev() {
                    let plane: Vec<u8> = p
                        .iter()
                        .map(|&x| (words.canonical(x) >> (8 * b)) as u8)
                        .collect();
                    let mut seg = pack(&plane, by_row.then_some(sh.cols as usize));
                    if seg.len() % 2 == 1 {
                        seg.push(0);
                    }
                    segs.push(seg);
                }
            }
            let mut head = vec![0u8; 64];
            head[..4].copy_from_slice(&(segs.len() as u32).to_le_bytes());
            let mut at = 64u32;
            for (i, seg) in segs.iter().enumerate() {
                head[4 + 4 * i..8 + 4 * i].copy_from_slice(&at.to_le_bytes());
                at += seg.len() as u32;
            }
            let stream = [head, segs.concat()].concat();
            v.extend_from_slice(&ITEM);
            v.extend_from_slice(&(stream.len() as u32).to_le_bytes());
            v.extend_from_slice(&stream);
        }
        v.extend_from_slice(&DELIMITER);
        v
    }

    /// Samples of `sh`: runs, ramps and noise, negative ones where signed.
    pub(in crate::dicom) fn samples_for(sh: &Shape) -> Vec<i32> {
        let n = (sh.rows * sh.cols * sh.planes * sh.frames) as usize;
        let bits = sh.bits_stored;
        let lo = if sh.signed { -(1i64 << (bits - 1)) } else { 0 };
        (0..n)
            .map(|i| {
                let r = match i % 50 {
                    0..=19 => 5,
                    20..=34 => i as i64 * 3,
                    _ => (i as i64 * 7919) ^ (i as i64 * i as i64 * 31),
                };
                (lo + r.rem_euclid(1 << bits)) as i32
            })
            .collect()
    }

    #[test]
    fn rle_values_are_rebuilt_byte_for_byte() {
        for (cols, rows, planes, frames, ba, bs, signed) in [
            (13u32, 7u32, 1u32, 1u32, 8u8, 8u8, false),
            (11, 5, 1, 2, 16, 12, true),
            (9, 3, 3, 2, 8, 8, false),
            (7, 3, 3, 1, 16, 16, true),
            (300, 2, 1, 3, 16, 10, false),
        ] {
            let sh = shape((rows, cols, frames, planes), signed, ba, bs);
            let values = samples_for(&sh);
            assert!(!signed || values.iter().any(|&x| x < 0));
            let mut recipes = Vec::new();
            for by_row in [false, true] {
                let v = rle_value_of(&values, &sh, by_row);
                let ds = [&b"head"[..], &v, b"tail"].concat();
                let (data, bits, recipe, end) = take_apart(&ds, 4, &sh, Kind::Rle).unwrap();
                assert_eq!((bits, end), (bs, ds.len() - 4));
                assert_eq!(data, values);
                assert_eq!(rebuild(&recipe, &data, bits, &sh).unwrap(), v);
                // Other samples never give the same value (with a packing
                // rule their runs, and so the length, may differ: an error).
                let mut other = data.clone();
                other[values.len() / 2] ^= 1;
                assert!(rebuild(&recipe, &other, bits, &sh).map_or(true, |o| o != v));
                for cut in [1, recipe.len() / 2, recipe.len() - 1] {
                    assert!(rebuild(&recipe[..cut], &data, bits, &sh).is_err());
                }
                recipes.push(recipe);
            }
            // Rows packed alone by a known rule: no headers stored.
            assert!(recipes[1].len() < recipes[0].len(), "{cols}×{rows}");
        }
    }

    #[test]
    fn rle_values_it_cannot_rebuild_are_refused() {
        let sh = shape((5, 9, 1, 1), false, 16, 12);
        let v = rle_value_of(&samples_for(&sh), &sh, true);
        let take_apart = |v: &[u8], sh: &Shape| take_apart(v, 0, sh, Kind::Rle);
        assert!(take_apart(&v, &sh).is_ok());
        // The header's segment count, an offset, a sample's bits above the
        // high bit (not what the samples give back).
        let head = 16; // the stream, after two item headers and the empty offset table
        for (at, byte, why) in [
            (head, 3u8, "segments"),
            (head + 8, 60, "order"),
            (head + 65, 0xF0, "byte for byte"),
        ] {
            let mut bad = v.clone();
            bad[at] = byte;
            let err = take_apart(&bad, &sh).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        // 32-bit words, and more rows than the segments hold.
        let wide = Shape {
            bits_allocated: 32,
            ..sh
        };
        assert!(take_apart(&v, &wide).unwrap_err().contains("32-bit"));
        let tall = Shape { rows: 6, ..sh };
        assert!(take_apart(&v, &tall).is_err());
    }

    /// Damaged values and recipes (bytes changed, cut short): an error or a
    /// value rebuilt byte for byte, never a panic.
    #[test]
    fn damaged_values_and_recipes_are_errors_not_panics() {
        let sh = shape((5, 9, 2, 1), true, 16, 12);
        let values = samples_for(&sh);
        let raw: Vec<u16> = values.iter().map(|&v| (v as u32 & 0xFFF) as u16).collect();
        let cases = [
            (Kind::Rle, rle_value_of(&values, &sh, true)),
            (Kind::Rle, rle_value_of(&values, &sh, false)),
            (Kind::JpegLossless, value_of(&raw, (9, 5, 12, 1, 2), 1, 2)),
            (Kind::JpegLs, jpegls_value_of(&raw, &sh, 0)),
            (Kind::Jpeg2000, jpeg2000_value_of(&values, &sh)),
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        for (kind, v) in &cases {
            let (data, bits, recipe, _) = take_apart(v, 0, &sh, *kind).unwrap();
            for _ in 0..3000 {
                let mut bad = v.clone();
                for _ in 0..1 + next(3) {
                    let at = next(bad.len());
                    bad[at] = next(256) as u8;
                }
                if next(8) == 0 {
                    bad.truncate(next(bad.len()));
                }
                if let Ok((d, b, r, end)) = take_apart(&bad, 0, &sh, *kind) {
                    assert_eq!(rebuild(&r, &d, b, &sh).unwrap(), bad[..end]);
                }
                let mut r = recipe.clone();
                let at = next(r.len());
                r[at] = next(256) as u8;
                r.truncate(r.len() - next(3));
                let _ = rebuild(&r, &data, bits, &sh);
            }
        }
    }

    /// A Pixel Data value of JPEG-LS frames (one fragment each, padded to
    /// even length) of the samples `raw`, as `pure_jpegls` writes them.
    pub(in crate::dicom) fn jpegls_value_of(raw: &[u16], sh: &Shape, near: u8) -> Vec<u8> {
        let n = (sh.rows * sh.cols) as usize;
        value_of_streams(raw.chunks(n).map(|frame| {
            let mut o = jpegls::EncodeOptions::default();
            o.near = near;
            o.precision = Some(sh.bits_stored);
            let mut s = Vec::new();
            jpegls::encode_with_options(frame, sh.cols, sh.rows, &o, &mut s).unwrap();
            s
        }))
    }

    /// A Pixel Data value of one fragment per stream, each padded to even
    /// length, after an empty offset table.
    fn value_of_streams(streams: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
        let mut v = [&ITEM[..], &[0; 4]].concat();
        for mut s in streams {
            if s.len() % 2 == 1 {
                s.push(0);
            }
            v.extend_from_slice(&ITEM);
            v.extend_from_slice(&(s.len() as u32).to_le_bytes());
            v.extend_from_slice(&s);
        }
        v.extend_from_slice(&DELIMITER);
        v
    }

    #[test]
    fn jpegls_values_are_rebuilt_byte_for_byte() {
        for (cols, rows, frames, bs, signed, near) in [
            (13u32, 7u32, 1u32, 8u8, false, 0u8),
            (11, 5, 3, 12, true, 0),
            (9, 4, 2, 16, true, 0),
            (17, 3, 1, 10, false, 2),
        ] {
            let sh = shape(
                (rows, cols, frames, 1),
                signed,
                if bs > 8 { 16 } else { 8 },
                bs,
            );
            let mask = (1u32 << bs) - 1;
            let raw: Vec<u16> = samples_for(&sh)
                .iter()
                .map(|&v| (v as u32 & mask) as u16)
                .collect();
            let v = jpegls_value_of(&raw, &sh, near);
            let ds = [&b"head"[..], &v, b"tail"].concat();
            let (data, bits, recipe, end) = take_apart(&ds, 4, &sh, Kind::JpegLs).unwrap();
            assert_eq!((bits, end), (bs, ds.len() - 4));
            let back: Vec<u16> = data.iter().map(|&v| (v as u32 & mask) as u16).collect();
            if near == 0 {
                assert_eq!(back, raw);
            } else {
                assert!(back
                    .iter()
                    .zip(&raw)
                    .all(|(&a, &b)| a.abs_diff(b) <= near as u16));
            }
            assert!(!signed || data.iter().any(|&x| x < 0));
            assert_eq!(rebuild(&recipe, &data, bits, &sh).unwrap(), v);
            // Colour, and a stream of another size, are refused.
            let rgb = Shape { planes: 3, ..sh };
            assert!(take_apart(&ds, 4, &rgb, Kind::JpegLs).is_err());
        }
    }

    /// A Pixel Data value of JPEG 2000 frames (one fragment each, padded
    /// to even length) of the samples `values`, as OpenJPEG writes them.
    pub(in crate::dicom) fn jpeg2000_value_of(values: &[i32], sh: &Shape) -> Vec<u8> {
        let n = (sh.rows * sh.cols) as usize;
        value_of_streams(
            values
                .chunks(n)
                .map(|frame| j2k::codestream(frame, (sh.cols, sh.rows), sh.bits_stored, sh.signed)),
        )
    }

    #[test]
    fn jpeg2000_values_are_rebuilt_byte_for_byte() {
        for (cols, rows, frames, bs, signed) in [
            (13u32, 7u32, 1u32, 8u8, false),
            (37, 21, 3, 12, true),
            (9, 4, 2, 16, true),
            (70, 33, 1, 16, false),
            (17, 3, 1, 10, false),
        ] {
            let sh = shape(
                (rows, cols, frames, 1),
                signed,
                if bs > 8 { 16 } else { 8 },
                bs,
            );
            let values = samples_for(&sh);
            let v = jpeg2000_value_of(&values, &sh);
            let ds = [&b"head"[..], &v, b"tail"].concat();
            let (data, bits, recipe, end) = take_apart(&ds, 4, &sh, Kind::Jpeg2000).unwrap();
            assert_eq!((bits, end), (bs, ds.len() - 4));
            assert_eq!(data, values);
            assert!(!signed || data.iter().any(|&x| x < 0));
            assert_eq!(rebuild(&recipe, &data, bits, &sh).unwrap(), v);
            // Colour, and a stream of other than one layer, are refused.
            let rgb = Shape { planes: 3, ..sh };
            assert!(take_apart(&ds, 4, &rgb, Kind::Jpeg2000).is_err());
            let mut layers = ds.clone();
            let cod = layers.windows(2).position(|m| m == [0xFF, 0x52]).unwrap();
            layers[cod + 7] = 2;
            assert!(take_apart(&layers, 4, &sh, Kind::Jpeg2000).is_err());
            // A data set that gives the samples the other sign than the
            // stream's header (as `J2K_pixelrep_mismatch.dcm` of pydicom
            // does): the samples take the data set's, the bytes come back.
            let other = Shape {
                signed: !signed,
                ..sh
            };
            let (data, bits, recipe, _) = take_apart(&ds, 4, &other, Kind::Jpeg2000).unwrap();
            let mask = (1u32 << bs) - 1;
            assert!(data
                .iter()
                .zip(&values)
                .all(|(&a, &b)| a as u32 & mask == b as u32 & mask));
            assert!(signed || data.iter().any(|&x| x < 0));
            assert_eq!(rebuild(&recipe, &data, bits, &other).unwrap(), v);
        }
    }
}
