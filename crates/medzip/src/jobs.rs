//! The CLI's jobs: what a command codes with ([`Ctx`]), one input at a
//! time (compress, decompress, verify), every input in parallel with one
//! bad file never stopping the others, and outputs written atomically.

use crate::{OutArgs, ToKind};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use medzip_codec::priors::AePrior;
use medzip_codec::{DecodeOptions, Limits, Options};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a command codes with, from its flags: passed to each job, so that
/// nothing in the process is global.
pub(crate) struct Ctx {
    /// Decoding limits (`--max-pixels`) and the context models (the
    /// embedded ones and a site's; the encoder takes them from here too).
    pub decode: DecodeOptions,
    /// The autoencoder prior asked for (`--model`).
    pub prior: Option<PriorModel>,
}

impl Ctx {
    pub fn new(limits: Limits) -> Ctx {
        Ctx {
            decode: DecodeOptions {
                limits,
                ..Default::default()
            },
            prior: None,
        }
    }

    pub fn prior(&self) -> Option<&dyn medzip_codec::Prior> {
        self.prior
            .as_ref()
            .map(|p| p.get() as &dyn medzip_codec::Prior)
    }

    pub fn decompress(
        &self,
        bytes: &[u8],
    ) -> Result<(medzip_codec::Image, medzip_codec::Metadata)> {
        Ok(medzip_codec::decompress_with(
            bytes,
            self.prior(),
            &self.decode,
        )?)
    }
}

/// An autoencoder prior: embedded, or read from a model file.
pub(crate) enum PriorModel {
    Embedded(&'static AePrior),
    File(Box<AePrior>),
}

impl PriorModel {
    pub fn get(&self) -> &AePrior {
        match self {
            PriorModel::Embedded(p) => p,
            PriorModel::File(p) => p,
        }
    }
}

/// An embedded model by name, or a model file.
pub(crate) fn load_prior(s: &str) -> Result<PriorModel> {
    if let Some(p) = medzip_codec::priors::by_name(s) {
        return Ok(PriorModel::Embedded(p));
    }
    let path = Path::new(s);
    if !path.exists() {
        bail!(
            "model {s:?} is neither an embedded model ({}) nor a file",
            medzip_codec::priors::names().join(", ")
        );
    }
    let b = std::fs::read(path).with_context(|| format!("cannot read {s}"))?;
    let p = AePrior::from_bytes(&b).with_context(|| format!("{s}: not a medzip model"))?;
    Ok(PriorModel::File(Box::new(p)))
}

/// Runs `job` on every input (in parallel), with a progress bar for many
/// inputs; reports each failure and returns whether all succeeded.
pub(crate) fn for_each<F>(
    inputs: &[PathBuf],
    out: &OutArgs,
    quiet: bool,
    verb: &str,
    job: F,
) -> bool
where
    F: Fn(&Path) -> Result<String> + Sync,
{
    if out.output.is_some() && inputs.len() > 1 {
        eprintln!("medzip: error: -o/--output takes a single input; use --out-dir for several");
        return false;
    }
    let pb = if inputs.len() > 1 && !quiet {
        let pb = ProgressBar::new(inputs.len() as u64);
        pb.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files, ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_message(verb.to_string());
        pb
    } else {
        ProgressBar::hidden()
    };
    let failures: usize = inputs
        .par_iter()
        .map(|inp| {
            // Each input in isolation: a panic is this input's failure.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(inp)))
                .unwrap_or_else(|p| {
                    let msg = medzip_io::panic_message(&*p);
                    Err(anyhow::anyhow!("internal error ({msg}); nothing written"))
                });
            pb.inc(1);
            match r {
                Ok(msg) => {
                    if !quiet && !msg.is_empty() {
                        pb.suspend(|| eprintln!("{msg}"));
                    }
                    0
                }
                Err(e) => {
                    pb.suspend(|| eprintln!("medzip: {}: {e:#}", inp.display()));
                    1
                }
            }
        })
        .sum();
    pb.finish_and_clear();
    failures == 0
}

fn output_path(inp: &Path, out: &OutArgs, make_name: impl Fn(&str) -> String) -> PathBuf {
    if let Some(o) = &out.output {
        return o.clone();
    }
    let name = inp
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = match &out.out_dir {
        Some(d) => d.clone(),
        None => inp.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    dir.join(make_name(&name))
}

/// Writes `bytes` to `path` without ever leaving a partial file: a
/// temporary file in the same folder, fsynced, then renamed into place
/// (refusing to replace an existing file unless `force`).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    if !force && path.exists() {
        bail!("{} exists (use --force to replace it)", path.display());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut b = tempfile::Builder::new();
    b.prefix(".medzip-").suffix(".tmp");
    // Like any file a program creates: rw for all, less the umask (a
    // temporary file would otherwise stay owner-only once renamed).
    #[cfg(unix)]
    b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = b
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).context("write failed")?;
    tmp.as_file().sync_all().context("fsync failed")?;
    if force {
        tmp.persist(path).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            anyhow::anyhow!(
                "{} exists or cannot be written: {}",
                path.display(),
                e.error
            )
        })?;
    }
    Ok(())
}

/// Reads any input file ([`medzip_io::read_or_store`]): its bytes, what
/// medzip makes of them, and why it is stored whole if it is.
fn read_any(
    p: &Path,
    read: &medzip_io::ReadOptions,
) -> Result<(Vec<u8>, medzip_io::Loaded, Option<String>)> {
    let (bytes, name) = read_named(p)?;
    let (loaded, why) = medzip_io::read_or_store(&bytes, name.as_deref(), read)?;
    Ok((bytes, loaded, why))
}

pub(crate) fn read_named(p: &Path) -> Result<(Vec<u8>, Option<String>)> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok((
        bytes,
        p.file_name().map(|n| n.to_string_lossy().into_owned()),
    ))
}

pub(crate) fn compress_one(
    inp: &Path,
    out: &OutArgs,
    opts: &Options,
    verify: bool,
    read: &medzip_io::ReadOptions,
    ctx: &Ctx,
) -> Result<String> {
    let t = Instant::now();
    let dst = output_path(inp, out, |n| format!("{n}.mdz"));
    if out.skip_existing && dst.exists() {
        return Ok(format!(
            "{}: {} exists, skipped",
            inp.display(),
            dst.display()
        ));
    }
    let (original, loaded, stored) = read_any(inp, read)?;
    let (mdz, loaded, floored) = medzip::code_or_store(&original, loaded, opts, ctx.prior())?;
    let stored = if floored {
        Some("its pixels coded were larger".to_string())
    } else {
        stored
    };
    if verify {
        let (img, meta) = ctx.decompress(&mdz)?;
        let rebuilt = medzip_io::write(&img, &meta)
            .context("verification failed: the source file does not rebuild")?;
        medzip::same_file(&img, &meta, &rebuilt, &original, &loaded)
            .context("verification failed (nothing written)")?;
    }
    write_atomic(&dst, &mdz, out.force)?;
    if verify {
        // What is on disk must be what was verified in memory.
        let back =
            std::fs::read(&dst).with_context(|| format!("cannot read back {}", dst.display()))?;
        if back != mdz {
            let _ = std::fs::remove_file(&dst);
            bail!(
                "verification failed: {} reads back differently from what was written (removed)",
                dst.display()
            );
        }
    }
    let px = loaded.image.data.len() as f64;
    let what = match stored {
        Some(why) if original.is_empty() => {
            format!("stored whole (an empty file; not coded as an image: {why})")
        }
        Some(why) => format!(
            "stored whole ({:.1} % of {} bytes; not coded as an image: {why})",
            100.0 * mdz.len() as f64 / original.len() as f64,
            original.len()
        ),
        None => format!("{:.4} bpp", 8.0 * mdz.len() as f64 / px),
    };
    Ok(format!(
        "{} -> {}: {} bytes, {what}, {:.2} s",
        inp.display(),
        dst.display(),
        mdz.len(),
        t.elapsed().as_secs_f64()
    ))
}

fn decode_file(
    p: &Path,
    ctx: &Ctx,
) -> Result<(medzip_codec::Image, medzip_codec::Metadata, Vec<u8>)> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    let (img, meta) = ctx.decompress(&bytes)?;
    let file = medzip_io::write(&img, &meta)?;
    Ok((img, meta, file))
}

pub(crate) fn decompress_one(
    inp: &Path,
    out: &OutArgs,
    to: Option<ToKind>,
    frames: Option<(u32, u32)>,
    ctx: &Ctx,
) -> Result<String> {
    let bytes = std::fs::read(inp).with_context(|| format!("cannot read {}", inp.display()))?;
    let desc = medzip_codec::inspect(&bytes, &ctx.decode.limits)?
        .header
        .desc;
    let read_kind = desc.source;
    // The kind to write: asked for, or named by -o's extension (raw
    // pixels are written as PNG in any case; a file stored whole is
    // written as it was, whatever -o's name).
    let named = out
        .output
        .as_deref()
        .and_then(ToKind::of_path)
        .map(ToKind::kind)
        .filter(|_| read_kind != medzip_codec::SourceKind::File);
    if let (Some(asked), Some(named)) = (to.map(ToKind::kind), named) {
        if asked != named {
            bail!(
                "--to {} and the output's extension (a {} file) disagree",
                asked.name(),
                named.name()
            );
        }
    }
    let written = match read_kind {
        medzip_codec::SourceKind::Raw => medzip_codec::SourceKind::Png,
        k => k,
    };
    let to = to.map(ToKind::kind).or(named).filter(|&k| k != written);
    let kind = to.unwrap_or(read_kind);
    let dst = output_path(inp, out, |n| match n.strip_suffix(".mdz") {
        Some(stem) if !stem.is_empty() && to.is_none() => stem.to_string(),
        Some(stem) if !stem.is_empty() => format!("{stem}.{}", kind.extension()),
        _ => format!("{n}.{}", kind.extension()),
    });
    // Frames are written as image files: of the kind asked for, else of
    // the kind read, if it is one.
    let frame_kind = to.or(Some(written).filter(|k| {
        use medzip_codec::SourceKind::*;
        matches!(k, Png | Pgm | Tiff)
    }));
    if frames.is_some() && frame_kind.is_none() {
        bail!("--frames writes each frame as an image file: give --to png, tiff or pgm (or -o NAME.png)");
    }
    let several = desc.frames > 1 || desc.planes > 1;
    if let (Some(k), true) = (frame_kind, frames.is_some() || (to.is_some() && several)) {
        let (a, b) = frames.unwrap_or((1, desc.frames));
        return write_frames(&bytes, a - 1..b, desc.frames, k, &dst, out, ctx);
    }
    if out.skip_existing && dst.exists() {
        return Ok(format!(
            "{}: {} exists, skipped",
            inp.display(),
            dst.display()
        ));
    }
    let (img, meta) = ctx.decompress(&bytes)?;
    let file = match to {
        Some(k) => medzip_io::write_as(&img, k, meta.photometric)?,
        None => medzip_io::write(&img, &meta)?,
    };
    write_atomic(&dst, &file, out.force)?;
    Ok(String::new())
}

/// Frames `range` (from 0) of a `.mdz` of `count` frames, each written as
/// a `kind` file: `dst` itself for a single frame, else `dst` with the
/// frame's number (from 1) before its extension (`x.f0010.png`).
fn write_frames(
    bytes: &[u8],
    range: std::ops::Range<u32>,
    count: u32,
    kind: medzip_codec::SourceKind,
    dst: &Path,
    out: &OutArgs,
    ctx: &Ctx,
) -> Result<String> {
    let digits = count.to_string().len().max(4);
    let first = range.start;
    let (imgs, meta) = medzip_codec::decompress_frames(bytes, range, ctx.prior(), &ctx.decode)?;
    let mut skipped = 0;
    for (i, img) in imgs.iter().enumerate() {
        let path = match count {
            1 => dst.to_path_buf(),
            _ => {
                let n = first as usize + i + 1;
                let stem = dst.file_stem().unwrap_or_default().to_string_lossy();
                dst.with_file_name(format!("{stem}.f{n:0digits$}.{}", kind.extension()))
            }
        };
        if out.skip_existing && path.exists() {
            skipped += 1;
            continue;
        }
        let file = medzip_io::write_as(img, kind, meta.photometric)?;
        write_atomic(&path, &file, out.force)?;
    }
    Ok(match skipped {
        0 => String::new(),
        n => format!("{n} frame file(s) existed, skipped"),
    })
}

pub(crate) fn verify_pair(mdz: &Path, original: &Path, ctx: &Ctx) -> Result<()> {
    let (img, meta, file) = decode_file(mdz, ctx)?;
    // (An encapsulated original is read as an image, to compare pixels
    // with a transcoded file; one stored whole compares as bytes.)
    let read = medzip_io::ReadOptions {
        transcode: true,
        exact_file: false,
    };
    let (bytes, orig, _) = read_any(original, &read)?;
    medzip::same_file(&img, &meta, &file, &bytes, &orig).with_context(|| {
        format!(
            "{} does not decode to {}",
            mdz.display(),
            original.display()
        )
    })
}
