//! medzip's codec pipeline: an [`Image`] in, a medzip file out, and back.
//!
//! ```
//! use medzip_codec::{compress, decompress, Image, Metadata, Options};
//! let img = Image::new(3, 2, 12, false, vec![0, 4095, 17, 18, 19, 2000]).unwrap();
//! let file = compress(&img, &Metadata::raw(), &Options::default()).unwrap();
//! let (back, _meta) = decompress(&file, &Default::default(), None).unwrap();
//! assert_eq!(back, img);
//! ```
//!
//! Residual coders: the context model ([`cm`]) with the network's
//! distribution coded as tokens (the default, effort level 2) or with its
//! binary decisions mixed (effort level 3), the fast coder ([`fast`],
//! effort level 1), recovered JPEGs ([`jpeg`]) and the seed paper's
//! exact-delta paths ([`paper`]: Huffman, PNG). A prior reconstruction (from an autoencoder,
//! see [`Prior`]) plugs in as context. The context models a coder may use
//! (the embedded ones, a site's) are a value, [`Models`], passed in
//! [`Options::models`] and to [`decompress_with`].

pub mod cm;
pub mod fast;
pub mod jpeg;
mod logistic;
pub mod map;
pub mod paper;
pub mod planes;
pub mod priors;
mod tokens;
pub mod trained;

#[doc(hidden)]
pub mod fuzzing;

use map::ValueMap;
use medzip_entropy::{BinDecoder, BinEncoder};
use medzip_format::{put_int, Container, Header, ImageDesc, Reader};
pub use medzip_format::{Image, Limits, Metadata, Photometric, SourceKind};
pub use medzip_nn::simd::Simd;
use rayon::prelude::*;
pub use trained::Models;

/// Errors of the codec layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Format(#[from] medzip_format::Error),
    #[error("corrupt pixel data: {0}")]
    Corrupt(String),
    #[error("invalid image: {0}")]
    InvalidImage(String),
    #[error("the file needs model {needed}, {available}")]
    WrongModel { needed: String, available: String },
    #[error("decoded pixels do not match the stored hash (file damaged or decoder bug); nothing written")]
    HashMismatch,
    #[error("bad model: {0}")]
    InvalidModel(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A request the file cannot answer (frames it does not have, …).
    #[error("{0}")]
    Request(String),
}

impl From<medzip_entropy::Error> for Error {
    fn from(e: medzip_entropy::Error) -> Self {
        Error::Corrupt(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// How the residual is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Residual {
    /// Context-mixing model + arithmetic coding (the strongest level's
    /// own coder; it keeps the default level's file where that is smaller,
    /// [`Options::tokens_too`]).
    Context,
    /// The paper's Huffman coding of the exact integer delta.
    Huffman,
    /// The paper's delta stored as a PNG.
    Png,
    /// The fast coder ([`fast`]: blended classical predictors, one adaptive
    /// multi-symbol token per pixel over rANS).
    Fast,
    /// The pixels as a decoded JPEG ([`jpeg`]): its coefficients, and the
    /// image's samples where they differ. Chosen by the encoder for 8-bit
    /// images it recovers the JPEG of (see [`Options::jpeg`]); as an
    /// option, it codes only such images.
    Jpeg,
    /// The context coder's model and network, the residual coded as one
    /// token per pixel of the network's distribution over rANS
    /// (`tokens.rs`): the default since 2026-12-01. Without a network for
    /// the image's depth, the context coder codes it.
    #[default]
    Logistic,
}

/// The id of [`Residual::Logistic`] as written since format version 19
/// ([`tokens::Weighting::ByIntensityFlat`]; and [`BY_INTENSITY`] where the
/// flat flags would not pay; 5 to 10 are still read).
const LOGISTIC: u8 = 12;
/// Its id without flat flags, since format version 19
/// ([`tokens::Weighting::ByIntensity`]).
const BY_INTENSITY: u8 = 13;
/// Its ids with the graphics tools, since format version 20
/// ([`tokens::Weighting::GraphicsFlat`], [`tokens::Weighting::Graphics`]),
/// for images that look like text and graphics where they code smaller.
const GRAPHICS_FLAT: u8 = 14;
const GRAPHICS: u8 = 15;
/// Its ids of format version 17 ([`tokens::Weighting::CalibratedFlat`],
/// [`tokens::Weighting::Calibrated`]).
const CALIBRATED_FLAT_LOGISTIC: u8 = 9;
const CALIBRATED_LOGISTIC: u8 = 10;
/// Its id of format version 16 ([`tokens::Weighting::FineFlat`]).
const FLAT_LOGISTIC: u8 = 8;
/// Its id of format version 12 ([`tokens::Weighting::Fine`]).
const FINE_LOGISTIC: u8 = 7;
/// The id of [`Residual::Context`] with pattern contexts
/// ([`cm::Stripe::patterns`]), which the encoder writes for every image
/// whose value map has at most 32 levels coded by it without a prior, since
/// format version 18 (2026-12-03).
const PATTERN_CONTEXT: u8 = 11;

impl Residual {
    /// Every coder, by its id in the pixel section's first byte (the
    /// default level's as read from files of versions 9 and 10; it writes
    /// [`LOGISTIC`] or [`BY_INTENSITY`]).
    const ALL: [Residual; 6] = [
        Residual::Context,
        Residual::Huffman,
        Residual::Png,
        Residual::Fast,
        Residual::Jpeg,
        Residual::Logistic,
    ];

    /// The coder's id: the pixel section's first byte. The default level
    /// writes 12 (since format version 19, 2026-12-04: the network's
    /// distribution calibrated online, its scale also per intensity,
    /// pixels of flat neighbourhoods coded by one flag), or 13 (without
    /// flags) where those flags would not pay ([`encode_pixels`]), or 14
    /// and 15 (the same with the graphics tools, since format version 20,
    /// 2026-12-04) where those code an image of text and graphics smaller; 5 (a
    /// fixed ¾, versions 9 and 10), 6 (the network's weight in the mixture
    /// chosen per energy bucket by coarse code lengths, version 11), 7 (by
    /// fine code lengths, version 12), 8 (with flat flags, version 16), 9
    /// and 10 (calibrated, with and without flags, version 17) are still
    /// read.
    fn id(self) -> u8 {
        if self == Residual::Logistic {
            return LOGISTIC;
        }
        Self::ALL.iter().position(|&r| r == self).expect("listed") as u8
    }

    /// The coder with this id, and how the default level's coder weighs
    /// the network (ids 5 to 10, 12 to 15; `Fixed` for the other coders,
    /// unused).
    fn from_id(id: u8) -> Option<(Residual, tokens::Weighting)> {
        use tokens::Weighting;
        match id {
            6 => Some((Residual::Logistic, Weighting::Coarse)),
            FINE_LOGISTIC => Some((Residual::Logistic, Weighting::Fine)),
            FLAT_LOGISTIC => Some((Residual::Logistic, Weighting::FineFlat)),
            CALIBRATED_FLAT_LOGISTIC => Some((Residual::Logistic, Weighting::CalibratedFlat)),
            CALIBRATED_LOGISTIC => Some((Residual::Logistic, Weighting::Calibrated)),
            LOGISTIC => Some((Residual::Logistic, Weighting::ByIntensityFlat)),
            BY_INTENSITY => Some((Residual::Logistic, Weighting::ByIntensity)),
            GRAPHICS_FLAT => Some((Residual::Logistic, Weighting::GraphicsFlat)),
            GRAPHICS => Some((Residual::Logistic, Weighting::Graphics)),
            PATTERN_CONTEXT => Some((Residual::Context, Weighting::Fixed)),
            _ => Self::ALL.get(id as usize).map(|&r| (r, Weighting::Fixed)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Residual::Context => "context",
            Residual::Huffman => "huffman",
            Residual::Png => "png",
            Residual::Fast => "fast",
            Residual::Jpeg => "jpeg",
            Residual::Logistic => "logistic",
        }
    }
}

/// Encoder options.
#[derive(Clone, Debug)]
pub struct Options {
    pub residual: Residual,
    /// Target pixels per independently decodable stripe (context coder):
    /// larger stripes compress slightly better, more stripes decode in
    /// parallel.
    pub stripe_pixels: u64,
    /// Start the context model from the embedded trained state (if this
    /// build has one) instead of an empty one.
    pub trained: bool,
    /// Use the embedded context network where this build has one for the
    /// image's depth (context coder).
    pub net: bool,
    /// The context models to code with (the embedded ones by default; a
    /// site's own network and state when given).
    pub models: Models,
    /// The instructions the coder runs on (the same bits either way).
    pub simd: Simd,
    /// Look for the JPEG an 8-bit grey image was decoded from, and code its
    /// coefficients instead of the pixels when it reproduces at least
    /// [`jpeg::MIN_EXACT`] of the image's 8×8 blocks ([`Residual::Jpeg`];
    /// context and fast coders).
    pub jpeg: bool,
    /// With the context-mixing coder ([`Residual::Context`]) and a
    /// network: also code the image as the default level does (these
    /// options with [`Residual::Logistic`]: the network's calibrated
    /// distribution as tokens, with the network and state that level
    /// chooses) and keep the smaller file. The strongest level
    /// ([`Options::effort`] 3) does, so that it is never larger than the
    /// default level; on noisy images the tokens are often smaller.
    pub tokens_too: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            residual: Residual::Logistic,
            stripe_pixels: 1 << 20,
            trained: true,
            net: true,
            models: Models::default(),
            simd: Simd::Auto,
            jpeg: true,
            tokens_too: false,
        }
    }
}

impl Options {
    /// The options of effort level `effort` (`medzip compress -e N`): 1 the
    /// fast coder, 2 the default (the network's distribution coded as
    /// tokens), 3 (and anything above) the context-mixing coder with its
    /// network, or the default level's file where that is smaller
    /// ([`Options::tokens_too`]), the strongest.
    pub fn effort(effort: u8) -> Options {
        match effort {
            1 => Options {
                residual: Residual::Fast,
                ..Default::default()
            },
            2 => Options::default(),
            _ => Options {
                residual: Residual::Context,
                tokens_too: true,
                ..Default::default()
            },
        }
    }
}

use medzip_format::model::{
    AUTOENCODER as MODEL_PRIOR, CONTEXT as MODEL_CONTEXT, NETWORK as MODEL_NET,
};

/// The entries of a header's model id ([`medzip_format::model::entries`]):
/// `(kind tag, id bytes)`; a kind this build does not know is refused by
/// name.
///
/// An embedded set (kind `E`, [`trained::embedded_set`]) is given as the
/// entries it stands for.
pub fn model_entries(id: &[u8]) -> Result<Vec<(u8, &[u8])>> {
    let mut entries = Vec::new();
    for (tag, e) in medzip_format::model::entries(id)? {
        if tag != medzip_format::model::EMBEDDED_SET {
            entries.push((tag, e));
            continue;
        }
        let set = match e {
            &[k] => trained::embedded_set(k),
            _ => None,
        };
        entries.extend(set.ok_or_else(|| Error::WrongModel {
            needed: format!("embedded model set {}", medzip_format::hex(e)),
            available: "which this build does not know (a newer medzip made the file)".into(),
        })?);
    }
    if let Some(&(tag, _)) = entries
        .iter()
        .find(|e| medzip_format::model::kind_name(e.0).is_none())
    {
        // A kind of model added after this build: refuse by name rather
        // than decode without it.
        return Err(Error::WrongModel {
            needed: format!("of kind {:?}", tag as char),
            available: "which this build does not know (a newer medzip made the file)".into(),
        });
    }
    Ok(entries)
}

/// A prior reconstruction source (the autoencoders of the neural pipeline
/// implement this). It must be deterministic: the decoder recomputes the
/// reconstruction from the latent bytes and must get the same samples.
pub trait Prior: Sync {
    /// Id written to the header (a hash of the model's integer weights).
    fn id(&self) -> Vec<u8>;
    /// Analyses an image: returns the latent bytes to store.
    fn encode_latent(&self, img: &Image) -> Result<Vec<u8>>;
    /// Rebuilds the reconstruction (unsigned domain, `0..2^bits`) from latent bytes.
    fn reconstruct(&self, latent: &[u8], width: u32, height: u32, bits: u8) -> Result<Vec<i32>>;
}

/// Compresses `img` into a complete medzip file.
pub fn compress(img: &Image, meta: &Metadata, opts: &Options) -> Result<Vec<u8>> {
    compress_with_prior(img, meta, opts, None)
}

/// Compresses with an optional prior reconstruction.
pub fn compress_with_prior(
    img: &Image,
    meta: &Metadata,
    opts: &Options,
    prior: Option<&dyn Prior>,
) -> Result<Vec<u8>> {
    img.validate()?;
    let desc = ImageDesc {
        width: img.width,
        height: img.height,
        bits_stored: img.bits,
        signed: img.signed,
        photometric: meta.photometric,
        source: meta.source,
        container_bits: meta.container_bits,
        frames: meta.frames,
        planes: meta.planes,
    };
    desc.validate(&Limits {
        max_pixels: u64::MAX,
        max_dimension: u32::MAX,
        max_section_bytes: u64::MAX,
    })?;
    if img.data.is_empty() != (meta.source == SourceKind::File) {
        return Err(Error::InvalidImage(
            "an image without pixels (0×0), or a file stored whole with pixels".into(),
        ));
    }
    if meta.source == SourceKind::File {
        // A file stored whole: its bytes are the source data, no pixels.
        return Ok(container(
            desc,
            Vec::new(),
            img.hash(),
            meta,
            Vec::new(),
            false,
        ));
    }
    // A small single image without a file hash: the compact layout, whose
    // pixel section writes its integers as varints.
    let compact =
        medzip_format::compact_fits(&desc, meta.source_data.len(), meta.file_sha256.is_some());
    let layers = desc.frames as usize * desc.planes as usize;
    if layers > 1 && prior.is_some() {
        return Err(Error::InvalidImage(
            "an autoencoder prior codes single grey images only".into(),
        ));
    }
    if prior.is_some() && opts.residual == Residual::Fast {
        return Err(Error::InvalidImage(
            "the fast coder (effort 1) takes no autoencoder prior".into(),
        ));
    }
    // The pixel hash is computed beside the coding (another thread, if
    // there is one).
    let (hash, coded) = rayon::join(
        || img.hash(),
        || {
            if layers == 1 {
                return code_image(img, opts, prior, 1, compact);
            }
            // Several planes or frames: the planes transformed as the
            // encoder chooses (its byte first), stripes of whole planes.
            let plane_rows = desc.plane_rows() as usize;
            let t = planes::Transform::choose(img, desc.planes, plane_rows);
            let (ids, pixels) = match t {
                planes::Transform::None => code_image(img, opts, None, plane_rows, compact)?,
                t => {
                    let mut timg = img.clone();
                    t.forward(&mut timg, desc.planes, plane_rows);
                    code_image(&timg, opts, None, plane_rows, compact)?
                }
            };
            Ok((ids, [&[t as u8][..], &pixels].concat()))
        },
    );
    let (model_id, pixels) = coded?;
    // (In the compact layout an embedded state and network by one byte.)
    let model_id = match compact {
        true => trained::as_embedded_set(model_id),
        false => model_id,
    };
    Ok(container(desc, model_id, hash, meta, pixels, compact))
}

/// Codes the pixels of `img` (with the prior's latent, if any): returns
/// the header's model id and the pixel section. `align`: the rows of one
/// plane, which no stripe may split (1 for a single grey image);
/// `compact`: the section's integers as varints (the compact layout).
fn code_image(
    img: &Image,
    opts: &Options,
    prior: Option<&dyn Prior>,
    align: usize,
    compact: bool,
) -> Result<(Vec<u8>, Vec<u8>)> {
    // A decoded JPEG: its coefficients.
    let jpeg_ok = prior.is_none()
        && align == 1
        && img.bits == 8
        && !img.signed
        && matches!(
            opts.residual,
            Residual::Context | Residual::Fast | Residual::Jpeg | Residual::Logistic
        );
    let (w, h) = (img.width as usize, img.height as usize);
    if (opts.jpeg || opts.residual == Residual::Jpeg) && jpeg_ok {
        if let Some(r) = jpeg::recover(&img.data, w, h) {
            let mut out = vec![Residual::Jpeg.id(), 0];
            put_int(&mut out, 0, compact); // (no latent)
            out.extend_from_slice(&jpeg::encode(&r, &img.data, w, h));
            return Ok((Vec::new(), out));
        }
    }
    if opts.residual == Residual::Jpeg {
        return Err(Error::InvalidImage(
            "no JPEG found in the pixels (the JPEG coder takes 8-bit grey images decoded from a JPEG)"
                .into(),
        ));
    }
    // The strongest level also codes the image as the default level does
    // (its choices of network and coder included) and keeps the smaller
    // file: on noisy images the calibrated tokens often code smaller (the
    // CT `693_UNCR` before the intervals map: 81,503 bytes of pixels
    // against the context-mixing coder's 82,511), so it is never larger
    // than the default level.
    if opts.tokens_too
        && opts.residual == Residual::Context
        && opts.net
        && opts.models.net_for_bits(img.bits).is_some()
    {
        // (Neither looks for a JPEG again: there is none.)
        let own = Options {
            tokens_too: false,
            jpeg: false,
            ..opts.clone()
        };
        let default = Options {
            residual: Residual::Logistic,
            ..own.clone()
        };
        let (a, b) = rayon::join(
            || code_image(img, &own, prior, align, compact),
            || code_image(img, &default, prior, align, compact),
        );
        let (a, b) = (a?, b?);
        // (The models' ids as the file will hold them: in the compact
        // layout an embedded state and network take one byte.)
        let size = |(ids, pixels): &(Vec<u8>, Vec<u8>)| {
            pixels.len()
                + match compact {
                    true => trained::as_embedded_set(ids.clone()).len(),
                    false => ids.len(),
                }
        };
        return Ok(match size(&b) < size(&a) {
            true => b,
            false => a,
        });
    }
    let mut model_id = Vec::new();
    let (latent, recon) = match prior {
        Some(p) => {
            let latent = p.encode_latent(img)?;
            let r = p.reconstruct(&latent, img.width, img.height, img.bits)?;
            let id = p.id();
            model_id.extend(medzip_format::model::entry(
                MODEL_PRIOR,
                &id[..id.len().min(64)],
            ));
            (latent, Some(r))
        }
        None => (Vec::new(), None),
    };
    let context = matches!(opts.residual, Residual::Context | Residual::Logistic);
    let net = match context && opts.net {
        true => opts.models.net_for_bits(img.bits),
        false => None,
    };
    let init = match context && opts.trained {
        true => opts.models.for_bits(img.bits, net.is_some()),
        false => None,
    };
    // The default level codes a larger 8-bit image with a smaller network.
    let (net, init) = match (net, init) {
        (Some(n), Some(t)) if opts.residual == Residual::Logistic => {
            trained::large_image_pair(n, t, img.bits, img.data.len() as u64)
                .map_or((net, init), |(n, t)| (Some(n), Some(t)))
        }
        _ => (net, init),
    };
    // The pixels coded with a network and state: the ids they add to the
    // header's model id, and the pixel section.
    let height = img.height;
    let code = |img: &Image,
                opts: &Options,
                net: Option<&trained::TrainedNet>,
                init: Option<&trained::Trained>| {
        let mut ids = Vec::new();
        if let Some(t) = init {
            ids.extend(medzip_format::model::entry(MODEL_CONTEXT, &t.id));
        }
        if let Some(n) = net {
            ids.extend(medzip_format::model::entry(MODEL_NET, &n.id));
        }
        let fresh;
        let init_model = match init {
            Some(t) => &t.model,
            None => {
                fresh = cm::Model::fresh(net.is_some());
                &fresh
            }
        };
        // (A trial band, shorter than the image, is coded in plain stripes.)
        let align = if img.height == height { align } else { 1 };
        let pixels = encode_pixels(
            img,
            opts,
            &latent,
            recon.as_deref(),
            init_model,
            net.map(|n| &n.net),
            align,
            compact,
        )?;
        Ok::<_, Error>((ids, pixels))
    };
    // A synthetic-looking image (most pixels exactly N + W − NW:
    // `fast::synthetic`) is also tried with the fast coder (with its exact
    // gradient and memory where they pay) and the context coder without
    // its network: a band of its rows is coded each way, and the image
    // with the one that codes the band smallest. Where that is a context
    // coder but the band says little (less than a quarter bit per pixel:
    // mostly flat ground, whose graphics and text lie elsewhere), the whole
    // image is also coded by the fast coder, and the smaller kept. (On the
    // mammogram `MG/1_R_CC`, 80 % exact, the band takes 3.5 bits per pixel
    // and the fast coder's whole file would be 1.9 % larger: that check
    // would add 17 % to its encoding for nothing.)
    // So is an image of at most 32 distinct values (a posterised chest
    // X-ray of 13 grey levels, a segmentation), whose palette of few
    // levels the networks never saw.
    let synthetic = context
        && recon.is_none()
        && (fast::synthetic(&img.data, img.width as usize) || map::few_values(&img.data, 32));
    let mut whole_fast_too = false;
    let fast_opts = Options {
        residual: Residual::Fast,
        ..opts.clone()
    };
    // The context coder's network and state the band chose (none: the
    // usual choice below).
    let mut chosen = None;
    if synthetic {
        let plain_init = match opts.trained {
            true => opts.models.for_bits(img.bits, false),
            false => None,
        };
        let b = trial_band(img);
        let ((x, y), z) = rayon::join(
            || {
                rayon::join(
                    || code(&b, opts, net, init),
                    || net.map(|_| code(&b, opts, None, plain_init)),
                )
            },
            || code(&b, &fast_opts, None, None),
        );
        let (x, z) = (x?, z?);
        let y = y.transpose()?;
        // The smallest band; on a tie the default, then the fast coder.
        let mut best = (x.1.len(), None);
        if z.1.len() < best.0 {
            best = (z.1.len(), Some((&fast_opts, None, None)));
        }
        if let Some(y) = y.filter(|y| y.1.len() < best.0) {
            best = (y.1.len(), Some((opts, None, plain_init)));
        }
        // (A band of all the rows: the fast coder's band is its file.)
        let whole = b.height == img.height;
        match best.1 {
            Some((o, ..)) if o.residual == Residual::Fast => {
                let (ids, pixels) = if whole { z } else { code(img, o, None, None)? };
                model_id.extend_from_slice(&ids);
                return Ok((model_id, pixels));
            }
            Some((_, n, i)) => chosen = Some((n, i)),
            None => {}
        }
        whole_fast_too = !whole && (best.0 as u64) * 32 < b.data.len() as u64;
    }
    // A small image (without a prior) is also tried with the network and
    // state for downscaled images: a band of its rows is coded with both
    // pairs (at once), and the image with the one that codes it smaller.
    let alt = match (net, init, &recon) {
        (Some(n), Some(t), None) => {
            trained::small_image_pair(n, t, img.bits, img.data.len() as u64)
        }
        _ => None,
    };
    let contextual = || match (chosen, alt) {
        (Some((n, i)), _) => code(img, opts, n, i),
        (None, Some((n2, t2))) => {
            let b = trial_band(img);
            let (x, y) = rayon::join(
                || code(&b, opts, net, init),
                || code(&b, opts, Some(n2), Some(t2)),
            );
            let (x, y) = (x?, y?);
            let (pick, band) = if y.1.len() < x.1.len() {
                ((Some(n2), Some(t2)), y)
            } else {
                ((net, init), x)
            };
            if b.height == img.height {
                Ok(band) // the band was the whole image
            } else {
                code(img, opts, pick.0, pick.1)
            }
        }
        (None, None) => code(img, opts, net, init),
    };
    let (ids, pixels) = if whole_fast_too {
        let (a, f) = rayon::join(contextual, || code(img, &fast_opts, None, None));
        let a = a?;
        // (The models' ids count: the fast coder names none. Should the
        // alternative fail, the context coder's file stands.)
        match f {
            Ok(f) if f.0.len() + f.1.len() < a.0.len() + a.1.len() => f,
            _ => a,
        }
    } else {
        contextual()?
    };
    model_id.extend_from_slice(&ids);
    Ok((model_id, pixels))
}

/// A whole file: the header of an image described by `desc`, its pixel
/// section and the source file's data; in the compact layout where
/// `compact` (the pixel section was written for it).
fn container(
    desc: ImageDesc,
    model_id: Vec<u8>,
    pixel_sha256: [u8; 32],
    meta: &Metadata,
    pixels: Vec<u8>,
    compact: bool,
) -> Vec<u8> {
    Container {
        header: Header {
            desc,
            model_id,
            pixel_sha256,
            file_sha256: meta.file_sha256,
        },
        pixels,
        source: meta.source_data.clone(),
        compact,
    }
    .to_bytes()
}

/// The rows an encoder codes to choose between two networks: the middle
/// eighth of the image (at least 32 rows, at most all; a quarter chose the
/// same pair for all 413 dev images of the 256×256 and `cxr_other` sets).
fn trial_band(img: &Image) -> Image {
    let w = img.width as usize;
    let (top, rows) = fast::band_rows(img.height as usize, 32);
    Image {
        width: img.width,
        height: rows as u32,
        bits: img.bits,
        signed: img.signed,
        data: img.data[top * w..(top + rows) * w].to_vec(),
    }
}

/// Stripe height for an image of width `w` (at least one row): stripes of
/// `target` pixels and a shorter last one. What the context states were
/// trained with (`train_context_state`, `trace_context`); the encoder
/// balances its stripes ([`coded_stripe_rows`]).
fn stripe_rows(w: u32, h: u32, target: u64) -> u32 {
    ((target / w as u64).max(16) as u32).min(h).max(1)
}

/// Stripe height the context coders (`-e 2`, `-e 3`) code an image with:
/// as many stripes as `target` pixels each need, made equal, and beyond two
/// a multiple of four, so that two or four threads share them evenly (with
/// [`stripe_rows`] a 1506 × 833 chest X-ray was two stripes of 696 and 137
/// rows, which two threads decode at most 1.2× as fast as one; with 16
/// rows at least, a very wide image may get fewer). An image of at most
/// `target` pixels keeps one stripe. The file records the height, so
/// decoders of any version read either choice.
fn coded_stripe_rows(w: u32, h: u32, target: u64) -> u32 {
    let n = w as u64 * h as u64;
    let k = fast::balanced_stripes(n.div_ceil(target.max(1)).max(1));
    ((h as u64).div_ceil(k).max(16) as u32).min(h).max(1)
}

/// The `i`-th stripe (`len` samples, rows of `w`) with its slice of the prior.
#[allow(clippy::too_many_arguments)]
fn stripe_at<'a>(
    i: usize,
    rows: usize,
    w: usize,
    len: usize,
    maxv: i32,
    prior: Option<&'a [i32]>,
    net: Option<&'a cm::CtxNet>,
    simd: Simd,
) -> cm::Stripe<'a> {
    let start = i * rows * w;
    cm::Stripe {
        width: w,
        height: len / w,
        maxv,
        prior: prior.map(|p| &p[start..start + len]),
        net,
        simd,
        patterns: false,
        #[cfg(feature = "train")]
        trace: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn encode_pixels(
    img: &Image,
    opts: &Options,
    latent: &[u8],
    recon: Option<&[i32]>,
    init: &cm::Model,
    net: Option<&cm::CtxNet>,
    align: usize,
    compact: bool,
) -> Result<Vec<u8>> {
    // The network's distribution needs a network: without one, the
    // context-mixing coder.
    let kind = match (opts.residual, net) {
        (Residual::Logistic, None) => Residual::Context,
        (k, _) => k,
    };
    let u = img.unsigned();
    // The default level codes pixels of flat neighbourhoods by one flag
    // (coder 12) unless the image has none (coder 13 codes it to the same
    // bits but for the id) or more than one in 200 of them differ from it
    // (a PET image's sparse counts: each would cost its flag's miss and a
    // residual coded as usual); then as coder 13.
    let weighting = match kind {
        Residual::Logistic => {
            let (flat, differ) = cm::flat_counts(&u, img.width as usize);
            match flat == 0 || differ * 200 > flat {
                true => tokens::Weighting::ByIntensity,
                false => tokens::Weighting::ByIntensityFlat,
            }
        }
        _ => tokens::Weighting::Fixed,
    };
    let mut out = vec![kind.id(), recon.is_some() as u8];
    put_int(&mut out, latent.len() as u32, compact);
    out.extend_from_slice(latent);
    match kind {
        Residual::Jpeg => {
            return Err(Error::Internal(
                "the jpeg coder codes from the recovered JPEG only".into(),
            ))
        }
        Residual::Huffman => out.extend_from_slice(&paper::huffman_encode(&u, recon)),
        Residual::Png => out.extend_from_slice(&paper::png_encode(
            &u, recon, img.width, img.height, img.bits,
        )?),
        Residual::Context | Residual::Fast | Residual::Logistic => {
            let map = ValueMap::analyse(&u);
            map.write(&mut out, compact);
            let mapped = map.forward(&u);
            let prior_mapped: Option<Vec<i32>> = recon.map(|r| map.forward_nearest(r));
            let w = img.width as usize;
            let rows = if kind == Residual::Fast {
                fast::stripe_rows(img.width, img.height, opts.stripe_pixels)
            } else {
                coded_stripe_rows(img.width, img.height, opts.stripe_pixels)
            } as usize;
            let rows = planes::aligned_rows(rows, align, img.height as usize / align);
            put_int(&mut out, rows as u32, compact);
            let maxv = map.levels() as i32 - 1;
            // The context-mixing coder of an image whose value map has at
            // most 32 levels (a palette of at most 32 values, or a range of
            // at most 32) without a prior: with pattern contexts (coder 11). Measured on such dev images and on
            // posterised chest X-rays of 4 to 32 levels, 2026-12-03: 0.9
            // to 3 % smaller files at `-e 3`, none larger (RESULTS §7).
            let patterns = kind == Residual::Context && recon.is_none() && maxv < 32;
            if patterns {
                out[0] = PATTERN_CONTEXT;
            }
            let fast = (kind == Residual::Fast).then(|| fast::Config::choose(&mapped, w, maxv));
            if let Some(cfg) = fast {
                out.push(cfg.byte());
            }
            let chunks = |weighting: tokens::Weighting| -> Vec<Vec<u8>> {
                mapped
                    .par_chunks(rows * w)
                    .enumerate()
                    .map(|(i, chunk)| {
                        if let Some(cfg) = fast {
                            return fast::encode_stripe(chunk, w, i * rows, maxv, cfg);
                        }
                        let mut px = chunk.to_vec();
                        let s = cm::Stripe {
                            patterns,
                            ..stripe_at(
                                i,
                                rows,
                                w,
                                chunk.len(),
                                maxv,
                                prior_mapped.as_deref(),
                                net,
                                opts.simd,
                            )
                        };
                        if kind == Residual::Logistic {
                            return tokens::encode_stripe(
                                &s,
                                &mut px,
                                &mut init.clone(),
                                weighting,
                            );
                        }
                        let mut enc = BinEncoder::new();
                        cm::code_stripe(&mut enc, &s, &mut px, &mut init.clone());
                        enc.finish()
                    })
                    .collect()
            };
            // An image that looks like text and graphics is also coded with
            // the graphics tools (`cm::Graphics`), and the smaller kept.
            let graphics = kind == Residual::Logistic && cm::looks_like_graphics(&mapped, w, maxv);
            let (weighting, chunks) = match graphics {
                true => {
                    let with = weighting.with_graphics(true);
                    let (a, b) = rayon::join(|| chunks(weighting), || chunks(with));
                    let len = |c: &[Vec<u8>]| c.iter().map(Vec::len).sum::<usize>();
                    match len(&b) < len(&a) {
                        true => (with, b),
                        false => (weighting, a),
                    }
                }
                false => (weighting, chunks(weighting)),
            };
            out[0] = match weighting {
                tokens::Weighting::ByIntensity => BY_INTENSITY,
                tokens::Weighting::GraphicsFlat => GRAPHICS_FLAT,
                tokens::Weighting::Graphics => GRAPHICS,
                _ => out[0],
            };
            for c in &chunks {
                put_int(&mut out, c.len() as u32, compact);
            }
            for c in &chunks {
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

/// Decodes a medzip file: validates the container, decodes the pixels,
/// checks the pixel hash. `prior` must be the model the file names (if it
/// names one). Context models: the embedded ones ([`decompress_with`] for a
/// site's).
pub fn decompress(
    bytes: &[u8],
    limits: &Limits,
    prior: Option<&dyn Prior>,
) -> Result<(Image, Metadata)> {
    let opts = DecodeOptions {
        limits: *limits,
        ..Default::default()
    };
    decompress_with(bytes, prior, &opts)
}

/// How to decode: what a file may declare, the context models its ids may
/// name, and the instructions the coder runs on.
#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    /// Limits checked before anything is allocated.
    pub limits: Limits,
    /// The context models (a file made with a site's network or state
    /// needs them).
    pub models: Models,
    /// The instructions the coder runs on (the same bits either way).
    pub simd: Simd,
}

/// [`decompress`] with explicit [`DecodeOptions`].
pub fn decompress_with(
    bytes: &[u8],
    prior: Option<&dyn Prior>,
    opts: &DecodeOptions,
) -> Result<(Image, Metadata)> {
    let c = Container::parse(bytes, &opts.limits)?;
    let img = decode_pixels(&c, prior, opts, 0..c.header.desc.height as usize)?;
    if !cfg!(fuzzing) && !c.pixel_hash_matches(&img.hash()) {
        return Err(Error::HashMismatch);
    }
    Ok((img, Metadata::of(&c)))
}

/// Decodes frames `frames` (0-based, end excluded) of a file of several
/// frames (any file: a single image is frame 0), each as an image of its
/// planes one after the other; `prior` as for [`decompress`]. Only the stripes that hold them are
/// decoded. The pixel hash covers the whole image, so it is checked only
/// when every frame is asked for; a part is checked by the pixel
/// section's CRC-32 (and decoding is deterministic).
pub fn decompress_frames(
    bytes: &[u8],
    frames: std::ops::Range<u32>,
    prior: Option<&dyn Prior>,
    opts: &DecodeOptions,
) -> Result<(Vec<Image>, Metadata)> {
    let c = Container::parse(bytes, &opts.limits)?;
    let d = &c.header.desc;
    if d.source == SourceKind::File {
        return Err(Error::Request(
            "a file stored whole has no frames to decode".into(),
        ));
    }
    if frames.start >= frames.end || frames.end > d.frames {
        return Err(Error::Request(format!(
            "frames {}-{} asked of a file of {} frame(s) (frames count from 1)",
            frames.start + 1,
            frames.end,
            d.frames
        )));
    }
    let frame_rows = d.height as usize / d.frames as usize;
    let need = frames.start as usize * frame_rows..frames.end as usize * frame_rows;
    let img = decode_pixels(&c, prior, opts, need.clone())?;
    if !cfg!(fuzzing) && need.len() == d.height as usize && !c.pixel_hash_matches(&img.hash()) {
        return Err(Error::HashMismatch);
    }
    let w = d.width as usize;
    let out = img.data[need.start * w..need.end * w]
        .chunks_exact(frame_rows * w)
        .map(|f| Image {
            width: d.width,
            height: frame_rows as u32,
            bits: d.bits_stored,
            signed: d.signed,
            data: f.to_vec(),
        })
        .collect();
    Ok((out, Metadata::of(&c)))
}

/// Reads only the container (header and section sizes), no pixel decoding.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<Container> {
    Ok(Container::parse(bytes, limits)?)
}

/// The fast coder's configuration of a parsed container, read from the
/// pixel section's head without decoding pixels.
pub fn fast_config_of(c: &Container) -> Option<fast::Config> {
    match PixelSection::parse(c).ok()?.body {
        Body::Stripes { cfg, .. } => cfg,
        Body::Delta(_) | Body::Jpeg(_) => None,
    }
}

/// Whether a parsed container's pixels were coded by the context-mixing
/// coder with pattern contexts (residual 11, [`cm::Stripe::patterns`]).
pub fn pattern_contexts_of(c: &Container) -> bool {
    PixelSection::parse(c).is_ok_and(|s| s.patterns)
}

/// Whether a parsed container's pixels were coded by the default level
/// with the graphics tools (residuals 14 and 15, `cm::Graphics`).
pub fn graphics_tools_of(c: &Container) -> bool {
    PixelSection::parse(c).is_ok_and(|s| s.weighting.graphics())
}

/// The JPEG a parsed container's pixels were coded as (residual 4): its
/// inverse DCT's variant byte and quantization steps (natural order).
pub fn jpeg_of(c: &Container) -> Option<(u8, [u16; 64])> {
    match PixelSection::parse(c).ok()?.body {
        Body::Jpeg(body) => jpeg::steps(body),
        _ => None,
    }
}

/// Name of the residual coder used by a parsed container.
pub fn residual_of(c: &Container) -> Option<Residual> {
    PixelSection::parse(c).ok().map(|s| s.kind)
}

/// The plane transform of a parsed container (of several planes).
pub fn transform_of(c: &Container) -> Option<planes::Transform> {
    PixelSection::parse(c).ok().map(|s| s.transform)
}

/// A pixel section, parsed (`docs/FORMAT.md`, PIXL): the coder, the
/// prior's latent, and what the coder decodes.
struct PixelSection<'a> {
    /// The planes' transform (a byte before the coder's id when the image
    /// has several frames or planes).
    transform: planes::Transform,
    kind: Residual,
    /// How the default level's coder weighs the network (coder ids 5–10,
    /// 12–15).
    weighting: tokens::Weighting,
    /// The context-mixing coder's pattern contexts (coder id 11).
    patterns: bool,
    has_prior: bool,
    latent: &'a [u8],
    body: Body<'a>,
}

enum Body<'a> {
    /// The paper's coders (Huffman, PNG): the coded delta.
    Delta(&'a [u8]),
    /// A recovered JPEG ([`jpeg::encode`]'s body).
    Jpeg(&'a [u8]),
    /// The context and fast coders: the value map, the stripe height, the
    /// fast coder's configuration, one stream per stripe.
    Stripes {
        map: ValueMap,
        rows: usize,
        cfg: Option<fast::Config>,
        streams: Vec<&'a [u8]>,
    },
}

impl<'a> PixelSection<'a> {
    fn parse(c: &'a Container) -> Result<PixelSection<'a>> {
        let d = &c.header.desc;
        let h = d.height as usize;
        let mut r = Reader::new(&c.pixels, "PIXL").compact(c.compact);
        let transform = match d.frames != 1 || d.planes != 1 {
            true => planes::Transform::from_byte(r.u8()?, d.planes)?,
            false => planes::Transform::None,
        };
        let id = r.u8()?;
        let (kind, weighting) = Residual::from_id(id).ok_or_else(|| {
            Error::Corrupt(format!(
                "residual coder {id} (expected 0 to {PATTERN_CONTEXT})"
            ))
        })?;
        let has_prior = match r.u8()? {
            0 => false,
            1 => true,
            v => return Err(Error::Corrupt(format!("prior flag {v} (expected 0 or 1)"))),
        };
        let llen = r.int()? as usize;
        if matches!(kind, Residual::Fast | Residual::Jpeg) && (has_prior || llen != 0) {
            return Err(Error::Corrupt(format!(
                "the {} coder takes no prior and no latent",
                kind.name()
            )));
        }
        if kind == Residual::Jpeg && transform != planes::Transform::None {
            return Err(Error::Corrupt(
                "the jpeg coder codes single grey images only".into(),
            ));
        }
        let latent = r.bytes(llen)?;
        let body = match kind {
            Residual::Huffman | Residual::Png => Body::Delta(&c.pixels[r.position()..]),
            Residual::Jpeg => Body::Jpeg(&c.pixels[r.position()..]),
            Residual::Context | Residual::Fast | Residual::Logistic => {
                let (lo, hi) = Image::range(d.bits_stored, d.signed);
                let map = ValueMap::read(&mut r, 0, hi - lo)?;
                let rows = r.int()? as usize;
                if rows == 0 || rows > h.max(16) {
                    return Err(Error::Corrupt(format!(
                        "stripe height {rows} for an image of {h} rows"
                    )));
                }
                let cfg = match kind {
                    Residual::Fast => {
                        let b = r.u8()?;
                        Some(fast::Config::from_byte(b).ok_or_else(|| {
                            Error::Corrupt(format!(
                                "fast-coder configuration {b:#04x} unknown to this build (damage, or a newer medzip made the file)"
                            ))
                        })?)
                    }
                    _ => None,
                };
                let nstripes = h.div_ceil(rows);
                let mut lens = Vec::with_capacity(nstripes);
                for _ in 0..nstripes {
                    lens.push(r.int()? as usize);
                }
                let mut streams = Vec::with_capacity(nstripes);
                for &l in &lens {
                    streams.push(r.bytes(l)?);
                }
                r.finish()?;
                Body::Stripes {
                    map,
                    rows,
                    cfg,
                    streams,
                }
            }
        };
        Ok(PixelSection {
            transform,
            kind,
            weighting,
            patterns: id == PATTERN_CONTEXT,
            has_prior,
            latent,
            body,
        })
    }
}

/// The prior's reconstruction for a file that names autoencoder `needed`:
/// with the model the caller gave, or else the embedded one of that id.
fn prior_reconstruction(
    d: &ImageDesc,
    latent: &[u8],
    needed: &[u8],
    prior: Option<&dyn Prior>,
) -> Result<Vec<i32>> {
    let p = prior.or_else(|| priors::by_id(needed).map(|p| p as &dyn Prior));
    let p = match p {
        Some(p) if p.id()[..p.id().len().min(64)] == *needed => p,
        p => {
            return Err(Error::WrongModel {
                needed: medzip_format::hex(needed),
                available: match p {
                    Some(p) => format!("but model {} was given", medzip_format::hex(&p.id())),
                    None => format!(
                        "which is not embedded in this build (it has: {}); pass the model file",
                        priors::embedded()
                            .iter()
                            .map(|p| format!("{} {}", p.name(), medzip_format::hex(&p.id())))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            })
        }
    };
    let rec = p.reconstruct(latent, d.width, d.height, d.bits_stored)?;
    if rec.len() != d.width as usize * d.height as usize {
        return Err(Error::Internal(
            "prior returned a wrong-sized reconstruction".into(),
        ));
    }
    Ok(rec)
}

/// Decodes the pixels of `c`: the stripes that hold rows `need` (all of
/// them for the prior's and the paper's coders), the others left zero.
fn decode_pixels(
    c: &Container,
    prior: Option<&dyn Prior>,
    opts: &DecodeOptions,
    need: std::ops::Range<usize>,
) -> Result<Image> {
    let d = &c.header.desc;
    if d.source == SourceKind::File {
        // A file stored whole (its bytes are in the source data).
        if !c.pixels.is_empty() {
            return Err(Error::Corrupt(
                "a file stored whole with a pixel section".into(),
            ));
        }
        return Ok(Image::new(0, 0, 8, false, Vec::new())?);
    }
    let (w, h) = (d.width as usize, d.height as usize);
    let n = w * h;
    let section = PixelSection::parse(c)?;
    let entries = model_entries(&c.header.model_id)?;
    let find = |tag: u8| entries.iter().find(|e| e.0 == tag).map(|e| e.1);
    let recon = if section.has_prior {
        let needed = find(MODEL_PRIOR).unwrap_or_default();
        Some(prior_reconstruction(d, section.latent, needed, prior)?)
    } else {
        None
    };
    let (lo, hi) = Image::range(d.bits_stored, d.signed);
    let umax = hi - lo;
    let (mut u, value_map) = match section.body {
        Body::Delta(rest) => match section.kind {
            Residual::Huffman => (paper::huffman_decode(rest, n, recon.as_deref())?, None),
            _ => (
                paper::png_decode(rest, recon.as_deref(), d.width, d.height, d.bits_stored)?,
                None,
            ),
        },
        Body::Jpeg(body) => {
            if !entries.is_empty() || d.bits_stored != 8 || d.signed {
                return Err(Error::Corrupt(
                    "the jpeg coder codes 8-bit unsigned samples and takes no models".into(),
                ));
            }
            let px = jpeg::decode(body, w, h)
                .ok_or_else(|| Error::Corrupt("JPEG-coded pixels do not decode".into()))?;
            (px, None)
        }
        Body::Stripes {
            map,
            rows,
            cfg,
            streams,
        } => {
            let stripes = Stripes {
                streams: &streams,
                n,
                w,
                rows,
                maxv: map.levels() as i32 - 1,
                need,
            };
            let px = match cfg {
                Some(cfg) => {
                    if !entries.is_empty() {
                        return Err(Error::Corrupt("the fast coder takes no models".into()));
                    }
                    decode_fast_stripes(&stripes, cfg)?
                }
                None => {
                    let prior_mapped: Option<Vec<i32>> =
                        recon.as_ref().map(|rc| map.forward_nearest(rc));
                    decode_context_stripes(
                        &stripes,
                        (section.kind == Residual::Logistic).then_some(section.weighting),
                        section.patterns,
                        prior_mapped.as_deref(),
                        &find,
                        &opts.models,
                        opts.simd,
                    )?
                }
            };
            // (Intervals as the table of their values, built once rather
            // than for each chunk below.)
            (px, Some(map.as_palette()))
        }
    };
    // Back from the value map, checked and shifted to the image's range:
    // one pass, in parallel.
    let in_range = u.len() == n
        && u.par_chunks_mut(1 << 16)
            .map(|c| {
                if let Some(m) = &value_map {
                    m.inverse(c);
                }
                let ok = c.iter().all(|&v| (0..=umax).contains(&v));
                // (Damaged values are not shifted: they could overflow.)
                if ok {
                    c.iter_mut().for_each(|v| *v += lo);
                }
                ok
            })
            .reduce(|| true, |a, b| a && b);
    if !in_range {
        return Err(Error::Corrupt("decoded samples out of range".into()));
    }
    let mut img = Image {
        width: d.width,
        height: d.height,
        bits: d.bits_stored,
        signed: d.signed,
        data: u,
    };
    section
        .transform
        .inverse(&mut img, d.planes, d.plane_rows() as usize);
    Ok(img)
}

/// The coded stripes of a pixel section and the image they make.
struct Stripes<'a> {
    streams: &'a [&'a [u8]],
    /// Pixels in all, row width, rows per stripe, largest mapped value.
    n: usize,
    w: usize,
    rows: usize,
    maxv: i32,
    /// The rows wanted: stripes that hold none of them are not decoded.
    need: std::ops::Range<usize>,
}

impl Stripes<'_> {
    /// Decodes every stripe that holds a row of `need` (in parallel) with
    /// `stripe(i, its samples, its bytes)`, which says whether it decoded;
    /// `coder` names the coder in the error.
    fn decode_each(
        &self,
        coder: &str,
        stripe: impl Fn(usize, &mut [i32], &[u8]) -> bool + Sync,
    ) -> Result<Vec<i32>> {
        let mut px = vec![0i32; self.n];
        let ok = px
            .par_chunks_mut(self.rows * self.w)
            .zip(self.streams.par_iter())
            .enumerate()
            .all(|(i, (chunk, bytes))| {
                let first = i * self.rows;
                let wanted =
                    first < self.need.end && first + chunk.len() / self.w > self.need.start;
                !wanted || stripe(i, chunk, bytes)
            });
        if !ok {
            return Err(Error::Corrupt(format!(
                "{coder}-coded stripe does not decode"
            )));
        }
        Ok(px)
    }
}

/// Decodes the fast coder's stripes (in parallel) into mapped values.
fn decode_fast_stripes(s: &Stripes, cfg: fast::Config) -> Result<Vec<i32>> {
    s.decode_each("fast", |i, chunk, bytes| {
        fast::decode_stripe(bytes, chunk, s.w, i * s.rows, s.maxv, cfg)
    })
}

/// Decodes the context coder's stripes (in parallel) into mapped values,
/// with the network and state the file names (`find` looks an entry of its
/// model id up by tag); `tokens`: residuals coded as tokens of the
/// network's distribution ([`Residual::Logistic`]), with the network's
/// weight set as `Some(weighting)` says; `patterns`: the context-mixing
/// coder's pattern contexts (coder 11).
fn decode_context_stripes<'a>(
    s: &Stripes,
    tokens: Option<tokens::Weighting>,
    patterns: bool,
    prior: Option<&[i32]>,
    find: &dyn Fn(u8) -> Option<&'a [u8]>,
    models: &Models,
    simd: Simd,
) -> Result<Vec<i32>> {
    // A model the file names but this process lacks: refused, naming it and
    // what there is.
    let missing = |kind: &str, id: &[u8], have: Vec<(&str, &[u8])>| Error::WrongModel {
        needed: format!("{kind} {}", medzip_format::hex(id)),
        available: format!(
            "which this build lacks (it has: {})",
            have.iter()
                .map(|(n, id)| format!("{n} {}", medzip_format::hex(id)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let net = match find(MODEL_NET) {
        Some(id) => Some(
            &models
                .net_by_id(id)
                .ok_or_else(|| {
                    let have = models.nets().iter().map(|n| (n.name, &n.id[..])).collect();
                    missing("context network", id, have)
                })?
                .net,
        ),
        None => None,
    };
    let fresh;
    let init = match find(MODEL_CONTEXT) {
        Some(id) => {
            &models
                .state_by_id(id)
                .ok_or_else(|| {
                    let have = models
                        .states()
                        .iter()
                        .map(|t| (t.name, &t.id[..]))
                        .collect();
                    missing("context state", id, have)
                })?
                .model
        }
        None => {
            fresh = cm::Model::fresh(net.is_some());
            &fresh
        }
    };
    if init.uses_net() != net.is_some() {
        return Err(Error::Corrupt(
            "the file pairs a context state and network that do not go together".into(),
        ));
    }
    if let Some(weighting) = tokens {
        if net.is_none() {
            return Err(Error::Corrupt(
                "the logistic coder's file names no context network".into(),
            ));
        }
        return s.decode_each("logistic", |i, chunk, bytes| {
            let st = stripe_at(i, s.rows, s.w, chunk.len(), s.maxv, prior, net, simd);
            tokens::decode_stripe(bytes, &st, chunk, &mut init.clone(), weighting)
        });
    }
    s.decode_each("context", |i, chunk, bytes| {
        let st = cm::Stripe {
            patterns,
            ..stripe_at(i, s.rows, s.w, chunk.len(), s.maxv, prior, net, simd)
        };
        match BinDecoder::new(bytes) {
            Ok(mut dec) => {
                cm::code_stripe(&mut dec, &st, chunk, &mut init.clone()) && !dec.failed()
            }
            Err(_) => false,
        }
    })
}

/// Trains a context-model state: runs the model over `images` in order,
/// carrying its state from one to the next (exactly what encoding does
/// within a stripe), then caps its confidences at `cap` so that it keeps
/// adapting to each new image. Deterministic for a given image order. A
/// state for coding with a context network is trained with that network.
pub fn train_context_state(
    images: impl IntoIterator<Item = impl std::borrow::Borrow<Image>>,
    cap: u8,
    stripe_pixels: u64,
    net: Option<&cm::CtxNet>,
    mut progress: impl FnMut(usize),
) -> cm::Model {
    let mut model = cm::Model::fresh(net.is_some());
    for (i, img) in images.into_iter().enumerate() {
        let img = img.borrow();
        let u = img.unsigned();
        let map = ValueMap::analyse(&u);
        let mapped = map.forward(&u);
        let w = img.width as usize;
        let rows = stripe_rows(img.width, img.height, stripe_pixels) as usize;
        for (i, chunk) in mapped.chunks(rows * w).enumerate() {
            let mut px = chunk.to_vec();
            let s = stripe_at(
                i,
                rows,
                w,
                chunk.len(),
                map.levels() as i32 - 1,
                None,
                net,
                Simd::Auto,
            );
            cm::code_stripe(&mut cm::NullIo, &s, &mut px, &mut model);
        }
        progress(i + 1);
    }
    model.cap_confidence(cap);
    model
}

/// Training samples of the context network: runs the coder without the
/// network over `img` from the embedded trained state for its depth (as
/// encoding does), adding every `trace.stride`-th pixel's features and
/// target to `trace`.
#[cfg(feature = "train")]
pub fn trace_context(img: &Image, trace: &std::cell::RefCell<cm::Trace>, stripe_pixels: u64) {
    let u = img.unsigned();
    let map = ValueMap::analyse(&u);
    let mapped = map.forward(&u);
    let w = img.width as usize;
    let rows = stripe_rows(img.width, img.height, stripe_pixels) as usize;
    let fresh = cm::Model::new();
    let models = Models::embedded();
    let init = models
        .for_bits(img.bits, false)
        .map_or(&fresh, |t| &t.model);
    for (i, chunk) in mapped.chunks(rows * w).enumerate() {
        let mut px = chunk.to_vec();
        let mut s = stripe_at(
            i,
            rows,
            w,
            chunk.len(),
            map.levels() as i32 - 1,
            None,
            None,
            Simd::Auto,
        );
        s.trace = Some(trace);
        cm::code_stripe(&mut cm::NullIo, &s, &mut px, &mut init.clone());
    }
}

#[cfg(test)]
mod stripe_tests {
    use super::coded_stripe_rows;

    /// One stripe up to the target size, two equal ones up to twice it,
    /// then a multiple of four (the 8.5 MP mammogram of the dev set: 12
    /// stripes, not eight and a ninth of 56 rows).
    #[test]
    fn coded_stripes_are_balanced() {
        for (w, h, target, rows, stripes) in [
            (1000, 1000, 1 << 20, 1000, 1),
            (1200, 1045, 1 << 20, 523, 2),
            (2000, 2128, 1 << 20, 266, 8),
            (2560, 3328, 1 << 20, 278, 12),
            (300, 200, 5000, 17, 12),
            (7, 1, 1, 1, 1),
        ] {
            let r = coded_stripe_rows(w, h, target);
            assert_eq!((r, h.div_ceil(r)), (rows, stripes), "{w}×{h}");
        }
    }
}

#[cfg(test)]
mod graphics_tests {
    use super::*;

    /// Damaged streams of the graphics coders (14 and 15: the memory's
    /// flags, the gradient's sections) decode to a failure or to values in
    /// range, never a panic: arbitrary bytes as one stripe of 8 and 16
    /// bits, with and without the flat flags.
    #[test]
    fn damaged_graphics_streams_fail_cleanly() {
        let models = trained::Models::embedded();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as u8
        };
        for (bits, maxv) in [(8u8, 255), (16, 65_535)] {
            let net = &models.net_for_bits(bits).expect("embedded").net;
            let init = &models.for_bits(bits, true).expect("embedded").model;
            for weighting in [tokens::Weighting::Graphics, tokens::Weighting::GraphicsFlat] {
                for (w, h) in [(1, 1), (5, 3), (37, 23), (64, 33)] {
                    for k in 0..60 {
                        let len = [0usize, 3, 8, 13, 40, 200, 1000][k % 7];
                        // (Some streams all zeros or all ones: long runs of
                        // one decision, the memory's flags included.)
                        let fill = [None, Some(0u8), Some(255)][k % 3];
                        let bytes: Vec<u8> =
                            (0..len).map(|_| fill.unwrap_or_else(&mut next)).collect();
                        let st = stripe_at(0, h, w, w * h, maxv, None, Some(net), Simd::Auto);
                        let mut px = vec![0; w * h];
                        tokens::decode_stripe(&bytes, &st, &mut px, &mut init.clone(), weighting);
                        assert!(
                            px.iter().all(|v| (0..=maxv).contains(v)),
                            "{bits} bits, {len} bytes"
                        );
                    }
                }
            }
        }
    }
}
