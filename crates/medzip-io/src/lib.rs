//! Image I/O for medzip: PNG, PGM, TIFF and DICOM in and out.
//!
//! [`read`] turns file bytes into an [`Image`] plus the [`Metadata`] needed
//! to rebuild the file; [`write()`] does the reverse. What comes back:
//!
//! * **PNG** (gray 1/2/4/8/16-bit; RGB/RGBA whose three channels are equal
//!   and whose alpha is opaque are gray): a grayscale PNG with the same bit
//!   depth and the same pixels.
//! * **PGM** (P2/P5, maxval up to 65535): the same kind (P2 or P5) and maxval.
//! * **TIFF** (gray 8/16-bit, unsigned or signed): a gray TIFF, same pixels.
//! * **DICOM** (single frame, one sample per pixel, bits allocated 8 or 16;
//!   read leniently, see [`dicom::parse`]): with native pixel data (implicit
//!   or explicit VR, little or big endian, deflated) the file comes back
//!   **byte for byte**, and so does encapsulated JPEG Lossless, RLE and
//!   grey JPEG-LS (its samples coded, each stream rebuilt exactly); any
//!   other encapsulated
//!   file is stored whole, or with [`ReadOptions::transcode`] (which [`read`]
//!   sets) first transcoded to Explicit VR Little Endian, and that native
//!   file comes back byte for byte (same pixels and attributes, native pixel
//!   data).
//!
//! A colour image (channels that differ) is refused with a clear error.
//!
//! [`detect`] never guesses in a way that can drop data: `DICM` at byte 128
//! is DICOM whatever the preamble holds. [`read`] and [`write()`] run each
//! file in isolation ([`isolate`]): a panic in a third-party decoder is that
//! file's error.

pub mod dicom;
mod pgm;
pub mod pngfile;
pub mod stored;
mod tifffile;

pub use medzip_format::{Image, Metadata};
use medzip_format::{Photometric, SourceKind};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("unsupported input: {0}")]
    Unsupported(String),
    #[error("malformed {kind} file: {msg}")]
    Malformed { kind: &'static str, msg: String },
    #[error(transparent)]
    Format(#[from] medzip_format::Error),
    #[error("rebuilt {0} file does not match the original's SHA-256; nothing written")]
    FileHashMismatch(&'static str),
    /// A reader or writer (usually a third-party decoder) failed on this
    /// file with a panic; the message is the panic's.
    #[error("a decoder failed on this file ({0}); nothing written")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn malformed<T>(kind: &'static str, msg: impl Into<String>) -> Result<T> {
    Err(Error::Malformed {
        kind,
        msg: msg.into(),
    })
}

/// A global allocator for binaries (`#[global_allocator] static A:
/// medzip_io::CappedAlloc = medzip_io::CappedAlloc;`) that refuses any single
/// allocation above [`ALLOC_CAP`] instead of making it.
/// A hostile file can declare huge element lengths that a third-party parser
/// reserves (fallibly) and then fills: dicom-rs does this for a 23 KB file
/// declaring a 4 GB value (found by fuzzing). Our own largest buffers at the
/// 2^28-pixel limit are 1 GiB, so nothing legitimate comes near the cap.
pub struct CappedAlloc;

pub const ALLOC_CAP: usize = 3 << 29; // 1.5 GiB

// SAFETY: every call is forwarded unchanged to the system allocator, or
// refused with a null pointer (allowed by the GlobalAlloc contract).
unsafe impl std::alloc::GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.size() > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOC_CAP {
            return std::ptr::null_mut();
        }
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// Reads arbitrary bytes as a file named `hint` and, when that succeeds for
/// an image of reasonable size, writes it back (the same bytes, where the
/// reader promises them): what the reader fuzz targets
/// and their regression replay run (not part of the API).
#[doc(hidden)]
pub fn fuzz_read_and_write(data: &[u8], hint: &str) {
    // Not isolated: the fuzzer must see panics.
    if let Ok(l) = read_unisolated(data, Some(hint), &ReadOptions::default()) {
        if l.image.data.len() < (1 << 22) {
            let back = write_unisolated(&l.image, &l.meta);
            // What promises the file's bytes (DICOM, TIFF) gives them.
            if l.meta.file_sha256.is_some() {
                assert!(
                    back.ok().as_deref() == Some(data),
                    "not the same bytes back"
                );
            }
        }
    }
}

/// Runs `f` (a read or a write) so that a panic inside it, typically in a
/// third-party decoder (dicom-rs, jpeg-decoder, openjp2, tiff, png), becomes
/// this file's [`Error::Internal`] instead of ending the process: one bad
/// file never stops a batch. (The panic hook still runs: a program that
/// wants no trace of it on stderr installs its own.)
pub fn isolate<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(Error::Internal(panic_message(&*payload))))
}

/// The message of a caught panic's payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Refuses image sizes beyond the default limits before any pixel buffer is
/// allocated (a header may claim anything).
pub(crate) fn check_size(width: u32, height: u32) -> Result<()> {
    medzip_format::Limits::default()
        .check_dimensions(width, height)
        .map_err(|e| Error::Unsupported(e.to_string()))
}

/// Checks the samples of every plane and frame against the limits a
/// decoder applies, so that nothing is coded that could not be decoded.
pub(crate) fn check_samples(samples: u64) -> Result<()> {
    medzip_format::Limits::default()
        .check_pixels(samples)
        .map_err(|e| Error::Unsupported(e.to_string()))
}

/// Samples given pixel by pixel (`planes` to a pixel) as planes, one after
/// the other.
fn planar(px: &[i32], planes: usize) -> Vec<i32> {
    (0..planes)
        .flat_map(|c| px.iter().skip(c).step_by(planes).copied())
        .collect()
}

/// [`planar`]'s inverse: planes, one after the other, pixel by pixel.
fn interleaved(data: &[i32], planes: usize) -> Vec<i32> {
    let n = data.len() / planes;
    (0..data.len())
        .map(|i| data[(i % planes) * n + i / planes])
        .collect()
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Detects the kind of an input from its bytes (and its name, for a DICOM
/// file that has neither preamble nor meta group and whose first elements
/// do not parse).
///
/// `DICM` at offset 128 is DICOM whatever the 128-byte preamble holds: a
/// "dual-personality" file with a TIFF header there is read as DICOM, so
/// that its header (patient, study, every private tag) is never dropped.
pub fn detect(bytes: &[u8], name_hint: Option<&str>) -> Option<SourceKind> {
    if dicom::parse::has_preamble_magic(bytes) {
        return Some(SourceKind::Dicom);
    }
    if bytes.starts_with(PNG_MAGIC) {
        return Some(SourceKind::Png);
    }
    if pgm::has_magic(bytes) {
        return Some(SourceKind::Pgm);
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Some(SourceKind::Tiff);
    }
    if bytes.starts_with(b"DICM") || dicom::parse::looks_like_dataset(bytes) {
        return Some(SourceKind::Dicom);
    }
    let ext = name_hint
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("dcm") | Some("dicom")) {
        return Some(SourceKind::Dicom);
    }
    None
}

/// How [`read_or_store`] reads a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Code an encapsulated DICOM file by its pixels (native DICOM with the
    /// same pixels comes back) instead of storing it whole.
    pub transcode: bool,
    /// A PNG file comes back byte for byte (its deflate stream rebuilt by
    /// preflate-rs), or is stored whole; without it, the same pixels and
    /// every chunk come back in a file of medzip's making.
    pub exact_file: bool,
}

/// An input decoded: the pixels and what is needed to rebuild the file.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub image: Image,
    pub meta: Metadata,
}

fn meta(
    source: SourceKind,
    container_bits: u8,
    photometric: Photometric,
    source_data: Vec<u8>,
) -> Metadata {
    Metadata {
        photometric,
        source,
        container_bits,
        source_data,
        file_sha256: None,
        model_id: Vec::new(),
        frames: 1,
        planes: photometric.planes(),
    }
}

/// Reads an image file's bytes (isolated: see [`isolate`]).
pub fn read(bytes: &[u8], name_hint: Option<&str>) -> Result<Loaded> {
    let opts = ReadOptions {
        transcode: true,
        exact_file: false,
    };
    isolate(|| read_unisolated(bytes, name_hint, &opts))
}

fn read_unisolated(bytes: &[u8], name_hint: Option<&str>, opts: &ReadOptions) -> Result<Loaded> {
    // A PNG or PGM whose bytes 128..132 happen to read `DICM` (pixel or
    // compressed data) is DICOM only if it parses as DICOM. (A TIFF header
    // before `DICM` never makes a file TIFF: reading it so would drop the
    // DICOM header.)
    if dicom::parse::has_preamble_magic(bytes)
        && (bytes.starts_with(PNG_MAGIC) || pgm::has_magic(bytes))
    {
        return dicom::read_transcoding(bytes, opts.transcode).or_else(|e| {
            // (Encapsulated DICOM refused for being kept byte for byte
            // stays refused: read as the other kind, it would come back
            // as that kind's file.)
            if !opts.transcode && dicom::encapsulated(bytes) {
                return Err(e);
            }
            let other = if bytes.starts_with(PNG_MAGIC) {
                read_png(bytes, opts.exact_file)
            } else {
                pgm::read(bytes)
            };
            other.map_err(|_| e)
        });
    }
    match detect(bytes, name_hint) {
        Some(SourceKind::Png) => read_png(bytes, opts.exact_file),
        Some(SourceKind::Pgm) => pgm::read(bytes),
        Some(SourceKind::Tiff) => read_tiff(bytes),
        Some(SourceKind::Dicom) => dicom::read_transcoding(bytes, opts.transcode),
        _ => Err(Error::Unsupported(
            "not a PNG, PGM (P2/P5), TIFF or DICOM file".into(),
        )),
    }
}

/// Reads any file: as an image where medzip reads it as one without
/// changing its bytes, else stored whole ([`stored`]): a file that is not
/// an image, or one that [`read`] refuses, is kept as bytes instead of
/// refused. An encapsulated DICOM file is read by its samples where its
/// streams are rebuilt from them byte for byte (JPEG Lossless, RLE, grey
/// JPEG-LS, grey lossless JPEG 2000 as OpenJPEG writes it), with
/// [`ReadOptions::transcode`] transcoded to native DICOM with the same
/// pixels (other JPEG 2000 too: a smaller `.mdz`, other bytes), and
/// stored whole otherwise, so that it comes back byte for byte; a PNG file that [`ReadOptions::exact_file`] asks back byte for
/// byte and that cannot be rebuilt so is stored whole too. Returns what was
/// read and, for a file stored whole, why. Only an I/O error or a file too
/// large to store is an error.
pub fn read_or_store(
    bytes: &[u8],
    name_hint: Option<&str>,
    opts: &ReadOptions,
) -> Result<(Loaded, Option<String>)> {
    match isolate(|| read_unisolated(bytes, name_hint, opts)) {
        Ok(l) => Ok((l, None)),
        Err(Error::Io(e)) => Err(Error::Io(e)),
        Err(e) => Ok((isolate(|| stored::store(bytes))?, Some(e.to_string()))),
    }
}

/// Writes decoded pixels as a file of another kind than the one they were
/// read from (PNG, PGM or TIFF: identical pixels, nothing else of the
/// source file); what the kind cannot hold is refused (signed samples in
/// PNG or PGM; DICOM, whose header cannot be invented).
pub fn write_as(img: &Image, kind: SourceKind, photometric: Photometric) -> Result<Vec<u8>> {
    if img.signed && matches!(kind, SourceKind::Png | SourceKind::Pgm) {
        return Err(Error::Unsupported(format!(
            "signed samples cannot be written as {} (TIFF can hold them)",
            kind.name()
        )));
    }
    if img.data.is_empty() {
        return Err(Error::Unsupported(format!(
            "a file stored whole has no pixels to write as {}",
            kind.name()
        )));
    }
    if !matches!(kind, SourceKind::Png | SourceKind::Pgm | SourceKind::Tiff) {
        return Err(Error::Unsupported(format!(
            "pixels can be written as PNG, PGM or TIFF, not {}",
            kind.name()
        )));
    }
    let container_bits = if img.bits <= 8 { 8 } else { 16 };
    match photometric {
        Photometric::Monochrome1 | Photometric::Monochrome2 => {}
        Photometric::Rgb => return isolate(|| write_rgb(img, kind, container_bits, &[])),
        p => {
            return Err(Error::Unsupported(format!(
                "{} pixels cannot be written as {} (their colours need the DICOM file: decompress to it)",
                p.name(),
                kind.name()
            )))
        }
    }
    isolate(|| write_unisolated(img, &meta(kind, container_bits, photometric, Vec::new())))
}

/// One RGB frame (three planes one after the other, unsigned) as an RGB
/// PNG (with `chunks` in their places) or TIFF file of `container_bits`
/// per sample.
fn write_rgb(
    img: &Image,
    kind: SourceKind,
    container_bits: u8,
    chunks: &[pngfile::KeptChunk],
) -> Result<Vec<u8>> {
    let bad = |e: String| Error::Unsupported(format!("{} writer: {e}", kind.name()));
    if img.signed || !img.height.is_multiple_of(3) {
        return Err(bad("three unsigned planes expected".into()));
    }
    let (w, h) = (img.width, img.height / 3);
    let rgb: Vec<u16> = interleaved(&img.data, 3)
        .into_iter()
        .map(|v| v as u16)
        .collect();
    let wide = container_bits > 8 || img.bits > 8;
    match kind {
        SourceKind::Png => {
            let mut out = Vec::new();
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(if wide {
                png::BitDepth::Sixteen
            } else {
                png::BitDepth::Eight
            });
            enc.set_compression(png::Compression::Fast);
            let mut wr = enc.write_header().map_err(|e| bad(e.to_string()))?;
            put_chunks(&mut wr, chunks, false)?;
            let bytes: Vec<u8> = match wide {
                true => rgb.iter().flat_map(|v| v.to_be_bytes()).collect(),
                false => rgb.iter().map(|&v| v as u8).collect(),
            };
            wr.write_image_data(&bytes)
                .map_err(|e| bad(e.to_string()))?;
            put_chunks(&mut wr, chunks, true)?;
            wr.finish().map_err(|e| bad(e.to_string()))?;
            Ok(out)
        }
        SourceKind::Tiff => {
            use tiff::encoder::{colortype, TiffEncoder};
            let mut out = std::io::Cursor::new(Vec::new());
            let mut enc = TiffEncoder::new(&mut out).map_err(|e| bad(e.to_string()))?;
            match wide {
                true => enc.write_image::<colortype::RGB16>(w, h, &rgb),
                false => {
                    let b: Vec<u8> = rgb.iter().map(|&v| v as u8).collect();
                    enc.write_image::<colortype::RGB8>(w, h, &b)
                }
            }
            .map_err(|e| bad(e.to_string()))?;
            Ok(out.into_inner())
        }
        _ => Err(Error::Unsupported(format!(
            "colour pixels cannot be written as {} (PNG and TIFF can hold them)",
            kind.name()
        ))),
    }
}

/// Rebuilds the source file from decoded pixels and metadata (isolated:
/// see [`isolate`]).
pub fn write(img: &Image, meta: &Metadata) -> Result<Vec<u8>> {
    isolate(|| write_unisolated(img, meta))
}

fn write_unisolated(img: &Image, meta: &Metadata) -> Result<Vec<u8>> {
    let out = match meta.source {
        SourceKind::Png | SourceKind::Raw => write_png(img, meta)?,
        SourceKind::Pgm => pgm::write(img, meta)?,
        SourceKind::Tiff => write_tiff(img, meta)?,
        SourceKind::Dicom => dicom::write(img, meta)?,
        SourceKind::File => stored::unstore(&meta.source_data)?,
    };
    if let Some(h) = meta.file_sha256 {
        if medzip_format::sha256(&out) != h {
            return Err(Error::FileHashMismatch(meta.source.name()));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- PNG ----

fn read_png(bytes: &[u8], exact_file: bool) -> Result<Loaded> {
    let bad = |e: png::DecodingError| Error::Malformed {
        kind: "PNG",
        msg: e.to_string(),
    };
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::IDENTITY);
    let mut reader = dec.read_info().map_err(bad)?;
    let (iw, ih) = reader.info().size();
    check_size(iw, ih)?;
    let mut buf = vec![
        0u8;
        reader
            .output_buffer_size()
            .ok_or_else(|| Error::Unsupported("PNG too large".into()))?
    ];
    let frame = reader.next_frame(&mut buf).map_err(bad)?;
    let (w, h) = (frame.width, frame.height);
    let depth = frame.bit_depth as u8;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(Error::Unsupported(
                "palette PNG (expected grayscale)".into(),
            ))
        }
    };
    let line = frame.line_size;
    let n = w as usize * h as usize;
    let mut data = Vec::with_capacity(n);
    let (mut green, mut blue, mut colour) = (Vec::new(), Vec::new(), false);
    for y in 0..h as usize {
        let row = &buf[y * line..(y + 1) * line];
        // Plain grey rows (nearly every PNG medzip meets) without the
        // per-sample checks of the general case.
        if channels == 1 && depth == 8 {
            data.extend(row[..w as usize].iter().map(|&b| b as i32));
            continue;
        }
        if channels == 1 && depth == 16 {
            data.extend(
                row[..2 * w as usize]
                    .chunks_exact(2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]) as i32),
            );
            continue;
        }
        for x in 0..w as usize {
            let sample = |c: usize| -> i32 {
                let i = x * channels + c;
                match depth {
                    16 => u16::from_be_bytes([row[2 * i], row[2 * i + 1]]) as i32,
                    8 => row[i] as i32,
                    d => {
                        let d = d as usize;
                        let bit = i * d;
                        ((row[bit / 8] >> (8 - d - bit % 8)) & ((1 << d) - 1) as u8) as i32
                    }
                }
            };
            let g = sample(0);
            if channels >= 3 {
                let (gg, b) = (sample(1), sample(2));
                colour |= gg != g || b != g;
                green.push(gg);
                blue.push(b);
            }
            if channels == 2 || channels == 4 {
                let a = sample(channels - 1);
                if a != (1 << depth) - 1 {
                    return Err(Error::Unsupported(
                        "PNG with a non-opaque alpha channel".into(),
                    ));
                }
            }
            data.push(g);
        }
    }
    // Colour (channels that differ somewhere): three planes, R, G, B.
    let (h, photometric) = match colour {
        true => {
            check_samples(3 * n as u64)?;
            data.extend(green);
            data.extend(blue);
            (3 * h, Photometric::Rgb)
        }
        false => (h, Photometric::Monochrome2),
    };
    let image = Image::new(w, h, depth, false, data)?;
    let container = if depth == 16 { 16 } else { 8 };
    let (src, file_sha256) = if exact_file {
        let src = pngfile::exact(bytes, &image)
            .map_err(|why| Error::Unsupported(format!("PNG not rebuilt byte for byte: {why}")))?;
        (src, Some(medzip_format::sha256(bytes)))
    } else {
        // (Chunks tied to the colour type are kept where the file written
        // back has the same: grey from grey, RGB from RGB.)
        let same_type = channels == 1 || (colour && channels == 3);
        (pngfile::keep_chunks(bytes, same_type)?, None)
    };
    let mut m = meta(SourceKind::Png, container, photometric, src);
    m.file_sha256 = file_sha256;
    Ok(Loaded { image, meta: m })
}

/// Writes the kept chunks that go before (`after` false) or after the
/// image data.
fn put_chunks(
    wr: &mut png::Writer<&mut Vec<u8>>,
    chunks: &[pngfile::KeptChunk],
    after: bool,
) -> Result<()> {
    for (_, ty, data) in chunks.iter().filter(|c| c.0 == after) {
        wr.write_chunk(png::chunk::ChunkType(*ty), data)
            .map_err(|e| Error::Unsupported(format!("PNG chunk: {e}")))?;
    }
    Ok(())
}

fn write_png(img: &Image, meta: &Metadata) -> Result<Vec<u8>> {
    if let Some(file) = pngfile::rebuild(img, &meta.source_data)? {
        return Ok(file);
    }
    // The source file's chunks, in their places (none for files made
    // before they were kept, or from other kinds).
    let chunks = if meta.source == SourceKind::Png && !meta.source_data.is_empty() {
        pngfile::kept_chunks(&meta.source_data)?
    } else {
        Vec::new()
    };
    if meta.photometric == Photometric::Rgb {
        return write_rgb(img, SourceKind::Png, meta.container_bits, &chunks);
    }
    let (lo, _) = Image::range(img.bits, img.signed);
    let depth = match img.bits {
        1 | 2 | 4 | 8 if meta.container_bits == 8 => img.bits,
        b if b <= 8 && meta.container_bits == 8 => 8,
        _ => 16,
    };
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width, img.height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::from_u8(depth).expect("valid PNG depth"));
        // Decoding speed matters more here than the last percent of PNG size.
        enc.set_compression(png::Compression::Fast);
        let mut wr = enc
            .write_header()
            .map_err(|e| Error::Unsupported(e.to_string()))?;
        put_chunks(&mut wr, &chunks, false)?;
        let w = img.width as usize;
        let line = (w * depth as usize).div_ceil(8);
        let mut buf = vec![0u8; line * img.height as usize];
        for (y, row) in img.data.chunks(w).enumerate() {
            let out = &mut buf[y * line..(y + 1) * line];
            for (x, &v) in row.iter().enumerate() {
                // PNG holds unsigned samples; signed images are shifted.
                let u = if img.signed { v - lo } else { v } as u32;
                match depth {
                    16 => out[2 * x..2 * x + 2].copy_from_slice(&(u as u16).to_be_bytes()),
                    8 => out[x] = u as u8,
                    d => {
                        let d = d as usize;
                        let bit = x * d;
                        out[bit / 8] |= (u as u8) << (8 - d - bit % 8);
                    }
                }
            }
        }
        wr.write_image_data(&buf)
            .map_err(|e| Error::Unsupported(e.to_string()))?;
        put_chunks(&mut wr, &chunks, true)?;
        wr.finish().map_err(|e| Error::Unsupported(e.to_string()))?;
    }
    Ok(out)
}

// --------------------------------------------------------------- TIFF ----

fn read_tiff(bytes: &[u8]) -> Result<Loaded> {
    use tiff::decoder::{Decoder, DecodingResult};
    let bad = |e: tiff::TiffError| Error::Malformed {
        kind: "TIFF",
        msg: e.to_string(),
    };
    let mut dec = Decoder::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let (w, h) = dec.dimensions().map_err(bad)?;
    check_size(w, h)?;
    let rgb = match dec.colortype().map_err(bad)? {
        tiff::ColorType::Gray(8) | tiff::ColorType::Gray(16) => false,
        tiff::ColorType::RGB(8) | tiff::ColorType::RGB(16) => true,
        c => {
            return Err(Error::Unsupported(format!(
                "TIFF colour type {c:?} (expected 8- or 16-bit gray or RGB)"
            )))
        }
    };
    let photometric = match dec.get_tag_u32(tiff::tags::Tag::PhotometricInterpretation) {
        _ if rgb => Photometric::Rgb,
        Ok(0) => Photometric::Monochrome1,
        _ => Photometric::Monochrome2,
    };
    let (data, bits, signed): (Vec<i32>, u8, bool) = match dec.read_image().map_err(bad)? {
        DecodingResult::U8(v) => (v.into_iter().map(i32::from).collect(), 8, false),
        DecodingResult::U16(v) => (v.into_iter().map(i32::from).collect(), 16, false),
        DecodingResult::I8(v) => (v.into_iter().map(i32::from).collect(), 8, true),
        DecodingResult::I16(v) => (v.into_iter().map(i32::from).collect(), 16, true),
        _ => return Err(Error::Unsupported("TIFF sample format".into())),
    };
    // Every tag and byte kept: the file rebuilds byte for byte from the
    // samples, or it is not read as an image (and so stored whole).
    let src = tifffile::exact(bytes, &data, bits as usize / 8)
        .map_err(|why| Error::Unsupported(format!("TIFF not kept byte for byte: {why}")))?;
    // RGB: pixel by pixel in the file, three planes here.
    let (h, data) = match rgb {
        true if signed => {
            return Err(Error::Unsupported(
                "TIFF of signed RGB samples (medzip codes unsigned colour)".into(),
            ))
        }
        true => {
            check_samples(3 * w as u64 * h as u64)?;
            (3 * h, planar(&data, 3))
        }
        false => (h, data),
    };
    let image = Image::new(w, h, bits, signed, data)?;
    let mut m = meta(SourceKind::Tiff, bits, photometric, src);
    m.file_sha256 = Some(medzip_format::sha256(bytes));
    Ok(Loaded { image, meta: m })
}

fn write_tiff(img: &Image, meta: &Metadata) -> Result<Vec<u8>> {
    use tiff::encoder::{colortype, TiffEncoder};
    if meta.source == SourceKind::Tiff && !meta.source_data.is_empty() {
        return tifffile::rebuild(img, meta.photometric == Photometric::Rgb, &meta.source_data);
    }
    if meta.photometric == Photometric::Rgb {
        return write_rgb(img, SourceKind::Tiff, meta.container_bits, &[]);
    }
    let bad = |e: tiff::TiffError| Error::Unsupported(format!("TIFF writer: {e}"));
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut enc = TiffEncoder::new(&mut out).map_err(bad)?;
        let (w, h) = (img.width, img.height);
        match (meta.container_bits, img.signed) {
            (8, false) => {
                let d: Vec<u8> = img.data.iter().map(|&v| v as u8).collect();
                enc.write_image::<colortype::Gray8>(w, h, &d).map_err(bad)?;
            }
            (8, true) => {
                let d: Vec<i8> = img.data.iter().map(|&v| v as i8).collect();
                enc.write_image::<colortype::GrayI8>(w, h, &d)
                    .map_err(bad)?;
            }
            (_, false) => {
                let d: Vec<u16> = img.data.iter().map(|&v| v as u16).collect();
                enc.write_image::<colortype::Gray16>(w, h, &d)
                    .map_err(bad)?;
            }
            (_, true) => {
                let d: Vec<i16> = img.data.iter().map(|&v| v as i16).collect();
                enc.write_image::<colortype::GrayI16>(w, h, &d)
                    .map_err(bad)?;
            }
        }
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(bits: u8, signed: bool, w: u32, h: u32) -> Image {
        let (lo, hi) = Image::range(bits, signed);
        let span = (hi - lo + 1) as i64;
        let data = (0..w as i64 * h as i64)
            .map(|i| lo + ((i * 7919 + i * i) % span) as i32)
            .collect();
        Image::new(w, h, bits, signed, data).unwrap()
    }

    #[test]
    fn png_roundtrip_all_depths() {
        for bits in [1u8, 2, 4, 8, 16] {
            let im = img(bits, false, 13, 7);
            let m = meta(
                SourceKind::Png,
                if bits == 16 { 16 } else { 8 },
                Photometric::Monochrome2,
                vec![],
            );
            let b = write(&im, &m).unwrap();
            let l = read(&b, None).unwrap();
            assert_eq!(l.image, im, "bits {bits}");
        }
    }

    #[test]
    fn tiff_roundtrip() {
        for (bits, signed) in [(8u8, false), (16, false), (16, true), (8, true)] {
            let im = img(bits, signed, 11, 5);
            let m = meta(SourceKind::Tiff, bits, Photometric::Monochrome2, vec![]);
            let b = write(&im, &m).unwrap();
            assert_eq!(read(&b, None).unwrap().image, im);
        }
        // RGB: three planes (11×5 each) in, an RGB TIFF out.
        for bits in [8u8, 16] {
            let im = img(bits, false, 11, 15);
            let m = meta(SourceKind::Tiff, bits, Photometric::Rgb, vec![]);
            let b = write(&im, &m).unwrap();
            let back = read(&b, None).unwrap();
            assert_eq!((back.image, back.meta.photometric), (im, Photometric::Rgb));
        }
    }

    /// A TIFF comes back byte for byte, private tags included, big and
    /// little endian, grey and RGB, through the codec; one medzip cannot
    /// rebuild so (several pages, compressed strips) is not read as an
    /// image, and `read_or_store` keeps it whole.
    #[test]
    fn tiff_comes_back_byte_for_byte_or_is_stored_whole() {
        use tiff::encoder::{colortype, TiffEncoder};
        use tiff::tags::Tag;
        // A TIFF written by hand: 5×3 16-bit grey in two strips, a private
        // ASCII tag, either byte order. Header (8 bytes), IFD of 9 entries
        // (8..122), strip offsets (122..130) and counts (130..138), strips
        // of rows 0–1 (138..158) and row 2 (158..168).
        let by_hand = |big: bool| {
            let u16b = |v: u16| {
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let u32b = |v: u32| {
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let mut f: Vec<u8> = if big {
                b"MM\0*".to_vec()
            } else {
                b"II*\0".to_vec()
            };
            f.extend(u32b(8));
            f.extend(u16b(9));
            let short =
                |tag: u16, v: u16| [&u16b(tag)[..], &u16b(3), &u32b(1), &u16b(v), &[0, 0]].concat();
            let long = |tag: u16, ty: u16, n: u32, v: [u8; 4]| {
                [&u16b(tag)[..], &u16b(ty), &u32b(n), &v].concat()
            };
            for (tag, v) in [(256, 5), (257, 3), (258, 16), (259, 1), (262, 1)] {
                f.extend(short(tag, v));
            }
            f.extend(long(273, 4, 2, u32b(122)));
            f.extend(short(278, 2));
            f.extend(long(279, 4, 2, u32b(130)));
            f.extend(long(65000, 2, 4, *b"abc\0"));
            f.extend(u32b(0));
            assert_eq!(f.len(), 122);
            for v in [138, 158, 20, 10] {
                f.extend(u32b(v));
            }
            for i in 0..15u16 {
                f.extend(u16b(i * 4099));
            }
            f
        };
        // And RGB with tags, as the tiff crate writes it.
        let rgb = {
            let mut out = std::io::Cursor::new(Vec::new());
            let mut enc = TiffEncoder::new(&mut out).unwrap();
            let d: Vec<u16> = (0..7 * 5 * 3).map(|i| (i * 977 % 65536) as u16).collect();
            let mut im = enc.new_image::<colortype::RGB16>(7, 5).unwrap();
            im.encoder().write_tag(Tag::Artist, "medzip test").unwrap();
            im.write_data(&d).unwrap();
            out.into_inner()
        };
        for (name, file, planes) in [
            ("II", by_hand(false), 1),
            ("MM", by_hand(true), 1),
            ("RGB", rgb, 3),
        ] {
            let l = read(&file, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(l.meta.planes, planes, "{name}");
            let mdz = medzip_codec::compress(&l.image, &l.meta, &medzip_codec::Options::effort(1))
                .unwrap();
            let (img, m) = medzip_codec::decompress(&mdz, &Default::default(), None).unwrap();
            assert!(
                write(&img, &m).unwrap() == file,
                "{name}: not byte for byte"
            );
        }
        // Two pages; compressed strips.
        let mut two = std::io::Cursor::new(Vec::new());
        {
            let mut enc = TiffEncoder::new(&mut two).unwrap();
            enc.write_image::<colortype::Gray8>(3, 2, &[1, 2, 3, 4, 5, 6])
                .unwrap();
            enc.write_image::<colortype::Gray8>(3, 2, &[6, 5, 4, 3, 2, 1])
                .unwrap();
        }
        let mut lzw = std::io::Cursor::new(Vec::new());
        TiffEncoder::new(&mut lzw)
            .unwrap()
            .with_compression(tiff::encoder::Compression::Lzw)
            .write_image::<colortype::Gray8>(3, 2, &[1, 2, 3, 4, 5, 6])
            .unwrap();
        for (name, file) in [("two pages", two.into_inner()), ("LZW", lzw.into_inner())] {
            let e = read(&file, None).unwrap_err();
            assert!(e.to_string().contains("byte for byte"), "{name}: {e}");
            let (l, why) = read_or_store(&file, None, &ReadOptions::default()).unwrap();
            assert!(why.is_some() && l.meta.source == SourceKind::File, "{name}");
            assert!(write(&l.image, &l.meta).unwrap() == file, "{name}");
        }
    }

    #[test]
    fn colour_png_comes_back_with_its_pixels_and_chunks() {
        for (depth, w, h) in [(8u8, 7u32, 5u32), (16, 3, 9)] {
            let mut out = Vec::new();
            {
                let mut enc = png::Encoder::new(&mut out, w, h);
                enc.set_color(png::ColorType::Rgb);
                enc.set_depth(png::BitDepth::from_u8(depth).unwrap());
                let mut wr = enc.write_header().unwrap();
                // A colour key (tRNS for RGB: three 16-bit samples) before
                // the image, a text chunk after it.
                wr.write_chunk(png::chunk::tRNS, &[0, 1, 0, 2, 0, 3])
                    .unwrap();
                let n = (w * h * 3) as usize * depth as usize / 8;
                let data: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
                wr.write_image_data(&data).unwrap();
                wr.write_chunk(png::chunk::ChunkType(*b"tEXt"), b"Comment\0rgb")
                    .unwrap();
            }
            let l = read(&out, None).unwrap();
            assert_eq!((l.meta.photometric, l.meta.planes), (Photometric::Rgb, 3));
            assert_eq!((l.image.width, l.image.height), (w, 3 * h));
            let back = write(&l.image, &l.meta).unwrap();
            let again = read(&back, None).unwrap();
            assert_eq!(again.image, l.image, "{depth}-bit");
            let types = |b: &[u8]| {
                pngfile::chunks(b)
                    .unwrap()
                    .iter()
                    .map(|c| c.ty)
                    .filter(|t| t != b"IDAT")
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                types(&back),
                types(&out),
                "{depth}-bit: chunks in their places"
            );
        }
        // A colour image whose alpha is not opaque is not an image medzip
        // codes (it is stored whole by `read_or_store`).
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 2, 1);
            enc.set_color(png::ColorType::Rgba);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[1, 2, 3, 255, 4, 4, 4, 7]).unwrap();
        }
        let e = read(&out, None).unwrap_err();
        assert!(e.to_string().contains("alpha"), "{e}");
    }

    #[test]
    fn unknown_input_is_refused() {
        assert!(matches!(read(b"hello", None), Err(Error::Unsupported(_))));
    }

    /// The committed DICOM sample: its header is stored primed by the
    /// header dictionary (layout 2, the dictionary's id) and comes back
    /// byte for byte; a header coded with another dictionary is refused by
    /// name, and a header of layout 1 (no dictionary) still decodes.
    #[test]
    fn dicom_header_with_and_without_the_dictionary() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../samples/mr12_suyashkumar_3.dcm"
        );
        let bytes = std::fs::read(path).unwrap();
        let l = read(&bytes, None).unwrap();
        assert_eq!(l.meta.source_data[0], 2);
        assert_eq!(write(&l.image, &l.meta).unwrap(), bytes);

        let mut other = l.meta.clone();
        other.source_data[3] ^= 1;
        let e = write(&l.image, &other).unwrap_err();
        assert!(e.to_string().contains("header dictionary"), "{e}");

        // The dictionary's length is a multiple of 4, so the byte coder's
        // tag-alignment context (position mod 4) lines up with the header's.
        assert_eq!(include_bytes!("../dict/dicom_headers.bin").len() % 4, 0);

        let blob = dicom::header_bytes(&bytes).unwrap();
        let mut plain = l.meta.clone();
        plain.source_data = [&[1u8], &l.meta.source_data[1..3]].concat();
        plain
            .source_data
            .extend_from_slice(&medzip_entropy::bytes::compress(&blob));
        assert_eq!(write(&l.image, &plain).unwrap(), bytes);
    }
}
