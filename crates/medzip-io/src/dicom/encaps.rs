//! Encapsulated pixel data kept byte for byte while its pixels are coded by
//! medzip: the Pixel Data value (an offset-table item, fragment items, a
//! sequence delimiter) is taken apart into each frame's samples and a
//! recipe — the offset table, each frame's fragment lengths, and the bytes
//! of each frame's stream that are not its entropy-coded data — from which
//! [`rebuild`] writes the value again. [`take_apart`] keeps a value only
//! where that rebuild gives back exactly the original bytes.
//!
//! The stream kind: JPEG Lossless, process 14 ([`super::ljpeg`]).
//!
//! Recipe: kind u8 (1: JPEG Lossless), the offset table's bytes (a part:
//! u32 length + bytes), frames u32, then per frame: fragments u32, each
//! fragment's length u32, the stream's header (a part: SOI through SOS),
//! its trailer (a part: from the marker after the entropy-coded data on),
//! and the padding bit u8 (1: ones).

use super::ljpeg;
use medzip_format::{put_part, Reader};

const ITEM: [u8; 4] = [0xFE, 0xFF, 0x00, 0xE0];
const DELIMITER: [u8; 8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];
const JPEG_LOSSLESS: u8 = 1;

/// What the recipe does not hold: the frames' samples.
pub(super) struct Shape {
    pub rows: u32,
    pub cols: u32,
    pub frames: u32,
    pub planes: u32,
    pub signed: bool,
}

/// The Pixel Data value that begins at `ds[offset..]`, taken apart: the
/// samples (frame after frame, plane after plane), their bits, the recipe,
/// and where the value ends in `ds`. A refusal says why.
pub(super) fn take_apart(
    ds: &[u8],
    offset: usize,
    sh: &Shape,
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
    // Fragments to frames: all in one frame, one each, or a new frame at
    // each fragment that begins a JPEG stream.
    let frames = sh.frames as usize;
    let groups: Vec<&[&[u8]]> = if frames == 1 {
        vec![fragments]
    } else if fragments.len() == frames {
        fragments.chunks(1).collect()
    } else {
        let mut g: Vec<&[&[u8]]> = Vec::new();
        let mut start = 0;
        for i in 1..=fragments.len() {
            if i == fragments.len() || fragments[i].starts_with(&[0xFF, 0xD8, 0xFF]) {
                g.push(&fragments[start..i]);
                start = i;
            }
        }
        g
    };
    if groups.len() != frames || fragments.is_empty() {
        return Err(format!(
            "{} fragments do not divide into {frames} frames",
            fragments.len()
        ));
    }
    let mut recipe = vec![JPEG_LOSSLESS];
    put_part(&mut recipe, bot);
    recipe.extend_from_slice(&(frames as u32).to_le_bytes());
    let mut data = Vec::new();
    let mut bits = None;
    for g in groups {
        let stream = g.concat();
        // (The shape first: a header's sizes are not allocated unchecked.)
        let (w, h, nc) = ljpeg::dimensions(&stream)?;
        if (w, h, nc) != (sh.cols as usize, sh.rows as usize, sh.planes as usize) {
            return Err(format!(
                "a stream of {w}×{h} pixels of {nc} components in a {}×{} image of {}",
                sh.cols, sh.rows, sh.planes
            ));
        }
        let d = ljpeg::decode(&stream)?;
        if *bits.get_or_insert(d.bits) != d.bits {
            return Err("frames of different precisions".into());
        }
        recipe.extend_from_slice(&(g.len() as u32).to_le_bytes());
        for f in g {
            recipe.extend_from_slice(&(f.len() as u32).to_le_bytes());
        }
        put_part(&mut recipe, &stream[..d.ecs.start]);
        put_part(&mut recipe, &stream[d.ecs.end..]);
        recipe.push(d.pad_ones as u8);
        data.extend(d.samples.iter().map(|&s| value(s, d.bits, sh.signed)));
    }
    let bits = bits.expect("one frame at least");
    if rebuild(&recipe, &data, bits, sh)? != ds[offset..end] {
        return Err("the JPEG streams are not rewritten byte for byte from their samples".into());
    }
    Ok((data, bits, recipe, end))
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

/// The Pixel Data value (items and delimiter) from the recipe and the
/// samples.
pub(super) fn rebuild(
    recipe: &[u8],
    data: &[i32],
    bits: u8,
    sh: &Shape,
) -> Result<Vec<u8>, ljpeg::Why> {
    let bad = |e: medzip_format::Error| format!("stored recipe: {e}");
    let mut r = Reader::new(recipe, "encapsulated pixel data");
    if r.u8().map_err(bad)? != JPEG_LOSSLESS {
        return Err("stored recipe of an unknown kind".into());
    }
    let bot = r.part().map_err(bad)?;
    let frames = r.u32().map_err(bad)? as usize;
    let per_frame = sh.rows as usize * sh.cols as usize * sh.planes as usize;
    if frames != sh.frames as usize || data.len() != frames * per_frame {
        return Err("stored recipe does not fit the image".into());
    }
    let mask = (1u32 << bits) - 1;
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
        let (head, trail) = (r.part().map_err(bad)?, r.part().map_err(bad)?);
        let pad = r.u8().map_err(bad)? != 0;
        let samples: Vec<u16> = data[f * per_frame..(f + 1) * per_frame]
            .iter()
            .map(|&v| (v as u32 & mask) as u16)
            .collect();
        let stream = [head, &ljpeg::encode(head, &samples, pad)?, trail].concat();
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::dicom::ljpeg::tests::header_for;

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
            let sh = Shape {
                rows: h as u32,
                cols: w as u32,
                frames: frames as u32,
                planes: nc as u32,
                signed,
            };
            let (data, bits, recipe, end) = take_apart(&ds, 4, &sh).unwrap();
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
        let sh = Shape {
            rows: 7,
            cols: 13,
            frames: 1,
            planes: 1,
            signed: false,
        };
        assert!(take_apart(&v, 0, &sh).is_ok());
        // Another shape than the stream's.
        let err = take_apart(&v, 0, &Shape { rows: 8, ..sh }).unwrap_err();
        assert!(err.contains("13×7"), "{err}");
        // No delimiter: truncated.
        assert!(take_apart(&v[..v.len() - 8], 0, &sh).is_err());
        // A stray byte between the segment and EOI.
        let mut odd = v.clone();
        let eoi = odd.windows(2).rposition(|m| m == [0xFF, 0xD9]).unwrap();
        odd.insert(eoi, 0x00);
        let len_at = 8 + 4 + 4; // the fragment's length (after the offset table's item)
        let len = u32::from_le_bytes(odd[len_at..len_at + 4].try_into().unwrap()) + 1;
        odd[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        let err = take_apart(&odd, 0, &sh).unwrap_err();
        assert!(err.contains("next marker"), "{err}");
        // Fragments that do not divide into the frames.
        let two = Shape { frames: 2, ..sh };
        assert!(take_apart(&v, 0, &two).unwrap_err().contains("frames"));
    }
}
