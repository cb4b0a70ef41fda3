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

#[allow(clippy::too_many_arguments)]
pub fn run(
    data: &[PathBuf],
    low_bits: bool,
    out: &Path,
    seed: u64,
    ext: &str,
    exclude: Option<&Path>,
    cap: u8,
    quiet: bool,
) -> Result<()> {
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
    for d in data {
        let mut f = Vec::new();
        walk(d, &exts, &mut f)?;
        f.retain(|p| {
            let rel = p
                .strip_prefix(d)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            !excluded.contains(&rel)
        });
        files.extend(f);
    }
    files.sort();
    let mut images = Vec::new();
    let mut names = Vec::new();
    for p in &files {
        let bytes = std::fs::read(p)?;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        match medzip_io::read(&bytes, name.as_deref()) {
            Ok(l) if (l.image.bits <= 8) == low_bits => {
                images.push(l.image);
                names.push(p.display().to_string());
            }
            Ok(_) => {}
            Err(e) => eprintln!("medzip: skipping {}: {e}", p.display()),
        }
    }
    if images.is_empty() {
        bail!(
            "no {} images found",
            if low_bits { "≤ 8-bit" } else { "9–16-bit" }
        );
    }
    let mut order: Vec<usize> = (0..images.len()).collect();
    shuffle(&mut order, seed);
    let images: Vec<_> = order.iter().map(|&i| images[i].clone()).collect();
    let names: Vec<_> = order.iter().map(|&i| names[i].clone()).collect();
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(images.len() as u64)
    };
    pb.set_style(
        ProgressStyle::with_template("training [{bar:30}] {pos}/{len} images, ETA {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    let model =
        medzip_codec::train_context_state(&images, cap, 1 << 20, |i| pb.set_position(i as u64));
    pb.finish_and_clear();
    let state = model.save();
    let id = medzip_codec::trained::id_of(&state);
    std::fs::write(out, medzip_codec::trained::pack(&state))
        .with_context(|| format!("cannot write {}", out.display()))?;
    let list_hash = medzip_format::hex(&medzip_format::sha256(names.join("\n").as_bytes()));
    let config = serde_json::json!({
        "state_id": medzip_format::hex(&id),
        "bits": if low_bits { "1-8" } else { "9-16" },
        "images": names.len(),
        "seed": seed, "cap": cap,
        "data": data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "excluded": excluded.len(),
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
