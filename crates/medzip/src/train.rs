//! `medzip train-context`: trains the context model's initial state on a
//! folder of images (a site's own, or the dev set for the shipped states).

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, exts, out)?;
        } else if p
            .extension()
            .is_some_and(|x| exts.contains(&x.to_string_lossy().to_lowercase().as_str()))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Fisher–Yates with a fixed LCG, so that a seed names one order everywhere.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    for i in (1..v.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, ((s >> 33) % (i as u64 + 1)) as usize);
    }
}

/// Where a training command (`train-context`, `train-net`) finds its images.
#[derive(clap::Args)]
pub struct ImageSet {
    /// Folders searched recursively for images.
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// Seed of the image order (`train-net`: also of the validation split
    /// and the initial weights).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Only files with these extensions.
    #[arg(long, default_value = "png,pgm,tif,tiff,dcm")]
    pub ext: String,
    /// A file listing paths (relative to a data folder) to leave out, e.g. held-out images.
    #[arg(long)]
    pub exclude: Option<PathBuf>,
}

/// One image of a training set: found and checked once, read again from
/// disk when it is used, so that a site's set may be far larger than memory.
pub(crate) struct Member {
    path: PathBuf,
    /// Its pixel count (`train-net` spreads its samples by it).
    #[cfg_attr(not(feature = "train"), allow(dead_code))]
    pixels: usize,
}

impl Member {
    fn load(&self) -> Result<medzip_codec::Image> {
        let bytes = std::fs::read(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        Ok(medzip_io::read(&bytes, name.as_deref())
            .with_context(|| self.path.display().to_string())?
            .image)
    }
}

/// The set's images of the wanted depth (`None`: any), minus its
/// exclusions, in its seeded order, at most `limit`: `(members, names,
/// number of files the exclusion list left out)`. Each file is read once
/// here (to check it and its depth); its pixels are not kept.
fn scan_set(
    set: &ImageSet,
    low_bits: Option<bool>,
    limit: usize,
) -> Result<(Vec<Member>, Vec<String>, usize)> {
    let ImageSet {
        data,
        seed,
        ext,
        exclude,
    } = set;
    let exts: Vec<&str> = ext.split(',').collect();
    let excluded: BTreeSet<String> = match exclude {
        Some(p) => std::fs::read_to_string(p)?
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
        None => BTreeSet::new(),
    };
    let mut files = Vec::new();
    let mut left_out = 0;
    for d in data {
        let mut f = Vec::new();
        walk(d, &exts, &mut f)?;
        f.retain(|p| {
            let rel = p
                .strip_prefix(d)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            let keep = !excluded.contains(&rel);
            left_out += !keep as usize;
            keep
        });
        files.extend(f);
    }
    files.sort();
    shuffle(&mut files, *seed);
    let mut members = Vec::new();
    let mut names = Vec::new();
    for p in files {
        if members.len() >= limit {
            break;
        }
        let bytes = std::fs::read(&p)?;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        match medzip_io::read(&bytes, name.as_deref()) {
            Ok(l) if low_bits.is_none_or(|lb| (l.image.bits <= 8) == lb) => {
                names.push(p.display().to_string());
                members.push(Member {
                    path: p,
                    pixels: l.image.data.len(),
                });
            }
            Ok(_) => {}
            Err(e) => eprintln!("medzip: skipping {}: {e}", p.display()),
        }
    }
    if members.is_empty() {
        bail!(
            "no {} images found",
            match low_bits {
                Some(true) => "≤ 8-bit",
                Some(false) => "9–16-bit",
                None => "readable",
            }
        );
    }
    Ok((members, names, left_out))
}

pub fn run(
    set: &ImageSet,
    low_bits: bool,
    out: &Path,
    cap: u8,
    net: Option<&Path>,
    quiet: bool,
) -> Result<()> {
    let net = match net {
        Some(p) => Some(
            medzip_codec::trained::load_net(
                "net",
                &std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        ),
        None => None,
    };
    let (members, names, excluded) = scan_set(set, Some(low_bits), usize::MAX)?;
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(members.len() as u64)
    };
    pb.set_style(
        ProgressStyle::with_template("training [{bar:30}] {pos}/{len} images, ETA {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    // One image in memory at a time; a file that cannot be read again ends
    // the pass and the command fails.
    let mut failed = None;
    let images = members.iter().map_while(|m| match m.load() {
        Ok(img) => Some(img),
        Err(e) => {
            failed = Some(e);
            None
        }
    });
    let model = medzip_codec::train_context_state(
        images,
        cap,
        1 << 20,
        net.as_ref().map(|n| &n.net),
        |i| pb.set_position(i as u64),
    );
    pb.finish_and_clear();
    if let Some(e) = failed {
        return Err(e);
    }
    let state = model.save();
    let id = medzip_codec::trained::id_of(&state);
    std::fs::write(out, medzip_codec::trained::pack(&state))
        .with_context(|| format!("cannot write {}", out.display()))?;
    let list_hash = medzip_format::hex(&medzip_format::sha256(names.join("\n").as_bytes()));
    let config = serde_json::json!({
        "state_id": medzip_format::hex(&id),
        "bits": if low_bits { "1-8" } else { "9-16" },
        "images": names.len(),
        "seed": set.seed, "cap": cap,
        "net_id": net.as_ref().map(|n| medzip_format::hex(&n.id)),
        "data": set.data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "excluded": excluded,
        "data_list_sha256": list_hash,
        "files_in_training_order": names,
    });
    let cfg_path = out.with_extension("json");
    std::fs::write(&cfg_path, serde_json::to_string_pretty(&config)?)?;
    if !quiet {
        eprintln!(
            "trained state {} on {} images -> {} ({})",
            medzip_format::hex(&id),
            names.len(),
            out.display(),
            cfg_path.display()
        );
    }
    Ok(())
}

/// Settings of `medzip train-net`.
#[cfg(feature = "train")]
pub struct NetArgs<'a> {
    /// The images (its seed is also the training's).
    pub set: &'a ImageSet,
    /// `Some(true)`: ≤ 8-bit images only, `Some(false)`: 9–16-bit, `None`: any.
    pub low_bits: Option<bool>,
    pub out: &'a Path,
    pub max_images: usize,
    /// About this many training samples are drawn (evenly spaced pixels).
    pub samples: usize,
    /// At least this many from each image (small images are not drowned
    /// by large ones).
    pub min_per_image: usize,
    /// At most about this many from each image (0: no limit).
    pub max_per_image: usize,
    pub opts: medzip_train::ctxnet::NetOptions,
    pub quiet: bool,
}

/// `medzip train-net`: samples the coder's features on a site's images,
/// trains the context network (burn, CPU), exports the integer network.
#[cfg(feature = "train")]
pub fn run_net(a: &NetArgs) -> Result<()> {
    use medzip_train::ctxnet;
    use std::cell::RefCell;
    let (members, names, excluded) = scan_set(a.set, a.low_bits, a.max_images)?;
    if members.len() < 2 {
        bail!("train-net needs at least 2 images (one for validation)");
    }
    // The last tenth of the (seeded) order validates.
    let nval = (members.len() / 10).max(1);
    let ntr = members.len() - nval;
    let pixels: usize = members[..ntr].iter().map(|m| m.pixels).sum();
    let stride = (pixels / a.samples.max(1)).max(1) as u32;
    let pb = |n: usize, what: &str| {
        let pb = if a.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(n as u64)
        };
        pb.set_style(
            ProgressStyle::with_template(&format!(
                "{what} [{{bar:30}}] {{pos}}/{{len}} {{msg}} ETA {{eta}}"
            ))
            .expect("template")
            .progress_chars("=> "),
        );
        pb
    };
    let tr = RefCell::new(medzip_codec::cm::Trace::new(stride));
    let val = RefCell::new(medzip_codec::cm::Trace::new(stride));
    let bar = pb(members.len(), "sampling");
    for (i, m) in members.iter().enumerate() {
        let t = if i < ntr { &tr } else { &val };
        let own = (m.pixels / a.min_per_image.max(1)).max(1) as u32;
        let cap = match a.max_per_image {
            0 => 1,
            n => m.pixels.div_ceil(n) as u32,
        };
        t.borrow_mut().stride = stride.min(own).max(cap);
        medzip_codec::trace_context(&m.load()?, t, 1 << 20);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (tr, val) = (tr.into_inner(), val.into_inner());
    let dev = medzip_train::train::device(false)?;
    let bar = pb(a.opts.epochs, "training");
    let (coder, logs) = ctxnet::train(&tr, &val, &a.opts, &dev, |log, b, nb| {
        bar.set_message(format!(
            "epoch {} batch {b}/{nb} train {:.4} bits{}",
            log.epoch,
            log.train_bits,
            if log.val_bits.is_nan() {
                String::new()
            } else {
                format!(" val {:.4}", log.val_bits)
            }
        ));
        if b == nb {
            bar.inc(1);
            if !a.quiet {
                bar.println(format!(
                    "epoch {}: train {:.4} val {:.4} bits/sample",
                    log.epoch, log.train_bits, log.val_bits
                ));
            }
        }
    });
    bar.finish_and_clear();
    let net = ctxnet::export(&coder, &a.opts.hidden, &tr, &dev);
    let bytes = net.to_bytes();
    let ctx = medzip_codec::cm::CtxNet::new(medzip_nn::Net::from_bytes(&bytes)?)
        .map_err(|e| anyhow::anyhow!("exported network does not load: {e}"))?;
    let int_bits = ctxnet::evaluate_integer(&ctx, &val);
    let float_bits = logs.last().map_or(f64::NAN, |l| l.val_bits);
    let id = medzip_codec::trained::id_of(&bytes);
    crate::jobs::write_atomic(a.out, &bytes, true)?;
    let config = serde_json::json!({
        "net_id": medzip_format::hex(&id),
        "parameters": ctx.net().parameters(),
        "options": a.opts,
        "stride": stride,
        "min_per_image": a.min_per_image,
        "max_per_image": a.max_per_image,
        "samples": { "train": tr.feats.len(), "validation": val.feats.len() },
        "images": { "train": ntr, "validation": nval },
        "excluded": excluded,
        "data": a.set.data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "data_list_sha256": medzip_format::hex(&medzip_format::sha256(names.join("\n").as_bytes())),
        "validation_bits_per_sample": { "float": float_bits, "integer": int_bits },
        "epochs": logs,
        "files_in_order": names,
    });
    let cfg_path = a.out.with_extension("json");
    crate::jobs::write_atomic(
        &cfg_path,
        serde_json::to_string_pretty(&config)?.as_bytes(),
        true,
    )?;
    if !a.quiet {
        eprintln!(
            "context network {} ({} parameters): validation {float_bits:.4} bits/sample (float), {int_bits:.4} (integer) -> {}",
            medzip_format::hex(&id),
            ctx.net().parameters(),
            a.out.display()
        );
    }
    Ok(())
}
