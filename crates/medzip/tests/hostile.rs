//! Hostile inputs: every file in `tests/hostile/` must be refused with an
//! error (never a panic, never an output); every file in
//! `tests/fuzz_regressions/<target>/` (crashes once found by
//! `scripts/fuzz_all.sh`) is replayed through the code its target runs and
//! must not panic.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file() && p.file_name().is_none_or(|n| n != ".keep"));
    v.sort();
    v
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the fuzz targets run on one input (see `fuzz/fuzz_targets`).
fn run_target(target: &str, data: &[u8]) {
    match target {
        "container" => {
            let _ = medzip_format::Container::parse(data, &Default::default());
        }
        "decode" => {
            if let Ok((img, meta)) = medzip_codec::decompress(data, &Default::default(), None) {
                let _ = medzip_io::write(&img, &meta);
            }
        }
        t if t.starts_with("read_") => {
            let hint = match &t[5..] {
                "dicom" => "x.dcm",
                "tiff" => "x.tif",
                "pgm" => "x.pgm",
                _ => "x.png",
            };
            if let Ok(l) = medzip_io::read(data, Some(hint)) {
                let _ = medzip_io::write(&l.image, &l.meta);
            }
        }
        "roundtrip" => roundtrip(data),
        _ => {}
    }
}

/// Same as `fuzz/fuzz_targets/roundtrip.rs`.
fn roundtrip(data: &[u8]) {
    use medzip_codec::{Image, Metadata, Options, Residual};
    if data.len() < 4 {
        return;
    }
    let bits = data[0] % 16 + 1;
    let signed = data[1] & 1 == 1;
    let residual = match data[1] >> 1 & 3 {
        0 | 3 => Residual::Context,
        1 => Residual::Huffman,
        _ => Residual::Png,
    };
    let w = (data[2] % 40) as u32 + 1;
    let body = &data[3..];
    let n = (body.len() / 2).max(1);
    let h = (n as u32).div_ceil(w).max(1);
    let (lo, hi) = Image::range(bits, signed);
    let span = (hi - lo + 1) as u32;
    let px: Vec<i32> = (0..(w * h) as usize)
        .map(|i| {
            let v = u16::from_le_bytes([
                *body.get(2 * i).unwrap_or(&0),
                *body.get(2 * i + 1).unwrap_or(&0),
            ]) as u32;
            lo + (v % span) as i32
        })
        .collect();
    let img = Image::new(w, h, bits, signed, px).unwrap();
    let opts = Options {
        residual,
        stripe_pixels: 64 + data[2] as u64,
        trained: data[1] & 8 == 0,
    };
    let f = medzip_codec::compress(&img, &Metadata::raw(), &opts).unwrap();
    let (back, _) = medzip_codec::decompress(&f, &Default::default(), None).unwrap();
    assert_eq!(back, img);
}

#[test]
fn hostile_inputs_are_refused() {
    let dir = repo().join("tests/hostile");
    let all = files(&dir);
    assert!(
        all.len() >= 6,
        "hostile fixtures missing from {}",
        dir.display()
    );
    for p in all {
        let data = std::fs::read(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".mdz") {
            let e = medzip_codec::decompress(&data, &Default::default(), None);
            assert!(e.is_err(), "{name} was accepted");
        } else {
            let e = medzip_io::read(&data, Some(&name));
            assert!(e.is_err(), "{name} was accepted");
        }
    }
    // The oversized claim is refused as a limit, before anything is allocated.
    let data = std::fs::read(dir.join("huge_claim.mdz")).unwrap();
    let e = medzip_codec::decompress(&data, &Default::default(), None).unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
}

#[test]
fn fuzz_regressions_replay_without_panicking() {
    let root = repo().join("tests/fuzz_regressions");
    for target in [
        "container",
        "decode",
        "roundtrip",
        "read_png",
        "read_pgm",
        "read_tiff",
        "read_dicom",
    ] {
        for p in files(&root.join(target)) {
            run_target(target, &std::fs::read(&p).unwrap());
        }
    }
}
