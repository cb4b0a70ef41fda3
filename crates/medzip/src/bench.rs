//! `medzip bench DIR`: the main job on a folder. Every image is compressed
//! and decoded in memory (round trip checked), and its size set beside the
//! input file and a PNG of the same pixels (png crate). Where the folder holds a
//! `peers.csv` (`file,codec,bytes`, as measured by
//! `../shared/bench/peer_bench.py`), those peers get a column each.

use anyhow::{bail, Context, Result};
use medzip_codec::{Limits, Options};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Size of the same pixels as a grayscale PNG written by the `png` crate at
/// its high compression setting (the paper's PNG path with no
/// reconstruction: a reference that needs no external tool).
fn png_size(img: &medzip_codec::Image) -> Result<usize> {
    let lo = medzip_codec::Image::range(img.bits, img.signed).0;
    let u: Vec<i32> = img.data.iter().map(|&v| v - lo).collect();
    Ok(medzip_codec::paper::png_encode(&u, None, img.width, img.height, img.bits)?.len())
}

fn load_peers(dir: &Path) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    if let Ok(s) = std::fs::read_to_string(dir.join("peers.csv")) {
        for line in s.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if let [file, codec, bytes] = f[..] {
                if let Ok(b) = bytes.trim().parse() {
                    out.entry(file.to_string())
                        .or_default()
                        .insert(codec.to_string(), b);
                }
            }
        }
    }
    out
}

pub fn run(dir: &Path, opts: &Options) -> Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| {
                    ["png", "pgm", "tif", "tiff", "dcm"]
                        .contains(&e.to_string_lossy().to_lowercase().as_str())
                })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no PNG/PGM/TIFF/DICOM images in {}", dir.display());
    }
    let peers = load_peers(dir);
    let codecs: Vec<String> = {
        let mut c: Vec<String> = peers.values().flat_map(|m| m.keys().cloned()).collect();
        c.sort();
        c.dedup();
        c
    };
    let mut header = format!(
        "| {:<32} | {:>11} | {:>9} | {:>9} | {:>9} |",
        "file", "size", "input bpp", "png-rs bpp", "medzip bpp"
    );
    for c in &codecs {
        header.push_str(&format!(" {:>9} |", format!("{c} bpp")));
    }
    println!("{header}");
    println!(
        "|{}|",
        header[1..header.len() - 1]
            .split('|')
            .map(|s| "-".repeat(s.len()))
            .collect::<Vec<_>>()
            .join("|")
    );
    let (mut tot_px, mut tot_in, mut tot_png, mut tot_mdz) = (0u64, 0u64, 0u64, 0u64);
    let mut tot_peer: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut enc_s, mut dec_s) = (0.0, 0.0);
    for f in &files {
        let bytes = std::fs::read(f)?;
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let loaded = match medzip_io::read(&bytes, Some(&name)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("medzip bench: skipping {name}: {e}");
                continue;
            }
        };
        let img = &loaded.image;
        let t = Instant::now();
        let mdz = medzip_codec::compress(img, &loaded.meta, opts)?;
        enc_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (back, meta) = medzip_codec::decompress(&mdz, &Limits::default(), None)?;
        dec_s += t.elapsed().as_secs_f64();
        if &back != img || medzip_io::write(&back, &meta).is_err() {
            bail!("{name}: round trip failed");
        }
        let px = img.data.len() as u64;
        let png = png_size(img)? as u64;
        let bpp = |b: u64| 8.0 * b as f64 / px as f64;
        let mut row = format!(
            "| {:<32} | {:>11} | {:>9.4} | {:>9.4} | {:>10.4} |",
            name,
            format!("{}x{}x{}b", img.width, img.height, img.bits),
            bpp(bytes.len() as u64),
            bpp(png),
            bpp(mdz.len() as u64)
        );
        for c in &codecs {
            match peers.get(&name).and_then(|m| m.get(c)) {
                Some(&b) => {
                    row.push_str(&format!(" {:>9.4} |", bpp(b)));
                    let e = tot_peer.entry(c.clone()).or_default();
                    e.0 += b;
                    e.1 += px;
                }
                None => row.push_str(&format!(" {:>9} |", "n/a")),
            }
        }
        println!("{row}");
        tot_px += px;
        tot_in += bytes.len() as u64;
        tot_png += png;
        tot_mdz += mdz.len() as u64;
    }
    let bpp = |b: u64, px: u64| 8.0 * b as f64 / px as f64;
    let mut row = format!(
        "| {:<32} | {:>11} | {:>9.4} | {:>9.4} | {:>10.4} |",
        "**total**",
        format!("{:.2} MP", tot_px as f64 / 1e6),
        bpp(tot_in, tot_px),
        bpp(tot_png, tot_px),
        bpp(tot_mdz, tot_px)
    );
    for c in &codecs {
        match tot_peer.get(c) {
            Some(&(b, px)) if px == tot_px => row.push_str(&format!(" {:>9.4} |", bpp(b, px))),
            _ => row.push_str(&format!(" {:>9} |", "partial")),
        }
    }
    println!("{row}");
    println!(
        "\nmedzip is {:.1} % smaller than PNG (png crate, high compression); encode {:.2} MP/s, decode {:.2} MP/s; \
         every round trip verified. medzip bpp includes the whole file (for DICOM every header byte); \
         peers (peers.csv, from peer_bench.py) count pixels only.",
        100.0 * (1.0 - tot_mdz as f64 / tot_png as f64),
        tot_px as f64 / 1e6 / enc_s,
        tot_px as f64 / 1e6 / dec_s
    );
    Ok(())
}
