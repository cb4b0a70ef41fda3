//! The native module of the `medzip` Python package (`medzip._native`):
//! thin functions over the `medzip` library, on bytes and plain values;
//! `python/medzip/__init__.py` turns numpy arrays into them and back. Each
//! call releases the GIL while it codes, and every error becomes a
//! `medzip.Error` (a subclass says which kind) with the library's message.

use medzip::{DecodeOptions, Options};
use medzip_codec::{Image, Metadata, SourceKind};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

create_exception!(_native, Error, PyException, "Any medzip error.");
create_exception!(
    _native,
    CorruptError,
    Error,
    "The .mdz data is damaged, truncated or not a medzip file."
);
create_exception!(
    _native,
    UnsupportedError,
    Error,
    "The input is not an image medzip reads (or not as given)."
);
create_exception!(
    _native,
    ModelError,
    Error,
    "The file needs a model this build (or these options) lacks."
);

/// The Python exception for a library error.
fn py_err(e: medzip::Error) -> PyErr {
    use medzip_codec::Error as C;
    use medzip_format::Error as F;
    let msg = e.to_string();
    match &e {
        medzip::Error::Codec(C::WrongModel { .. } | C::InvalidModel(_)) => ModelError::new_err(msg),
        medzip::Error::Codec(
            C::Corrupt(_)
            | C::HashMismatch
            | C::Format(F::Corrupt(_) | F::UnsupportedVersion { .. }),
        )
        | medzip::Error::File(medzip::medzip_io::Error::FileHashMismatch(_)) => {
            CorruptError::new_err(msg)
        }
        // (Limits: an image larger than this build accepts.)
        medzip::Error::File(_)
        | medzip::Error::Codec(
            C::InvalidImage(_) | C::Format(F::InvalidImage(_) | F::LimitExceeded(_)),
        ) => UnsupportedError::new_err(msg),
        _ => Error::new_err(msg),
    }
}

fn codec_err(e: medzip_codec::Error) -> PyErr {
    py_err(medzip::Error::Codec(e))
}

/// Runs `f` on a pool of `threads` threads (`None`: rayon's default, one
/// per core) without the GIL.
fn run<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    f: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    py.detach(|| match threads {
        None => Ok(f()),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .map(|pool| pool.install(f))
            .map_err(|e| Error::new_err(format!("cannot start {n} threads: {e}"))),
    })
}

/// Compresses raw samples: `data` holds `height` rows of `width` samples
/// of `sample_bytes` bytes (1 or 2, little endian, two's complement when
/// `signed`), of which `bits` are significant.
#[pyfunction]
#[pyo3(signature = (data, width, height, bits, signed, sample_bytes, effort=2, threads=None))]
#[allow(clippy::too_many_arguments)]
fn encode_raw<'py>(
    py: Python<'py>,
    data: &[u8],
    width: u32,
    height: u32,
    bits: u8,
    signed: bool,
    sample_bytes: u8,
    effort: u8,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let n = width as usize * height as usize;
    if !(sample_bytes == 1 || sample_bytes == 2) || data.len() != n * sample_bytes as usize {
        return Err(UnsupportedError::new_err(format!(
            "{} bytes for {width}×{height} samples of {sample_bytes} bytes",
            data.len()
        )));
    }
    let samples: Vec<i32> = match (sample_bytes, signed) {
        (1, false) => data.iter().map(|&b| b as i32).collect(),
        (1, true) => data.iter().map(|&b| b as i8 as i32).collect(),
        (_, false) => data
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as i32)
            .collect(),
        (_, true) => data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as i32)
            .collect(),
    };
    let img = Image::new(width, height, bits, signed, samples)
        .map_err(|e| UnsupportedError::new_err(e.to_string()))?;
    let meta = Metadata {
        container_bits: 8 * sample_bytes,
        ..Metadata::raw()
    };
    let opts = Options::effort(effort);
    let mdz =
        run(py, threads, || medzip_codec::compress(&img, &meta, &opts))?.map_err(codec_err)?;
    Ok(PyBytes::new(py, &mdz))
}

/// Decodes a `.mdz` made from pixels: `(samples, width, height, bits,
/// signed, sample_bytes)`, the samples as `encode_raw` takes them.
#[pyfunction]
#[pyo3(signature = (mdz, threads=None))]
#[allow(clippy::type_complexity)]
fn decode_raw<'py>(
    py: Python<'py>,
    mdz: &[u8],
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyBytes>, u32, u32, u8, bool, u8)> {
    let (img, meta) = run(py, threads, || {
        medzip_codec::decompress_with(mdz, None, &DecodeOptions::default())
    })?
    .map_err(codec_err)?;
    if meta.source == SourceKind::File {
        return Err(UnsupportedError::new_err(
            "a file stored whole, not an image: decompress() gives its bytes back",
        ));
    }
    let sample_bytes: u8 = if meta.container_bits <= 8 && img.bits <= 8 {
        1
    } else {
        2
    };
    let mut out = Vec::with_capacity(img.data.len() * sample_bytes as usize);
    for &v in &img.data {
        if sample_bytes == 1 {
            out.push(v as u8);
        } else {
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
    }
    Ok((
        PyBytes::new(py, &out),
        img.width,
        img.height,
        img.bits,
        img.signed,
        sample_bytes,
    ))
}

/// Compresses a file's bytes as `medzip compress` does: an image (PNG,
/// PGM, TIFF, DICOM) by its pixels, any other file stored whole;
/// `transcode` codes an encapsulated DICOM file by its pixels, `exact_file`
/// gives a PNG file back byte for byte.
#[pyfunction]
#[pyo3(signature = (file, name=None, effort=2, threads=None, transcode=false, exact_file=false))]
fn compress_file<'py>(
    py: Python<'py>,
    file: &[u8],
    name: Option<&str>,
    effort: u8,
    threads: Option<usize>,
    transcode: bool,
    exact_file: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let opts = Options::effort(effort);
    let read = medzip::ReadOptions {
        transcode,
        exact_file,
    };
    let mdz = run(py, threads, || {
        medzip::compress_with(file, name, &opts, &read)
    })?
    .map_err(py_err)?;
    Ok(PyBytes::new(py, &mdz))
}

/// The file a `.mdz` was made from, as `medzip decompress` writes it.
#[pyfunction]
#[pyo3(signature = (mdz, threads=None))]
fn decompress_file<'py>(
    py: Python<'py>,
    mdz: &[u8],
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let file = run(py, threads, || {
        medzip::decompress(mdz, &DecodeOptions::default())
    })?
    .map_err(py_err)?;
    Ok(PyBytes::new(py, &file))
}

/// Checks that `rebuilt` (a decoded file) is `original`: the same kind of
/// file and pixels, and the same bytes where medzip promises them; raises
/// `medzip.Error` saying how they differ.
#[pyfunction]
fn verify(py: Python<'_>, rebuilt: &[u8], original: &[u8]) -> PyResult<()> {
    py.detach(|| medzip::verify(rebuilt, original))
        .map_err(py_err)
}

/// What a `.mdz` holds, without decoding its pixels.
#[pyfunction]
fn info<'py>(py: Python<'py>, mdz: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    let c = medzip_codec::inspect(mdz, &Default::default()).map_err(codec_err)?;
    let d = &c.header.desc;
    let out = PyDict::new(py);
    out.set_item("width", d.width)?;
    out.set_item("height", d.height)?;
    out.set_item("bits", d.bits_stored)?;
    out.set_item("signed", d.signed)?;
    out.set_item("photometric", d.photometric.name())?;
    out.set_item("frames", d.frames)?;
    out.set_item("planes", d.planes)?;
    let source = match d.source {
        SourceKind::Raw => "raw",
        k => k.name(),
    };
    out.set_item("source", source)?;
    out.set_item("container_bits", d.container_bits)?;
    let residual = match (
        medzip_codec::residual_of(&c),
        medzip_codec::fast_config_of(&c),
    ) {
        (_, Some(cfg)) => cfg.describe(),
        (Some(r), None) => r.name().to_string(),
        (None, None) => "unknown".to_string(),
    };
    out.set_item("coder", residual)?;
    // (An embedded set as the models it stands for, where this build
    // knows it.)
    let id = &c.header.model_id;
    let models: Vec<(String, String)> = medzip_codec::model_entries(id)
        .or_else(|_| medzip_format::model::entries(id))
        .map_err(|e| codec_err(e.into()))?
        .into_iter()
        .map(|(tag, id)| {
            let kind = medzip_format::model::kind_name(tag).unwrap_or("unknown");
            (kind.to_string(), medzip_format::hex(id))
        })
        .collect();
    out.set_item("models", models)?;
    out.set_item("bytes", mdz.len())?;
    // A file stored whole: its length and how it is coded.
    if let Some((method, len)) = (d.source == SourceKind::File)
        .then(|| medzip::medzip_io::stored::summary(&c.source))
        .flatten()
    {
        out.set_item("stored_bytes", len)?;
        out.set_item("stored_method", method)?;
    }
    // (The first 8 bytes of it in the compact layout of small images.)
    out.set_item("pixel_sha256", medzip_format::hex(c.pixel_hash()))?;
    Ok(out)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("CorruptError", py.get_type::<CorruptError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add_function(wrap_pyfunction!(encode_raw, m)?)?;
    m.add_function(wrap_pyfunction!(decode_raw, m)?)?;
    m.add_function(wrap_pyfunction!(compress_file, m)?)?;
    m.add_function(wrap_pyfunction!(decompress_file, m)?)?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
