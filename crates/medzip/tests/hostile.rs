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
        "read_png" => medzip_io::fuzz_read_and_write(data, "x.png"),
        "read_pgm" => medzip_io::fuzz_read_and_write(data, "x.pgm"),
        "read_tiff" => medzip_io::fuzz_read_and_write(data, "x.tif"),
        "read_dicom" => medzip_io::fuzz_read_and_write(data, "x.dcm"),
        "dicom_parse" => medzip_io::dicom::parse::fuzz_check(data),
        "roundtrip" => medzip_codec::fuzzing::roundtrip_arbitrary(data),
        "jpeg" => medzip_codec::fuzzing::jpeg_arbitrary(data),
        t => panic!("fuzz target {t} has no replay here: add it to run_target"),
    }
}

/// The fuzz targets (`fuzz/fuzz_targets/*.rs`).
fn fuzz_targets() -> Vec<String> {
    let mut t: Vec<String> = files(&repo().join("fuzz/fuzz_targets"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    t.sort();
    t
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
    // Inputs that made a third-party parser reserve gigabytes (`oom-*`) are
    // replayed through the binary, whose allocator refuses such requests:
    // quickly, never a multi-gigabyte process; the file is then stored
    // whole and comes back byte for byte.
    for target in ["read_dicom", "read_png", "read_tiff", "read_pgm"] {
        for p in files(&root.join(target)) {
            if p.file_name().unwrap().to_string_lossy().starts_with("oom-") {
                let out =
                    std::env::temp_dir().join(format!("medzip-oom-{}.mdz", std::process::id()));
                let back = out.with_extension("back");
                let t = std::time::Instant::now();
                let run = |args: &[&str]| {
                    std::process::Command::new(env!("CARGO_BIN_EXE_medzip"))
                        .args(args)
                        .output()
                        .unwrap()
                };
                let o = run(&[
                    "compress",
                    "--force",
                    p.to_str().unwrap(),
                    "-o",
                    out.to_str().unwrap(),
                ]);
                assert_eq!(o.status.code(), Some(0), "{}", p.display());
                assert!(
                    t.elapsed().as_secs() < 10,
                    "{} took {:?}",
                    p.display(),
                    t.elapsed()
                );
                let o = run(&[
                    "decompress",
                    "--force",
                    out.to_str().unwrap(),
                    "-o",
                    back.to_str().unwrap(),
                ]);
                assert_eq!(o.status.code(), Some(0), "{}", p.display());
                assert!(std::fs::read(&back).unwrap() == std::fs::read(&p).unwrap());
                let _ = std::fs::remove_file(&out);
                let _ = std::fs::remove_file(&back);
            }
        }
    }
    // Every target has its folder (kept by a `.keep` file while empty) and
    // every input is replayed: a moved or renamed folder fails here instead
    // of replaying nothing.
    let targets = fuzz_targets();
    assert_eq!(targets.len(), 9, "fuzz targets: {targets:?}");
    let mut replayed = 0;
    for target in &targets {
        let dir = root.join(target);
        assert!(dir.is_dir(), "no regression folder {}", dir.display());
        for p in files(&dir) {
            if !p.file_name().unwrap().to_string_lossy().starts_with("oom-") {
                run_target(target, &std::fs::read(&p).unwrap());
            }
            replayed += 1;
        }
    }
    // The inputs committed on 2026-11-30 (one each for read_dicom,
    // read_png and read_tiff); raise this when adding more.
    assert!(replayed >= 3, "only {replayed} fuzz regressions found");
}
