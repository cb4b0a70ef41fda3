//! Files stored whole ([`SourceKind::File`]): what medzip cannot model as
//! an image — a DICOM file without pixel data (structured reports, RT plans,
//! encapsulated PDF, DICOMDIR), one of 1- or 32-bit samples, an
//! encapsulated one kept byte for byte, a damaged or truncated file, any
//! other file — is compressed as bytes, so that an archive can hand medzip
//! every file it holds and get each back byte for byte.
//!
//! The container's `SRC` section holds a method byte, the file's length
//! (`u64`) and the coded bytes:
//!
//! | method | coding |
//! |---|---|
//! | 0 | the bytes as they are |
//! | 1 | medzip's context-mixing byte coder ([`medzip_entropy::bytes`]) |
//! | 2 | the byte coder primed by the DICOM header dictionary (its 8-byte id first) |
//! | 3 | Zstandard (one frame) |
//!
//! The encoder keeps the smallest of those it tries: the byte coder (the
//! dictionary's for DICOM) on files up to [`BYTE_CODER_MAX`] bytes, whose
//! speed (a few MB/s) would make larger ones slow; Zstandard on every file.
//! The file's SHA-256 in the header checks what decoding gives back.

use crate::{dicom, meta, Error, Loaded, Result};
use medzip_format::{Image, Metadata, Photometric, SourceKind};

const RAW: u8 = 0;
const BYTES: u8 = 1;
const DICOM_DICT: u8 = 2;
const ZSTD: u8 = 3;

/// Largest file tried with the byte coder.
pub const BYTE_CODER_MAX: usize = 4 << 20;
/// Largest file stored (and decoded): under the allocation cap of
/// [`crate::CappedAlloc`], with room for the decoder's buffers.
pub const MAX_FILE: usize = 1 << 30;
/// Zstandard's level. On the 39 files of `dev/compat` above 100 KB
/// (13.7 MB; imagecodecs' libzstd 1.5, 2026-11-30): level 12 26.3 % of
/// their size at 71 MB/s encoding; 19 25.2 % at 8 MB/s; 3 27.3 % at
/// 344 MB/s; decoding 1.5–2.3 GB/s at every level.
const ZSTD_LEVEL: i32 = 12;

/// Whether storing `file` (read as `meta`) whole might give a smaller
/// `.mdz` than the `coded` bytes of its pixels: a DICOM file whose pixel
/// data is kept encapsulated ([`dicom::kept_encapsulated`]: its bytes are
/// already compressed) and that Zstandard at a fast level codes to less
/// than 1.5× `coded` (the byte coder and level 12 do better). The encoder
/// then tries [`store`]. (Before format version 10 such files were always
/// stored whole; other files keep their pixels, which `decompress --to`
/// and the Python loader need.)
pub fn worth_trying(file: &[u8], meta: &Metadata, coded: usize) -> bool {
    dicom::kept_encapsulated(meta)
        && zstd::bulk::compress(file, 3).is_ok_and(|z| 2 * z.len() < 3 * coded)
}

/// The file `bytes` stored whole: no pixels (a 0×0 image), its coded bytes
/// as the source data, its SHA-256 to check.
pub fn store(bytes: &[u8]) -> Result<Loaded> {
    if bytes.len() > MAX_FILE {
        return Err(Error::Unsupported(format!(
            "a file of {} bytes is more than medzip stores whole ({} bytes)",
            bytes.len(),
            MAX_FILE
        )));
    }
    let mut best = with_method(RAW, bytes.len(), bytes);
    let mut keep = |cand: Vec<u8>| {
        if cand.len() < best.len() {
            best = cand;
        }
    };
    if let Ok(z) = zstd::bulk::compress(bytes, ZSTD_LEVEL) {
        keep(with_method(ZSTD, bytes.len(), &z));
    }
    if bytes.len() <= BYTE_CODER_MAX {
        let coded = if looks_like_dicom(bytes) {
            let (dict, id) = dicom::header_dictionary();
            let mut v = id.to_vec();
            v.extend_from_slice(&medzip_entropy::bytes::compress_with(dict, bytes));
            with_method(DICOM_DICT, bytes.len(), &v)
        } else {
            with_method(BYTES, bytes.len(), &medzip_entropy::bytes::compress(bytes))
        };
        keep(coded);
    }
    let mut m = meta(SourceKind::File, 8, Photometric::Monochrome2, best);
    m.file_sha256 = Some(medzip_format::sha256(bytes));
    Ok(Loaded {
        image: Image::new(0, 0, 8, false, Vec::new())?,
        meta: m,
    })
}

fn with_method(method: u8, len: usize, coded: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + coded.len());
    v.push(method);
    v.extend_from_slice(&(len as u64).to_le_bytes());
    v.extend_from_slice(coded);
    v
}

fn looks_like_dicom(bytes: &[u8]) -> bool {
    dicom::parse::has_preamble_magic(bytes)
        || bytes.starts_with(b"DICM")
        || dicom::parse::looks_like_dataset(bytes)
}

/// The bytes of a stored file (`src`: the container's source data).
pub fn unstore(src: &[u8]) -> Result<Vec<u8>> {
    let bad = |m: String| Error::Malformed {
        kind: "stored",
        msg: m,
    };
    let [method, rest @ ..] = src else {
        return Err(bad("empty source block".into()));
    };
    let Some((len, coded)) = rest.split_first_chunk::<8>() else {
        return Err(bad("source block is truncated".into()));
    };
    let len = u64::from_le_bytes(*len);
    if len > MAX_FILE as u64 {
        return Err(bad(format!(
            "a stored file of {len} bytes (more than the {MAX_FILE} bytes medzip stores)"
        )));
    }
    let len = len as usize;
    let damaged = |e: medzip_entropy::Error| bad(e.to_string());
    let out = match *method {
        RAW => coded.to_vec(),
        BYTES => medzip_entropy::bytes::decompress(coded, len).map_err(damaged)?,
        DICOM_DICT => {
            let (dict, id) = dicom::header_dictionary();
            let Some((file_id, coded)) = coded.split_first_chunk::<8>() else {
                return Err(bad("source block is truncated".into()));
            };
            if file_id != id {
                return Err(Error::Unsupported(format!(
                    "the file was coded with DICOM header dictionary {}, which this build does not have (it has {})",
                    medzip_format::hex(file_id),
                    medzip_format::hex(id)
                )));
            }
            medzip_entropy::bytes::decompress_with(dict, coded, len).map_err(damaged)?
        }
        ZSTD => zstd::bulk::decompress(coded, len).map_err(|e| bad(format!("Zstandard: {e}")))?,
        m => return Err(bad(format!("unknown method {m}"))),
    };
    if out.len() != len {
        return Err(bad(format!("{} bytes decoded, {len} stored", out.len())));
    }
    Ok(out)
}

/// How a stored file's bytes are coded and its length (`medzip info`), from
/// the source data without decoding it.
pub fn summary(src: &[u8]) -> Option<(&'static str, u64)> {
    let name = match *src.first()? {
        RAW => "as they are",
        BYTES => "byte coder",
        DICOM_DICT => "byte coder with the DICOM header dictionary",
        ZSTD => "Zstandard",
        _ => "unknown method",
    };
    Some((name, u64::from_le_bytes(*src.get(1..9)?.first_chunk()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_gives_the_bytes_back() {
        let text: Vec<u8> = (0..5000u32)
            .flat_map(|i| format!("line {i} of a report\n").into_bytes())
            .collect();
        let mut dicm = vec![0u8; 128];
        dicm.extend_from_slice(b"DICM");
        dicm.extend_from_slice(&text[..3000]);
        let noise: Vec<u8> = (0..4000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for bytes in [&b""[..], b"x", &text, &dicm, &noise] {
            let l = store(bytes).unwrap();
            assert_eq!(l.meta.source, SourceKind::File);
            assert!(l.image.data.is_empty());
            assert!(l.meta.source_data.len() <= bytes.len() + 9);
            assert_eq!(unstore(&l.meta.source_data).unwrap(), bytes);
        }
        // Each method, forced.
        for m in [RAW, BYTES, ZSTD] {
            let coded = match m {
                RAW => text.clone(),
                BYTES => medzip_entropy::bytes::compress(&text),
                _ => zstd::bulk::compress(&text, 3).unwrap(),
            };
            assert_eq!(unstore(&with_method(m, text.len(), &coded)).unwrap(), text);
        }
        assert_eq!(
            store(&dicm).unwrap().meta.source_data[0],
            DICOM_DICT,
            "DICOM-looking bytes are primed by the dictionary"
        );
    }

    #[test]
    fn damage_is_an_error() {
        let text = b"a few words, a few words, a few words, a few words".repeat(40);
        let src = store(&text).unwrap().meta.source_data;
        for cut in [0, 1, 5, 9, src.len() - 1] {
            assert!(unstore(&src[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong_len = src.clone();
        wrong_len[1] ^= 1;
        assert!(unstore(&wrong_len).is_err());
        let mut huge = src.clone();
        huge[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(unstore(&huge).is_err());
        assert!(unstore(&[9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
