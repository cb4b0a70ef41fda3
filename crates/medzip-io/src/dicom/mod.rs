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
//! The file's structure is located by the lenient reader of [`parse`]
//! (whatever the preamble holds, with or without a meta group, implicit or
//! explicit VR, little or big endian, deflated), never rewritten: odd
//! files come back as odd as they were.
//!
//! Encapsulated JPEG Lossless, RLE, grey JPEG-LS and grey lossless JPEG
//! 2000 pixel data (the lossless transfer syntaxes modalities and archives
//! send most) is taken apart into its samples and the few bytes that
//! rebuild each stream exactly (module `encaps`; JPEG 2000 where `openjp2`
//! rewrites its tile data byte for byte, module `j2k`): the file comes back
//! byte for byte, its pixels coded by medzip. Other encapsulated inputs
//! (JPEG 2000 of other writers, colour JPEG-LS, lossy JPEG, …) are kept
//! whole, or with `--transcode` first
//! transcoded by dicom-rs to Explicit VR Little Endian; that native file is
//! then what comes back, byte for byte.

use crate::{malformed, meta, Error, Loaded, Result};
use medzip_format::{Image, Metadata, Photometric, SourceKind};
use parse::{Parsed, PixelData};

mod encaps;
mod j2k;
mod ljpeg;
pub mod parse;

const KIND: &str = "DICOM";
const NATIVE_TS: [&str; 3] = [parse::IMPLICIT_LE, parse::EXPLICIT_LE, parse::EXPLICIT_BE];
/// Largest inflated source block accepted when decoding (bounded memory).
pub(crate) const MAX_SOURCE_BYTES: usize = 1 << 28;

fn located(bytes: &[u8], inflated: &mut Vec<u8>) -> Result<Parsed> {
    parse::parse(bytes, inflated).map_err(|e| Error::Malformed {
        kind: KIND,
        msg: e.0,
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
    frames: u32,
    /// Colour samples one plane after the other (PlanarConfiguration 1)
    /// rather than pixel by pixel.
    planar: bool,
}

impl Layout {
    /// Samples (words) of one frame's pixel data.
    fn frame_samples(&self) -> usize {
        let px = self.rows as usize * self.cols as usize;
        match self.photometric {
            // Y Y Cb Cr for each pair of pixels.
            Photometric::YbrFull422 => 2 * px,
            p => p.planes() as usize * px,
        }
    }

    /// Where the `k`-th sample of the pixel data goes in the tall image
    /// (frame after frame, plane after plane: `medzip_format::ImageDesc`).
    fn tall_index(&self, k: usize) -> usize {
        let fs = self.frame_samples();
        let (f, k) = (k / fs, k % fs);
        let w = self.cols as usize;
        let plane = self.rows as usize * w;
        f * fs
            + match (self.photometric.planes(), self.planar) {
                (3, false) => (k % 3) * plane + k / 3,
                (2, _) => {
                    // Row r: Y(2j) Y(2j+1) Cb(j) Cr(j) for each pair j; the
                    // second plane's row is every Cb, then every Cr.
                    let (r, m) = (k / (2 * w), k % (2 * w));
                    let (j, q) = (m / 4, m % 4);
                    match q {
                        0 | 1 => r * w + 2 * j + q,
                        2 => plane + r * w + j,
                        _ => plane + r * w + w / 2 + j,
                    }
                }
                _ => k,
            }
    }
}

fn layout(a: &parse::Attrs) -> Result<Layout> {
    let spp = a.samples_per_pixel.unwrap_or(1);
    let frames = match &a.frames {
        None => 1,
        Some(f) => match f.trim().parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => return malformed(KIND, format!("NumberOfFrames {f:?}")),
        },
    };
    let pi = a.photometric.as_deref().unwrap_or("MONOCHROME2");
    let photometric = match (pi, spp) {
        ("MONOCHROME1", 1) => Photometric::Monochrome1,
        ("MONOCHROME2", 1) => Photometric::Monochrome2,
        ("PALETTE COLOR", 1) => Photometric::Palette,
        ("RGB", 3) => Photometric::Rgb,
        ("YBR_FULL", 3) => Photometric::YbrFull,
        ("YBR_FULL_422", 3) => Photometric::YbrFull422,
        (other, spp) => {
            return Err(Error::Unsupported(format!(
                "DICOM photometric interpretation {other} with {spp} samples per pixel (medzip codes MONOCHROME1/2 and PALETTE COLOR with one, RGB, YBR_FULL and YBR_FULL_422 with three)"
            )))
        }
    };
    let planar = spp == 3 && a.planar_configuration == Some(1);
    if planar && photometric == Photometric::YbrFull422 {
        return malformed(KIND, "YBR_FULL_422 pixel data with PlanarConfiguration 1");
    }
    let need = |v: Option<u16>, name: &str| {
        v.map(i64::from).ok_or_else(|| {
            Error::Unsupported(format!(
                "DICOM Pixel Data without {name}: not an image medzip can read"
            ))
        })
    };
    let rows = need(a.rows, "Rows")?;
    let cols = need(a.columns, "Columns")?;
    let ba = need(a.bits_allocated, "BitsAllocated")?;
    let bs = a.bits_stored.map(i64::from).unwrap_or(ba);
    let hb = a.high_bit.map(i64::from).unwrap_or(bs - 1);
    let pr = a.pixel_representation.unwrap_or(0);
    // 1-bit samples (segmentations, overlays as images): grey, unsigned.
    let one_bit = ba == 1 && spp == 1 && photometric != Photometric::Palette && pr == 0;
    if !(ba == 8 || ba == 16 || one_bit) {
        return Err(Error::Unsupported(format!(
            "BitsAllocated {ba} (expected 8 or 16, or 1 for unsigned grey samples)"
        )));
    }
    if !(1..=ba).contains(&bs) || hb < bs - 1 || hb >= ba {
        return malformed(
            KIND,
            format!("BitsStored {bs} / HighBit {hb} do not fit BitsAllocated {ba}"),
        );
    }
    if rows < 1 || cols < 1 {
        return malformed(KIND, format!("size {cols}×{rows}"));
    }
    if photometric == Photometric::YbrFull422 && cols % 2 == 1 {
        return malformed(KIND, format!("YBR_FULL_422 pixel data {cols} columns wide"));
    }
    // One plane, then the tall image: every plane of every frame.
    crate::check_size(cols as u32, rows as u32)?;
    crate::check_samples(cols as u64 * rows as u64 * frames as u64 * photometric.planes() as u64)?;
    Ok(Layout {
        rows: rows as u32,
        cols: cols as u32,
        bits_allocated: ba as u8,
        bits_stored: bs as u8,
        high_bit: hb as u8,
        signed: pr == 1,
        photometric,
        frames,
        planar,
    })
}

#[derive(Clone, Copy)]
struct Words {
    ba: u8,
    shift: u32,
    bits: u8,
    signed: bool,
    /// The canonical word of a negative signed sample has its unused high
    /// bits zero, not the sign extended ([`Flags::zero_high`]).
    zero_high: bool,
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
        if self.signed && v < 0 && !self.zero_high {
            w |= word_mask & !((1u32 << (self.shift + self.bits as u32)) - 1);
        }
        w
    }
}

/// Bytes of `n` samples of `ba` bits allocated: 1-bit samples are packed
/// eight to a byte, the first in the least significant bit (PS3.5 8.1.1),
/// frame after frame without padding.
fn pixel_bytes(ba: u8, n: usize) -> usize {
    match ba {
        1 => n.div_ceil(8),
        _ => n * (ba as usize / 8),
    }
}

/// Word `i` of pixel data `raw` of `ba` bits allocated (little endian).
fn word_at(raw: &[u8], ba: u8, i: usize) -> u32 {
    match ba {
        1 => (raw[i / 8] >> (i % 8)) as u32 & 1,
        8 => raw[i] as u32,
        _ => u16::from_le_bytes([raw[2 * i], raw[2 * i + 1]]) as u32,
    }
}

/// Writes word `w` as word `i` of `raw` (which starts zeroed).
fn put_word(raw: &mut [u8], ba: u8, i: usize, w: u32) {
    match ba {
        1 => raw[i / 8] |= (w as u8 & 1) << (i % 8),
        8 => raw[i] = w as u8,
        _ => raw[2 * i..2 * i + 2].copy_from_slice(&(w as u16).to_le_bytes()),
    }
}

/// Swaps the bytes of each pair: big-endian OW words to little-endian and
/// back (an involution).
fn swap_pairs(b: &mut [u8]) {
    for p in b.chunks_exact_mut(2) {
        p.swap(0, 1);
    }
}

/// How the stored blob rebuilds the file, beyond prefix/suffix (layout 3).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Flags {
    /// The Pixel Data value is big-endian words (explicit VR big endian).
    swap: bool,
    /// The data set is deflated (rebuilt by preflate-rs from its corrections).
    deflated: bool,
    /// Colour samples plane after plane (PlanarConfiguration 1; format
    /// version 7).
    planar: bool,
    /// Encapsulated pixel data rebuilt from the samples and a recipe
    /// ([`encaps`]; format version 10).
    encapsulated: bool,
    /// That recipe rewrites JPEG 2000 streams (format version 13: the
    /// flag lets the container's version say so without the recipe).
    jpeg2000: bool,
    /// Signed samples whose words leave the unused high bits zero instead
    /// of extending the sign (a writer's habit: such words would otherwise
    /// each be a fix-up; format version 14).
    zero_high: bool,
}

impl Flags {
    fn byte(self) -> u8 {
        self.swap as u8
            | (self.deflated as u8) << 1
            | (self.planar as u8) << 2
            | (self.encapsulated as u8) << 3
            | (self.jpeg2000 as u8) << 4
            | (self.zero_high as u8) << 5
    }
    fn from_byte(b: u8) -> Result<Flags> {
        // (JPEG 2000 only with encapsulated data; zero high bits only
        // with native words.)
        if b & !63 != 0 || b & 24 == 16 || b & 40 == 40 {
            return malformed(KIND, format!("stored header flags {b:#04x} are unknown"));
        }
        Ok(Flags {
            swap: b & 1 != 0,
            deflated: b & 2 != 0,
            planar: b & 4 != 0,
            encapsulated: b & 8 != 0,
            jpeg2000: b & 16 != 0,
            zero_high: b & 32 != 0,
        })
    }
}

/// A deflated data set's stream, taken apart: how many bytes of the file it
/// spans, and preflate-rs's corrections that rebuild it from the inflated
/// bytes exactly.
fn take_apart_deflate(stream: &[u8], inflated: &[u8]) -> Result<(usize, Vec<u8>)> {
    let config = preflate_rs::PreflateConfig {
        plain_text_limit: MAX_SOURCE_BYTES,
        ..Default::default()
    };
    let refused = |why: String| {
        Error::Unsupported(format!(
            "deflated DICOM data set whose deflate stream cannot be rebuilt byte for byte ({why})"
        ))
    };
    let (r, plain) = preflate_rs::preflate_whole_deflate_stream(stream, &config)
        .map_err(|e| refused(e.to_string()))?;
    if plain.text() != inflated {
        return Err(refused("it inflates differently".into()));
    }
    Ok((r.compressed_size, r.corrections))
}

fn rebuild_deflate(inflated: &[u8], corrections: &[u8]) -> Result<Vec<u8>> {
    preflate_rs::recreate_whole_deflate_stream(inflated, corrections).map_err(|e| {
        Error::Malformed {
            kind: KIND,
            msg: format!("stored deflate corrections: {e}"),
        }
    })
}

/// Whether `bytes` parse as DICOM with encapsulated (non-native) pixel data.
pub(crate) fn encapsulated(bytes: &[u8]) -> bool {
    let mut inflated = Vec::new();
    located(bytes, &mut inflated)
        .is_ok_and(|p| p.pixel.is_some() && !(NATIVE_TS.contains(&p.ts.as_str()) || p.deflated()))
}

pub(crate) fn read(bytes: &[u8]) -> Result<Loaded> {
    read_transcoding(bytes, true)
}

/// [`read`]; an encapsulated file (other bytes back) only with `transcode`,
/// else refused before its pixels are decoded.
pub(crate) fn read_transcoding(bytes: &[u8], transcode: bool) -> Result<Loaded> {
    let mut inflated = Vec::new();
    let p = located(bytes, &mut inflated)?;
    let Some(px) = p.pixel else {
        return Err(Error::Unsupported(
            "DICOM file without pixel data (structured report, RT plan, waveform, document, DICOMDIR, …): nothing to compress as an image".into(),
        ));
    };
    let native = NATIVE_TS.contains(&p.ts.as_str()) || p.deflated();
    match (native, px.len) {
        (true, Some(_)) => read_native(bytes, &p, px, &inflated, None),
        // Fragments under a native transfer syntax: transcoding would give
        // back another file than this one.
        (true, None) => malformed(
            KIND,
            format!(
                "Pixel Data of undefined length (encapsulated) in transfer syntax {}",
                p.ts
            ),
        ),
        (false, _) if transcode => read_encapsulated(bytes, &p),
        (false, None) if JPEG_LOSSLESS_TS.contains(&p.ts.as_str()) => {
            read_taken_apart(bytes, &p, px, encaps::Kind::JpegLossless)
        }
        (false, None) if p.ts == RLE_TS => read_taken_apart(bytes, &p, px, encaps::Kind::Rle),
        (false, None) if p.ts == JPEG_LS_LOSSLESS || p.ts == JPEG_LS_NEAR_LOSSLESS => {
            read_taken_apart(bytes, &p, px, encaps::Kind::JpegLs)
        }
        (false, None) if p.ts == JPEG_2000_LOSSLESS || p.ts == JPEG_2000 => {
            read_taken_apart(bytes, &p, px, encaps::Kind::Jpeg2000)
        }
        (false, _) => Err(Error::Unsupported(format!(
            "encapsulated DICOM (transfer syntax {}) kept byte for byte (--transcode codes its pixels and gives back native DICOM)",
            p.ts
        ))),
    }
}

/// Encapsulated (or otherwise non-native) pixel data: what it claims is
/// checked first (size limits, grayscale, one frame), then dicom-rs
/// transcodes it to Explicit VR Little Endian, and that native file is what
/// comes back.
fn read_encapsulated(bytes: &[u8], p: &Parsed) -> Result<Loaded> {
    use dicom_object::file::ReadPreamble;
    use dicom_object::OpenFileOptions;
    use dicom_pixeldata::Transcode;
    let ts = p.ts.as_str();
    let l = layout(&p.attrs)?;
    if l.photometric.planes() > 1 && !LOSSLESS_TS.contains(&ts) {
        // Decoders differ in chroma upsampling and colour conversion: the
        // pixels of one would become the archived truth.
        return Err(Error::Unsupported(format!(
            "lossy colour pixel data (transfer syntax {ts}) is kept byte for byte: its decoded pixels depend on the decoder"
        )));
    }
    // dicom-rs reads from the 'DICM' magic on.
    let body: std::borrow::Cow<[u8]> = if parse::has_preamble_magic(bytes) {
        bytes[128..].into()
    } else if bytes.starts_with(b"DICM") {
        bytes.into()
    } else {
        [b"DICM".as_slice(), bytes].concat().into()
    };
    let mut obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(std::io::Cursor::new(&body[..]))
        .map_err(|e| {
            Error::Unsupported(format!(
                "DICOM transfer syntax {ts}: dicom-rs cannot read this file to decode its pixel data ({e})"
            ))
        })?;
    if ts == JPEG_LS_LOSSLESS || ts == JPEG_LS_NEAR_LOSSLESS {
        jpegls_to_native(&mut obj, &l)?;
    } else {
        obj.transcode(&dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| {
                Error::Unsupported(format!(
                    "DICOM transfer syntax {ts}: cannot decode its pixel data ({e})"
                ))
            })?;
    }
    let mut native = Vec::new();
    obj.write_all(&mut native)
        .map_err(|e| Error::Unsupported(format!("DICOM transcoding of {ts} failed: {e}")))?;
    let mut none = Vec::new();
    let np = located(&native, &mut none)?;
    match np.pixel {
        Some(px) if np.ts == parse::EXPLICIT_LE && px.len.is_some() => {
            read_native(&native, &np, px, &none, Some(ts))
        }
        _ => malformed(
            KIND,
            format!("transcoding of {ts} gave no native pixel data"),
        ),
    }
}

/// JPEG Lossless, process 14 (any predictor) and its first-order
/// predictor variant (SV1).
const JPEG_LOSSLESS_TS: [&str; 2] = ["1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"];

/// RLE Lossless.
const RLE_TS: &str = "1.2.840.10008.1.2.5";

/// Encapsulated JPEG Lossless, RLE or JPEG-LS kept byte for byte: its samples coded
/// by medzip, the rest of each stream in the stored header ([`encaps`]).
/// Streams that this reader does not rewrite exactly are refused, and the
/// file is then kept whole.
fn read_taken_apart(bytes: &[u8], p: &Parsed, px: PixelData, kind: encaps::Kind) -> Result<Loaded> {
    let l = layout(&p.attrs)?;
    let planes = l.photometric.planes() as u32;
    let refused = |why: String| {
        Error::Unsupported(format!(
            "{} pixel data (transfer syntax {}) kept byte for byte: {why}",
            kind.name(),
            p.ts
        ))
    };
    if l.photometric == Photometric::YbrFull422 || l.bits_allocated == 1 {
        return Err(refused(format!(
            "{} samples of {} bits",
            l.photometric.name(),
            l.bits_allocated
        )));
    }
    let shape = encaps::Shape {
        rows: l.rows,
        cols: l.cols,
        frames: l.frames,
        planes,
        signed: l.signed,
        bits_allocated: l.bits_allocated,
        bits_stored: l.bits_stored,
        high_bit: l.high_bit,
    };
    let (data, bits, recipe, end) =
        encaps::take_apart(bytes, px.offset, &shape, kind).map_err(refused)?;
    let image = Image::new(l.cols, l.rows * l.frames * planes, bits, l.signed, data)
        .map_err(|e| refused(e.to_string()))?;
    let mut blob = Vec::new();
    for part in [&bytes[..px.offset], &bytes[end..], &[], &[]] {
        medzip_format::put_part(&mut blob, part);
    }
    blob.extend_from_slice(&0u32.to_le_bytes());
    medzip_format::put_part(&mut blob, &recipe);
    let flags = Flags {
        encapsulated: true,
        jpeg2000: kind == encaps::Kind::Jpeg2000,
        ..Flags::default()
    };
    let (dict, id) = header_dictionary();
    let mut src = vec![LAYOUT_FLAGS, l.bits_allocated, l.high_bit, flags.byte()];
    src.extend_from_slice(id);
    src.extend_from_slice(&medzip_entropy::bytes::compress_with(dict, &blob));
    let mut m = meta(SourceKind::Dicom, 16, l.photometric, src);
    m.container_bits = if bits <= 8 { 8 } else { 16 };
    m.frames = l.frames;
    m.file_sha256 = Some(medzip_format::sha256(bytes));
    Ok(Loaded { image, meta: m })
}

const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
/// Encapsulated transfer syntaxes whose pixels every decoder gives alike:
/// RLE, JPEG Lossless (processes 14 and 14 SV1), JPEG-LS lossless,
/// JPEG 2000 (and Part 2) lossless, HTJ2K lossless (and RPCL), JPEG XL
/// lossless.
const LOSSLESS_TS: [&str; 9] = [
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    JPEG_LS_LOSSLESS,
    JPEG_2000_LOSSLESS,
    "1.2.840.10008.1.2.4.92",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.110",
];
const JPEG_LS_NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";
const JPEG_2000_LOSSLESS: &str = "1.2.840.10008.1.2.4.90";
/// JPEG 2000 that may be lossy: kept apart only where a stream is
/// reversible (the 5/3 wavelet, one layer), i.e. lossless after all.
const JPEG_2000: &str = "1.2.840.10008.1.2.4.91";

/// Replaces the JPEG-LS pixel data of `obj` (grey frames, layout `l`)
/// by the native samples and marks the object Explicit VR Little Endian,
/// as dicom-rs's transcoding does for the codecs it has. The decoder is
/// `pure_jpegls` (pure Rust, so the default build reads JPEG-LS without
/// CharLS and cmake); it gives each sample as the stream's unsigned value,
/// which is the stored bit pattern of signed data too.
fn jpegls_to_native(
    obj: &mut dicom_object::FileDicomObject<dicom_object::InMemDicomObject>,
    l: &Layout,
) -> Result<()> {
    use dicom_core::{value::Value, DataElement, Length, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let cannot = |m: String| Error::Unsupported(format!("JPEG-LS pixel data: {m}"));
    if l.high_bit + 1 != l.bits_stored {
        // (The stream's samples would need shifting into place.)
        return Err(cannot(format!(
            "HighBit {} with BitsStored {}",
            l.high_bit, l.bits_stored
        )));
    }
    if l.photometric.planes() != 1 {
        return Err(cannot(format!(
            "{} pixel data (the JPEG-LS decoder here reads grey streams)",
            l.photometric.name()
        )));
    }
    // One stream per frame: one fragment each, or all fragments for one
    // frame.
    let streams: Vec<Vec<u8>> = match obj.element(tags::PIXEL_DATA).map(|e| e.value()) {
        Ok(Value::PixelSequence(seq)) if l.frames == 1 => vec![seq.fragments().concat()],
        Ok(Value::PixelSequence(seq)) if seq.fragments().len() == l.frames as usize => {
            seq.fragments().iter().map(|f| f.to_vec()).collect()
        }
        Ok(Value::PixelSequence(seq)) => {
            return Err(cannot(format!(
                "{} fragments for {} frames",
                seq.fragments().len(),
                l.frames
            )))
        }
        _ => return Err(cannot("no encapsulated fragments".into())),
    };
    let mut samples = Vec::new();
    for stream in &streams {
        let (frame, w, h) =
            jpegls::decode(stream, l.cols, l.rows).map_err(|e| cannot(e.to_string()))?;
        if (w, h) != (l.cols, l.rows) || frame.len() != w as usize * h as usize {
            return Err(cannot(format!(
                "a stream is {w}×{h}, the header says {}×{}",
                l.cols, l.rows
            )));
        }
        samples.extend(frame);
    }
    let max = if l.bits_stored >= 16 {
        u16::MAX
    } else {
        (1u16 << l.bits_stored) - 1
    };
    if samples.iter().any(|&v| v > max) {
        return Err(cannot(format!(
            "samples beyond BitsStored {}",
            l.bits_stored
        )));
    }
    let len = (samples.len() * l.bits_allocated as usize / 8) as u32;
    let value = if l.bits_allocated == 8 {
        PrimitiveValue::from(samples.iter().map(|&v| v as u8).collect::<Vec<u8>>())
    } else {
        PrimitiveValue::U16(samples.into())
    };
    obj.put(DataElement::new_with_len(
        tags::PIXEL_DATA,
        VR::OW,
        Length::defined(len),
        value,
    ));
    obj.update_meta(|meta| {
        meta.set_transfer_syntax(
            &dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN,
        )
    });
    Ok(())
}

fn read_native(
    bytes: &[u8],
    p: &Parsed,
    px: PixelData,
    inflated: &[u8],
    transcoded_from: Option<&str>,
) -> Result<Loaded> {
    let l = layout(&p.attrs)?;
    let n = l.frame_samples() * l.frames as usize;
    let bpw = l.bits_allocated as usize / 8;
    let need = pixel_bytes(l.bits_allocated, n);
    let vlen = px.len.unwrap_or(0);
    if vlen < need {
        return malformed(
            KIND,
            format!(
                "Pixel Data holds {vlen} bytes; {} frame(s) of {}×{} pixels of {} samples of {} bits need {need} (truncated file?)",
                l.frames, l.cols, l.rows, l.photometric.planes(), l.bits_allocated
            ),
        );
    }
    let swap = p.syntax.big_endian
        && match px.vr {
            Some(vr) => vr == *b"OW",
            None => bpw == 2,
        };
    if swap && vlen % 2 == 1 {
        return malformed(KIND, "big-endian Pixel Data of odd length");
    }
    if swap && l.bits_allocated == 1 {
        return Err(Error::Unsupported(
            "1-bit pixel data in big-endian words (OW)".into(),
        ));
    }
    // The data set: the file's bytes, or the inflated deflate stream.
    let (ds, deflated) = if p.deflated() {
        let stream = &bytes[p.dataset_start..];
        let (used, corrections) = take_apart_deflate(stream, inflated)?;
        let head = &bytes[..p.dataset_start];
        let trail = stream.get(used..).ok_or_else(|| Error::Malformed {
            kind: KIND,
            msg: "deflate stream longer than the file".into(),
        })?;
        (inflated, Some((head, trail, corrections)))
    } else {
        (bytes, None)
    };
    let off = px.offset;
    let mut raw = ds[off..off + vlen].to_vec();
    if swap {
        swap_pairs(&mut raw);
    }
    let mut wd = Words {
        ba: l.bits_allocated,
        shift: (l.high_bit + 1 - l.bits_stored) as u32,
        bits: l.bits_stored,
        signed: l.signed,
        zero_high: false,
    };
    // Signed samples with unused high bits: the canonical form (sign
    // extended, or zeros) that leaves fewer words to fix up.
    if l.signed && wd.shift + (wd.bits as u32) < l.bits_allocated as u32 {
        let zero = Words {
            zero_high: true,
            ..wd
        };
        let (mut extended, mut zeros) = (0usize, 0usize);
        for i in 0..n {
            let w = word_at(&raw, l.bits_allocated, i);
            let v = wd.value(w);
            extended += (wd.canonical(v) != w) as usize;
            zeros += (zero.canonical(v) != w) as usize;
        }
        wd.zero_high = zeros < extended;
    }
    let mut data = vec![0; n];
    let mut fixups: Vec<u8> = Vec::new();
    let mut nfix = 0u32;
    let plain = l.photometric.planes() == 1 || l.planar;
    for i in 0..n {
        let w = word_at(&raw, l.bits_allocated, i);
        let v = wd.value(w);
        if wd.canonical(v) != w {
            nfix += 1;
            fixups.extend_from_slice(&(i as u32).to_le_bytes());
            fixups.extend_from_slice(&(w as u16).to_le_bytes());
        }
        data[if plain { i } else { l.tall_index(i) }] = v;
    }
    // 1-bit samples: the bits after the last sample in its byte, when not
    // zero, as a fix-up of the last sample (the byte that holds it).
    if l.bits_allocated == 1 && !n.is_multiple_of(8) && raw[need - 1] >> (n % 8) != 0 {
        nfix += 1;
        fixups.extend_from_slice(&(n as u32 - 1).to_le_bytes());
        fixups.extend_from_slice(&(raw[need - 1] as u16).to_le_bytes());
    }
    let planes = l.photometric.planes() as u32;
    let image = Image::new(
        l.cols,
        l.rows * l.frames * planes,
        l.bits_stored,
        l.signed,
        data,
    )?;
    // Source block: layout, prefix, suffix, padding tail, fix-ups (and, for
    // a deflated data set, the file's bytes before and after the stream).
    let mut blob = Vec::new();
    for part in [
        &ds[..off],
        &ds[off + vlen..],
        &raw[need..],
        transcoded_from.unwrap_or("").as_bytes(),
    ] {
        medzip_format::put_part(&mut blob, part);
    }
    blob.extend_from_slice(&nfix.to_le_bytes());
    blob.extend_from_slice(&fixups);
    let flags = Flags {
        swap,
        deflated: deflated.is_some(),
        planar: l.planar,
        zero_high: wd.zero_high,
        ..Flags::default()
    };
    if let Some((head, trail, corrections)) = &deflated {
        for part in [head, trail, &corrections[..]] {
            medzip_format::put_part(&mut blob, part);
        }
    }
    let (dict, id) = header_dictionary();
    // Layout 2 where it suffices, so that such files stay readable by
    // builds that know no layout 3.
    let mut src = if flags == Flags::default() {
        vec![LAYOUT_DICT, l.bits_allocated, l.high_bit]
    } else {
        vec![LAYOUT_FLAGS, l.bits_allocated, l.high_bit, flags.byte()]
    };
    src.extend_from_slice(id);
    src.extend_from_slice(&medzip_entropy::bytes::compress_with(dict, &blob));
    let mut m = meta(SourceKind::Dicom, 16, l.photometric, src);
    m.container_bits = if l.bits_allocated <= 8 { 8 } else { 16 };
    m.frames = l.frames;
    m.file_sha256 = Some(medzip_format::sha256(bytes));
    Ok(Loaded { image, meta: m })
}

/// The stored source block, unpacked.
struct Stored<'a> {
    flags: Flags,
    prefix: &'a [u8],
    suffix: &'a [u8],
    tail: &'a [u8],
    transcoded_from: &'a [u8],
    /// (sample index, word) of the non-canonical words.
    fixups: Vec<(usize, u16)>,
    /// Deflated data set: the file's bytes before and after the stream, and
    /// preflate-rs's corrections.
    head: &'a [u8],
    trail: &'a [u8],
    corrections: &'a [u8],
    /// Encapsulated pixel data: how to rebuild it ([`encaps`]).
    recipe: &'a [u8],
}

impl<'a> Stored<'a> {
    fn parse(flags: Flags, blob: &'a [u8]) -> Result<Stored<'a>> {
        let bad = |e: medzip_format::Error| Error::Malformed {
            kind: KIND,
            msg: format!("stored header: {e}"),
        };
        let mut r = medzip_format::Reader::new(blob, "DICOM source");
        let part = |r: &mut medzip_format::Reader<'a>| r.part().map_err(bad);
        let (prefix, suffix, tail, transcoded_from) =
            (part(&mut r)?, part(&mut r)?, part(&mut r)?, part(&mut r)?);
        let nfix = r.u32().map_err(bad)? as usize;
        if nfix > r.remaining() / 6 {
            return malformed(KIND, "stored header: more fix-ups than bytes");
        }
        let mut fixups = Vec::with_capacity(nfix);
        for _ in 0..nfix {
            fixups.push((r.u32().map_err(bad)? as usize, r.u16().map_err(bad)?));
        }
        let (head, trail, corrections) = if flags.deflated {
            (part(&mut r)?, part(&mut r)?, part(&mut r)?)
        } else {
            (&[][..], &[][..], &[][..])
        };
        let recipe = if flags.encapsulated {
            part(&mut r)?
        } else {
            &[][..]
        };
        if flags.encapsulated
            && flags.jpeg2000 != (encaps::Kind::of_recipe(recipe) == Some(encaps::Kind::Jpeg2000))
        {
            return malformed(
                KIND,
                "stored header: the JPEG 2000 flag and the recipe disagree",
            );
        }
        Ok(Stored {
            flags,
            prefix,
            suffix,
            tail,
            transcoded_from,
            fixups,
            head,
            trail,
            corrections,
            recipe,
        })
    }
}

/// Whether the file's pixel data is kept encapsulated: its samples taken
/// out of JPEG Lossless, RLE or JPEG-LS streams that are rebuilt byte for byte, so
/// that the file as bytes is already compressed.
pub fn kept_encapsulated(meta: &Metadata) -> bool {
    meta.source == SourceKind::Dicom
        && matches!(meta.source_data.as_slice(), [LAYOUT_FLAGS, _, _, f, ..] if f & 8 != 0)
}

/// The transfer syntax the original file had, when it was transcoded.
pub fn transcoded_from(meta: &Metadata) -> Option<String> {
    if meta.source != SourceKind::Dicom {
        return None;
    }
    let (_, _, flags, blob) = unpack(meta).ok()?;
    let st = Stored::parse(flags, &blob).ok()?;
    let s = String::from_utf8(st.transcoded_from.to_vec()).ok()?;
    (!s.is_empty()).then_some(s)
}

/// What was unusual in the original file's structure (no preamble, a TIFF
/// header in the preamble, an over-long meta element, …), as the lenient
/// reader finds it again in the stored header: for `medzip info`.
pub fn notes(meta: &Metadata) -> Result<Vec<String>> {
    let (_, _, flags, blob) = unpack(meta)?;
    let st = Stored::parse(flags, &blob)?;
    let bad = |e: parse::ParseError| Error::Malformed {
        kind: KIND,
        msg: format!("stored header: {}", e.0),
    };
    let mut notes = if st.flags.deflated {
        // The meta group alone says what the file is.
        let mut n = parse::parse_header(st.head).map_err(bad)?.notes;
        n.push(format!(
            "deflated data set (rebuilt with {} bytes of deflate corrections)",
            st.corrections.len()
        ));
        n
    } else {
        parse::parse_header(st.prefix).map_err(bad)?.notes
    };
    if st.tail.len() > 1 {
        notes.push(format!(
            "Pixel Data holds {} bytes beyond the image (kept as they are)",
            st.tail.len()
        ));
    }
    if st.flags.encapsulated {
        let what = encaps::Kind::of_recipe(st.recipe).map_or("encoded", encaps::Kind::name);
        notes.push(format!(
            "encapsulated {what} pixel data, rebuilt byte for byte from the samples"
        ));
    }
    if !st.transcoded_from.is_empty() {
        notes.push(format!(
            "transcoded from {} to explicit VR little endian",
            String::from_utf8_lossy(st.transcoded_from)
        ));
    }
    Ok(notes)
}

fn unpack(m: &Metadata) -> Result<(u8, u8, Flags, Vec<u8>)> {
    use medzip_entropy::bytes;
    let damaged = |e: medzip_entropy::Error| Error::Malformed {
        kind: KIND,
        msg: format!("stored header: {e}"),
    };
    let with_dict = |rest: &[u8]| -> Result<Vec<u8>> {
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
        bytes::decompress_with(dict, rest, MAX_SOURCE_BYTES).map_err(damaged)
    };
    match m.source_data.as_slice() {
        [LAYOUT_PLAIN, ba, hb, rest @ ..] => {
            let blob = bytes::decompress(rest, MAX_SOURCE_BYTES).map_err(damaged)?;
            Ok((*ba, *hb, Flags::default(), blob))
        }
        [LAYOUT_DICT, ba, hb, rest @ ..] => Ok((*ba, *hb, Flags::default(), with_dict(rest)?)),
        [LAYOUT_FLAGS, ba, hb, f, rest @ ..] => {
            Ok((*ba, *hb, Flags::from_byte(*f)?, with_dict(rest)?))
        }
        _ => malformed(KIND, "stored header block has an unknown layout"),
    }
}

/// The id of the header dictionary a stored DICOM source block (the
/// container's `SRC` section) was coded with, if any.
pub fn header_dictionary_of(source: &[u8]) -> Option<&[u8]> {
    match source {
        [LAYOUT_DICT, _, _, rest @ ..] | [LAYOUT_FLAGS, _, _, _, rest @ ..] => rest.get(..8),
        _ => None,
    }
}

/// Layouts of the stored header block: the header coded alone (files of
/// format versions 1 and 2), primed by the header dictionary (version 3),
/// and primed by it with a flags byte (version 4: big-endian pixel words,
/// deflated data sets; docs/FORMAT.md).
const LAYOUT_PLAIN: u8 = 1;
const LAYOUT_DICT: u8 = 2;
const LAYOUT_FLAGS: u8 = 3;

/// The embedded DICOM header dictionary: the headers of a few permissively
/// licensed sample files of several vendors and modalities (list, sources
/// and the command that builds it: `dict/README.md`), which primes the
/// header coder so that the first occurrence of a familiar structure or
/// vendor block costs little. Its id (first 8 bytes of its SHA-256) is
/// stored with every header coded with it.
pub(crate) fn header_dictionary() -> &'static (medzip_entropy::bytes::Dictionary, [u8; 8]) {
    static DICT: std::sync::OnceLock<(medzip_entropy::bytes::Dictionary, [u8; 8])> =
        std::sync::OnceLock::new();
    DICT.get_or_init(|| {
        let bytes: &[u8] = include_bytes!("../../dict/dicom_headers.bin");
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
    Ok(unpack(&read(bytes)?.meta)?.3)
}

pub(crate) fn write(img: &Image, m: &Metadata) -> Result<Vec<u8>> {
    let (ba, hb, flags, blob) = unpack(m)?;
    if flags.encapsulated {
        return write_encapsulated(img, m, ba, hb, &Stored::parse(flags, &blob)?);
    }
    if !(ba == 8 || ba == 16 || (ba == 1 && img.bits == 1 && !img.signed))
        || hb >= ba
        || hb + 1 < img.bits
    {
        return malformed(KIND, "stored pixel layout is inconsistent");
    }
    let st = Stored::parse(flags, &blob)?;
    let wd = Words {
        ba,
        shift: (hb + 1 - img.bits) as u32,
        bits: img.bits,
        signed: img.signed,
        zero_high: st.flags.zero_high,
    };
    let l = Layout {
        rows: m.plane_rows(img),
        cols: img.width,
        bits_allocated: ba,
        bits_stored: img.bits,
        high_bit: hb,
        signed: img.signed,
        photometric: m.photometric,
        frames: m.frames,
        planar: st.flags.planar,
    };
    if m.photometric.planes() != m.planes
        || (m.photometric == Photometric::YbrFull422 && !img.width.is_multiple_of(2))
        || (l.rows as u64 * l.frames as u64 * m.planes as u64 != img.height as u64)
        || l.frame_samples() * l.frames as usize != img.data.len()
    {
        return malformed(KIND, "stored frames and planes do not fit the image");
    }
    let plain = m.planes == 1 || l.planar;
    let n = img.data.len();
    let mut value = vec![0u8; pixel_bytes(ba, n)];
    value.reserve(st.tail.len());
    for i in 0..n {
        let v = img.data[if plain { i } else { l.tall_index(i) }];
        put_word(&mut value, ba, i, wd.canonical(v));
    }
    for &(i, w) in &st.fixups {
        if i >= n {
            return malformed(KIND, "fix-up outside the pixel data");
        }
        match ba {
            // (The byte that holds the sample, padding bits included.)
            1 => value[i / 8] = w as u8,
            8 => value[i] = w as u8,
            _ => value[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes()),
        }
    }
    value.extend_from_slice(st.tail);
    if st.flags.swap {
        if value.len() % 2 == 1 {
            return malformed(KIND, "big-endian Pixel Data of odd length");
        }
        swap_pairs(&mut value);
    }
    let mut ds = Vec::with_capacity(st.prefix.len() + value.len() + st.suffix.len());
    ds.extend_from_slice(st.prefix);
    ds.extend_from_slice(&value);
    ds.extend_from_slice(st.suffix);
    Ok(if st.flags.deflated {
        [st.head, &rebuild_deflate(&ds, st.corrections)?, st.trail].concat()
    } else {
        ds
    })
}

/// [`write`] for encapsulated pixel data (no other flag, no tail, fix-up
/// or transcoding: the reader never writes them with it).
fn write_encapsulated(img: &Image, m: &Metadata, ba: u8, hb: u8, st: &Stored) -> Result<Vec<u8>> {
    let f = st.flags;
    if f.swap
        || f.deflated
        || f.planar
        || !st.tail.is_empty()
        || !st.fixups.is_empty()
        || !st.transcoded_from.is_empty()
    {
        return malformed(KIND, "stored encapsulated pixel data with other parts");
    }
    // (A JPEG stream's precision may exceed BitsStored: the samples' bits
    // are checked against HighBit only where words are rebuilt, RLE.)
    if !(ba == 8 || ba == 16) || hb >= ba {
        return malformed(KIND, "stored pixel layout is inconsistent");
    }
    let shape = encaps::Shape {
        rows: m.plane_rows(img),
        cols: img.width,
        frames: m.frames,
        planes: m.planes as u32,
        signed: img.signed,
        bits_allocated: ba,
        bits_stored: img.bits,
        high_bit: hb,
    };
    if shape.rows as u64 * shape.frames as u64 * shape.planes as u64 != img.height as u64 {
        return malformed(KIND, "stored frames and planes do not fit the image");
    }
    let value = encaps::rebuild(st.recipe, &img.data, img.bits, &shape)
        .map_err(|msg| Error::Malformed { kind: KIND, msg })?;
    Ok([st.prefix, &value, st.suffix].concat())
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
            for zero_high in [false, true] {
                let wd = Words {
                    ba,
                    shift: (hb + 1 - bits) as u32,
                    bits,
                    signed,
                    zero_high,
                };
                let (lo, hi) = Image::range(bits, signed);
                for v in [lo, lo + 1, (-1).max(lo), 0, 1.min(hi), hi] {
                    let w = wd.canonical(v);
                    assert_eq!(wd.value(w), v, "{ba} {bits} {hb} {signed} {v}");
                    let high = w >> (wd.shift + bits as u32);
                    let sign_extended = signed && v < 0 && !zero_high;
                    assert_eq!(high != 0, sign_extended && hb + 1 < ba, "{w:#x}");
                }
            }
        }
    }

    /// An explicit VR little endian file of JPEG Lossless, RLE or JPEG-LS pixel
    /// data: `frames` frames of `w`×`h` pixels, `spp` samples each, `bits`
    /// stored in `ba`; JPEG streams cut into `split` fragments, RLE rows
    /// packed alone if `split` is 1 (else across rows, as some writers do).
    fn encapsulated_file(
        kind: encaps::Kind,
        (w, h, spp, frames): (u16, u16, u8, usize),
        (ba, bits, signed): (u16, u16, bool),
        split: usize,
    ) -> Vec<u8> {
        fn el(g: u16, n: u16, vr: &[u8; 2], v: &[u8]) -> Vec<u8> {
            let mut o = [g.to_le_bytes(), n.to_le_bytes()].concat();
            o.extend(vr);
            if matches!(vr, b"OB" | b"OW") {
                o.extend([0, 0]);
                o.extend((v.len() as u32).to_le_bytes());
            } else {
                o.extend((v.len() as u16).to_le_bytes());
            }
            o.extend(v);
            o
        }
        let us = |n: u16, v: u16| el(0x0028, n, b"US", &v.to_le_bytes());
        let ts: &[u8] = match kind {
            encaps::Kind::JpegLossless => b"1.2.840.10008.1.2.4.70",
            encaps::Kind::Rle => b"1.2.840.10008.1.2.5\0",
            encaps::Kind::JpegLs => b"1.2.840.10008.1.2.4.80",
            encaps::Kind::Jpeg2000 => b"1.2.840.10008.1.2.4.90",
        };
        let body = [el(2, 1, b"OB", &[0, 1]), el(2, 0x10, b"UI", ts)].concat();
        let mut f = vec![0u8; 128];
        f.extend(b"DICM");
        f.extend(el(2, 0, b"UL", &(body.len() as u32).to_le_bytes()));
        f.extend(body);
        f.extend(el(0x0008, 0x0060, b"CS", b"CT"));
        f.extend(us(0x0002, spp as u16));
        let pi: &[u8] = if spp == 3 { b"RGB " } else { b"MONOCHROME2 " };
        f.extend(el(0x0028, 0x0004, b"CS", pi));
        if spp == 3 {
            f.extend(us(0x0006, 0));
        }
        f.extend(el(0x0028, 0x0008, b"IS", format!("{frames:<2}").as_bytes()));
        for (n, v) in [(0x10, h), (0x11, w), (0x100, ba), (0x101, bits)] {
            f.extend(us(n, v));
        }
        f.extend(us(0x0102, bits - 1));
        f.extend(us(0x0103, signed as u16));
        let n = w as usize * h as usize * spp as usize * frames;
        let raw: Vec<u16> = (0..n)
            .map(|i| ((i * 7919 + i * i * 31) & ((1 << bits) - 1)) as u16)
            .collect();
        f.extend([
            0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        let sh = encaps::Shape {
            rows: h as u32,
            cols: w as u32,
            frames: frames as u32,
            planes: spp as u32,
            signed,
            bits_allocated: ba as u8,
            bits_stored: bits as u8,
            high_bit: bits as u8 - 1,
        };
        f.extend(match kind {
            encaps::Kind::JpegLossless => {
                encaps::tests::value_of(&raw, (w, h, bits as u8, spp, frames), 6, split)
            }
            encaps::Kind::JpegLs => encaps::tests::jpegls_value_of(&raw, &sh, 0),
            encaps::Kind::Jpeg2000 => {
                encaps::tests::jpeg2000_value_of(&encaps::tests::samples_for(&sh), &sh)
            }
            encaps::Kind::Rle => {
                encaps::tests::rle_value_of(&encaps::tests::samples_for(&sh), &sh, split == 1)
            }
        });
        f.extend(el(0xFFFC, 0xFFFC, b"OB", &[0; 4]));
        f
    }

    /// JPEG Lossless, RLE, JPEG-LS and JPEG 2000 files come back byte for byte, their
    /// samples coded by medzip at every effort: 8- and 16-bit, signed and
    /// unsigned, odd sizes, several frames and fragments, colour.
    #[test]
    fn encapsulated_files_come_back_byte_for_byte() {
        use encaps::Kind::{Jpeg2000, JpegLossless, JpegLs, Rle};
        for shape in [(13u16, 7u16, 1u8, 1usize), (13, 7, 1, 3), (9, 5, 3, 2)] {
            for px in [
                (8u16, 8u16, false),
                (16, 12, false),
                (16, 12, true),
                (16, 16, true),
            ] {
                for (kind, split) in [
                    (JpegLossless, 1),
                    (JpegLossless, 2),
                    (Rle, 1),
                    (Rle, 2),
                    (JpegLs, 1),
                    (Jpeg2000, 1),
                ] {
                    if matches!(kind, JpegLs | Jpeg2000) && shape.2 > 1 {
                        continue; // (grey streams only)
                    }
                    let name = format!("{kind:?} {shape:?} {px:?} split {split}");
                    let file = encapsulated_file(kind, shape, px, split);
                    let l =
                        read_transcoding(&file, false).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!((l.image.bits, l.image.signed), (px.1 as u8, px.2), "{name}");
                    let nt = notes(&l.meta).unwrap();
                    assert!(nt.iter().any(|n| n.contains(kind.name())), "{name}: {nt:?}");
                    assert_eq!(l.meta.file_sha256, Some(medzip_format::sha256(&file)));
                    for effort in [1, 2] {
                        let opts = medzip_codec::Options::effort(effort);
                        let mdz = medzip_codec::compress(&l.image, &l.meta, &opts).unwrap();
                        let (img, m) =
                            medzip_codec::decompress(&mdz, &medzip_codec::Limits::default(), None)
                                .unwrap();
                        assert_eq!(img, l.image, "{name}");
                        let back = crate::write(&img, &m).unwrap();
                        assert!(back == file, "{name} -e{effort}: not byte for byte");
                    }
                }
            }
        }
    }
}
