//! `medzip`: lossless compression for medical images.
//!
//! Exit codes: 0 every input succeeded; 1 at least one input failed (each
//! failure is reported on stderr and the other inputs still run); 2 usage
//! error (clap).

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use medzip_codec::priors::AePrior;
use medzip_codec::{Limits, Options, Residual};
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod bench;

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

/// What a command codes with, from its flags: passed to each job, so that
/// nothing in the process is global.
struct Ctx {
    /// Decoding limits (`--max-pixels`).
    limits: Limits,
    /// The autoencoder prior asked for (`--model`).
    prior: Option<PriorModel>,
    /// The context models: the embedded ones and a site's.
    models: medzip_codec::Models,
}

impl Ctx {
    fn new(limits: Limits) -> Ctx {
        Ctx {
            limits,
            prior: None,
            models: medzip_codec::Models::embedded(),
        }
    }

    fn prior(&self) -> Option<&dyn medzip_codec::Prior> {
        self.prior
            .as_ref()
            .map(|p| p.get() as &dyn medzip_codec::Prior)
    }

    fn decompress(&self, bytes: &[u8]) -> Result<(medzip_codec::Image, medzip_codec::Metadata)> {
        Ok(medzip_codec::decompress_with(
            bytes,
            &self.limits,
            self.prior(),
            &self.models,
        )?)
    }
}

/// An autoencoder prior: embedded, or read from a model file.
enum PriorModel {
    Embedded(&'static AePrior),
    File(Box<AePrior>),
}

impl PriorModel {
    fn get(&self) -> &AePrior {
        match self {
            PriorModel::Embedded(p) => p,
            PriorModel::File(p) => p,
        }
    }
}

/// An embedded model by name, or a model file.
fn load_prior(s: &str) -> Result<PriorModel> {
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

#[derive(Clone, Copy, ValueEnum)]
enum ResidualArg {
    /// Context-mixing model with arithmetic coding (default, best).
    Context,
    /// The paper's Huffman coding of the exact delta.
    Huffman,
    /// The paper's delta stored as a PNG.
    Png,
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
        /// Effort: 1 the fast coder (decodes about 7× as fast as 3, at
        /// about JPEG XL's speed; files 5–17 % larger, still 0.2–4 %
        /// smaller than JPEG XL e7's on chest X-rays), 2 the
        /// context-mixing coder without its network (about
        /// 1.8× as fast as 3, 2–8 % larger), 3 with it (the default, the
        /// smallest files). The file records the coder; decoding needs no
        /// flag. Measured sizes and speeds: docs/RESULTS.md §6.
        #[arg(short = 'e', long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
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
        /// Start the context model empty instead of from the embedded trained state.
        #[arg(long)]
        untrained: bool,
        /// Code without the context network (about twice as fast, a few
        /// per cent larger).
        #[arg(long)]
        no_net: bool,
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
        /// Effort level, as for `compress` (1 the fast coder, 3 the default).
        #[arg(short = 'e', long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
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
            untrained,
            no_net,
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
                (_, ResidualArg::Context) => Residual::Context,
                (_, ResidualArg::Huffman) => Residual::Huffman,
                (_, ResidualArg::Png) => Residual::Png,
            };
            if residual == Residual::Fast
                && (site.context_net.is_some() || site.context_state.is_some())
            {
                bail!("-e 1 (the fast coder) uses no context network or state");
            }
            if effort == 2 && site.context_net.is_some() {
                bail!("-e 2 codes without a context network: leave out --context-net, or use -e 3");
            }
            let no_net = no_net || effort == 2;
            ctx.models = site.models(Some(!no_net))?;
            ctx.prior = model.as_deref().map(load_prior).transpose()?;
            set_threads(out.threads)?;
            let opts = Options {
                residual,
                stripe_pixels: stripe_pixels.max(1),
                trained: !untrained,
                net: !no_net,
                models: ctx.models.clone(),
            };
            let job = |inp: &Path| compress_one(inp, &out, &opts, verify, &ctx);
            Ok(for_each(&inputs, &out, cli.quiet, "compressing", job))
        }
        Cmd::Decompress {
            inputs,
            out,
            model,
            site,
            to,
        } => {
            ctx.models = site.models(None)?;
            ctx.prior = model
                .map(|p| load_prior(&p.to_string_lossy()))
                .transpose()?;
            set_threads(out.threads)?;
            Ok(for_each(&inputs, &out, cli.quiet, "decompressing", |inp| {
                decompress_one(inp, &out, to, &ctx)
            }))
        }
        Cmd::Info { inputs, json } => {
            let mut ok = true;
            for p in &inputs {
                match info(p, json, &ctx) {
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
            ctx.models = site.models(None)?;
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
            eval::run(a, &ctx.limits, cli.quiet)?;
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

/// Runs `job` on every input (in parallel), with a progress bar for many
/// inputs; reports each failure and returns whether all succeeded.
fn for_each<F>(inputs: &[PathBuf], out: &OutArgs, quiet: bool, verb: &str, job: F) -> bool
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
fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
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

/// Reads an input file: its bytes and what medzip makes of them.
fn read_input(p: &Path) -> Result<(Vec<u8>, medzip_io::Loaded)> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
    let loaded = medzip_io::read(&bytes, name.as_deref())?;
    Ok((bytes, loaded))
}

/// Checks that a decoded file is what `original` (the input's bytes) was:
/// the same kind, the same pixels, and for a file that medzip promises
/// back byte for byte (DICOM, not transcoded) the same bytes.
fn check_same(
    img: &medzip_codec::Image,
    meta: &medzip_codec::Metadata,
    rebuilt: &[u8],
    original: &[u8],
    orig: &medzip_io::Loaded,
) -> Result<()> {
    if meta.source != orig.meta.source {
        bail!(
            "it decodes to a {} file, the original is {}",
            meta.source.name(),
            orig.meta.source.name()
        );
    }
    if *img != orig.image {
        bail!("the decoded pixels differ");
    }
    if meta.file_sha256.is_some()
        && medzip_io::dicom::transcoded_from(meta).is_none()
        && rebuilt != original
    {
        bail!("the pixels match, but the rebuilt file differs");
    }
    Ok(())
}

fn compress_one(
    inp: &Path,
    out: &OutArgs,
    opts: &Options,
    verify: bool,
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
    let (original, loaded) = read_input(inp)?;
    let mdz = medzip_codec::compress_with_prior(&loaded.image, &loaded.meta, opts, ctx.prior())?;
    if verify {
        let (img, meta) = ctx.decompress(&mdz)?;
        let rebuilt = medzip_io::write(&img, &meta)
            .context("verification failed: the source file does not rebuild")?;
        check_same(&img, &meta, &rebuilt, &original, &loaded)
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
    Ok(format!(
        "{} -> {}: {} bytes, {:.4} bpp, {:.2} s",
        inp.display(),
        dst.display(),
        mdz.len(),
        8.0 * mdz.len() as f64 / px,
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

fn decompress_one(inp: &Path, out: &OutArgs, to: Option<ToKind>, ctx: &Ctx) -> Result<String> {
    let bytes = std::fs::read(inp).with_context(|| format!("cannot read {}", inp.display()))?;
    let read_kind = medzip_codec::inspect(&bytes, &ctx.limits)?
        .header
        .desc
        .source;
    // The kind to write: asked for, or named by -o's extension (raw
    // pixels are written as PNG in any case).
    let named = out
        .output
        .as_deref()
        .and_then(ToKind::of_path)
        .map(ToKind::kind);
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

fn verify_pair(mdz: &Path, original: &Path, ctx: &Ctx) -> Result<()> {
    let (img, meta, file) = decode_file(mdz, ctx)?;
    let (bytes, orig) = read_input(original)?;
    check_same(&img, &meta, &file, &bytes, &orig).with_context(|| {
        format!(
            "{} does not decode to {}",
            mdz.display(),
            original.display()
        )
    })
}

fn info(p: &Path, json: bool, ctx: &Ctx) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    let c = medzip_codec::inspect(&bytes, &ctx.limits)?;
    let d = &c.header.desc;
    // The coder, and the fast coder's configuration.
    let fast = medzip_codec::fast_config_of(&c);
    let residual = match (medzip_codec::residual_of(&c), fast) {
        (Some(_), Some(cfg)) => cfg.describe(),
        (Some(r), _) => r.name().to_string(),
        (None, _) => "unknown".to_string(),
    };
    let bpp = 8.0 * bytes.len() as f64 / d.pixels() as f64;
    // The model id's entries (tag, length, id), named.
    let mut models = Vec::new();
    let id = &c.header.model_id;
    let mut i = 0;
    while i + 2 <= id.len() {
        let end = (i + 2 + id[i + 1] as usize).min(id.len());
        let entry = &id[i + 2..end];
        // Embedded models are named.
        let (kind, name) = match id[i] {
            b'C' => ("context state".to_string(), ctx.models.state_name(entry)),
            b'N' => (
                "context network".to_string(),
                ctx.models.net_by_id(entry).map(|n| n.name),
            ),
            b'A' => ("autoencoder".to_string(), None),
            t => (format!("unknown kind {:?}", t as char), None),
        };
        models.push((kind, medzip_format::hex(entry), name));
        i = end;
    }
    // A DICOM header coded with the header dictionary needs it too.
    if d.source == medzip_format::SourceKind::Dicom {
        if let Some(id) = medzip_io::dicom::header_dictionary_of(&c.source) {
            models.push((
                "DICOM header dictionary".to_string(),
                medzip_format::hex(id),
                None,
            ));
        }
    }
    let model = if models.is_empty() {
        "none".to_string()
    } else {
        models
            .iter()
            .map(|(k, h, n)| match n {
                Some(n) => format!("{k} {n} ({h})"),
                None => format!("{k} {h}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    // What was odd in a DICOM file's structure (kept as it was).
    let notes = if d.source == medzip_format::SourceKind::Dicom {
        // (A damaged header block is for decoding to report, not `info`.)
        medzip_io::dicom::notes(&medzip_codec::Metadata::of(&c)).unwrap_or_default()
    } else {
        Vec::new()
    };
    let photometric = format!("{:?}", d.photometric).to_uppercase();
    if json {
        let v = serde_json::json!({
            "file": p.display().to_string(),
            "format_version": c.version(),
            "width": d.width, "height": d.height,
            "bits_stored": d.bits_stored, "signed": d.signed,
            "photometric": photometric,
            "source": d.source.name(), "container_bits": d.container_bits,
            "residual": medzip_codec::residual_of(&c).map_or("unknown", |r| r.name()),
            "fast_grid_contexts": fast.map(|cfg| cfg.grid),
            "fast_quick_adaptation": fast.map(|cfg| cfg.quick),
            "model_id": medzip_format::hex(&c.header.model_id),
            "models": models.iter().map(|(k, h, n)| serde_json::json!({"kind": k, "id": h, "name": n})).collect::<Vec<_>>(),
            "bytes": bytes.len(), "bpp": bpp,
            "pixel_sha256": medzip_format::hex(&c.header.pixel_sha256),
            "file_sha256": c.header.file_sha256.map(|h| medzip_format::hex(&h)),
            "source_bytes": c.source.len(), "pixel_bytes": c.pixels.len(),
            "notes": notes,
        });
        return Ok(v.to_string());
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(", notes: {}", notes.join("; "))
    };
    Ok(format!(
        "{}: {}×{} {}-bit {} {}, from {} ({}-bit container), residual {}, models: {}, {} bytes ({:.4} bpp), pixels sha256 {}{notes}",
        p.display(),
        d.width,
        d.height,
        d.bits_stored,
        if d.signed { "signed" } else { "unsigned" },
        photometric,
        d.source,
        d.container_bits,
        residual,
        model,
        bytes.len(),
        bpp,
        medzip_format::hex(&c.header.pixel_sha256)
    ))
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
            (&["compress", "a.png"][..], 3),
            (&["compress", "-e", "1", "a.png"], 1),
            (&["compress", "--effort", "2", "a.png"], 2),
            (&["compress", "--fast", "a.png"], 3),
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
