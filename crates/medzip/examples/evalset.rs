//! Development tool: compress the dev files that have JPEG XL e9 figures in
//! `dev_peers.json` (in parallel, in memory) and print medzip against the
//! peers per set, the way `compare_peers.py` does.
//!
//! cargo run --release -p medzip --example evalset -- ../shared/data/dev ../shared/bench/dev_peers.json [--decode] [--untrained] [--no-net] [--fast] [--peer NAME] [--only SET] [--per-file]
//!
//! `--fast` codes with the fast coder (`-e 1`); `--peer jxl-e7` compares
//! with that peer (on every set) instead of JPEG XL e9 (best of e7/e9 on
//! the high-bit set).
//!
//! `MEDZIP_CONTEXT_NET` / `MEDZIP_CONTEXT_STATE` name a site's network and
//! state, as for the CLI.

use medzip_codec::Options;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = std::path::PathBuf::from(&args[1]);
    let peers: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&args[2]).unwrap()).unwrap();
    let decode = args.iter().any(|a| a == "--decode");
    let untrained = args.iter().any(|a| a == "--untrained");
    let no_net = args.iter().any(|a| a == "--no-net");
    let fast = args.iter().any(|a| a == "--fast");
    let peer = args
        .iter()
        .position(|a| a == "--peer")
        .map(|i| args[i + 1].clone());
    // A site's network and state, as the CLI takes them (experiments).
    let mut models = medzip_codec::Models::embedded();
    if let Ok(p) = std::env::var("MEDZIP_CONTEXT_NET") {
        models = models.with_site_net(&std::fs::read(p).unwrap()).unwrap();
    }
    if let Ok(p) = std::env::var("MEDZIP_CONTEXT_STATE") {
        models = models.with_site_state(&std::fs::read(p).unwrap()).unwrap();
    }
    let only = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args[i + 1].clone());
    let mut sets: BTreeMap<String, Vec<(String, f64, f64, f64)>> = BTreeMap::new();
    let files: Vec<(String, String)> = peers
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| {
            v.get(peer.as_deref().unwrap_or("jxl-e9")).is_some() && !k.ends_with(".dcm")
        })
        .map(|(k, _)| {
            let set = if k.starts_with("cxr_kermany/png8_256") {
                "kermany_256"
            } else if k.starts_with("cxr_kermany") {
                "kermany_png8"
            } else if k.starts_with("cxr_other") {
                "cxr_other"
            } else {
                "highbit"
            };
            (set.to_string(), k.clone())
        })
        .filter(|(s, _)| only.as_ref().is_none_or(|o| o == s))
        .collect();
    let t = Instant::now();
    let res: Vec<_> = files
        .par_iter()
        .map(|(set, k)| {
            let bytes = std::fs::read(root.join(k)).unwrap();
            let l = medzip_io::read(&bytes, Some(k)).unwrap();
            let opts = Options {
                trained: !untrained,
                net: !no_net,
                residual: if fast {
                    medzip_codec::Residual::Fast
                } else {
                    medzip_codec::Residual::Context
                },
                models: models.clone(),
                ..Options::default()
            };
            let f = medzip_codec::compress(&l.image, &l.meta, &opts).unwrap();
            if decode {
                let dec = medzip_codec::DecodeOptions {
                    models: models.clone(),
                    ..Default::default()
                };
                let (img, _) = medzip_codec::decompress_with(&f, None, &dec).unwrap();
                assert_eq!(img, l.image, "{k}");
            }
            let px = l.image.data.len() as f64;
            let p = &peers[k];
            let (e9, best) = match &peer {
                Some(name) => (p[name].as_f64().unwrap(), p[name].as_f64().unwrap()),
                None => {
                    let e9 = p["jxl-e9"].as_f64().unwrap();
                    let best = p
                        .get("jxl-e7")
                        .and_then(|v| v.as_f64())
                        .map_or(e9, |e7| e7.min(e9));
                    (e9, best)
                }
            };
            (
                set.clone(),
                k.clone(),
                8.0 * f.len() as f64,
                px,
                e9,
                best,
                p["jpegls"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    let mut worst = Vec::new();
    for (set, k, bits, px, e9, best, ls) in res {
        sets.entry(set.clone()).or_default().push((
            k.clone(),
            bits,
            px,
            if set == "highbit" { best } else { e9 },
        ));
        worst.push((bits / best, k, bits / px, best / px, ls / px));
        let _ = e9;
    }
    for (set, v) in &sets {
        let (b, p, e): (f64, f64, f64) = v
            .iter()
            .fold((0.0, 0.0, 0.0), |a, x| (a.0 + x.1, a.1 + x.2, a.2 + x.3));
        let mean = v.iter().map(|x| x.1 / x.2).sum::<f64>() / v.len() as f64;
        let pmean = v.iter().map(|x| x.3 / x.2).sum::<f64>() / v.len() as f64;
        println!(
            "{set:14} n={:3} total {:.4} vs jxl {:.4} = {:.3}x | mean {:.4} vs {:.4} = {:.3}x",
            v.len(),
            b / p,
            e / p,
            b / e,
            mean,
            pmean,
            mean / pmean
        );
    }
    worst.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    // The twelve worst high-bit files, or every file with `--per-file`.
    let per_file = args.iter().any(|a| a == "--per-file");
    let shown = worst
        .iter()
        .filter(|w| per_file || w.1.starts_with("highbit"))
        .take(if per_file { usize::MAX } else { 12 });
    for w in shown {
        println!(
            "  {:.3}x {} ({:.3} bpp, jxl {:.3}, jpegls {:.3})",
            w.0, w.1, w.2, w.3, w.4
        );
    }
    eprintln!("{:.1} s", t.elapsed().as_secs_f64());
}
