//! medzip as a library: a whole image file in, a `.mdz` file out, and the
//! same file back — what the `medzip` command does, without a process.
//!
//! ```
//! # fn main() -> Result<(), medzip::Error> {
//! // A 13×7 16-bit PGM (any PNG, PGM, TIFF or DICOM file works the same).
//! let mut pgm = b"P5 13 7 4095\n".to_vec();
//! for i in 0..13 * 7u16 {
//!     pgm.extend_from_slice(&(i * 37 % 4096).to_be_bytes());
//! }
//! let mdz = medzip::compress(&pgm, Some("scan.pgm"), &medzip::Options::default())?;
//! let back = medzip::decompress(&mdz, &medzip::DecodeOptions::default())?;
//! medzip::verify(&back, &pgm)?; // the same image, the same kind of file
//! # Ok(())
//! # }
//! ```
//!
//! Nothing is global: the context models (the embedded ones, a site's:
//! [`Models`]), the limits and the SIMD choice travel in [`Options`] and
//! [`DecodeOptions`], so two callers in one process may use two sites'
//! models at once (`examples/two_sites.rs`). The layers below, for finer
//! control: [`medzip_io`] (files ⇄ [`Image`] and [`Metadata`]) and
//! [`medzip_codec`] (images ⇄ `.mdz` bytes).

use std::io::{Read, Write};

pub use medzip_codec::{
    inspect, DecodeOptions, Image, Limits, Metadata, Models, Options, Residual, Simd,
};
pub use medzip_io::ReadOptions;
pub use {medzip_codec, medzip_io};

/// What can go wrong: reading the input, coding, or a check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The input file (or the file a `.mdz` rebuilds) is not one medzip
    /// reads or writes.
    #[error(transparent)]
    File(#[from] medzip_io::Error),
    /// The `.mdz` file is damaged, needs a model this build lacks, …
    #[error(transparent)]
    Codec(#[from] medzip_codec::Error),
    /// [`verify`]: the decoded file is not the original.
    #[error("not the same file: {0}")]
    Differs(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Compresses a file's bytes into the bytes of a `.mdz` file: an image
/// (grey PNG, PGM, TIFF; DICOM, grey or colour, of one frame or several;
/// `name`, the file's name, helps tell them apart) by its pixels, any other
/// file (a DICOM file without pixels, an encapsulated one, a damaged one,
/// …) stored whole
/// ([`medzip_io::stored`]), so that nothing is refused and every DICOM file
/// comes back byte for byte.
pub fn compress(file: &[u8], name: Option<&str>, opts: &Options) -> Result<Vec<u8>> {
    compress_with(file, name, opts, &ReadOptions::default())
}

/// [`compress`], reading the file as `read` says: an encapsulated DICOM
/// file coded by its pixels (native DICOM with the same pixels back: a
/// smaller `.mdz`, other bytes), a PNG file back byte for byte.
pub fn compress_with(
    file: &[u8],
    name: Option<&str>,
    opts: &Options,
    read: &ReadOptions,
) -> Result<Vec<u8>> {
    let (loaded, _) = medzip_io::read_or_store(file, name, read)?;
    Ok(code_or_store(file, loaded, opts, None)?.0)
}

/// The `.mdz` of `file`, read as `loaded` ([`medzip_io::read_or_store`]):
/// its pixels coded, or the file stored whole where that is smaller — the
/// floor that keeps a DICOM file whose pixel data came compressed from
/// costing more than its bytes would
/// ([`medzip_io::stored::worth_trying`]). Returns the `.mdz`, what it
/// holds (`loaded`, or the file stored whole), and whether the floor
/// stored it.
pub fn code_or_store(
    file: &[u8],
    loaded: medzip_io::Loaded,
    opts: &Options,
    prior: Option<&dyn medzip_codec::Prior>,
) -> Result<(Vec<u8>, medzip_io::Loaded, bool)> {
    let mdz = medzip_codec::compress_with_prior(&loaded.image, &loaded.meta, opts, prior)?;
    if medzip_io::stored::worth_trying(file, &loaded.meta, mdz.len()) {
        let stored = medzip_io::isolate(|| medzip_io::stored::store(file))?;
        let whole = medzip_codec::compress(&stored.image, &stored.meta, opts)?;
        if whole.len() < mdz.len() {
            return Ok((whole, stored, true));
        }
    }
    Ok((mdz, loaded, false))
}

/// The file a `.mdz` was made from: the same bytes for DICOM, TIFF and files
/// stored whole (and PNG compressed with [`ReadOptions::exact_file`]); the
/// same pixels, kind and layout for PNG (and every chunk) and PGM (and TIFF
/// compressed before 2026-11-30);
/// native DICOM with the same pixels for an encapsulated DICOM file
/// compressed with [`ReadOptions::transcode`].
pub fn decompress(mdz: &[u8], opts: &DecodeOptions) -> Result<Vec<u8>> {
    let (img, meta) = medzip_codec::decompress_with(mdz, None, opts)?;
    Ok(medzip_io::write(&img, &meta)?)
}

/// [`compress`] from a reader (read to its end) to a writer.
pub fn compress_stream(
    mut r: impl Read,
    name: Option<&str>,
    mut w: impl Write,
    opts: &Options,
) -> Result<()> {
    let mut file = Vec::new();
    r.read_to_end(&mut file)?;
    w.write_all(&compress(&file, name, opts)?)?;
    Ok(w.flush()?)
}

/// [`decompress`] from a reader (read to its end) to a writer.
pub fn decompress_stream(mut r: impl Read, mut w: impl Write, opts: &DecodeOptions) -> Result<()> {
    let mut mdz = Vec::new();
    r.read_to_end(&mut mdz)?;
    w.write_all(&decompress(&mdz, opts)?)?;
    Ok(w.flush()?)
}

/// Checks that `rebuilt` (a decoded file) is `original`: the same bytes,
/// or else the same kind of image file with the same pixels where medzip
/// promises no more (PNG, PGM, TIFF; DICOM transcoded from an encapsulated
/// file).
pub fn verify(rebuilt: &[u8], original: &[u8]) -> Result<()> {
    if rebuilt == original {
        return Ok(());
    }
    let new = medzip_io::read(rebuilt, None)?;
    let old = medzip_io::read(original, None)?;
    let bytes_promised = promises_bytes(&old.meta);
    same(
        new.meta.source,
        &new.image,
        &old,
        bytes_promised,
        rebuilt,
        original,
    )
}

/// [`verify`] for a decoded image and metadata (`rebuilt`: the file they
/// write) against the original's bytes and what was read from them.
pub fn same_file(
    img: &Image,
    meta: &Metadata,
    rebuilt: &[u8],
    original: &[u8],
    orig: &medzip_io::Loaded,
) -> Result<()> {
    same(
        meta.source,
        img,
        orig,
        promises_bytes(meta),
        rebuilt,
        original,
    )
}

/// Whether a file with this metadata comes back byte for byte (DICOM that
/// was not transcoded).
fn promises_bytes(meta: &Metadata) -> bool {
    meta.file_sha256.is_some() && medzip_io::dicom::transcoded_from(meta).is_none()
}

fn same(
    kind: medzip_codec::SourceKind,
    img: &Image,
    orig: &medzip_io::Loaded,
    bytes_promised: bool,
    rebuilt: &[u8],
    original: &[u8],
) -> Result<()> {
    if rebuilt == original {
        return Ok(());
    }
    if kind == medzip_codec::SourceKind::File || orig.meta.source == medzip_codec::SourceKind::File
    {
        return Err(Error::Differs(
            "the file was stored whole, and the rebuilt bytes differ".into(),
        ));
    }
    if kind != orig.meta.source {
        return Err(Error::Differs(format!(
            "it decodes to a {} file, the original is {}",
            kind.name(),
            orig.meta.source.name()
        )));
    }
    if *img != orig.image {
        return Err(Error::Differs("the decoded pixels differ".into()));
    }
    if bytes_promised && rebuilt != original {
        return Err(Error::Differs(
            "the pixels match, but the rebuilt file differs".into(),
        ));
    }
    Ok(())
}
