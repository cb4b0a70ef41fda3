//! `medzip`: lossless compression for medical images.
//!
//! Exit codes: 0 every input succeeded; 1 at least one input failed (each
//! failure is reported on stderr and the other inputs still run); 2 usage
//! error (clap).

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use jobs::{compress_one, decompress_one, for_each, load_prior, verify_pair, Ctx};
use medzip_codec::{Limits, Options, Residual};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;
mod info;
mod jobs;

/// Allocations above 1.5 GiB are refused (see `medzip_io::CappedAlloc`).
#[global_allocator]
static ALLOC: medzip_io::CappedAlloc = medzip_io::CappedAlloc;
#[cfg(feature = "train")]
mod ae;
#[cfg(feature = "train")]
mod eval;
mod plot;
mod train;

#[derive(Parser)]
#[command(
    name = "medzip",
    version,
    about = "Lossless compression for medical images (PNG, PGM, TIFF, DICOM)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Largest image (width × height) a .mdz may declare before it is
    /// refused, checked before anything is allocated.
    #[arg(long, global = true, default_value_t = Limits::default().max_pixels)]
    max_pixels: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum ResidualArg {
    /// The level's own coder (default): at `-e 2` the context network's
    /// distribution as tokens, at `-e 3` the context-mixing coder or that
    /// of `-e 2`, whichever codes smaller, at `-e 1` the fast coder.
    Context,
    /// The paper's Huffman coding of the exact delta.
    Huffman,
    /// The paper's delta stored as a PNG.
    Png,
}

/// `--frames`: `A-B` or `A`, counted from 1.
fn parse_frames(s: &str) -> std::result::Result<(u32, u32), String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("{t:?} is not a frame number (frames count from 1)"))
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(s)?, num(s)?),
    };
    if a > b {
        return Err(format!("frames {a}-{b}: the first is after the last"));
    }
    Ok((a, b))
}

/// Image kinds pixels can be written as (`decompress --to`).
#[derive(Clone, Copy, ValueEnum)]
enum ToKind {
    Png,
    Pgm,
    Tiff,
}

impl ToKind {
    fn kind(self) -> medzip_codec::SourceKind {
        match self {
            ToKind::Png => medzip_codec::SourceKind::Png,
            ToKind::Pgm => medzip_codec::SourceKind::Pgm,
            ToKind::Tiff => medzip_codec::SourceKind::Tiff,
        }
    }

    /// The kind an output file name asks for by its extension.
    fn of_path(p: &Path) -> Option<ToKind> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(ToKind::Png),
            "pgm" => Some(ToKind::Pgm),
            "tif" | "tiff" => Some(ToKind::Tiff),
            _ => None,
        }
    }
}

/// A site's own context models (from `medzip train-net` and `medzip
/// train-context`): the encoder uses them for every image; files made with
/// them need them to decode.
#[derive(clap::Args)]
struct SiteArgs {
    /// Context network file (made by `medzip train-net`).
    #[arg(long, value_name = "FILE", env = "MEDZIP_CONTEXT_NET")]
    context_net: Option<PathBuf>,
    /// Context-model state file (made by `medzip train-context`, given
    /// `--net NET` there when coding with the network `--context-net NET`).
    #[arg(long, value_name = "FILE", env = "MEDZIP_CONTEXT_STATE")]
    context_state: Option<PathBuf>,
}

impl SiteArgs {
    /// The embedded models with the site's. `coding_with_net`: for an
    /// encoder, whether it codes with a network (the state must be for
    /// that coder).
    fn models(&self, coding_with_net: Option<bool>) -> Result<medzip_codec::Models> {
        let mut models = medzip_codec::Models::embedded();
        let read =
            |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
        if let Some(p) = &self.context_net {
            if coding_with_net == Some(false) {
                bail!("--context-net and --no-net contradict each other");
            }
            models = models
                .with_site_net(&read(p)?)
                .with_context(|| p.display().to_string())?;
        }
        if let Some(p) = &self.context_state {
            models = models
                .with_site_state(&read(p)?)
                .with_context(|| p.display().to_string())?;
            let t = models.site_state().expect("just given");
            match coding_with_net {
                Some(true) if !t.model.uses_net() => bail!(
                    "{} was trained without a context network (train-context --net NET), or code with --no-net",
                    p.display()
                ),
                Some(false) if t.model.uses_net() => bail!(
                    "{} was trained with a context network: code without --no-net",
                    p.display()
                ),
                _ => {}
            }
        }
        Ok(models)
    }
}

#[derive(clap::Args)]
struct OutArgs {
    /// Output file (only with a single input).
    #[arg(short, long, conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Folder for the outputs (default: beside each input).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(short, long, conflicts_with = "skip_existing")]
    force: bool,
    /// Leave inputs whose output already exists alone (and count them as
    /// done): re-running an interrupted job finishes it.
    #[arg(long)]
    skip_existing: bool,
    /// Worker threads (0 = all cores).
    #[arg(short = 'j', long, default_value_t = 0)]
    threads: usize,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compress images into .mdz files (INPUT → INPUT.mdz).
    Compress {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        out: OutArgs,
        /// Effort: 1 the fast coder (at about JPEG XL's decoding speed;
        /// files 5–17 % larger than 3's, still 0.2–4 % smaller than JPEG
        /// XL e7's on chest X-rays), 2 the default (the context network's
        /// distribution coded as one token per pixel: about twice as fast
        /// as 3), 3 the context-mixing coder with its network, or the
        /// default level's coder with the same network where that codes
        /// the image smaller (the smallest files; both coded, so encoding
        /// takes about three times as long as 2's). The file records the
        /// coder; decoding needs no flag. Measured sizes and speeds: docs/RESULTS.md §6 and §12.
        #[arg(short = 'e', long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=3))]
        effort: u8,
        /// The fastest level (same as `-e 1`).
        #[arg(long, conflicts_with = "effort")]
        fast: bool,
        /// Residual coder (the seed paper's paths; with `-e 2` or `-e 3`).
        #[arg(long, value_enum, default_value = "context")]
        residual: ResidualArg,
        /// Decode each output and compare it with the input before writing it,
        /// then read the written file back and compare it byte for byte.
        #[arg(long)]
        verify: bool,
        /// Code an encapsulated DICOM file (JPEG 2000, JPEG Lossless,
        /// JPEG-LS, RLE) by its pixels: a smaller .mdz that decodes to
        /// native DICOM with the same pixels, not to the same bytes. Without
        /// it JPEG Lossless, RLE, grey JPEG-LS and grey lossless JPEG 2000
        /// (as OpenJPEG writes it) are coded by their pixels too and come
        /// back byte for byte (each stream rebuilt from the samples); other
        /// encapsulated files are stored whole and come back byte for byte,
        /// as does every file medzip does not code as an image (no pixel
        /// data, 1- or 32-bit samples, damaged, not an image at all). Lossy
        /// colour pixel data is stored whole in any case.
        #[arg(long)]
        transcode: bool,
        /// A PNG file comes back byte for byte, not only with the same
        /// pixels and every chunk: its deflate stream is rebuilt from the
        /// pixels (preflate-rs), at the cost of the corrections that takes
        /// (measured: +0.01 % for a zlib-made PNG, +16–25 % for others);
        /// a PNG that cannot be rebuilt so (the dev chest X-rays' encoder)
        /// is stored whole. docs/RESULTS.md §9.
        #[arg(long)]
        exact_file: bool,
        /// Start the context model empty instead of from the embedded trained state.
        #[arg(long)]
        untrained: bool,
        /// Code without the context network: the context-mixing coder
        /// alone (effort 2 and 3; what `-e 2` was before 2026-12-01).
        #[arg(long)]
        no_net: bool,
        /// Code an 8-bit image that was decoded from a JPEG by its pixels,
        /// not by the JPEG's coefficients (about 3× larger; for
        /// measurements). docs/RESULTS.md §11.
        #[arg(long)]
        no_jpeg: bool,
        #[command(flatten)]
        site: SiteArgs,
        /// Autoencoder prior (the paper's models): an embedded one by name
        /// (cnn1, cnn2, two-stage) or a model file (.mzae, e.g. from
        /// `medzip train`). Its reconstruction becomes the residual coder's
        /// predictor and context; the latent is stored in the file.
        #[arg(long)]
        model: Option<String>,
        /// Pixels per independently decodable stripe (more stripes: more parallel decoding).
        #[arg(long, default_value_t = 1 << 20, hide = true)]
        stripe_pixels: u64,
    },
    /// Decompress .mdz files back to the original format.
    Decompress {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        out: OutArgs,
        /// Model file (.mzae) for files made with a model this build does not embed.
        #[arg(long)]
        model: Option<PathBuf>,
        #[command(flatten)]
        site: SiteArgs,
        /// Write the pixels as this kind of file (identical pixels, nothing
        /// else of the source file) instead of the kind that was read. Also
        /// chosen by the extension of `-o` (.png, .pgm, .tif/.tiff) when it
        /// names another kind; any other name keeps the kind that was read.
        #[arg(long, value_enum)]
        to: Option<ToKind>,
        /// Only these frames of a multi-frame image (`10-19`, or `7`;
        /// counted from 1, as DICOM does), one file per frame (NAME.f0010.png,
        /// …): needs --to (a frame is not a DICOM file). Only the stripes
        /// that hold them are decoded. With --to and no --frames, every
        /// frame of a multi-frame or colour image is written so.
        #[arg(long, value_parser = parse_frames)]
        frames: Option<(u32, u32)>,
    },
    /// Describe .mdz files.
    Info {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// One JSON object per file.
        #[arg(long)]
        json: bool,
    },
    /// Check that a .mdz file decodes to exactly the pixels of ORIGINAL
    /// (and, for DICOM, to the same file).
    Verify {
        mdz: PathBuf,
        original: PathBuf,
        #[command(flatten)]
        site: SiteArgs,
    },
    /// Train the context model's initial state on a site's images
    /// (writes a deflated state and its config beside it).
    TrainContext {
        #[command(flatten)]
        set: train::ImageSet,
        /// Which state: 8 (images of ≤ 8 bits) or 16 (9–16 bits).
        #[arg(long, value_parser = ["8", "16"])]
        bits: String,
        #[arg(long)]
        out: PathBuf,
        /// Confidence cap of the trained counts.
        #[arg(long, default_value_t = 24)]
        cap: u8,
        /// Train the state for coding with this context network (made by
        /// `medzip train-net`).
        #[arg(long)]
        net: Option<PathBuf>,
    },
    /// Train the context coder's network on a site's images: samples the
    /// coder's per-pixel features, trains a small MLP (burn, CPU), exports
    /// the integer network (OUT) and its record (OUT with .json).
    #[cfg(feature = "train")]
    TrainNet {
        #[command(flatten)]
        set: train::ImageSet,
        /// Which images: 8 (≤ 8 bits stored), 16 (9–16 bits) or any.
        #[arg(long, value_parser = ["8", "16", "any"], default_value = "any")]
        bits: String,
        #[arg(long)]
        out: PathBuf,
        /// Use at most this many images (the first of the seeded order).
        #[arg(long, default_value_t = 400)]
        max_images: usize,
        /// About this many training samples (evenly spaced pixels).
        #[arg(long, default_value_t = 4_000_000)]
        samples: usize,
        /// At least this many samples from each image.
        #[arg(long, default_value_t = 8000)]
        min_per_image: usize,
        /// At most about this many samples from each image (0: no limit),
        /// so that one large image (a mammogram) does not make the set.
        #[arg(long, default_value_t = 0)]
        max_per_image: usize,
        /// Hidden layer widths, comma-separated.
        #[arg(long, default_value = "64,32")]
        hidden: String,
        #[arg(long, default_value_t = 12)]
        epochs: usize,
        #[arg(long, default_value_t = 2e-3)]
        lr: f64,
    },
    /// Train one of the paper's autoencoders (ann, cnn1, cnn2, two-stage)
    /// and export its integer model (RUN/model.mzae).
    #[cfg(feature = "train")]
    Train(ae::TrainArgs),
    /// Reproduce the paper's Table 1 on a folder: every autoencoder with
    /// every delta coder, reconstruction metrics, peers on the same files.
    #[cfg(feature = "train")]
    Eval(eval::EvalArgs),
    /// Draw training curves (PNG) from training runs' history.csv.
    Plot {
        /// Run folders (made by `medzip train`).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output folder for `curves-RUN.png`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Compress every image in a folder in memory and print sizes against
    /// the input files and PNG (the main job on the bundled samples).
    Bench {
        dir: PathBuf,
        #[arg(short = 'j', long, default_value_t = 1)]
        threads: usize,
        /// Effort level, as for `compress` (1 the fast coder, 2 the
        /// default, 3 the strongest).
        #[arg(short = 'e', long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=3))]
        effort: u8,
    },
}

fn main() -> ExitCode {
    // A panic, in a third-party decoder above all, is that file's error
    // (`medzip_io::isolate`, and `for_each` around each job): one line
    // that says where, instead of the default hook's report.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("medzip: internal error{at}");
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("medzip: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn set_threads(n: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("cannot start the thread pool")
}

/// Runs the command; `Ok(false)` when some input failed.
fn run(cli: Cli) -> Result<bool> {
    let mut ctx = Ctx::new(Limits {
        max_pixels: cli.max_pixels,
        ..Limits::default()
    });
    match cli.cmd {
        Cmd::Compress {
            inputs,
            out,
            effort,
            fast,
            residual,
            verify,
            transcode,
            exact_file,
            untrained,
            no_net,
            no_jpeg,
            site,
            model,
            stripe_pixels,
        } => {
            let effort = if fast { 1 } else { effort };
            let residual = match (effort, residual) {
                (1, ResidualArg::Context) => {
                    if model.is_some() || untrained || no_net {
                        bail!("-e 1 (the fast coder) takes no --model, --untrained or --no-net");
                    }
                    Residual::Fast
                }
                (1, _) => {
                    bail!("-e 1 (the fast coder) and --residual huffman|png exclude each other")
                }
                (2, ResidualArg::Context) => Residual::Logistic,
                (_, ResidualArg::Context) => Residual::Context,
                (_, ResidualArg::Huffman) => Residual::Huffman,
                (_, ResidualArg::Png) => Residual::Png,
            };
            if residual == Residual::Fast
                && (site.context_net.is_some() || site.context_state.is_some())
            {
                bail!("-e 1 (the fast coder) uses no context network or state");
            }
            ctx.decode.models = site.models(Some(!no_net))?;
            ctx.prior = model.as_deref().map(load_prior).transpose()?;
            set_threads(out.threads)?;
            let opts = Options {
                residual,
                stripe_pixels: stripe_pixels.max(1),
                trained: !untrained,
                net: !no_net,
                models: ctx.decode.models.clone(),
                simd: Default::default(),
                jpeg: !no_jpeg,
                tokens_too: effort >= 3,
            };
            let read = medzip_io::ReadOptions {
                transcode,
                exact_file,
            };
            let job = |inp: &Path| compress_one(inp, &out, &opts, verify, &read, &ctx);
            Ok(for_each(&inputs, &out, cli.quiet, "compressing", job))
        }
        Cmd::Decompress {
            inputs,
            out,
            model,
            site,
            to,
            frames,
        } => {
            ctx.decode.models = site.models(None)?;
            ctx.prior = model
                .map(|p| load_prior(&p.to_string_lossy()))
                .transpose()?;
            set_threads(out.threads)?;
            Ok(for_each(&inputs, &out, cli.quiet, "decompressing", |inp| {
                decompress_one(inp, &out, to, frames, &ctx)
            }))
        }
        Cmd::Info { inputs, json } => {
            let mut ok = true;
            for p in &inputs {
                match info::info(p, json, &ctx) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("medzip: {}: {e:#}", p.display());
                        ok = false;
                    }
                }
            }
            Ok(ok)
        }
        Cmd::Verify {
            mdz,
            original,
            site,
        } => {
            ctx.decode.models = site.models(None)?;
            verify_pair(&mdz, &original, &ctx)?;
            if !cli.quiet {
                println!(
                    "{}: OK, decodes to exactly {}",
                    mdz.display(),
                    original.display()
                );
            }
            Ok(true)
        }
        #[cfg(feature = "train")]
        Cmd::TrainNet {
            set,
            bits,
            out,
            max_images,
            samples,
            min_per_image,
            max_per_image,
            hidden,
            epochs,
            lr,
        } => {
            let hidden = hidden
                .split(',')
                .map(|h| h.trim().parse::<usize>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .context("--hidden takes comma-separated widths")?;
            let most = medzip_nn::mlp::MAX_OUTS;
            if hidden.is_empty() || hidden.len() > 4 || hidden.iter().any(|&h| h == 0 || h > most) {
                bail!("--hidden: one to four layers of 1 to {most} units");
            }
            train::run_net(&train::NetArgs {
                set: &set,
                low_bits: match bits.as_str() {
                    "8" => Some(true),
                    "16" => Some(false),
                    _ => None,
                },
                out: &out,
                max_images,
                samples,
                min_per_image,
                max_per_image,
                opts: medzip_train::ctxnet::NetOptions {
                    hidden,
                    epochs,
                    lr,
                    seed: set.seed,
                    ..Default::default()
                },
                quiet: cli.quiet,
            })?;
            Ok(true)
        }
        Cmd::TrainContext {
            set,
            bits,
            out,
            cap,
            net,
        } => {
            train::run(&set, bits == "8", &out, cap, net.as_deref(), cli.quiet)?;
            Ok(true)
        }
        #[cfg(feature = "train")]
        Cmd::Train(a) => {
            ae::run(a, cli.quiet)?;
            Ok(true)
        }
        #[cfg(feature = "train")]
        Cmd::Eval(a) => {
            eval::run(a, &ctx.decode.limits, cli.quiet)?;
            Ok(true)
        }
        Cmd::Plot { runs, out } => {
            std::fs::create_dir_all(&out)?;
            for r in &runs {
                let name = r
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let dst = out.join(format!("curves-{name}.png"));
                plot::write_curves(&r.join("history.csv"), &name, &dst)?;
                if !cli.quiet {
                    eprintln!("wrote {}", dst.display());
                }
            }
            Ok(true)
        }
        Cmd::Bench {
            dir,
            threads,
            effort,
        } => {
            set_threads(threads)?;
            bench::run(&dir, &Options::effort(effort))?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("medzip").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn effort_levels_parse_and_out_of_range_ones_are_refused() {
        for (args, want) in [
            (&["compress", "a.png"][..], 2),
            (&["compress", "-e", "1", "a.png"], 1),
            (&["compress", "--effort", "3", "a.png"], 3),
            (&["compress", "--fast", "a.png"], 2),
        ] {
            match parse(args).unwrap().cmd {
                Cmd::Compress { effort, fast, .. } => {
                    assert_eq!(effort, want, "{args:?}");
                    assert_eq!(fast, args.contains(&"--fast"), "{args:?}");
                }
                _ => panic!("{args:?} is not compress"),
            }
        }
        for bad in [
            &["compress", "-e", "0", "a.png"][..],
            &["compress", "-e", "4", "a.png"],
            &["compress", "-e", "x", "a.png"],
            // --fast is a level: it cannot be given with another.
            &["compress", "--fast", "-e", "2", "a.png"],
            &["compress"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn output_kinds_parse() {
        for (kind, ok) in [("png", true), ("pgm", true), ("tiff", true), ("bmp", false)] {
            assert_eq!(
                parse(&["decompress", "--to", kind, "a.mdz"]).is_ok(),
                ok,
                "--to {kind}"
            );
        }
        assert!(parse(&["info", "--json", "a.mdz"]).is_ok());
        assert!(parse(&["-q", "--max-pixels", "100", "info", "a.mdz"]).is_ok());
        assert!(parse(&["--max-pixels", "many", "info", "a.mdz"]).is_err());
    }
}
