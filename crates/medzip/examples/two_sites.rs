//! Two hospitals' context models in one process, at the same time: each
//! thread compresses and decompresses an image with its own site's
//! context-model state, passed explicitly (`medzip_codec::Models`); nothing
//! in the process is global, so neither thread sees the other's model.
//!
//! ```sh
//! medzip train-context --data SITE_A_IMAGES --bits 8 --out a.state.z
//! medzip train-context --data SITE_B_IMAGES --bits 8 --out b.state.z
//! cargo run --release -p medzip --example two_sites -- a.state.z b.state.z IMAGE OUT_DIR
//! ```
//!
//! writes `OUT_DIR/a.mdz` and `OUT_DIR/b.mdz`: the same bytes as
//! `medzip compress -e 2 --context-state a.state.z IMAGE` (and `b`), which
//! `crates/medzip/tests/cli.rs` checks. Only the public API is used.

use medzip_codec::{DecodeOptions, Models, Options};
use std::path::Path;

/// Decoding with `models` (default limits, SIMD where the CPU has it).
fn decoding(models: &Models) -> DecodeOptions {
    DecodeOptions {
        models: models.clone(),
        ..Default::default()
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Compresses `image` with each site's state (`-e 2`: the context coder
/// without a network, since these states were trained without one), in
/// two threads at once; checks that each file decodes to the image with
/// its site's models and is refused with the other site's; writes
/// `a.mdz` and `b.mdz` to `out` and returns them.
pub fn run(state_a: &Path, state_b: &Path, image: &Path, out: &Path) -> Result<[Vec<u8>; 2]> {
    let bytes = std::fs::read(image)?;
    let name = image.file_name().and_then(|n| n.to_str());
    let loaded = medzip_io::read(&bytes, name)?;
    let site = |p: &Path| -> Result<Models> {
        Ok(Models::embedded().with_site_state(&std::fs::read(p)?)?)
    };
    let sites = [site(state_a)?, site(state_b)?];
    let files = std::thread::scope(|s| {
        let jobs = sites.each_ref().map(|models| {
            let loaded = &loaded;
            s.spawn(move || -> Result<Vec<u8>> {
                let opts = Options {
                    net: false,
                    models: models.clone(),
                    ..Options::default()
                };
                let mdz = medzip_codec::compress(&loaded.image, &loaded.meta, &opts)?;
                let (img, _) = medzip_codec::decompress_with(&mdz, None, &decoding(models))?;
                if img != loaded.image {
                    return Err("decoded pixels differ".into());
                }
                Ok(mdz)
            })
        });
        jobs.map(|j| j.join().expect("coding thread"))
    });
    let [a, b] = files;
    let (a, b) = (a?, b?);
    // A file names the state it was made with: the other site's models
    // cannot decode it.
    for (mdz, other) in [(&a, &sites[1]), (&b, &sites[0])] {
        if medzip_codec::decompress_with(mdz, None, &decoding(other)).is_ok() {
            return Err("a file decoded with the other site's models".into());
        }
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("a.mdz"), &a)?;
    std::fs::write(out.join("b.mdz"), &b)?;
    Ok([a, b])
}

#[allow(dead_code)] // (the tests include this file for `run`)
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, image, out] = args.as_slice() else {
        return Err("usage: two_sites STATE_A STATE_B IMAGE OUT_DIR".into());
    };
    let [fa, fb] = run(a.as_ref(), b.as_ref(), image.as_ref(), out.as_ref())?;
    println!(
        "{image}: {} bytes with site A's state, {} bytes with site B's (both decoded, each refused with the other's models)",
        fa.len(),
        fb.len()
    );
    Ok(())
}
