//! DICOM in and out, byte for byte.
//!
//! The file is split into `prefix | pixel data value | suffix`. The prefix
//! and suffix (preamble, meta group, every attribute, private tags, overlays,
//! trailing padding) are kept verbatim (compressed by the context-mixing
//! byte coder of `medzip_entropy::bytes`, primed by the embedded header
//! dictionary of typical headers); the pixel data value is
//! rebuilt from the decoded samples. Words whose unused high bits do not
//! follow the canonical form (zeros, or the sign extended for signed data)
//! are kept as fix-ups, so the rebuilt file is always identical.
//!
//! Encapsulated inputs (JPEG Lossless, JPEG 2000, RLE, …) are first
//! transcoded by dicom-rs to Explicit VR Little Endian; that native file is
//! what comes back, byte for byte.

use crate::{malformed, meta, Error, Loaded, Result};
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use medzip_codec::{Image, Metadata, Photometric, SourceKind};

const KIND: &str = "DICOM";
const NATIVE_TS: [&str; 2] = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"];
/// Largest inflated source block accepted when decoding (bounded memory).
const MAX_SOURCE_BYTES: usize = 1 << 28;

fn parse(bytes: &[u8]) -> Result<DefaultDicomObject> {
    let body = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[128..]
    } else if bytes.starts_with(b"DICM") {
        bytes
    } else {
        return Err(Error::Unsupported(
            "DICOM file without a file meta group ('DICM' magic)".into(),
        ));
    };
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(std::io::Cursor::new(body))
        .map_err(|e| Error::Malformed {
            kind: KIND,
            msg: e.to_string(),
        })
}

fn int(obj: &DefaultDicomObject, tag: dicom_core::Tag, name: &str) -> Result<Option<i64>> {
    match obj.element_opt(tag) {
        Ok(Some(e)) => e.to_int::<i64>().map(Some).map_err(|e| Error::Malformed {
            kind: KIND,
            msg: format!("{name}: {e}"),
        }),
        Ok(None) => Ok(None),
        Err(e) => malformed(KIND, format!("{name}: {e}")),
    }
}

fn req(obj: &DefaultDicomObject, tag: dicom_core::Tag, name: &str) -> Result<i64> {
    int(obj, tag, name)?.ok_or_else(|| Error::Malformed {
        kind: KIND,
        msg: format!("no {name} attribute"),
    })
}

struct Layout {
    rows: u32,
    cols: u32,
    bits_allocated: u8,
    bits_stored: u8,
    high_bit: u8,
    signed: bool,
    photometric: Photometric,
}

fn layout(obj: &DefaultDicomObject) -> Result<Layout> {
    let spp = int(obj, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?.unwrap_or(1);
    if spp != 1 {
        return Err(Error::Unsupported(format!(
            "DICOM with {spp} samples per pixel (expected grayscale)"
        )));
    }
    if let Some(f) = int(obj, tags::NUMBER_OF_FRAMES, "NumberOfFrames")? {
        if f != 1 {
            return Err(Error::Unsupported(format!(
                "multi-frame DICOM ({f} frames); single frames only"
            )));
        }
    }
    let pi = obj
        .element_opt(tags::PHOTOMETRIC_INTERPRETATION)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok().map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "MONOCHROME2".into());
    let photometric = match pi.as_str() {
        "MONOCHROME1" => Photometric::Monochrome1,
        "MONOCHROME2" => Photometric::Monochrome2,
        other => {
            return Err(Error::Unsupported(format!(
                "DICOM photometric interpretation {other} (expected MONOCHROME1/2)"
            )))
        }
    };
    let rows = req(obj, tags::ROWS, "Rows")?;
    let cols = req(obj, tags::COLUMNS, "Columns")?;
    let ba = req(obj, tags::BITS_ALLOCATED, "BitsAllocated")?;
    let bs = int(obj, tags::BITS_STORED, "BitsStored")?.unwrap_or(ba);
    let hb = int(obj, tags::HIGH_BIT, "HighBit")?.unwrap_or(bs - 1);
    let pr = int(obj, tags::PIXEL_REPRESENTATION, "PixelRepresentation")?.unwrap_or(0);
    if !(ba == 8 || ba == 16) {
        return Err(Error::Unsupported(format!(
            "BitsAllocated {ba} (expected 8 or 16)"
        )));
    }
    if !(1..=ba).contains(&bs) || hb < bs - 1 || hb >= ba {
        return malformed(
            KIND,
            format!("BitsStored {bs} / HighBit {hb} do not fit BitsAllocated {ba}"),
        );
    }
    if !(1..=65535).contains(&rows) || !(1..=65535).contains(&cols) {
        return malformed(KIND, format!("size {cols}×{rows}"));
    }
    crate::check_size(cols as u32, rows as u32)?;
    Ok(Layout {
        rows: rows as u32,
        cols: cols as u32,
        bits_allocated: ba as u8,
        bits_stored: bs as u8,
        high_bit: hb as u8,
        signed: pr == 1,
        photometric,
    })
}

/// Finds the top-level Pixel Data value of `len` bytes (or `len + 1`, padded):
/// the last (7FE0,0010) header in the file whose length fits and whose value
/// ends inside the file. Returns (value offset, value length).
fn find_pixel_data(b: &[u8], len: usize) -> Option<(usize, usize)> {
    let pat = [0xE0u8, 0x7F, 0x10, 0x00];
    let mut i = b.len().checked_sub(8)?;
    loop {
        if b[i..i + 4] == pat {
            let explicit = b.len() >= i + 12
                && (&b[i + 4..i + 6] == b"OW" || &b[i + 4..i + 6] == b"OB")
                && b[i + 6] == 0
                && b[i + 7] == 0;
            let (off, l) = if explicit {
                (
                    i + 12,
                    u32::from_le_bytes(b[i + 8..i + 12].try_into().ok()?) as usize,
                )
            } else {
                (
                    i + 8,
                    u32::from_le_bytes(b[i + 4..i + 8].try_into().ok()?) as usize,
                )
            };
            if (l == len || l == len + 1) && off + l <= b.len() {
                return Some((off, l));
            }
        }
        if i == 0 {
            return None;
        }
        i -= 1;
    }
}

struct Words {
    ba: u8,
    shift: u32,
    bits: u8,
    signed: bool,
}

impl Words {
    fn mask(&self) -> u32 {
        (1u32 << self.bits) - 1
    }
    fn value(&self, w: u32) -> i32 {
        let v = (w >> self.shift) & self.mask();
        if self.signed && v >> (self.bits - 1) & 1 == 1 {
            v as i32 - (1 << self.bits)
        } else {
            v as i32
        }
    }
    fn canonical(&self, v: i32) -> u32 {
        let word_mask = if self.ba == 16 { 0xFFFF } else { 0xFF };
        let mut w = ((v as u32) & self.mask()) << self.shift;
        if self.signed && v < 0 {
            w |= word_mask & !((1u32 << (self.shift + self.bits as u32)) - 1);
        }
        w
    }
}

pub(crate) fn read(bytes: &[u8]) -> Result<Loaded> {
    let obj = parse(bytes)?;
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .trim()
        .to_string();
    if NATIVE_TS.contains(&ts.as_str()) {
        return read_native(bytes, &obj, None);
    }
    // Encapsulated (or otherwise non-native) pixel data: check what it claims
    // (size limits, grayscale, one frame) before decoding, then transcode.
    layout(&obj)?;
    use dicom_pixeldata::Transcode;
    let mut obj = obj;
    obj.transcode(&dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| {
            let hint = if ts.starts_with("1.2.840.10008.1.2.4.8") && !cfg!(feature = "jpegls") {
                " (JPEG-LS needs a build with `--features jpegls`)"
            } else {
                ""
            };
            Error::Unsupported(format!(
                "DICOM transfer syntax {ts}: cannot decode its pixel data ({e}){hint}"
            ))
        })?;
    let mut native = Vec::new();
    obj.write_all(&mut native)
        .map_err(|e| Error::Unsupported(format!("DICOM transcoding of {ts} failed: {e}")))?;
    let obj = parse(&native)?;
    read_native(&native, &obj, Some(&ts))
}

fn read_native(
    bytes: &[u8],
    obj: &DefaultDicomObject,
    transcoded_from: Option<&str>,
) -> Result<Loaded> {
    let l = layout(obj)?;
    let n = l.rows as usize * l.cols as usize;
    let bpw = l.bits_allocated as usize / 8;
    let (off, vlen) = find_pixel_data(bytes, n * bpw).ok_or_else(|| Error::Malformed {
        kind: KIND,
        msg: format!("no native Pixel Data of {} bytes found", n * bpw),
    })?;
    let raw = &bytes[off..off + vlen];
    let wd = Words {
        ba: l.bits_allocated,
        shift: (l.high_bit + 1 - l.bits_stored) as u32,
        bits: l.bits_stored,
        signed: l.signed,
    };
    let mut data = Vec::with_capacity(n);
    let mut fixups: Vec<u8> = Vec::new();
    let mut nfix = 0u32;
    for i in 0..n {
        let w = if bpw == 2 {
            u16::from_le_bytes([raw[2 * i], raw[2 * i + 1]]) as u32
        } else {
            raw[i] as u32
        };
        let v = wd.value(w);
        if wd.canonical(v) != w {
            nfix += 1;
            fixups.extend_from_slice(&(i as u32).to_le_bytes());
            fixups.extend_from_slice(&(w as u16).to_le_bytes());
        }
        data.push(v);
    }
    let image = Image::new(l.cols, l.rows, l.bits_stored, l.signed, data)?;
    // Source block: layout, prefix, suffix, padding tail, fix-ups.
    let mut blob = Vec::new();
    let mut put = |b: &[u8]| {
        blob.extend_from_slice(&(b.len() as u32).to_le_bytes());
        blob.extend_from_slice(b);
    };
    put(&bytes[..off]);
    put(&bytes[off + vlen..]);
    put(&raw[n * bpw..]);
    put(transcoded_from.unwrap_or("").as_bytes());
    blob.extend_from_slice(&nfix.to_le_bytes());
    blob.extend_from_slice(&fixups);
    let (dict, id) = header_dictionary();
    let mut src = vec![LAYOUT_DICT, l.bits_allocated, l.high_bit];
    src.extend_from_slice(id);
    src.extend_from_slice(&medzip_entropy::bytes::compress_with(dict, &blob));
    let mut m = meta(SourceKind::Dicom, 16, l.photometric, src);
    m.container_bits = if l.bits_allocated == 8 { 8 } else { 16 };
    m.file_sha256 = Some(medzip_format::sha256(bytes));
    Ok(Loaded { image, meta: m })
}

/// The transfer syntax the original file had, when it was transcoded.
pub fn transcoded_from(meta: &Metadata) -> Option<String> {
    let (_, blob) = unpack(meta).ok()?;
    let mut r = medzip_format::Reader::new(&blob, "DICOM source");
    for _ in 0..3 {
        let l = r.u32().ok()? as usize;
        r.bytes(l).ok()?;
    }
    let l = r.u32().ok()? as usize;
    let s = String::from_utf8(r.bytes(l).ok()?.to_vec()).ok()?;
    (!s.is_empty()).then_some(s)
}

fn unpack(m: &Metadata) -> Result<((u8, u8), Vec<u8>)> {
    use medzip_entropy::bytes;
    let damaged = |e: medzip_entropy::Error| Error::Malformed {
        kind: KIND,
        msg: format!("stored header: {e}"),
    };
    match m.source_data.as_slice() {
        [LAYOUT_PLAIN, ba, hb, rest @ ..] => {
            let blob = bytes::decompress(rest, MAX_SOURCE_BYTES).map_err(damaged)?;
            Ok(((*ba, *hb), blob))
        }
        [LAYOUT_DICT, ba, hb, rest @ ..] => {
            let (dict, id) = header_dictionary();
            let Some((file_id, rest)) = rest.split_first_chunk::<8>() else {
                return malformed(KIND, "stored header block is truncated");
            };
            if file_id != id {
                return Err(Error::Unsupported(format!(
                    "the DICOM header was coded with header dictionary {}, which this build does not have (it has {})",
                    medzip_format::hex(file_id),
                    medzip_format::hex(id)
                )));
            }
            let blob = bytes::decompress_with(dict, rest, MAX_SOURCE_BYTES).map_err(damaged)?;
            Ok(((*ba, *hb), blob))
        }
        _ => malformed(KIND, "stored header block has an unknown layout"),
    }
}

/// The id of the header dictionary a stored DICOM source block (the
/// container's `SRC` section) was coded with, if any.
pub fn header_dictionary_of(source: &[u8]) -> Option<&[u8]> {
    match source {
        [LAYOUT_DICT, _, _, rest @ ..] => rest.get(..8),
        _ => None,
    }
}

/// Layouts of the stored header block: the header coded alone (files of
/// earlier versions), or primed by the header dictionary.
const LAYOUT_PLAIN: u8 = 1;
const LAYOUT_DICT: u8 = 2;

/// The embedded DICOM header dictionary: the headers of a few permissively
/// licensed sample files of several vendors and modalities (list, sources
/// and the command that builds it: `dict/README.md`), which primes the
/// header coder so that the first occurrence of a familiar structure or
/// vendor block costs little. Its id (first 8 bytes of its SHA-256) is
/// stored with every header coded with it.
fn header_dictionary() -> &'static (medzip_entropy::bytes::Dictionary, [u8; 8]) {
    static DICT: std::sync::OnceLock<(medzip_entropy::bytes::Dictionary, [u8; 8])> =
        std::sync::OnceLock::new();
    DICT.get_or_init(|| {
        let bytes: &[u8] = include_bytes!("../dict/dicom_headers.bin");
        let id = medzip_format::sha256(bytes)[..8]
            .try_into()
            .expect("8 bytes");
        (medzip_entropy::bytes::Dictionary::new(bytes), id)
    })
}

/// The bytes medzip stores beside the pixels of a DICOM file (everything
/// but the pixel data's value, and how to rebuild it), uncompressed: what
/// the header dictionary is made of.
pub fn header_bytes(bytes: &[u8]) -> Result<Vec<u8>> {
    Ok(unpack(&read(bytes)?.meta)?.1)
}

pub(crate) fn write(img: &Image, m: &Metadata) -> Result<Vec<u8>> {
    let ((ba, hb), blob) = unpack(m)?;
    if !(ba == 8 || ba == 16) || hb >= ba || hb + 1 < img.bits {
        return malformed(KIND, "stored pixel layout is inconsistent");
    }
    let bad = |e: medzip_format::Error| Error::Malformed {
        kind: KIND,
        msg: format!("stored header: {e}"),
    };
    let mut r = medzip_format::Reader::new(&blob, "DICOM source");
    let mut part = || -> Result<&[u8]> {
        let l = r.u32().map_err(bad)? as usize;
        r.bytes(l).map_err(bad)
    };
    let prefix = part()?;
    let suffix = part()?;
    let tail = part()?;
    let _ts = part()?;
    let nfix = r.u32().map_err(bad)? as usize;
    let wd = Words {
        ba,
        shift: (hb + 1 - img.bits) as u32,
        bits: img.bits,
        signed: img.signed,
    };
    let bpw = ba as usize / 8;
    let mut out =
        Vec::with_capacity(prefix.len() + img.data.len() * bpw + tail.len() + suffix.len());
    out.extend_from_slice(prefix);
    let start = out.len();
    for &v in &img.data {
        let w = wd.canonical(v);
        if bpw == 2 {
            out.extend_from_slice(&(w as u16).to_le_bytes());
        } else {
            out.push(w as u8);
        }
    }
    for _ in 0..nfix {
        let i = r.u32().map_err(bad)? as usize;
        let w = r.u16().map_err(bad)?;
        if i >= img.data.len() {
            return malformed(KIND, "fix-up outside the pixel data");
        }
        if bpw == 2 {
            out[start + 2 * i..start + 2 * i + 2].copy_from_slice(&w.to_le_bytes());
        } else {
            out[start + i] = w as u8;
        }
    }
    out.extend_from_slice(tail);
    out.extend_from_slice(suffix);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_canonical_roundtrip() {
        for (ba, bits, hb, signed) in [
            (16u8, 12u8, 11u8, false),
            (16, 12, 11, true),
            (16, 16, 15, true),
            (8, 8, 7, false),
            (16, 10, 13, true),
        ] {
            let wd = Words {
                ba,
                shift: (hb + 1 - bits) as u32,
                bits,
                signed,
            };
            let (lo, hi) = Image::range(bits, signed);
            for v in [lo, lo + 1, (-1).max(lo), 0, 1.min(hi), hi] {
                assert_eq!(
                    wd.value(wd.canonical(v)),
                    v,
                    "{ba} {bits} {hb} {signed} {v}"
                );
            }
        }
    }
}
