//! `medzip eval`: the paper's Table 1 on a folder of images — every
//! autoencoder with every delta coder, reconstruction metrics, and the
//! peers measured on the same files — plus the figures (original |
//! reconstruction | delta panels).

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use medzip_codec::priors::AePrior;
use medzip_codec::{paper, Image, Options, Residual};
use medzip_train::metrics::quality;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Folder of images (the paper used 256×256 8-bit chest X-rays).
    dir: PathBuf,
    /// Models: embedded names or .mzae files (default: every embedded model).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Peer sizes measured by peer_bench.py (dev_peers.json), matched by
    /// path relative to the data root.
    #[arg(long)]
    peers: Option<PathBuf>,
    /// The data root the peers file's paths are relative to (default: the
    /// parent folders of DIR are tried).
    #[arg(long)]
    peers_root: Option<PathBuf>,
    /// Image for the single-image table (file name; default: the first).
    #[arg(long)]
    image: Option<String>,
    /// Write the tables (markdown) here as well as to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write figure panels (original | reconstruction | delta) here.
    #[arg(long)]
    figures: Option<PathBuf>,
    /// Only the first N images.
    #[arg(long)]
    limit: Option<usize>,
    /// Only the images named in this file (paths relative to DIR, one per
    /// line), e.g. a run's validation list.
    #[arg(long)]
    list: Option<PathBuf>,
}

/// Bits of one image under one method.
#[derive(Clone, Copy, Default)]
struct Cost {
    latent: f64,
    delta: f64,
}

/// Per-model, per-image measurements.
struct ModelResult {
    name: String,
    latent_floats: usize,
    // method name → per-image costs
    costs: BTreeMap<&'static str, Vec<Cost>>,
    q: Vec<medzip_train::metrics::Quality>,
}

const METHODS: [&str; 4] = [
    "PNG delta",
    "Huffman, quantized error (NOT lossless)",
    "Huffman, exact delta",
    "context coder",
];

fn model_list(args: &EvalArgs) -> Result<Vec<crate::jobs::PriorModel>> {
    if args.models.is_empty() {
        return Ok(medzip_codec::priors::embedded()
            .iter()
            .map(crate::jobs::PriorModel::Embedded)
            .collect());
    }
    args.models
        .iter()
        .map(|m| crate::jobs::load_prior(m))
        .collect()
}

/// The paper's lossy variant: the error `(p − r)/255` in [−1, 1]
/// quantized to 8 bits (256 levels), then Huffman-coded. Decoding it gives
/// back the pixel only within ±1, which is why it is marked not lossless.
fn quantized_error_bits(u: &[i32], r: &[i32]) -> f64 {
    let q: Vec<i32> = u
        .iter()
        .zip(r)
        .map(|(&p, &x)| (((p - x) as f64 / 255.0 + 1.0) * 127.5).round() as i32)
        .collect();
    8.0 * paper::huffman_encode(&q, None).len() as f64
}

pub fn run(args: EvalArgs, limits: &medzip_codec::Limits, quiet: bool) -> Result<()> {
    let mut files = medzip_train::data::list_images(&args.dir)?;
    if let Some(l) = &args.list {
        let text =
            std::fs::read_to_string(l).with_context(|| format!("cannot read {}", l.display()))?;
        let wanted: std::collections::BTreeSet<PathBuf> = text
            .lines()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| args.dir.join(n))
            .collect();
        files.retain(|f| wanted.contains(f));
        anyhow::ensure!(
            files.len() == wanted.len(),
            "{}: {} of its {} names are not images in {}",
            l.display(),
            wanted.len() - files.len(),
            wanted.len(),
            args.dir.display()
        );
    }
    if let Some(n) = args.limit {
        files.truncate(n);
    }
    let peer_file = args.peers.as_deref().map(PeerFile::read).transpose()?;
    let roots = peer_roots(&args);
    if let Some(pf) = &peer_file {
        // Keep the images the peers were measured on (same files for every row).
        files.retain(|f| pf.key(&roots, f).is_some());
        anyhow::ensure!(
            !files.is_empty(),
            "no image of {} is in {}",
            args.dir.display(),
            pf.path.display()
        );
    }
    let owned = model_list(&args)?;
    let models: Vec<&AePrior> = owned.iter().map(crate::jobs::PriorModel::get).collect();
    anyhow::ensure!(
        !models.is_empty(),
        "no models: this build embeds none; pass --model FILE"
    );
    let images: Vec<Image> = files
        .iter()
        .map(|f| {
            crate::jobs::read_named(f)
                .and_then(|(bytes, name)| Ok(medzip_io::read(&bytes, name.as_deref())?.image))
        })
        .collect::<Result<_>>()?;
    let pixels: Vec<f64> = images.iter().map(|i| i.data.len() as f64).collect();
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new((models.len() * images.len()) as u64)
    };
    let mut results = Vec::new();
    let mut panels: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    for m in &models {
        let per: Vec<(Vec<Cost>, Vec<u8>, Vec<u8>)> = images
            .par_iter()
            .map(|img| -> Result<_> {
                let grid = m.grid(img);
                let lat = m.latents(&grid)?;
                let packed = AePrior::pack_latents(&lat);
                let recon_grid = m.model.decode(&lat).map_err(|e| anyhow::anyhow!("{e}"))?;
                let latent_bits = 8.0 * packed.len() as f64;
                // The prior's reconstruction, from the grid just decoded
                // (what `Prior::reconstruct` computes from the packed latent).
                let r = medzip_nn::resample::from_grid(
                    &recon_grid,
                    m.model.size,
                    img.width as usize,
                    img.height as usize,
                    img.bits,
                );
                let u = img.unsigned();
                let png = paper::png_encode(&u, Some(&r), img.width, img.height, img.bits)?;
                let huff = paper::huffman_encode(&u, Some(&r));
                // The lossless rows are checked: each delta decodes back to the image.
                anyhow::ensure!(
                    paper::huffman_decode(&huff, u.len(), Some(&r))? == u
                        && paper::png_decode(&png, Some(&r), img.width, img.height, img.bits)? == u,
                    "a paper delta with {} did not round-trip",
                    m.name()
                );
                let opts = Options {
                    residual: Residual::Context,
                    ..Options::default()
                };
                let meta = medzip_codec::Metadata::raw();
                let file = medzip_codec::compress_with_prior(img, &meta, &opts, Some(*m))?;
                let (back, _) = medzip_codec::decompress(&file, limits, Some(*m))?;
                anyhow::ensure!(
                    back == *img,
                    "context coder with {} did not round-trip",
                    m.name()
                );
                let costs = vec![
                    Cost {
                        latent: latent_bits,
                        delta: 8.0 * png.len() as f64,
                    },
                    Cost {
                        latent: latent_bits,
                        delta: quantized_error_bits(&u, &r),
                    },
                    Cost {
                        latent: latent_bits,
                        delta: 8.0 * huff.len() as f64,
                    },
                    Cost {
                        latent: latent_bits,
                        delta: 8.0 * file.len() as f64 - latent_bits,
                    },
                ];
                pb.inc(1);
                Ok((costs, grid, recon_grid))
            })
            .collect::<Result<_>>()?;
        let mut costs: BTreeMap<&'static str, Vec<Cost>> = BTreeMap::new();
        for (i, name) in METHODS.iter().enumerate() {
            costs.insert(name, per.iter().map(|p| p.0[i]).collect());
        }
        let size = m.model.size;
        let x: Vec<u8> = per.iter().flat_map(|p| p.1.iter().copied()).collect();
        let r: Vec<u8> = per.iter().flat_map(|p| p.2.iter().copied()).collect();
        let q = quality(&x, &r, per.len(), size);
        if args.figures.is_some() {
            for (k, p) in per.iter().take(3).enumerate() {
                panels.push((format!("{}-{}", m.name(), k + 1), p.1.clone(), p.2.clone()));
            }
        }
        results.push(ModelResult {
            name: m.name().to_string(),
            latent_floats: m.model.stages.iter().map(|s| s.latent_len()).sum(),
            costs,
            q,
        });
    }
    pb.finish_and_clear();
    // Baselines on the same files.
    let opts = Options::default();
    let base: Vec<(f64, f64)> = images
        .par_iter()
        .map(|img| -> Result<(f64, f64)> {
            let png = paper::png_encode(&img.unsigned(), None, img.width, img.height, img.bits)?;
            let mdz = medzip_codec::compress(img, &medzip_codec::Metadata::raw(), &opts)?;
            Ok((8.0 * png.len() as f64, 8.0 * mdz.len() as f64))
        })
        .collect::<Result<_>>()?;
    let peers = peer_file
        .map(|pf| pf.sizes(&roots, &files))
        .unwrap_or_default();

    let mut md = String::new();
    let n = images.len();
    let total_px: f64 = pixels.iter().sum();
    writeln!(
        md,
        "Images: {} from `{}` ({} pixels).\n",
        n,
        args.dir.display(),
        total_px
    )?;
    let sel = match &args.image {
        Some(name) => files
            .iter()
            .position(|f| f.file_name().is_some_and(|x| x.to_string_lossy() == *name))
            .with_context(|| format!("--image {name}: not in the folder"))?,
        None => 0,
    };
    for (title, idx) in [
        (
            "all images: total bits / total pixels (mean of per-image bpp in brackets)".to_string(),
            None,
        ),
        (
            format!(
                "one image: `{}`",
                files[sel].file_name().unwrap_or_default().to_string_lossy()
            ),
            Some(sel),
        ),
    ] {
        writeln!(md, "### Table 1, {title}\n")?;
        writeln!(md, "| model + delta coder | latent bits (ours) | latent bits (paper: 32/float) | delta bpp | overall bpp | MSE | MS-SSIM | KL | IoU |")?;
        writeln!(md, "|---|---|---|---|---|---|---|---|---|")?;
        let agg = |v: &[f64]| -> String {
            match idx {
                Some(i) => format!("{:.3}", v[i] / pixels[i]),
                None => {
                    let tot: f64 = v.iter().sum::<f64>() / total_px;
                    let mean: f64 =
                        v.iter().zip(&pixels).map(|(b, p)| b / p).sum::<f64>() / n as f64;
                    format!("{tot:.3} ({mean:.3})")
                }
            }
        };
        let pick = |v: &[f64]| -> f64 {
            match idx {
                Some(i) => v[i],
                None => v.iter().sum::<f64>() / n as f64,
            }
        };
        let pngs: Vec<f64> = base.iter().map(|b| b.0).collect();
        writeln!(
            md,
            "| original as PNG | – | – | – | {} | | | | |",
            agg(&pngs)
        )?;
        for r in &results {
            let qm = |f: fn(&medzip_train::metrics::Quality) -> f64| {
                pick(&r.q.iter().map(f).collect::<Vec<_>>())
            };
            let metrics = format!(
                "{:.5} | {:.4} | {:.4} | {:.4}",
                qm(|q| q.mse),
                qm(|q| q.ms_ssim),
                qm(|q| q.kl),
                qm(|q| q.iou)
            );
            for meth in METHODS {
                let c = &r.costs[meth];
                let lat: Vec<f64> = c.iter().map(|c| c.latent).collect();
                let delta: Vec<f64> = c.iter().map(|c| c.delta).collect();
                let overall: Vec<f64> = c.iter().map(|c| c.latent + c.delta).collect();
                writeln!(
                    md,
                    "| {} + {} | {:.0} | {} | {} | {} | {} |",
                    r.name,
                    meth,
                    pick(&lat),
                    32 * r.latent_floats,
                    agg(&delta),
                    agg(&overall),
                    metrics
                )?;
            }
        }
        let mdz: Vec<f64> = base.iter().map(|b| b.1).collect();
        writeln!(
            md,
            "| medzip default (context coder, no prior) | – | – | – | {} | | | | |",
            agg(&mdz)
        )?;
        for (peer, label) in [
            ("png", "PNG"),
            ("jpegls", "JPEG-LS"),
            ("jxl-e9", "JPEG XL e9"),
        ] {
            if let Some(v) = peers.get(peer) {
                if v.len() == n {
                    writeln!(
                        md,
                        "| {label} (peer_bench.py, same files) | – | – | – | {} | | | | |",
                        agg(v)
                    )?;
                }
            }
        }
        writeln!(md)?;
    }
    print!("{md}");
    if let Some(o) = &args.out {
        std::fs::write(o, &md).with_context(|| format!("cannot write {}", o.display()))?;
    }
    if let Some(dir) = &args.figures {
        std::fs::create_dir_all(dir)?;
        for (name, x, r) in &panels {
            let p = dir.join(format!("panel-{name}.png"));
            crate::plot::write_panel(&p, x, r, 256)?;
        }
    }
    Ok(())
}

/// Peer sizes measured by `peer_bench.py` (`dev_peers.json`: bits per file
/// and peer, keyed by path relative to the data root).
struct PeerFile {
    path: PathBuf,
    v: serde_json::Value,
}

impl PeerFile {
    fn read(p: &Path) -> Result<PeerFile> {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        Ok(PeerFile {
            path: p.to_path_buf(),
            v: serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not JSON", p.display()))?,
        })
    }

    /// The key of `f`: its path relative to the first root under which the
    /// file lists it.
    fn key(&self, roots: &[PathBuf], f: &Path) -> Option<String> {
        roots.iter().find_map(|r| {
            let rel = f.strip_prefix(r).ok()?.to_string_lossy().replace('\\', "/");
            self.v.get(&rel).map(|_| rel)
        })
    }

    /// Bits of every file by peer, for the peers measured on all of them.
    fn sizes(&self, roots: &[PathBuf], files: &[PathBuf]) -> BTreeMap<String, Vec<f64>> {
        let mut out = BTreeMap::new();
        for peer in ["jpegls", "jxl-e9", "png"] {
            let vals: Option<Vec<f64>> = files
                .iter()
                .map(|f| self.v[self.key(roots, f)?][peer].as_f64())
                .collect();
            if let Some(vals) = vals {
                out.insert(peer.to_string(), vals);
            }
        }
        out
    }
}

fn peer_roots(args: &EvalArgs) -> Vec<PathBuf> {
    match &args.peers_root {
        Some(r) => vec![r.clone()],
        None => args.dir.ancestors().map(Path::to_path_buf).collect(),
    }
}
