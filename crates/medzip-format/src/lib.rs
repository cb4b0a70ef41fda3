//! The medzip container (format versions 1–20, see [`VERSION`]): magic,
//! version, a sequence of sections, each with a tag, a length and a CRC-32,
//! and a terminating `END ` section; or, since version 15, for a small
//! single grey image without a file hash, the compact layout (a short
//! magic, one CRC-32, varints and an 8-byte pixel hash: about 30 bytes
//! instead of about 125, see [`compact_fits`]).
//!
//! This crate knows nothing about how pixels are coded: the codec layer owns
//! the payload of the `PIXL` section. What lives here is everything a reader
//! needs to *validate* a file before any decoding starts: the image
//! description, the model id, the hash of the original pixels (and of the
//! original file, where the output must be byte-identical), and limits that
//! bound memory before anything is allocated.
//!
//! The byte layout is specified in `docs/FORMAT.md`; keep the two in step.

use sha2::{Digest, Sha256};
use std::fmt;

/// First eight bytes of every medzip file (PNG-style: catches text-mode and
/// 7-bit transfer damage).
pub const MAGIC: [u8; 8] = *b"\x89MDZ\r\n\x1a\n";
/// The newest format version this crate reads. It writes version 1; 2 for
/// files whose model id names a context network (tag `N`); 3 for DICOM
/// files whose header is coded with the header dictionary (source block
/// layout 2); 4 for DICOM files whose source block has layout 3 (a flags
/// byte: big-endian pixel words, deflated data sets); 5 for pixels coded by
/// the fast coder (residual 3); 6 for files stored whole ([`SourceKind::File`],
/// since 2026-11-30); 7 for images of several frames or planes, or of a
/// colour photometric interpretation (since 2026-11-30): builds from before
/// refuse such files by version instead of decoding them wrongly or calling
/// them damaged; 8 for pixels coded as a recovered JPEG (residual 4), or
/// DICOM pixel data of 1-bit samples (since 2026-12-01); 9 for pixels
/// coded by the network's distribution as tokens (residual 5, the default
/// level of 2026-12-01); 10 for DICOM files whose encapsulated pixel data is
/// rebuilt from the samples (source block layout 3 with flag bit 3, since
/// 2026-12-01); 11 for the default level's tokens with the network's
/// weight chosen per energy bucket (residual 6, since 2026-12-02); 12 for
/// the same choice by fine code lengths (residual 7, since 2026-12-02); 13
/// for DICOM files whose encapsulated JPEG 2000 pixel data is rebuilt from
/// the samples (source block layout 3 with flag bit 4, since 2026-12-02);
/// 14 for DICOM files of signed samples whose words keep their unused high
/// bits zero (source block layout 3 with flag bit 5, since 2026-12-02); 15
/// for files in the compact layout (small images, since 2026-12-03) and
/// model ids with an embedded model set (entry kind `E`); 16 for the
/// default level's pixels of flat neighbourhoods coded by one flag
/// (residual 8, since 2026-12-03; in either layout); 17 for the default
/// level's network distribution calibrated online (residuals 9 and 10,
/// since 2026-12-03; in either layout) and for a value map of intervals
/// (kind 2, any coder with a value map); 18 for the context-mixing coder
/// with pattern contexts (residual 11, images of at most 32 values, since
/// 2026-12-03); 19 for the default level's calibration with a scale factor
/// per intensity (residuals 12 and 13, since 2026-12-04; in either
/// layout); 20 for the default level's graphics tools (residuals 14 and
/// 15, since 2026-12-04; in either layout).
pub const VERSION: u16 = 20;

/// First four bytes of a file in the compact layout (format version 15):
/// the long magic's first byte (not ASCII: catches 7-bit transfers), then
/// `mdz` in lower case.
pub const COMPACT_MAGIC: [u8; 4] = *b"\x89mdz";
/// Most samples an image in the compact layout may have (256 × 256).
pub const COMPACT_MAX_SAMPLES: u64 = 1 << 16;
/// Bytes of the pixels' SHA-256 that a compact file keeps (its first).
pub const COMPACT_HASH_BYTES: usize = 8;

/// Whether an image described by `desc` is written in the compact layout:
/// a single grey image (one frame, one plane, MONOCHROME1 or 2) of at most
/// [`COMPACT_MAX_SAMPLES`] samples from a PNG, PGM, TIFF or raw pixels
/// without a file hash to carry (a source block of `source_len` bytes it
/// may have, up to 2^32 − 1: a PGM's kind and maxval, a PNG's other
/// chunks). For such images the
/// long layout's fixed costs (magic and version, four section headers, the
/// header's fixed-width fields and a 32-byte hash: about 125 bytes with the
/// default coder's model ids) would be a large part of the file (a 16 × 16
/// chest X-ray crop: 224 bytes, of which 99 pixels). The codec writes its
/// pixel section's integers as varints in this layout
/// ([`Reader::compact`], [`put_int`]).
pub fn compact_fits(desc: &ImageDesc, source_len: usize, has_file_hash: bool) -> bool {
    matches!(
        desc.source,
        SourceKind::Raw | SourceKind::Png | SourceKind::Pgm | SourceKind::Tiff
    ) && matches!(
        desc.photometric,
        Photometric::Monochrome1 | Photometric::Monochrome2
    ) && desc.frames == 1
        && desc.planes == 1
        && u32::try_from(source_len).is_ok()
        && !has_file_hash
        && (1..=COMPACT_MAX_SAMPLES).contains(&desc.pixels())
}

/// Section tags.
pub mod tag {
    /// Image description, model id, hashes. Always first.
    pub const HEAD: [u8; 4] = *b"HEAD";
    /// Coded pixels (payload owned by the codec layer).
    pub const PIXL: [u8; 4] = *b"PIXL";
    /// What is needed to rebuild the source file (e.g. the DICOM header).
    pub const SRC: [u8; 4] = *b"SRC ";
    /// End marker (empty payload); its absence means the file is truncated.
    pub const END: [u8; 4] = *b"END ";
}

/// The header's model id: a list of entries `kind tag u8, length u8, id`,
/// one per model the pixels were coded with.
pub mod model {
    /// A context-model state (`medzip-codec`'s trained states).
    pub const CONTEXT: u8 = b'C';
    /// A context network.
    pub const NETWORK: u8 = b'N';
    /// An autoencoder prior.
    pub const AUTOENCODER: u8 = b'A';
    /// A set of embedded models named by one byte (format version 15):
    /// `medzip-codec` knows which state and network each set is.
    pub const EMBEDDED_SET: u8 = b'E';

    /// What an entry's kind tag names, for people.
    pub fn kind_name(tag: u8) -> Option<&'static str> {
        match tag {
            CONTEXT => Some("context state"),
            NETWORK => Some("context network"),
            AUTOENCODER => Some("autoencoder"),
            EMBEDDED_SET => Some("embedded model set"),
            _ => None,
        }
    }

    /// The entries `(kind tag, id bytes)` of a model id, in order (kinds
    /// not checked: see `medzip_codec::model_entries`).
    pub fn entries(id: &[u8]) -> crate::Result<Vec<(u8, &[u8])>> {
        let mut out = Vec::new();
        let mut r = crate::Reader::new(id, "model id");
        while r.remaining() > 0 {
            let tag = r.u8()?;
            let len = r.u8()? as usize;
            out.push((tag, r.bytes(len)?));
        }
        Ok(out)
    }

    /// An entry as written to a model id.
    pub fn entry(tag: u8, id: &[u8]) -> Vec<u8> {
        let id = &id[..id.len().min(255)];
        let mut e = vec![tag, id.len() as u8];
        e.extend_from_slice(id);
        e
    }
}

/// `cfg(fuzzing)` lets a fuzzer reach the entropy decoder past the checksums.
const CHECKSUMS_ENFORCED: bool = !cfg!(fuzzing);

/// Errors of the container layer, grouped by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a medzip file, or it is damaged.
    #[error("corrupt medzip file: {0}")]
    Corrupt(String),
    /// A well-formed file that needs a newer medzip.
    #[error("medzip format version {found} is not supported (this build reads up to version {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    /// The file asks for more resources than the configured limits allow.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The caller asked for something invalid.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// An image whose size, depth or samples do not fit together.
    #[error("invalid image: {0}")]
    InvalidImage(String),
}

pub type Result<T> = std::result::Result<T, Error>;

fn corrupt<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Corrupt(msg.into()))
}

/// Resource limits, checked before allocating (medical images are big, so the
/// defaults fit a 16-bit 5000×7000 mammogram with room to spare).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest width × height accepted.
    pub max_pixels: u64,
    /// Largest width or height accepted.
    pub max_dimension: u32,
    /// Largest single section payload, in bytes.
    pub max_section_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 1 << 28,    // 268 M pixels (e.g. 16384 × 16384)
            max_dimension: 1 << 17, // 131072
            max_section_bytes: 1 << 31,
        }
    }
}

impl Limits {
    /// Checks a claimed image size against the limits.
    pub fn check_dimensions(&self, width: u32, height: u32) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidParameter(format!(
                "image size {width}×{height} (expected both ≥ 1)"
            )));
        }
        if width > self.max_dimension || height > self.max_dimension {
            return Err(Error::LimitExceeded(format!(
                "image size {width}×{height} exceeds the largest side allowed ({})",
                self.max_dimension
            )));
        }
        self.check_pixels(width as u64 * height as u64)
    }

    /// Checks a number of samples (all frames and planes) against the limits.
    pub fn check_pixels(&self, px: u64) -> Result<()> {
        if px > self.max_pixels {
            return Err(Error::LimitExceeded(format!(
                "image of {px} pixels exceeds the limit of {} pixels",
                self.max_pixels
            )));
        }
        Ok(())
    }
}

/// Photometric interpretation: what the samples of a pixel (its planes,
/// see [`ImageDesc::planes`]) mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Photometric {
    /// Larger values are brighter (DICOM MONOCHROME2, PNG, PGM, TIFF BlackIsZero).
    Monochrome2 = 2,
    /// Larger values are darker (DICOM MONOCHROME1, TIFF WhiteIsZero).
    Monochrome1 = 1,
    /// Three planes: red, green, blue (DICOM RGB, colour PNG and TIFF).
    Rgb = 3,
    /// Three planes: Y, Cb, Cr at full resolution (DICOM YBR_FULL).
    YbrFull = 4,
    /// Two planes of the DICOM YBR_FULL_422 pixel data: Y, and each row's
    /// Cb samples (half the width) followed by its Cr samples.
    YbrFull422 = 5,
    /// One plane of indices into a colour lookup table that the source
    /// file holds (DICOM PALETTE COLOR).
    Palette = 6,
}

impl Photometric {
    /// The planes a pixel of this interpretation has.
    pub fn planes(self) -> u8 {
        match self {
            Photometric::Monochrome1 | Photometric::Monochrome2 | Photometric::Palette => 1,
            Photometric::YbrFull422 => 2,
            Photometric::Rgb | Photometric::YbrFull => 3,
        }
    }
    /// The name DICOM gives it.
    pub fn name(self) -> &'static str {
        match self {
            Photometric::Monochrome1 => "MONOCHROME1",
            Photometric::Monochrome2 => "MONOCHROME2",
            Photometric::Rgb => "RGB",
            Photometric::YbrFull => "YBR_FULL",
            Photometric::YbrFull422 => "YBR_FULL_422",
            Photometric::Palette => "PALETTE COLOR",
        }
    }
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Photometric::Monochrome1,
            2 => Photometric::Monochrome2,
            3 => Photometric::Rgb,
            4 => Photometric::YbrFull,
            5 => Photometric::YbrFull422,
            6 => Photometric::Palette,
            _ => return None,
        })
    }
}

/// The kind of file the image came from, and so the kind written on decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// Raw pixels (library use).
    Raw = 0,
    Png = 1,
    Pgm = 2,
    Tiff = 3,
    Dicom = 4,
    /// A file stored whole, not as an image (any file medzip cannot model
    /// as an image: a DICOM file without pixel data, one of 1- or 32-bit
    /// samples, an encapsulated one kept byte for byte, anything else): no pixels; the `SRC` section holds the file's bytes, coded by
    /// the file layer (`medzip-io`), and decoding gives them back.
    File = 5,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Raw => "raw",
            SourceKind::Png => "png",
            SourceKind::Pgm => "pgm",
            SourceKind::Tiff => "tiff",
            SourceKind::Dicom => "dicom",
            SourceKind::File => "file",
        }
    }
    /// The usual file extension for this kind.
    pub fn extension(self) -> &'static str {
        match self {
            SourceKind::Raw => "raw",
            SourceKind::Png => "png",
            SourceKind::Pgm => "pgm",
            SourceKind::Tiff => "tif",
            SourceKind::Dicom => "dcm",
            SourceKind::File => "bin",
        }
    }
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => SourceKind::Raw,
            1 => SourceKind::Png,
            2 => SourceKind::Pgm,
            3 => SourceKind::Tiff,
            4 => SourceKind::Dicom,
            5 => SourceKind::File,
            _ => return None,
        })
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an image is: everything needed to interpret its samples.
///
/// An image of several frames (a multi-frame DICOM file: a volume, a cine
/// loop) or planes (colour) is stored as one tall image: frame after
/// frame, and within a frame plane after plane, each plane
/// `height / (frames × planes)` rows of `width` samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageDesc {
    pub width: u32,
    /// Rows of the whole (tall) image: frames × planes × rows per plane.
    pub height: u32,
    /// Significant bits per sample, 1–16.
    pub bits_stored: u8,
    /// Two's complement samples (DICOM PixelRepresentation 1).
    pub signed: bool,
    pub photometric: Photometric,
    pub source: SourceKind,
    /// Bits per sample of the source container (8 or 16; PNG/TIFF/PGM sample size).
    pub container_bits: u8,
    /// Frames (1 for a single image).
    pub frames: u32,
    /// Planes per frame: the photometric interpretation's
    /// ([`Photometric::planes`]).
    pub planes: u8,
}

impl ImageDesc {
    /// Samples in all (every frame and plane).
    pub fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
    /// Rows of one plane of one frame.
    pub fn plane_rows(&self) -> u32 {
        plane_rows(self.height, self.frames, self.planes)
    }
    /// Validates the fields against each other and against `limits`. A
    /// stored file ([`SourceKind::File`]) has no pixels (0×0), any other
    /// source at least one.
    pub fn validate(&self, limits: &Limits) -> Result<()> {
        if self.source == SourceKind::File && (self.width != 0 || self.height != 0) {
            return Err(Error::InvalidParameter(format!(
                "a stored file with an image size {}×{} (expected 0×0)",
                self.width, self.height
            )));
        }
        if self.planes != self.photometric.planes() {
            return Err(Error::InvalidParameter(format!(
                "{} planes for photometric interpretation {} (expected {})",
                self.planes,
                self.photometric.name(),
                self.photometric.planes()
            )));
        }
        let layers = self.frames as u64 * self.planes as u64;
        if self.frames == 0
            || (self.source != SourceKind::File
                && (!(self.height as u64).is_multiple_of(layers) || (self.height as u64) < layers))
        {
            return Err(Error::InvalidParameter(format!(
                "{} rows for {} frames of {} planes (expected a multiple, at least one row each)",
                self.height, self.frames, self.planes
            )));
        }
        if self.source != SourceKind::File {
            // The sides of a plane, and the samples of all of them.
            limits.check_dimensions(self.width, self.plane_rows())?;
            limits.check_pixels(self.pixels())?;
        }
        if !(1..=16).contains(&self.bits_stored) {
            return Err(Error::InvalidParameter(format!(
                "bits stored {} (expected 1 to 16)",
                self.bits_stored
            )));
        }
        if !(self.container_bits == 8 || self.container_bits == 16)
            || self.container_bits < self.bits_stored
        {
            return Err(Error::InvalidParameter(format!(
                "container of {} bits for {} bits stored (expected 8 or 16, at least bits stored)",
                self.container_bits, self.bits_stored
            )));
        }
        Ok(())
    }
}

/// Rows of one plane of a tall image of `height` rows, `frames` frames of
/// `planes` planes.
fn plane_rows(height: u32, frames: u32, planes: u8) -> u32 {
    (height as u64 / (frames.max(1) as u64 * planes.max(1) as u64)) as u32
}

/// SHA-256 of a pixel buffer in its canonical form: each sample as a
/// little-endian `i32` in row order. Both encoder and decoder compute it.
pub fn pixel_hash(samples: &[i32]) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut buf = [0u8; 4096];
    for chunk in samples.chunks(buf.len() / 4) {
        let bytes = &mut buf[..4 * chunk.len()];
        for (b, s) in bytes.chunks_exact_mut(4).zip(chunk) {
            b.copy_from_slice(&s.to_le_bytes());
        }
        h.update(bytes);
    }
    h.finalize().into()
}

/// SHA-256 of a byte string (whole files).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `HEAD` section: description, model id, hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub desc: ImageDesc,
    /// Id of the model the file needs (empty for non-neural modes).
    pub model_id: Vec<u8>,
    /// `pixel_hash` of the original samples.
    pub pixel_sha256: [u8; 32],
    /// SHA-256 of the source file when decoding must rebuild it byte for byte.
    pub file_sha256: Option<[u8; 32]>,
}

const HEAD_FIXED_LEN: usize = 4 + 4 + 1 + 1 + 1 + 1 + 1 + 1 + 32 + 1;

impl Header {
    fn to_bytes(&self) -> Vec<u8> {
        let d = &self.desc;
        let mut v = Vec::with_capacity(HEAD_FIXED_LEN + self.model_id.len() + 32);
        v.extend_from_slice(&d.width.to_le_bytes());
        v.extend_from_slice(&d.height.to_le_bytes());
        v.push(d.bits_stored);
        v.push(d.signed as u8);
        v.push(d.photometric as u8);
        v.push(d.source as u8);
        v.push(d.container_bits);
        v.push(self.model_id.len() as u8);
        v.extend_from_slice(&self.model_id);
        v.extend_from_slice(&self.pixel_sha256);
        match &self.file_sha256 {
            Some(h) => {
                v.push(1);
                v.extend_from_slice(h);
            }
            None => v.push(0),
        }
        // (Version 7: frames and planes, only where there are several.)
        if d.frames != 1 || d.planes != 1 {
            v.extend_from_slice(&d.frames.to_le_bytes());
            v.push(d.planes);
        }
        v
    }

    fn parse(b: &[u8], limits: &Limits) -> Result<Self> {
        let mut r = Reader::new(b, "HEAD");
        let width = r.u32()?;
        let height = r.u32()?;
        let bits_stored = r.u8()?;
        let signed = match r.u8()? {
            0 => false,
            1 => true,
            v => return corrupt(format!("HEAD: signedness flag {v} (expected 0 or 1)")),
        };
        let v = r.u8()?;
        let photometric = Photometric::from_u8(v)
            .ok_or_else(|| Error::Corrupt(format!("HEAD: photometric {v} (expected 1 to 6)")))?;
        let source = SourceKind::from_u8(r.u8()?)
            .ok_or_else(|| Error::Corrupt("HEAD: unknown source kind".into()))?;
        let container_bits = r.u8()?;
        let mlen = r.u8()? as usize;
        let model_id = r.bytes(mlen)?.to_vec();
        let pixel_sha256: [u8; 32] = r.bytes(32)?.try_into().expect("32 bytes");
        let file_sha256 = match r.u8()? {
            0 => None,
            1 => Some(r.bytes(32)?.try_into().expect("32 bytes")),
            v => return corrupt(format!("HEAD: file-hash flag {v} (expected 0 or 1)")),
        };
        let (frames, planes) = match r.remaining() {
            0 => (1, 1),
            _ => match (r.u32()?, r.u8()?) {
                (1, 1) => return corrupt("HEAD: frames and planes written for a single plane"),
                fp => fp,
            },
        };
        r.finish()?;
        let desc = ImageDesc {
            width,
            height,
            bits_stored,
            signed,
            photometric,
            source,
            container_bits,
            frames,
            planes,
        };
        desc.validate(limits).map_err(|e| match e {
            Error::InvalidParameter(m) => Error::Corrupt(format!("HEAD: {m}")),
            other => other,
        })?;
        Ok(Header {
            desc,
            model_id,
            pixel_sha256,
            file_sha256,
        })
    }
}

/// A whole medzip file in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub header: Header,
    /// Coded pixels (codec payload).
    pub pixels: Vec<u8>,
    /// Source-rebuild data (e.g. DICOM header bytes); empty when not needed.
    pub source: Vec<u8>,
    /// The compact layout (format version 15; only where [`compact_fits`]):
    /// the header's pixel hash is then its first [`COMPACT_HASH_BYTES`]
    /// bytes (the rest zero when parsed), and the pixel section's integers
    /// are varints.
    pub compact: bool,
}

fn push_section(out: &mut Vec<u8>, tag: [u8; 4], payload: &[u8]) {
    out.extend_from_slice(&tag);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

impl Container {
    /// The bytes of the pixels' SHA-256 that the file holds: all 32, or
    /// the first [`COMPACT_HASH_BYTES`] in the compact layout.
    pub fn pixel_hash(&self) -> &[u8] {
        let n = if self.compact { COMPACT_HASH_BYTES } else { 32 };
        &self.header.pixel_sha256[..n]
    }

    /// Whether `hash` (a [`pixel_hash`] of decoded samples) agrees with
    /// the file's.
    pub fn pixel_hash_matches(&self, hash: &[u8; 32]) -> bool {
        hash.starts_with(self.pixel_hash())
    }

    /// The kind of the pixel section's value map (after the planes'
    /// transform byte, the coder's id, the prior flag and the latent),
    /// where its coder has one (not the paper's coders, 1 and 2, nor a
    /// recovered JPEG, 4); `None` where it has none or the section is too
    /// short.
    fn value_map_kind(&self) -> Option<u8> {
        let d = &self.header.desc;
        let mut r = Reader::new(&self.pixels, "PIXL").compact(self.compact);
        if d.frames != 1 || d.planes != 1 {
            r.u8().ok()?;
        }
        if matches!(r.u8().ok()?, 1 | 2 | 4) {
            return None;
        }
        r.u8().ok()?;
        let latent = r.int().ok()? as usize;
        r.bytes(latent).ok()?;
        r.u8().ok()
    }

    /// The version this container is written as (see [`VERSION`]).
    pub fn version(&self) -> u16 {
        let d = &self.header.desc;
        // The residual coder's id follows the planes' transform byte in an
        // image of several frames or planes.
        let single = d.frames == 1 && d.planes == 1;
        let coder = self.pixels.get(if single { 0 } else { 1 });
        // The default level's graphics tools (residuals 14 and 15): the
        // newest feature, so first (in either layout).
        if d.source != SourceKind::File && matches!(coder, Some(&14) | Some(&15)) {
            return 20;
        }
        // Its calibration per intensity (residuals 12 and 13).
        if d.source != SourceKind::File && matches!(coder, Some(&12) | Some(&13)) {
            return 19;
        }
        // The context-mixing coder with pattern contexts (residual 11).
        if d.source != SourceKind::File && coder == Some(&11) {
            return 18;
        }
        // The default level's calibrated network distribution (residuals
        // 9 and 10), or a value map of intervals (kind 2, any coder with
        // a value map): the newest features, so first (in either layout).
        if d.source != SourceKind::File
            && (matches!(coder, Some(&9) | Some(&10)) || self.value_map_kind() == Some(2))
        {
            return 17;
        }
        // Its flat neighbourhoods coded by one flag (residual 8).
        if d.source != SourceKind::File && coder == Some(&8) {
            return 16;
        }
        // The compact layout, or a model id naming an embedded set.
        let set = model::entries(&self.header.model_id)
            .is_ok_and(|e| e.iter().any(|e| e.0 == model::EMBEDDED_SET));
        if self.compact || set {
            return 15;
        }
        // Stored files; PNG files with their chunks (or bytes): a build
        // before would drop them.
        // The default level's tokens with the network's weight chosen
        // (residual 6). First: such a file may also be of any feature
        // below.
        let dicom_flag = |bit: u8| {
            d.source == SourceKind::Dicom
                && self.source.first() == Some(&3)
                && self.source.get(3).is_some_and(|f| f & bit != 0)
        };
        // DICOM signed words with zero high bits (source layout 3, flag
        // bit 5): the newest feature, so first.
        if dicom_flag(32) {
            return 14;
        }
        // DICOM encapsulated JPEG 2000 rebuilt from the samples (flag bit 4).
        if dicom_flag(16) {
            return 13;
        }
        // (Residual 7: the weight chosen by fine code lengths.)
        if d.source != SourceKind::File && coder == Some(&7) {
            return 12;
        }
        if d.source != SourceKind::File && coder == Some(&6) {
            return 11;
        }
        // DICOM encapsulated pixel data rebuilt from the samples (source
        // layout 3, flag bit 3).
        if dicom_flag(8) {
            return 10;
        }
        // Pixels coded as tokens of the network's distribution (residual
        // 5, the fixed ¾).
        if d.source != SourceKind::File && coder == Some(&5) {
            return 9;
        }
        // Pixels coded as a recovered JPEG (residual 4; single images only,
        // whose pixel section begins with the coder's id); DICOM pixel data
        // of 1-bit samples (the source block's second byte: bits allocated).
        if (d.frames == 1 && d.planes == 1 && self.pixels.first() == Some(&4))
            || (d.source == SourceKind::Dicom && self.source.get(1) == Some(&1))
        {
            return 8;
        }
        // (And TIFF files kept byte for byte: their source block.)
        if d.frames != 1
            || d.planes != 1
            || d.photometric as u8 > 2
            || (d.source == SourceKind::Tiff && !self.source.is_empty())
        {
            return 7;
        }
        if d.source == SourceKind::File || (d.source == SourceKind::Png && !self.source.is_empty())
        {
            return 6;
        }
        // Pixels of the fast coder (residual 3).
        if self.pixels.first() == Some(&3) {
            return 5;
        }
        if self.header.desc.source == SourceKind::Dicom {
            match self.source.first() {
                Some(&3) => return 4,
                Some(&2) => return 3,
                _ => {}
            }
        }
        let entries = model::entries(&self.header.model_id).unwrap_or_default();
        if entries.iter().any(|e| e.0 == model::NETWORK) {
            return 2;
        }
        1
    }

    /// Serializes the container.
    ///
    /// # Panics
    /// If [`Container::compact`] is set for a container that
    /// [`compact_fits`] does not allow (the codec sets it only where it does).
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.compact {
            return self.compact_bytes();
        }
        let mut out = Vec::with_capacity(self.pixels.len() + self.source.len() + 256);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version().to_le_bytes());
        push_section(&mut out, tag::HEAD, &self.header.to_bytes());
        if !self.source.is_empty() {
            push_section(&mut out, tag::SRC, &self.source);
        }
        push_section(&mut out, tag::PIXL, &self.pixels);
        push_section(&mut out, tag::END, &[]);
        out
    }

    /// The compact layout (`docs/FORMAT.md`): magic, version u8, the
    /// CRC-32 of the rest, width and height as varints, the description in
    /// two bytes (the first's top bit: a source block follows the hash,
    /// a varint length and its bytes), the model id, [`COMPACT_HASH_BYTES`]
    /// of the pixel hash, then the pixel section.
    fn compact_bytes(&self) -> Vec<u8> {
        let h = &self.header;
        let d = &h.desc;
        assert!(
            compact_fits(d, self.source.len(), h.file_sha256.is_some()) && h.model_id.len() <= 255,
            "the compact layout for an image it does not fit"
        );
        let mut body = Vec::with_capacity(self.pixels.len() + h.model_id.len() + 24);
        put_varint(&mut body, d.width);
        put_varint(&mut body, d.height);
        body.push(
            (d.bits_stored - 1)
                | (d.signed as u8) << 4
                | ((d.photometric == Photometric::Monochrome1) as u8) << 5
                | ((d.container_bits == 16) as u8) << 6
                | (!self.source.is_empty() as u8) << 7,
        );
        body.push(d.source as u8);
        body.push(h.model_id.len() as u8);
        body.extend_from_slice(&h.model_id);
        body.extend_from_slice(&h.pixel_sha256[..COMPACT_HASH_BYTES]);
        if !self.source.is_empty() {
            put_varint(&mut body, self.source.len() as u32);
            body.extend_from_slice(&self.source);
        }
        body.extend_from_slice(&self.pixels);
        let mut out = Vec::with_capacity(body.len() + 9);
        out.extend_from_slice(&COMPACT_MAGIC);
        out.push(self.version() as u8);
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses a file of the compact layout (after its magic).
    fn parse_compact(bytes: &[u8], limits: &Limits) -> Result<Self> {
        let mut r = Reader::new(&bytes[COMPACT_MAGIC.len()..], "compact file header");
        let version = r.u8()? as u16;
        if version > VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let crc = r.u32()?;
        let body = &bytes[COMPACT_MAGIC.len() + 5..];
        if body.len() as u64 > limits.max_section_bytes {
            return Err(Error::LimitExceeded(format!(
                "a compact file of {} bytes exceeds the limit of {} bytes",
                body.len(),
                limits.max_section_bytes
            )));
        }
        if CHECKSUMS_ENFORCED && crc32fast::hash(body) != crc {
            return corrupt("compact file: CRC-32 mismatch");
        }
        let mut r = Reader::new(body, "compact file header");
        let width = r.varint()?;
        let height = r.varint()?;
        let k = r.u8()?;
        let v = r.u8()?;
        let source = SourceKind::from_u8(v)
            .ok_or_else(|| Error::Corrupt(format!("compact file: source kind {v}")))?;
        let mlen = r.u8()? as usize;
        let model_id = r.bytes(mlen)?.to_vec();
        let mut pixel_sha256 = [0u8; 32];
        pixel_sha256[..COMPACT_HASH_BYTES].copy_from_slice(r.bytes(COMPACT_HASH_BYTES)?);
        // (A source block: never an empty one.)
        let src = match k & 128 != 0 {
            true => match r.varint()? as usize {
                0 => return corrupt("compact file: an empty source block"),
                n => r.bytes(n)?.to_vec(),
            },
            false => Vec::new(),
        };
        let desc = ImageDesc {
            width,
            height,
            bits_stored: (k & 15) + 1,
            signed: k & 16 != 0,
            photometric: match k & 32 != 0 {
                true => Photometric::Monochrome1,
                false => Photometric::Monochrome2,
            },
            source,
            container_bits: if k & 64 != 0 { 16 } else { 8 },
            frames: 1,
            planes: 1,
        };
        desc.validate(limits).map_err(|e| match e {
            Error::InvalidParameter(m) => Error::Corrupt(format!("compact file: {m}")),
            other => other,
        })?;
        if !compact_fits(&desc, src.len(), false) {
            return corrupt(format!(
                "compact file: a {}×{} {} image (the compact layout holds single grey images of at most {COMPACT_MAX_SAMPLES} samples)",
                desc.width, desc.height, desc.source
            ));
        }
        let c = Container {
            header: Header {
                desc,
                model_id,
                pixel_sha256,
                file_sha256: None,
            },
            pixels: body[r.position()..].to_vec(),
            source: src,
            compact: true,
        };
        c.of_version(version)
    }

    /// The container, if the file's `version` is the one its content
    /// needs ([`Container::version`]): any other value is damage.
    fn of_version(self, version: u16) -> Result<Self> {
        if self.version() != version {
            return corrupt(format!(
                "format version {version} disagrees with the file's content (version {})",
                self.version()
            ));
        }
        Ok(self)
    }

    /// Parses and validates a container: magic, version, every section's
    /// length and CRC, section order, the end marker, the header fields
    /// (or, in the compact layout, its one CRC and its fields).
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Self> {
        if bytes.starts_with(&COMPACT_MAGIC) {
            return Self::parse_compact(bytes, limits);
        }
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return corrupt("not a medzip file (bad magic bytes)");
        }
        let mut r = Reader::new(&bytes[MAGIC.len()..], "file header");
        let version = r.u16()?;
        if version == 0 || version > VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let mut header = None;
        let mut pixels = None;
        let mut source = None;
        loop {
            if r.remaining() == 0 {
                return corrupt("file is truncated (no END section)");
            }
            let t: [u8; 4] = r.bytes(4)?.try_into().expect("4 bytes");
            let name = String::from_utf8_lossy(&t).trim_end().to_string();
            r.what = "section header";
            let len = r.u64()?;
            let crc = r.u32()?;
            if len > limits.max_section_bytes {
                return Err(Error::LimitExceeded(format!(
                    "section {name} of {len} bytes exceeds the limit of {} bytes",
                    limits.max_section_bytes
                )));
            }
            if len > r.remaining() as u64 {
                return corrupt(format!(
                    "section {name} claims {len} bytes but only {} remain (truncated file?)",
                    r.remaining()
                ));
            }
            let payload = r.bytes(len as usize)?;
            if CHECKSUMS_ENFORCED && crc32fast::hash(payload) != crc {
                return corrupt(format!("section {name}: CRC-32 mismatch"));
            }
            match t {
                tag::HEAD if header.is_none() => header = Some(Header::parse(payload, limits)?),
                tag::HEAD => return corrupt("second HEAD section"),
                _ if header.is_none() => return corrupt("first section is not HEAD"),
                tag::SRC if source.is_none() && pixels.is_none() => source = Some(payload.to_vec()),
                tag::PIXL if pixels.is_none() => pixels = Some(payload.to_vec()),
                tag::END => {
                    if len != 0 {
                        return corrupt("END section is not empty");
                    }
                    if r.remaining() != 0 {
                        return corrupt(format!("{} unexpected bytes after END", r.remaining()));
                    }
                    break;
                }
                _ => return corrupt(format!("unexpected or repeated section '{name}'")),
            }
        }
        let header = header.ok_or_else(|| Error::Corrupt("no HEAD section".into()))?;
        let pixels = pixels.ok_or_else(|| Error::Corrupt("no PIXL section".into()))?;
        let c = Container {
            header,
            pixels,
            source: source.unwrap_or_default(),
            compact: false,
        };
        // The version is a function of what the file needs: any other
        // value is damage. (Every released build wrote it so; development
        // builds between commits 40be527 and 14e729b (2026-11-26) briefly wrote version 1 with a
        // network entry, for networks that were retrained since and whose
        // files no build could decode anyway.)
        c.of_version(version)
    }
}

/// Appends `b` as a part [`Reader::part`] reads: a `u32` length, then the
/// bytes.
pub fn put_part(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Appends `v` as an unsigned LEB128 varint (seven bits a byte, least
/// significant first, the high bit set on every byte but the last; the
/// shortest form).
pub fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends an integer of the codec's sections: a `u32`, or in the compact
/// layout (`compact`) a varint ([`Reader::int`] reads either).
pub fn put_int(out: &mut Vec<u8>, v: u32, compact: bool) {
    match compact {
        true => put_varint(out, v),
        false => out.extend_from_slice(&v.to_le_bytes()),
    }
}

/// Bounds-checked little-endian reader: every read either succeeds or names
/// what was being read when the data ran out.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// What is being read, for error messages.
    pub what: &'static str,
    /// [`Reader::int`] reads varints (the compact layout).
    compact: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            what,
            compact: false,
        }
    }
    /// The same reader, whose [`Reader::int`] reads varints where
    /// `compact` (a section of a file in the compact layout).
    pub fn compact(self, compact: bool) -> Self {
        Reader { compact, ..self }
    }
    /// An integer written by [`put_int`]: a `u32`, or a varint.
    pub fn int(&mut self) -> Result<u32> {
        match self.compact {
            true => self.varint(),
            false => self.u32(),
        }
    }
    /// A varint written by [`put_varint`] (in its shortest form: any
    /// other, or one beyond `u32`, is damage).
    pub fn varint(&mut self) -> Result<u32> {
        let mut v = 0u64;
        for i in 0..5 {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                if (i > 0 && b == 0) || v > u32::MAX as u64 {
                    return corrupt(format!(
                        "{}: a malformed varint before offset {}",
                        self.what, self.pos
                    ));
                }
                return Ok(v as u32);
            }
        }
        corrupt(format!(
            "{}: a varint longer than five bytes before offset {}",
            self.what, self.pos
        ))
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return corrupt(format!(
                "{}: needed {n} more bytes at offset {}, only {} remain",
                self.what,
                self.pos,
                self.remaining()
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().expect("2")))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4")))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8")))
    }
    /// A part written by [`put_part`]: a `u32` length, then the bytes.
    pub fn part(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }
    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return corrupt(format!(
                "{}: {} unexpected trailing bytes",
                self.what,
                self.remaining()
            ));
        }
        Ok(())
    }
}

/// A grayscale image: `width × height` samples in row order (0×0, no
/// samples, for what a stored file decodes to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    /// Significant bits per sample, 1–16.
    pub bits: u8,
    /// Samples are two's complement values in `−2^(bits−1) .. 2^(bits−1)`.
    pub signed: bool,
    /// Sample values (negative only when `signed`).
    pub data: Vec<i32>,
}

impl Image {
    /// Builds an image, checking the size and that every sample fits `bits`.
    pub fn new(width: u32, height: u32, bits: u8, signed: bool, data: Vec<i32>) -> Result<Self> {
        let img = Image {
            width,
            height,
            bits,
            signed,
            data,
        };
        img.validate()?;
        Ok(img)
    }

    /// Smallest and largest sample value `bits`/`signed` allow.
    pub fn range(bits: u8, signed: bool) -> (i32, i32) {
        if signed {
            (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        } else {
            (0, (1 << bits) - 1)
        }
    }

    /// Checks the size (both sides at least 1, or both 0) and that every
    /// sample fits `bits`.
    pub fn validate(&self) -> Result<()> {
        if !(1..=16).contains(&self.bits) {
            return Err(Error::InvalidImage(format!(
                "{} bits per sample (expected 1 to 16)",
                self.bits
            )));
        }
        if (self.width == 0) != (self.height == 0) {
            return Err(Error::InvalidImage(format!(
                "size {}×{}",
                self.width, self.height
            )));
        }
        let n = self.width as u64 * self.height as u64;
        if self.data.len() as u64 != n {
            return Err(Error::InvalidImage(format!(
                "{} samples for {}×{} pixels",
                self.data.len(),
                self.width,
                self.height
            )));
        }
        let (lo, hi) = Self::range(self.bits, self.signed);
        if let Some(v) = self.data.iter().find(|&&v| v < lo || v > hi) {
            return Err(Error::InvalidImage(format!(
                "sample {v} outside {lo}..={hi} for {} bits {}",
                self.bits,
                if self.signed { "signed" } else { "unsigned" }
            )));
        }
        Ok(())
    }

    /// `pixel_hash` of the samples.
    pub fn hash(&self) -> [u8; 32] {
        pixel_hash(&self.data)
    }

    /// Samples shifted to the unsigned domain `0..2^bits`.
    pub fn unsigned(&self) -> Vec<i32> {
        let lo = Self::range(self.bits, self.signed).0;
        self.data.iter().map(|&v| v - lo).collect()
    }
}

/// What the source file looked like, so that decoding can rebuild it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub photometric: Photometric,
    pub source: SourceKind,
    /// Sample size of the source container (8 or 16).
    pub container_bits: u8,
    /// Source-rebuild bytes (e.g. the DICOM file minus its pixel data).
    pub source_data: Vec<u8>,
    /// SHA-256 of the file decoding must rebuild byte for byte.
    pub file_sha256: Option<[u8; 32]>,
    /// Id of the model used (empty without a prior).
    pub model_id: Vec<u8>,
    /// Frames of the image (1 for a single image); the [`Image`] holds them
    /// one after the other, each `planes` planes (see [`ImageDesc`]).
    pub frames: u32,
    /// Planes per frame ([`Photometric::planes`]).
    pub planes: u8,
}

impl Metadata {
    /// What a parsed container says of its source file (no pixel decoding).
    pub fn of(c: &Container) -> Self {
        let d = &c.header.desc;
        Metadata {
            photometric: d.photometric,
            source: d.source,
            container_bits: d.container_bits,
            source_data: c.source.clone(),
            file_sha256: c.header.file_sha256,
            model_id: c.header.model_id.clone(),
            frames: d.frames,
            planes: d.planes,
        }
    }

    /// Rows of one plane of one frame of `img` (the image's height for a
    /// single grey image).
    pub fn plane_rows(&self, img: &Image) -> u32 {
        plane_rows(img.height, self.frames, self.planes)
    }

    /// Metadata for raw pixels with no source file.
    pub fn raw() -> Self {
        Metadata {
            photometric: Photometric::Monochrome2,
            source: SourceKind::Raw,
            container_bits: 16,
            source_data: Vec::new(),
            file_sha256: None,
            model_id: Vec::new(),
            frames: 1,
            planes: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Container {
        Container {
            header: Header {
                desc: ImageDesc {
                    width: 3,
                    height: 2,
                    bits_stored: 12,
                    signed: true,
                    photometric: Photometric::Monochrome1,
                    source: SourceKind::Dicom,
                    container_bits: 16,
                    frames: 1,
                    planes: 1,
                },
                model_id: b"abc".to_vec(),
                pixel_sha256: [7; 32],
                file_sha256: Some([9; 32]),
            },
            pixels: vec![1, 2, 3, 4],
            source: vec![5, 6],
            compact: false,
        }
    }

    /// A small PNG's container in the compact layout (as parsed: the hash
    /// beyond its first eight bytes zero).
    fn compact_sample() -> Container {
        let mut c = sample();
        c.header.desc.source = SourceKind::Png;
        c.header.desc.width = 200;
        c.header.desc.height = 300;
        c.header.file_sha256 = None;
        c.header.model_id = vec![model::EMBEDDED_SET, 1, 2];
        c.header.pixel_sha256[COMPACT_HASH_BYTES..].fill(0);
        c.source.clear();
        c.compact = true;
        c
    }

    #[test]
    fn compact_roundtrip_and_size() {
        let c = compact_sample();
        let b = c.to_bytes();
        assert!(b.starts_with(&COMPACT_MAGIC));
        // Magic 4, version 1, CRC 4, width 2 and height 2 (varints),
        // description 2, model id 1 + 3, hash 8, pixels 4.
        assert_eq!(b.len(), 31);
        assert_eq!(b[4], 15);
        let p = Container::parse(&b, &Limits::default()).unwrap();
        assert_eq!(p, c);
        assert_eq!(p.version(), 15);
        assert_eq!(p.pixel_hash(), &[7; COMPACT_HASH_BYTES]);
        assert!(p.pixel_hash_matches(&[7; 32]));
        let mut other = [7; 32];
        other[COMPACT_HASH_BYTES - 1] = 8;
        assert!(!p.pixel_hash_matches(&other));
        // A source block (a PGM's kind and maxval) comes back.
        let mut pgm = compact_sample();
        pgm.header.desc.source = SourceKind::Pgm;
        pgm.source = vec![5, 255, 0];
        let b = pgm.to_bytes();
        assert_eq!(b.len(), 35); // (and its length, 1)
        assert_eq!(Container::parse(&b, &Limits::default()).unwrap(), pgm);
        // Every field of the description comes back.
        for (bits, signed, photometric, cbits, source) in [
            (1, false, Photometric::Monochrome1, 8, SourceKind::Raw),
            (16, true, Photometric::Monochrome2, 16, SourceKind::Tiff),
            (9, false, Photometric::Monochrome2, 16, SourceKind::Pgm),
        ] {
            let mut c = compact_sample();
            let d = &mut c.header.desc;
            (d.bits_stored, d.signed, d.photometric) = (bits, signed, photometric);
            (d.container_bits, d.source) = (cbits, source);
            (d.width, d.height) = (1, 65536);
            assert_eq!(
                Container::parse(&c.to_bytes(), &Limits::default()).unwrap(),
                c
            );
        }
    }

    #[test]
    fn compact_layout_only_where_it_fits() {
        let c = compact_sample();
        let d = &c.header.desc;
        assert!(compact_fits(d, 0, false));
        assert!(compact_fits(d, 3, false));
        assert!(!compact_fits(d, 0, true));
        for change in [
            |d: &mut ImageDesc| d.source = SourceKind::Dicom,
            |d: &mut ImageDesc| d.source = SourceKind::File,
            |d: &mut ImageDesc| d.height = 328, // 65,600 samples
            |d: &mut ImageDesc| (d.frames, d.height) = (2, 300),
            |d: &mut ImageDesc| (d.photometric, d.planes) = (Photometric::Rgb, 3),
        ] {
            let mut d = d.clone();
            change(&mut d);
            assert!(!compact_fits(&d, 0, false), "{d:?}");
        }
        // A compact file that declares what the layout cannot hold is damage.
        let mut b = c.to_bytes();
        b[9..11].copy_from_slice(&[0xc8, 0x03]); // width 456: 136,800 samples
        let crc = crc32fast::hash(&b[9..]).to_le_bytes();
        b[5..9].copy_from_slice(&crc);
        let e = Container::parse(&b, &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("compact layout holds"), "{e}");
    }

    #[test]
    fn roundtrip() {
        let c = sample();
        let b = c.to_bytes();
        assert_eq!(Container::parse(&b, &Limits::default()).unwrap(), c);
    }

    #[test]
    fn every_truncation_and_flip_is_an_error() {
        // (Both layouts.)
        for b in [sample().to_bytes(), compact_sample().to_bytes()] {
            for n in 0..b.len() {
                assert!(
                    Container::parse(&b[..n], &Limits::default()).is_err(),
                    "len {n}"
                );
            }
            for i in 0..b.len() {
                for bit in 0..8 {
                    let mut c = b.clone();
                    c[i] ^= 1 << bit;
                    // A flip may only ever be accepted if it is in no checked
                    // field; with CRCs over everything after the version and
                    // fixed magic, none exists.
                    assert!(
                        Container::parse(&c, &Limits::default()).is_err(),
                        "byte {i} bit {bit}"
                    );
                }
            }
        }
    }

    /// 1 by default, 2 with a context network, 3 with a DICOM header coded
    /// with the header dictionary (source layout 2), 4 with source layout 3.
    #[test]
    fn version_follows_what_the_file_needs() {
        let mut c = sample();
        c.header.model_id = vec![b'C', 1, 0];
        assert_eq!(c.version(), 1);
        c.header.model_id = vec![b'C', 1, 0, b'N', 2, 0, 0];
        assert_eq!(c.version(), 2);
        c.source = vec![2, 16, 11];
        assert_eq!(c.version(), 3);
        c.source = vec![3, 16, 11, 1];
        assert_eq!(c.version(), 4);
        let pixels = std::mem::replace(&mut c.pixels, vec![3, 0]);
        assert_eq!(c.version(), 5);
        // Pixels coded as a recovered JPEG: version 8.
        c.pixels = vec![4, 0];
        assert_eq!(c.version(), 8);
        // As tokens of the network's distribution: version 9 (the coder's
        // id after the transform byte in an image of several planes).
        c.pixels = vec![5, 0];
        assert_eq!(c.version(), 9);
        // Encapsulated DICOM pixel data rebuilt from the samples: 10.
        let (src, kind) = (
            std::mem::replace(&mut c.source, vec![3, 16, 15, 8]),
            std::mem::replace(&mut c.header.desc.source, SourceKind::Dicom),
        );
        assert_eq!(c.version(), 10);
        c.source = vec![3, 16, 15, 1];
        assert_eq!(c.version(), 9);
        // The network's weight chosen (residual 6): 11, whatever else.
        c.source = vec![3, 16, 15, 8];
        c.pixels = vec![6, 0];
        assert_eq!(c.version(), 11);
        // …chosen by fine code lengths (residual 7): 12, whatever else.
        c.pixels = vec![7, 0];
        assert_eq!(c.version(), 12);
        // Encapsulated JPEG 2000 rebuilt from the samples (flag bit 4): 13,
        // whatever else.
        c.source = vec![3, 16, 15, 8 | 16];
        assert_eq!(c.version(), 13);
        c.pixels = vec![5, 0];
        assert_eq!(c.version(), 13);
        // Signed words with zero high bits (flag bit 5): 14, whatever else.
        c.source = vec![3, 16, 11, 32];
        assert_eq!(c.version(), 14);
        c.pixels = vec![7, 0];
        assert_eq!(c.version(), 14);
        // A model id naming an embedded set: 15, whatever else.
        let ids = std::mem::replace(&mut c.header.model_id, vec![model::EMBEDDED_SET, 1, 1]);
        assert_eq!(c.version(), 15);
        // Flat neighbourhoods coded by one flag (residual 8): 16, whatever
        // else (the compact layout, an embedded set included).
        c.pixels = vec![8, 0];
        assert_eq!(c.version(), 16);
        c.compact = true;
        assert_eq!(c.version(), 16);
        // The calibrated network distribution (residuals 9 and 10): 17,
        // whatever else.
        for id in [9, 10] {
            c.pixels = vec![id, 0];
            assert_eq!(c.version(), 17);
        }
        // A value map of intervals (kind 2) after the coder's id, the
        // prior flag and an empty latent: 17 for a coder with a value map
        // (the context coder, 0, and the fast coder, 3), not for the
        // paper's Huffman coder (1), whose body might begin so.
        c.pixels = vec![0, 0, 0, 2];
        assert_eq!(c.version(), 17);
        c.pixels = vec![3, 0, 0, 2];
        assert_eq!(c.version(), 17);
        c.pixels = vec![3, 0, 0, 0];
        assert_eq!(c.version(), 15);
        c.pixels = vec![1, 0, 0, 2];
        assert_eq!(c.version(), 15);
        // The context-mixing coder with pattern contexts (residual 11):
        // 18, whatever else (a value map of intervals included).
        c.pixels = vec![11, 0, 0, 2];
        assert_eq!(c.version(), 18);
        // The calibration per intensity (residuals 12 and 13): 19.
        for id in [12, 13] {
            c.pixels = vec![id, 0];
            assert_eq!(c.version(), 19);
        }
        // The graphics tools (residuals 14 and 15): 20.
        for id in [14, 15] {
            c.pixels = vec![id, 0];
            assert_eq!(c.version(), 20);
        }
        c.pixels = vec![7, 0];
        assert_eq!(c.version(), 15);
        c.compact = false;
        c.header.model_id = ids;
        (c.source, c.header.desc.source) = (src, kind);
        c.header.desc.planes = 3;
        assert_eq!(c.version(), 7);
        c.pixels = vec![1, 5, 0];
        assert_eq!(c.version(), 9);
        c.pixels = vec![1, 6, 0];
        assert_eq!(c.version(), 11);
        c.pixels = vec![1, 7, 0];
        assert_eq!(c.version(), 12);
        c.pixels = vec![1, 8, 0];
        assert_eq!(c.version(), 16);
        c.pixels = vec![1, 10, 0];
        assert_eq!(c.version(), 17);
        c.pixels = vec![1, 11, 0];
        assert_eq!(c.version(), 18);
        c.pixels = vec![1, 12, 0];
        assert_eq!(c.version(), 19);
        c.pixels = vec![1, 15, 0];
        assert_eq!(c.version(), 20);
        c.header.desc.planes = 1;
        // (As DICOM of 1-bit samples would be.)
        c.pixels = vec![0, 0];
        let (src, kind) = (
            std::mem::replace(&mut c.source, vec![3, 1, 0, 0]),
            c.header.desc.source,
        );
        c.header.desc.source = SourceKind::Dicom;
        assert_eq!(c.version(), 8);
        (c.source, c.header.desc.source) = (src, kind);
        c.pixels = pixels;
        c.header.desc.source = SourceKind::Png;
        // A PNG with a source block (its chunks) needs version 6.
        assert_eq!(c.version(), 6);
        c.source.clear();
        assert_eq!(c.version(), 2);
        c.header.desc.source = SourceKind::File;
        c.header.desc.width = 0;
        c.header.desc.height = 0;
        c.source = vec![0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(c.version(), 6);
        assert_eq!(
            Container::parse(&c.to_bytes(), &Limits::default()).unwrap(),
            c
        );
        // Pixels only for images, 0×0 only for stored files.
        c.header.desc.width = 1;
        assert!(Container::parse(&c.to_bytes(), &Limits::default()).is_err());
        c.header.desc.source = SourceKind::Dicom;
        c.header.desc.width = 0;
        assert!(Container::parse(&c.to_bytes(), &Limits::default()).is_err());
        c.header.desc.width = 3;
        c.header.desc.height = 2;
        c.source = vec![1, 16, 11];
        c.header.model_id.clear();
        assert_eq!(c.version(), 1);
        assert_eq!(
            Container::parse(&c.to_bytes(), &Limits::default()).unwrap(),
            c
        );
        // Several frames or planes, or a colour interpretation: version 7.
        c.header.desc.frames = 2;
        assert_eq!(c.version(), 7);
        assert_eq!(
            Container::parse(&c.to_bytes(), &Limits::default()).unwrap(),
            c
        );
        c.header.desc.height = 3; // not two frames of equal height
        assert!(Container::parse(&c.to_bytes(), &Limits::default()).is_err());
        c.header.desc.frames = 1;
        c.header.desc.photometric = Photometric::Rgb; // three planes needed
        assert!(Container::parse(&c.to_bytes(), &Limits::default()).is_err());
        c.header.desc.planes = 3;
        assert_eq!(c.version(), 7);
        assert_eq!(
            Container::parse(&c.to_bytes(), &Limits::default()).unwrap(),
            c
        );
        c.header.desc.photometric = Photometric::Palette;
        c.header.desc.planes = 1;
        assert_eq!(c.version(), 7);
        assert_eq!(
            Container::parse(&c.to_bytes(), &Limits::default()).unwrap(),
            c
        );
    }

    #[test]
    fn future_version_is_named() {
        // (The long layout's version is a u16 after 8 bytes of magic, the
        // compact layout's a byte after 4.)
        for (mut b, at) in [(sample().to_bytes(), 8), (compact_sample().to_bytes(), 4)] {
            b[at] = (VERSION + 1) as u8;
            let e = Container::parse(&b, &Limits::default()).unwrap_err();
            assert!(matches!(e, Error::UnsupportedVersion { .. }), "{e}");
            assert!(
                e.to_string().contains(&format!("version {}", VERSION + 1)),
                "{e}"
            );
        }
    }

    #[test]
    fn huge_claimed_size_is_refused() {
        let l = Limits::default();
        assert!(matches!(
            l.check_dimensions(1_000_000, 1_000_000),
            Err(Error::LimitExceeded(_))
        ));
        assert!(l.check_dimensions(5000, 7000).is_ok());
    }
}
