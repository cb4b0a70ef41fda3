//! DICOM as archives write it, through the `medzip` binary: files whose
//! preamble holds a TIFF header, inputs whose name says another kind than
//! their bytes, a meta group dicom-rs refuses, and a file that makes a
//! third-party decoder panic in the middle of a batch. Fixtures:
//! `tests/fixtures/dicom/` (made by `scripts/make_dicom_fixtures.py` from
//! pydicom's MIT-licensed test files; `tests/fixtures/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/dicom").join(name)
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medzip-compat-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_medzip"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Compresses `src` (with --verify), decompresses it under its own name (the
/// default: `NAME.mdz` gives `NAME`, whatever its extension says), and
/// returns the bytes that came back and `info`'s text.
fn round_trip(d: &Path, src: &Path) -> (Vec<u8>, String) {
    let name = src.file_name().unwrap().to_str().unwrap();
    let mdz = d.join(format!("{name}.mdz"));
    let out = d.join("back");
    let (code, _, err) = run(&["compress", "--verify", s(src), "-o", s(&mdz)]);
    assert_eq!(code, 0, "{name}: {err}");
    let (code, _, err) = run(&["decompress", "--force", s(&mdz), "--out-dir", s(&out)]);
    assert_eq!(code, 0, "{name}: {err}");
    let back = out.join(name);
    let (code, _, err) = run(&["verify", s(&mdz), s(src)]);
    assert_eq!(code, 0, "{name}: {err}");
    let (code, info, err) = run(&["info", s(&mdz)]);
    assert_eq!(code, 0, "{name}: {err}");
    (std::fs::read(back).unwrap(), info)
}

#[test]
fn dual_personality_files_are_dicom() {
    let d = tmpdir("dual");
    let src = fixture("dual_tiff_preamble.dcm");
    let orig = std::fs::read(&src).unwrap();
    // The preamble is a valid TIFF: a TIFF reader decodes a 1×1 image.
    let mut t = tiff::decoder::Decoder::new(std::io::Cursor::new(&orig)).unwrap();
    assert_eq!(t.dimensions().unwrap(), (1, 1));
    assert!(t.read_image().is_ok());
    // medzip reads the DICOM file, and gives it back byte for byte, under
    // any name.
    for name in ["dual.dcm", "dual.tif", "dual"] {
        let p = d.join(name);
        std::fs::copy(&src, &p).unwrap();
        let (back, info) = round_trip(&d, &p);
        assert!(back == orig, "{name}: not byte for byte");
        assert!(
            info.contains("from DICOM") || info.contains("dicom"),
            "{info}"
        );
        assert!(info.contains("TIFF header"), "{info}");
    }
    // An invalid TIFF header in the preamble: DICOM too.
    let mut bad = orig.clone();
    for b in &mut bad[8..128] {
        *b = 0xEE;
    }
    let p = d.join("bad_tiff_preamble.tif");
    std::fs::write(&p, &bad).unwrap();
    let (back, _) = round_trip(&d, &p);
    assert!(back == bad, "invalid TIFF preamble: not byte for byte");
}

#[test]
fn png_and_tiff_named_dcm_stay_png_and_tiff() {
    let d = tmpdir("names");
    let png = repo().join("samples/kermany256_IM-0199-0001.png");
    let as_dcm = d.join("png_named.dcm");
    std::fs::copy(&png, &as_dcm).unwrap();
    let (back, _) = round_trip(&d, &as_dcm);
    assert!(
        back.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PNG comes back as PNG"
    );
    // A TIFF named .dcm.
    let orig = medzip_io::read(&std::fs::read(&png).unwrap(), None).unwrap();
    let mut meta = orig.meta.clone();
    meta.source = medzip_codec::SourceKind::Tiff;
    let tif = medzip_io::write(&orig.image, &meta).unwrap();
    let tif_dcm = d.join("tiff_named.dcm");
    std::fs::write(&tif_dcm, &tif).unwrap();
    let (back, _) = round_trip(&d, &tif_dcm);
    assert!(back.starts_with(b"II*\0") || back.starts_with(b"MM\0*"));
    assert_eq!(medzip_io::read(&back, None).unwrap().image, orig.image);
}

#[test]
fn meta_group_dicom_rs_refuses_is_read_and_kept() {
    let d = tmpdir("meta");
    let src = fixture("meta_long_ae.dcm");
    let (back, info) = round_trip(&d, &src);
    assert!(back == std::fs::read(&src).unwrap(), "not byte for byte");
    assert!(info.contains("18 bytes long"), "{info}");
}

#[test]
fn deflated_data_set_made_by_zlib_comes_back_byte_for_byte() {
    let d = tmpdir("deflated");
    let src = fixture("deflated_zlib.dcm");
    let (back, info) = round_trip(&d, &src);
    assert!(back == std::fs::read(&src).unwrap(), "not byte for byte");
    assert!(info.contains("deflated data set"), "{info}");
    // The same pixels as the file it was made from.
    let a = medzip_io::read(&back, None).unwrap();
    let b = medzip_io::read(&std::fs::read(fixture("meta_long_ae.dcm")).unwrap(), None).unwrap();
    assert_eq!(a.image, b.image);
}

/// dicom-rs 0.10 panics on RLE pixel data split over several fragments of
/// one frame (docs/UPSTREAM.md). Asked to transcode it, in a batch on two
/// threads, medzip stores that file whole (the decoder's failure is the
/// reason it gives) and compresses the files before and after it.
#[test]
fn a_panicking_decoder_leaves_its_file_stored_whole() {
    let d = tmpdir("poison");
    let good1 = repo().join("samples/mr12_suyashkumar_3.dcm");
    let poison = fixture("rle_fragments.dcm");
    let good2 = repo().join("samples/pt16s_suyashkumar_1.dcm");
    let out = d.join("out");
    let (code, _, err) = run(&[
        "compress",
        "--transcode",
        "-j",
        "2",
        "--out-dir",
        s(&out),
        s(&good1),
        s(&poison),
        s(&good2),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let poisoned = out.join("rle_fragments.dcm.mdz");
    let back = out.join("back.dcm");
    assert_eq!(run(&["decompress", s(&poisoned), "-o", s(&back)]).0, 0);
    if err.contains("decoder failed") {
        assert!(err.contains("stored whole"), "{err}");
        assert!(std::fs::read(&back).unwrap() == std::fs::read(&poison).unwrap());
    } else {
        // A dicom-rs that decodes the file: the pixels must then be right.
        let a = medzip_io::read(&std::fs::read(&back).unwrap(), None).unwrap();
        let b =
            medzip_io::read(&std::fs::read(fixture("meta_long_ae.dcm")).unwrap(), None).unwrap();
        assert_eq!(a.image, b.image, "MR_small's pixels");
    }
    for g in ["mr12_suyashkumar_3.dcm.mdz", "pt16s_suyashkumar_1.dcm.mdz"] {
        assert!(out.join(g).exists(), "{g} not written: {err}");
    }
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name();
        assert!(
            !name.to_string_lossy().ends_with(".tmp"),
            "{name:?} left behind"
        );
    }
}
