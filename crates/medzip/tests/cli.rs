//! End-to-end tests of the `medzip` binary in temporary folders: round trips
//! of the committed samples (DICOM byte identity), golden files, exit codes,
//! no overwriting, no partial outputs on failure.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medzip"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn samples() -> PathBuf {
    repo().join("samples")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("medzip-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = bin().args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A folder in `d` holding the two 256×256 chest X-ray samples (training
/// data for the tests).
#[cfg(feature = "train")]
fn chest_xray_folder(d: &Path) -> PathBuf {
    let data = d.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for f in [
        "kermany256_IM-0199-0001.png",
        "kermany256_person1340_virus_2312.png",
    ] {
        std::fs::copy(samples().join(f), data.join(f)).unwrap();
    }
    data
}

fn sha(p: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(p).unwrap()).to_vec()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn samples_roundtrip_and_native_dicom_is_byte_identical() {
    let d = tmpdir("samples");
    let files = [
        "kermany256_IM-0199-0001.png",
        "kermany256_person1340_virus_2312.png",
        "mr12_suyashkumar_3.dcm",
        "pt16s_suyashkumar_1.dcm",
    ];
    let inputs: Vec<PathBuf> = files.iter().map(|f| samples().join(f)).collect();
    let mut args = vec!["compress", "-j", "2", "--verify", "--out-dir", s(&d)];
    args.extend(inputs.iter().map(|p| s(p)));
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let out = d.join("out");
    for f in files {
        let mdz = d.join(format!("{f}.mdz"));
        let (code, _, err) = run(&["decompress", s(&mdz), "--out-dir", s(&out)]);
        assert_eq!(code, 0, "{err}");
        let back = out.join(f);
        if f.ends_with(".dcm") {
            assert_eq!(
                sha(&back),
                sha(&samples().join(f)),
                "{f} must come back byte for byte"
            );
        }
        let (code, _, err) = run(&["verify", s(&mdz), s(&samples().join(f))]);
        assert_eq!(code, 0, "{err}");
    }
}

#[test]
fn encapsulated_dicom_comes_back_byte_for_byte_or_transcoded_with_identical_pixels() {
    let d = tmpdir("encap");
    // JPEG Lossless SV1 (original) and JPEG-LS lossless (made from the MR
    // sample).
    let names = [
        "ct12_jpeglossless_bad_sequence.dcm",
        "mr12_jpegls_from_suyashkumar_3.dcm",
    ];
    for name in names {
        let src = samples().join(name);
        // By default the same bytes back: the samples coded by medzip, each
        // stream rebuilt from them.
        let mdz = d.join(format!("{name}.whole.mdz"));
        let back = d.join(format!("whole_{name}"));
        let (code, _, err) = run(&["compress", "--verify", s(&src), "-o", s(&mdz)]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(!err.contains("stored whole"), "{err}");
        assert_eq!(run(&["decompress", s(&mdz), "-o", s(&back)]).0, 0, "{name}");
        assert_eq!(sha(&back), sha(&src), "{name}");
        assert_eq!(run(&["verify", s(&mdz), s(&src)]).0, 0, "{name}");
        let (_, info, _) = run(&["info", "--json", s(&mdz)]);
        assert!(info.contains("\"source\":\"dicom\""), "{info}");
        assert!(info.contains("rebuilt byte for byte"), "{info}");
        // Smaller than the JPEG-LS file by a quarter, than the JPEG Lossless
        // one (an old Huffman coder) by half.
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        let factor = if name.contains("jpegls") { 4 } else { 2 };
        assert!(factor * size(&mdz) < (factor - 1) * size(&src), "{name}");
        // With --transcode: coded by its pixels, native DICOM back.
        let mdz = d.join(format!("{name}.mdz"));
        let back = d.join(name);
        let (code, _, err) = run(&[
            "compress",
            "--transcode",
            "--verify",
            s(&src),
            "-o",
            s(&mdz),
        ]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(run(&["decompress", s(&mdz), "-o", s(&back)]).0, 0, "{name}");
        assert_eq!(run(&["verify", s(&mdz), s(&src)]).0, 0, "{name}");
        let orig = medzip_io::read(&std::fs::read(&src).unwrap(), Some("x.dcm")).unwrap();
        let bytes = std::fs::read(&back).unwrap();
        let new = medzip_io::read(&bytes, Some("x.dcm")).unwrap();
        assert_eq!(new.image, orig.image, "{name}");
        let ts = b"1.2.840.10008.1.2.1\0";
        assert!(
            bytes.windows(ts.len()).any(|w| w == ts),
            "{name}: output is Explicit VR Little Endian"
        );
        let (_, info, _) = run(&["info", "--json", s(&mdz)]);
        assert!(info.contains("\"source\":\"dicom\""), "{info}");
    }
    let ls_path = samples().join("mr12_jpegls_from_suyashkumar_3.dcm");
    // The JPEG-LS file holds the same pixels as the native MR sample.
    let ls = medzip_io::read(&std::fs::read(ls_path).unwrap(), None).unwrap();
    let native = medzip_io::read(
        &std::fs::read(samples().join("mr12_suyashkumar_3.dcm")).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(ls.image, native.image);
}

/// A deterministic 12-bit signed test image (the golden files encode it).
fn golden_image() -> medzip_codec::Image {
    let (w, h) = (23u32, 19u32);
    let data = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as i32, (i / w) as i32);
            ((x * 97 + y * 61 + (x * y) % 17) % 4096) - 2048
        })
        .collect();
    medzip_codec::Image::new(w, h, 12, true, data).unwrap()
}

/// An 8-bit test image (the 8-bit trained state codes it).
fn golden_image8() -> medzip_codec::Image {
    golden_image8_sized(31, 17)
}

/// A 12-bit signed test pattern of odd size: ramps, bars, a few steps, in
/// steps of 16 (as such images often are: the value map then keeps ramps
/// linear).
fn golden_image12_synthetic() -> medzip_codec::Image {
    let (w, h) = (131u32, 77u32);
    let data = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as i32, (i / w) as i32);
            if y < 30 {
                x * 16 - 1904
            } else if y < 50 {
                [-2048, 2032, 0, 704][(x / 33) as usize]
            } else {
                ((x + y) * 16) % 896 - 448
            }
        })
        .collect();
    medzip_codec::Image::new(w, h, 12, true, data).unwrap()
}

/// An image of `w × h` whose sample at `(x, y)` is `f(x, y, r)`, `r` the
/// next value (`>> 16`) of a linear congruential generator seeded `seed`,
/// drawn for every sample in row order.
fn noisy_image(
    (w, h): (u32, u32),
    (bits, signed): (u8, bool),
    seed: u32,
    f: impl Fn(i32, i32, u32) -> i32,
) -> medzip_codec::Image {
    let mut s = seed;
    let data = (0..w * h)
        .map(|i| {
            s = s.wrapping_mul(1103515245).wrapping_add(12345);
            f((i % w) as i32, (i / w) as i32, s >> 16)
        })
        .collect();
    medzip_codec::Image::new(w, h, bits, signed, data).unwrap()
}

/// An 8-bit image of flat 8×8 blocks with a little noise, as a decoded
/// JPEG looks: the fast coder chooses its JPEG-grid contexts for it.
fn golden_image8_blocky() -> medzip_codec::Image {
    noisy_image((203, 97), (8, false), 1, |x, y, r| {
        (x / 8 * 37 + y / 8 * 91) % 200 + (r % 5) as i32
    })
}

/// A 16-bit unsigned image of odd size as a mammogram looks: a flat black
/// background (left), a flat band of another value (top), a noisy ramp
/// elsewhere: the default level codes the flat neighbourhoods by one flag.
fn golden_image16_flat() -> medzip_codec::Image {
    noisy_image((97, 83), (16, false), 7, |x, y, r| {
        if x < 40 {
            0
        } else if y < 11 {
            41_000
        } else {
            x * 300 + y * 170 + (r % 97) as i32
        }
    })
}

/// A CT slice in miniature (16-bit signed): padding outside a disc, 300
/// values below the darkest inside it (0 to about 960, nearly every value
/// used): the intervals value map (format version 17).
fn golden_image16_padded() -> medzip_codec::Image {
    noisy_image((73, 61), (16, true), 11, |x, y, r| {
        let (dx, dy) = (2 * x - 73, 2 * y - 61);
        match dx * dx + dy * dy > 58 * 58 {
            true => -300,
            false => x * 9 + y * 4 + (r % 60) as i32,
        }
    })
}

/// A noisy curved surface posterised to 20 levels `step` apart from
/// `base` (of odd size): an image of few values, which the context-mixing
/// coder codes with its pattern contexts (format version 18).
fn golden_image_posterised(bits: u8, signed: bool, base: i32, step: i32) -> medzip_codec::Image {
    noisy_image((89, 67), (bits, signed), 13, |x, y, r| {
        base + ((x * x + 2 * y * y) / 40 + (r % 24) as i32) / 12 % 20 * step
    })
}

/// Text on black around a noisy field (of odd size), as on an ultrasound
/// image: four glyphs of 5 × 7 pixels in three levels with a fringe,
/// repeated along the rows; the default level codes it with its graphics
/// tools (format version 20).
fn golden_image_annotated(bits: u8, signed: bool) -> medzip_codec::Image {
    let (lo, hi) = medzip_codec::Image::range(bits, signed);
    let span = hi - lo;
    let (w, h) = (157, 103);
    noisy_image((w as u32, h as u32), (bits, signed), 17, |x, y, r| {
        let (gx, gy, letter) = (x % 8, y % 12, (x / 8 + y / 12 * 3) % 4);
        let ink = |gx: i32| gx < 5 && gy < 7 && (0x1F4A7 * (letter + 1) * (gy + 3)) >> gx & 1 == 1;
        lo + if (w / 4..3 * w / 4).contains(&x) && (h / 3..2 * h / 3).contains(&y) {
            span / 2 + (r as i32) % (span / 8 + 1)
        } else if ink(gx) {
            span - letter % 3 * (span / 16)
        } else if gx > 0 && ink(gx - 1) {
            span / 3
        } else {
            0
        }
    })
}

/// The 8-bit test pattern at another size.
fn golden_image8_sized(w: u32, h: u32) -> medzip_codec::Image {
    let data = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as i32, (i / w) as i32);
            (x * 5 + y * 3 + (x * y) % 7) % 256
        })
        .collect();
    medzip_codec::Image::new(w, h, 8, false, data).unwrap()
}

/// The context-mixing coder alone (`-e 3` before 2026-12-03, when it
/// began to try the default level's coder too).
fn cm_only() -> medzip_codec::Options {
    medzip_codec::Options {
        residual: medzip_codec::Residual::Context,
        ..Default::default()
    }
}

/// One golden file per codec mode: each residual coder, and the context
/// coder with each shipped trained state (8-bit and 16-bit) and with none,
/// with and without the context network. The files made before the network
/// existed (`golden_8u_context*.mdz` without `_net`) must keep decoding.
#[test]
fn golden_files_decode_and_encoding_is_unchanged() {
    use medzip_codec::{Options, Residual};
    let dir = repo().join("tests/golden");
    let table = std::fs::read_to_string(dir.join("HASHES")).unwrap();
    let cases = [
        (
            "golden_12s_context.mdz",
            golden_image(),
            Options {
                net: false,
                ..Default::default()
            },
        ),
        // (The strongest level codes it so too: the context-mixing coder's
        // file is the smaller.)
        (
            "golden_12s_context_wnet.mdz",
            golden_image(),
            Options::effort(3),
        ),
        (
            "golden_12s_huffman.mdz",
            golden_image(),
            Options {
                residual: Residual::Huffman,
                ..Default::default()
            },
        ),
        (
            "golden_12s_png.mdz",
            golden_image(),
            Options {
                residual: Residual::Png,
                ..Default::default()
            },
        ),
        // The fast coder (effort 1), its distributions adapting quickly.
        (
            "golden_12s_fast_quick.mdz",
            golden_image(),
            Options::effort(1),
        ),
        (
            "golden_8u_fast_quick_large.mdz",
            golden_image8_sized(601, 437),
            Options::effort(1),
        ),
        (
            "golden_8u_fast_quick_grid.mdz",
            golden_image8_blocky(),
            Options::effort(1),
        ),
        // Synthetic content: the fast coder's exact gradient with its
        // memory of repeated neighbourhoods (since 2026-12-02), at effort 1
        // and (chosen by the default level's trial) at the default level.
        (
            "golden_12s_fast_memory.mdz",
            golden_image12_synthetic(),
            Options::effort(1),
        ),
        (
            "golden_12s_default_memory.mdz",
            golden_image12_synthetic(),
            Options::effort(3),
        ),
        (
            "golden_8u_context.mdz",
            golden_image8(),
            Options {
                net: false,
                ..Default::default()
            },
        ),
        (
            "golden_8u_context_untrained.mdz",
            golden_image8(),
            Options {
                trained: false,
                net: false,
                ..Default::default()
            },
        ),
        // Larger than `SMALL_PIXELS`: the network for native images only.
        (
            "golden_8u_context_wnet_large.mdz",
            golden_image8_sized(601, 437),
            cm_only(),
        ),
        // Small: also tried with the pair for downscaled images, whose
        // code of this image (the trial band is all of it) is smaller.
        ("golden_8u_context_snet.mdz", golden_image8(), cm_only()),
        (
            "golden_8u_context_wnet_untrained.mdz",
            golden_image8(),
            Options {
                trained: false,
                ..cm_only()
            },
        ),
        // The default level: the context coder's model and network, one
        // token per pixel of the network's distribution mixed with an
        // adaptive one, the network's weight chosen per energy bucket by
        // fine code lengths (format version 12, 15 in the compact layout);
        // since 2026-12-03 (version 16) a pixel of a flat neighbourhood
        // first coded by one flag, where the image has such pixels: 12-bit
        // signed (the 16-bit network), 8-bit large (since 2026-12-03 the
        // smaller network) and small (also tried with the pair for
        // downscaled images), none with flat neighbourhoods; 16-bit with
        // flat regions; since 2026-12-03 (version 17) the network's
        // distribution calibrated online; since 2026-12-04 (version 19)
        // its scale also per intensity, and the 16-bit network trained
        // also on mirrored images (`ctx16m`).
        ("golden_12s_cal.mdz", golden_image(), Options::default()),
        (
            "golden_8u_cal_large.mdz",
            golden_image8_sized(601, 437),
            Options::default(),
        ),
        (
            "golden_8u_cal_small.mdz",
            golden_image8(),
            Options::default(),
        ),
        (
            "golden_16u_flat_regions_cal.mdz",
            golden_image16_flat(),
            Options::default(),
        ),
        // A CT's padding far below its values: the intervals value map
        // (since 2026-12-03, format version 17), at the default level and
        // with the fast coder.
        (
            "golden_16s_padded.mdz",
            golden_image16_padded(),
            Options::default(),
        ),
        (
            "golden_16s_padded_fast.mdz",
            golden_image16_padded(),
            Options::effort(1),
        ),
        // Images of few values: the context-mixing coder's pattern
        // contexts (since 2026-12-03, format version 18), with its network
        // (16-bit signed) and without (8-bit).
        (
            "golden_8u_patterns_nonet.mdz",
            golden_image_posterised(8, false, 0, 13),
            Options {
                net: false,
                ..cm_only()
            },
        ),
        (
            "golden_16s_patterns.mdz",
            golden_image_posterised(16, true, -15_000, 1_500),
            cm_only(),
        ),
        // Text and graphics: the default level's graphics tools (since
        // 2026-12-04, format version 20).
        (
            "golden_8u_graphics.mdz",
            golden_image_annotated(8, false),
            Options::default(),
        ),
        (
            "golden_16s_graphics.mdz",
            golden_image_annotated(16, true),
            Options::default(),
        ),
    ];
    for (name, img, opts) in cases {
        check_golden(&dir, &table, name, &img, &opts, None);
    }
    // The text and graphics pin the graphics tools (format version 20).
    for name in ["golden_8u_graphics.mdz", "golden_16s_graphics.mdz"] {
        let c = medzip_codec::inspect(&std::fs::read(dir.join(name)).unwrap(), &Default::default())
            .unwrap();
        assert!(medzip_codec::graphics_tools_of(&c), "{name}");
        assert_eq!(c.version(), 20, "{name}");
    }
    // The default level of 2026-12-01 (format version 9: the network's
    // weight fixed at ¾), of 2026-12-02 before the fine code lengths
    // (version 11), of a large 8-bit image before the smaller network
    // (12), and before the calibration (12, 15 and 16): their files still
    // decode.
    for (name, img) in [
        ("golden_12s_fine.mdz", golden_image()),
        ("golden_8u_fnet_large.mdz", golden_image8_sized(601, 437)),
        ("golden_8u_fine_small.mdz", golden_image8()),
        ("golden_16u_flat_regions.mdz", golden_image16_flat()),
        ("golden_8u_fine_large.mdz", golden_image8_sized(601, 437)),
        ("golden_12s_logistic.mdz", golden_image()),
        (
            "golden_8u_logistic_large.mdz",
            golden_image8_sized(601, 437),
        ),
        ("golden_8u_logistic_small.mdz", golden_image8()),
        ("golden_12s_chosen.mdz", golden_image()),
        ("golden_8u_chosen_large.mdz", golden_image8_sized(601, 437)),
        ("golden_8u_chosen_small.mdz", golden_image8()),
        // Before the calibration per intensity and the 16-bit pair
        // `ctx16m`/`cm16m` (2026-12-03, versions 17 and 18; the
        // context-mixing coder's with the pair `ctx16w`/`cm16w`).
        ("golden_12s_cal_v17.mdz", golden_image()),
        ("golden_8u_cal_large_v17.mdz", golden_image8_sized(601, 437)),
        ("golden_8u_cal_small_v17.mdz", golden_image8()),
        ("golden_16u_flat_regions_cal_v17.mdz", golden_image16_flat()),
        ("golden_16s_padded_v17.mdz", golden_image16_padded()),
        // Before the graphics tools (2026-12-04, version 19).
        ("golden_16s_padded_v19.mdz", golden_image16_padded()),
        ("golden_12s_context_wnet_ctx16w.mdz", golden_image()),
        (
            "golden_16s_patterns_ctx16w.mdz",
            golden_image_posterised(16, true, -15_000, 1_500),
        ),
        // The exact gradient without the memory (2026-11-30 to 2026-12-02).
        ("golden_12s_fast_exact.mdz", golden_image12_synthetic()),
        (
            "golden_12s_default_synthetic.mdz",
            golden_image12_synthetic(),
        ),
    ] {
        check_decodes(&dir.join(name), &table, name, &img);
    }
    // The strongest level (since 2026-12-03) keeps the default level's
    // file where it is the smaller, as for the 8-bit pattern (on
    // `golden_image`, the context-mixing coder's: `golden_12s_context_wnet`).
    let strongest = medzip_codec::compress(
        &golden_image8(),
        &medzip_codec::Metadata::raw(),
        &Options::effort(3),
    )
    .unwrap();
    assert!(strongest == std::fs::read(dir.join("golden_8u_cal_small.mdz")).unwrap());
    // The padded CT's value map is of intervals (kind 2): the fast
    // coder's file is version 17 for it alone (15 without it, in the
    // compact layout).
    let c = medzip_codec::inspect(
        &std::fs::read(dir.join("golden_16s_padded_fast.mdz")).unwrap(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!((c.version(), c.compact), (17, true));
    // The fast coder's configurations the golden files pin.
    for (name, grid, quick, exact, memory) in [
        ("golden_12s_fast.mdz", false, false, false, false),
        ("golden_12s_fast_quick.mdz", false, true, false, false),
        ("golden_8u_fast_quick_grid.mdz", true, true, false, false),
        ("golden_12s_fast_exact.mdz", false, true, true, false),
        ("golden_12s_default_synthetic.mdz", false, true, true, false),
        ("golden_12s_fast_memory.mdz", false, true, true, true),
        ("golden_12s_default_memory.mdz", false, true, true, true),
    ] {
        let c = medzip_codec::inspect(&std::fs::read(dir.join(name)).unwrap(), &Default::default())
            .unwrap();
        let cfg = medzip_codec::fast_config_of(&c).unwrap();
        assert_eq!(
            (cfg.grid, cfg.quick, cfg.exact, cfg.memory),
            (grid, quick, exact, memory),
            "{name}"
        );
    }
    // A downscaled chest X-ray (256 × 256): the encoder also tries the
    // network for downscaled images on it, and keeps it.
    let k256 = medzip_io::read(
        &std::fs::read(samples().join("kermany256_IM-0199-0001.png")).unwrap(),
        None,
    )
    .unwrap()
    .image;
    let name = "golden_8u_kermany256_snet.mdz";
    check_golden(&dir, &table, name, &k256, &cm_only(), None);
    let name = "golden_8u_kermany256_cal.mdz";
    check_golden(&dir, &table, name, &k256, &Options::default(), None);
    for name in [
        "golden_8u_kermany256_cal_v17.mdz",
        "golden_8u_kermany256_flat.mdz",
        "golden_8u_kermany256_logistic.mdz",
        "golden_8u_kermany256_chosen.mdz",
        "golden_8u_kermany256_fine.mdz",
    ] {
        check_decodes(&dir.join(name), &table, name, &k256);
    }
    for (name, version) in [
        ("golden_12s_logistic.mdz", 9),
        ("golden_8u_logistic_large.mdz", 9),
        ("golden_8u_kermany256_logistic.mdz", 9),
        ("golden_12s_chosen.mdz", 11),
        ("golden_8u_chosen_large.mdz", 11),
        ("golden_8u_kermany256_chosen.mdz", 11),
        ("golden_12s_fine.mdz", 15),
        ("golden_8u_fine_large.mdz", 12),
        ("golden_8u_kermany256_fine.mdz", 15),
        ("golden_12s_fine_v14.mdz", 12),
        ("golden_8u_kermany256_fine_v14.mdz", 12),
        ("golden_8u_fnet_large.mdz", 12),
        ("golden_8u_kermany256_flat.mdz", 16),
        ("golden_16u_flat_regions.mdz", 16),
        ("golden_12s_cal_v17.mdz", 17),
        ("golden_8u_cal_large_v17.mdz", 17),
        ("golden_8u_cal_small_v17.mdz", 17),
        ("golden_16u_flat_regions_cal_v17.mdz", 17),
        ("golden_8u_kermany256_cal_v17.mdz", 17),
        ("golden_16s_padded_v17.mdz", 17),
        ("golden_12s_cal.mdz", 19),
        ("golden_8u_cal_large.mdz", 19),
        ("golden_8u_cal_small.mdz", 19),
        ("golden_16u_flat_regions_cal.mdz", 19),
        ("golden_8u_kermany256_cal.mdz", 19),
        ("golden_16s_padded_v19.mdz", 19),
        ("golden_16s_padded.mdz", 20),
    ] {
        let c = medzip_codec::inspect(&std::fs::read(dir.join(name)).unwrap(), &Default::default())
            .unwrap();
        assert_eq!(
            medzip_codec::residual_of(&c),
            Some(Residual::Logistic),
            "{name}"
        );
        assert_eq!(c.version(), version, "{name}");
    }
    // An image that was once a JPEG (`tests/fixtures/jpeg/decoded_q75.png`,
    // decoded by libjpeg-turbo): coded as the recovered JPEG's coefficients
    // (format version 8; 15 in the compact layout of a small image), the
    // same file at every level.
    let src = repo().join("tests/fixtures/jpeg/decoded_q75.png");
    let jpeg_img = medzip_io::read(&std::fs::read(&src).unwrap(), None)
        .unwrap()
        .image;
    let name = "golden_8u_jpeg.mdz";
    check_golden(&dir, &table, name, &jpeg_img, &Options::default(), None);
    let golden = std::fs::read(dir.join(name)).unwrap();
    let c = medzip_codec::inspect(&golden, &Default::default()).unwrap();
    assert_eq!(medzip_codec::residual_of(&c), Some(Residual::Jpeg));
    assert_eq!(c.version(), 15);
    let long = std::fs::read(dir.join("golden_8u_jpeg_v14.mdz")).unwrap();
    let l = medzip_codec::inspect(&long, &Default::default()).unwrap();
    assert_eq!(medzip_codec::residual_of(&l), Some(Residual::Jpeg));
    assert_eq!(l.version(), 8);
    let (_, info, _) = run(&["info", "--json", s(&dir.join(name))]);
    assert!(info.contains("\"idct\":\"libjpeg islow\""), "{info}");
    assert!(info.contains("\"quality_estimate\":75"), "{info}");
    for e in [1, 2, 3] {
        let raw = medzip_codec::Metadata::raw();
        let f = medzip_codec::compress(&jpeg_img, &raw, &Options::effort(e)).unwrap();
        assert!(f == golden, "-e {e}");
    }
    // Which pair each default-coded 8-bit golden file names, and the
    // 16-bit context-mixing ones (`ctx16m` since 2026-12-04, `ctx16w`
    // before).
    let models = medzip_codec::Models::embedded();
    for (name, pair) in [
        ("golden_16s_patterns.mdz", ["cm16m", "ctx16m"]),
        ("golden_16s_patterns_ctx16w.mdz", ["cm16w", "ctx16w"]),
        ("golden_12s_context_wnet.mdz", ["cm16m", "ctx16m"]),
        ("golden_12s_context_wnet_ctx16w.mdz", ["cm16w", "ctx16w"]),
        ("golden_8u_kermany256_snet.mdz", ["cm8s", "ctx8s"]),
        ("golden_8u_context_snet.mdz", ["cm8s", "ctx8s"]),
        ("golden_8u_context_wnet_large.mdz", ["cm8w", "ctx8w"]),
        ("golden_8u_fnet_large.mdz", ["cm8f", "ctx8f"]),
        ("golden_8u_fine_small.mdz", ["cm8w", "ctx8w"]),
        ("golden_8u_cal_large.mdz", ["cm8f", "ctx8f"]),
        ("golden_8u_cal_large_v17.mdz", ["cm8f", "ctx8f"]),
        // (The trial of the pair for downscaled images chose it before the
        // calibration per intensity, not since.)
        ("golden_8u_cal_small.mdz", ["cm8w", "ctx8w"]),
        ("golden_8u_cal_small_v17.mdz", ["cm8s", "ctx8s"]),
    ] {
        let c = medzip_codec::inspect(&std::fs::read(dir.join(name)).unwrap(), &Default::default())
            .unwrap();
        let names: Vec<&str> = medzip_codec::model_entries(&c.header.model_id)
            .unwrap()
            .into_iter()
            .map(|(kind, id)| match kind {
                b'C' => models.state_name(id).unwrap(),
                _ => models.net_by_id(id).unwrap().name,
            })
            .collect();
        assert_eq!(names, pair, "{name}");
    }
    // Made with the first context networks (32 inputs) and their states,
    // which the encoder no longer uses, and with the 8-bit network for
    // native images on a small image, for which the encoder now prefers
    // the one for downscaled images; and with the fast coder's first
    // (classic) adaptation: such files keep decoding.
    for (name, img) in [
        ("golden_12s_fast.mdz", golden_image()),
        ("golden_8u_fast_large.mdz", golden_image8_sized(601, 437)),
        ("golden_8u_context_wnet.mdz", golden_image8()),
        ("golden_12s_context_net.mdz", golden_image()),
        ("golden_8u_context_net.mdz", golden_image8()),
        ("golden_8u_context_net_untrained.mdz", golden_image8()),
    ] {
        check_decodes(&dir.join(name), &table, name, &img);
    }
}

/// Images of at most 2^16 pixels without a file hash are written in
/// the compact layout (format version 15, since 2026-12-03); each golden
/// file that changed with it is kept as it was (`…_v14.mdz`, the long
/// layout), and decodes to the same pixels (`golden.rs` of the codec
/// checks every golden file's pixels).
#[test]
fn golden_files_of_the_long_layout_decode_as_their_compact_twins() {
    let dir = repo().join("tests/golden");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix("_v14.mdz") else {
            continue;
        };
        let long = std::fs::read(dir.join(&name)).unwrap();
        let compact = std::fs::read(dir.join(format!("{stem}.mdz"))).unwrap();
        let parse = |b: &[u8]| medzip_codec::inspect(b, &Default::default()).unwrap();
        let (l, c) = (parse(&long), parse(&compact));
        assert!(!l.compact && l.version() <= 14, "{name}");
        assert!(c.compact && c.version() == 15, "{stem}");
        assert!(
            compact.len() + 60 < long.len(),
            "{stem}: {} bytes",
            compact.len()
        );
        assert_eq!(c.header.desc, l.header.desc, "{stem}");
        assert_eq!(c.pixel_hash(), &l.header.pixel_sha256[..8], "{stem}");
        // (An autoencoder the file names is the embedded one of its id.)
        let decode = |b: &[u8]| {
            medzip_codec::decompress(b, &Default::default(), None)
                .unwrap()
                .0
        };
        assert_eq!(decode(&compact), decode(&long), "{stem}");
        n += 1;
    }
    assert!(n >= 19, "{n} files of the long layout");
}

/// One golden file per embedded autoencoder (and a residual coder each):
/// the shipped weights still load and decode what they encoded.
#[test]
fn golden_files_with_autoencoder_priors() {
    use medzip_codec::{Options, Residual};
    let dir = repo().join("tests/golden");
    let table = std::fs::read_to_string(dir.join("HASHES")).unwrap();
    let cases = [
        (
            "golden_8u_cnn1_context.mdz",
            golden_image8(),
            "cnn1",
            Residual::Context,
        ),
        (
            "golden_12s_cnn2_huffman.mdz",
            golden_image(),
            "cnn2",
            Residual::Huffman,
        ),
        (
            "golden_8u_two-stage_png.mdz",
            golden_image8(),
            "two-stage",
            Residual::Png,
        ),
    ];
    for (name, img, model, residual) in cases {
        let prior = medzip_codec::priors::by_name(model).expect("embedded model");
        // (Made before the context network existed.)
        let opts = Options {
            residual,
            net: false,
            ..Default::default()
        };
        check_golden(&dir, &table, name, &img, &opts, Some(prior));
    }
}

/// DICOM headers: a file from before the header dictionary (source layout
/// 1, format version 2: it has the context network) and one coded with it
/// (layout 2, version 3; and versions 17 and 19, whose pixels the
/// strongest level codes by the default level's coder since 2026-12-03)
/// all give the sample back byte for byte, and encoding the sample again
/// gives the last one (a format change must be deliberate).
#[test]
fn golden_dicom_files_decode_byte_for_byte() {
    let d = tmpdir("golden-dicom");
    let dir = repo().join("tests/golden");
    let src = samples().join("pt16s_suyashkumar_1.dcm");
    let fresh = d.join("fresh.mdz");
    let (code, _, err) = run(&["compress", "-e", "3", s(&src), "-o", s(&fresh)]);
    assert_eq!(code, 0, "{err}");
    let current = dir.join("golden_dicom_header_dict_cal.mdz");
    if std::env::var_os("MEDZIP_BLESS").is_some() {
        std::fs::copy(&fresh, &current).unwrap();
    }
    for (name, version) in [
        ("golden_dicom_header_plain.mdz", 2),
        ("golden_dicom_header_dict.mdz", 3),
        ("golden_dicom_header_dict_cal_v17.mdz", 17),
        ("golden_dicom_header_dict_cal.mdz", 19),
    ] {
        let mdz = dir.join(name);
        let back = d.join(format!("{name}.dcm"));
        let (code, _, err) = run(&["decompress", s(&mdz), "-o", s(&back)]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(
            sha(&back),
            sha(&src),
            "{name} must give the file back byte for byte"
        );
        let (_, info, _) = run(&["info", "--json", s(&mdz)]);
        assert!(
            info.contains(&format!("\"format_version\":{version}")),
            "{name}: {info}"
        );
        assert_eq!(
            info.contains("DICOM header dictionary"),
            version >= 3,
            "{name}: {info}"
        );
    }
    assert!(
        std::fs::read(&fresh).unwrap() == std::fs::read(&current).unwrap(),
        "the encoder output for {} changed: a format change must be deliberate (re-bless with MEDZIP_BLESS=1)",
        current.display()
    );
}

/// A file stored whole (format version 6: the JPEG-LS sample, which the
/// CLI has coded by its pixels since 2026-12-01) decodes to its bytes, and
/// storing it again gives the golden file.
#[test]
fn golden_stored_file_decodes_byte_for_byte() {
    let src = samples().join("mr12_jpegls_from_suyashkumar_3.dcm");
    let golden = repo().join("tests/golden/golden_stored_jpegls.mdz");
    let info = check_golden_decodes(&src, &golden, 6);
    assert!(info.contains("\"source\":\"file\""), "{info}");
    let stored = medzip_io::stored::store(&std::fs::read(&src).unwrap()).unwrap();
    let opts = medzip_codec::Options::effort(2);
    let mdz = medzip_codec::compress(&stored.image, &stored.meta, &opts).unwrap();
    assert!(
        mdz == std::fs::read(&golden).unwrap(),
        "storing a file changed"
    );
}

/// Multi-frame and colour DICOM (format version 7; pydicom's test files in
/// `tests/fixtures/dicom/`): a 10-frame MR, an RGB image of planar
/// configuration 1 in explicit VR big endian (coded after the subtract-green
/// transform), a YBR_FULL_422 image. Each golden file decodes to its file
/// byte for byte, and coding the file again gives the golden file.
#[test]
fn golden_frames_and_colour_decode_byte_for_byte() {
    let fixtures = repo().join("tests/fixtures/dicom");
    // (The grey 10-frame MR: at `-e 3` the default level's coder codes it
    // smaller, the file of the default level's test below.)
    for (src, golden, version, planes, transform) in [
        (
            "emri_small.dcm",
            "golden_dicom_10frames_cal.mdz",
            19,
            1,
            None,
        ),
        (
            "ExplVR_BigEnd.dcm",
            "golden_dicom_rgb_planar.mdz",
            20,
            3,
            Some("SubtractGreen"),
        ),
        (
            "SC_ybr_full_422_uncompressed.dcm",
            "golden_dicom_ybr422.mdz",
            7,
            2,
            Some("None"),
        ),
    ] {
        let info = check_golden_file(&fixtures.join(src), golden, version, 3);
        assert!(
            info.contains(&format!("\"planes\":{planes}")),
            "{golden}: {info}"
        );
        let t = transform.map_or("null".to_string(), |t| format!("\"{t}\""));
        assert!(
            info.contains(&format!("\"plane_transform\":{t}")),
            "{golden}: {info}"
        );
    }
    // The two colour images as the context coder coded their planes
    // (before 2026-12-02, when the fast coder's whole-image trial found
    // its file smaller), and the 10-frame MR (before 2026-12-03, when the
    // strongest level began to try the default level's coder): still
    // decoded byte for byte.
    for (src, golden) in [
        ("emri_small.dcm", "golden_dicom_10frames.mdz"),
        ("ExplVR_BigEnd.dcm", "golden_dicom_rgb_planar_context.mdz"),
        (
            "SC_ybr_full_422_uncompressed.dcm",
            "golden_dicom_ybr422_context.mdz",
        ),
    ] {
        let golden = repo().join("tests/golden").join(golden);
        let info = check_golden_decodes(&fixtures.join(src), &golden, 7);
        assert!(info.contains("\"residual\":\"context\""), "{info}");
    }
    // The RGB image as the fast coder coded it (before 2026-12-04, when
    // the default level's graphics tools coded it smaller).
    check_earlier_goldens(
        &fixtures.join("ExplVR_BigEnd.dcm"),
        &[("golden_dicom_rgb_planar_fast.mdz", 7)],
        "\"residual\":\"fast",
    );
}

/// JPEG Lossless (pydicom's `SC_rgb_jpeg_gdcm.dcm`, 100×100 RGB, in
/// `tests/fixtures/dicom/`): the golden file of format version 10 (its
/// samples coded, the stream rebuilt from them) decodes byte for byte.
/// Compressed today the file is stored whole instead: the floor finds its
/// bytes smaller than its pixels coded.
#[test]
fn golden_jpeg_lossless_dicom_decodes_byte_for_byte() {
    let d = tmpdir("golden-jpeg-lossless");
    let src = repo().join("tests/fixtures/dicom/SC_rgb_jpeg_gdcm.dcm");
    let golden = repo().join("tests/golden/golden_dicom_jpeg_lossless_rgb.mdz");
    let info = check_golden_decodes(&src, &golden, 10);
    assert!(info.contains("\"planes\":3"), "{info}");
    assert!(info.contains("JPEG Lossless"), "{info}");
    let fresh = d.join("fresh.mdz");
    let (code, out, err) = run(&["compress", s(&src), "-o", s(&fresh)]);
    assert_eq!(code, 0, "{err}");
    let said = format!("{out}{err}");
    assert!(
        said.contains("stored whole") && said.contains("its pixels coded were larger"),
        "{said}"
    );
    assert!(std::fs::metadata(&fresh).unwrap().len() < std::fs::metadata(&golden).unwrap().len());
}

/// RLE (pydicom's `MR_small_RLE.dcm` with its frame over three fragments:
/// `tests/fixtures/dicom/rle_fragments.dcm`): the samples coded by medzip,
/// the segments and fragments rebuilt from them, the file back byte for
/// byte.
#[test]
fn golden_rle_dicom_decodes_byte_for_byte() {
    let src = repo().join("tests/fixtures/dicom/rle_fragments.dcm");
    let info = check_golden_file(&src, "golden_dicom_rle_fragments_cal.mdz", 19, 2);
    assert!(info.contains("\"signed\":true"), "{info}");
    assert!(info.contains("encapsulated RLE"), "{info}");
    // As the default level of 2026-12-01 made it (format version 10), of
    // 2026-12-02 before the fine code lengths (11), before the
    // calibration (12), and before the calibration per intensity (17).
    check_earlier_goldens(
        &src,
        &[
            ("golden_dicom_rle_fragments_logistic.mdz", 10),
            ("golden_dicom_rle_fragments_chosen.mdz", 11),
            ("golden_dicom_rle_fragments.mdz", 12),
            ("golden_dicom_rle_fragments_cal_v17.mdz", 17),
        ],
        "encapsulated RLE",
    );
}

/// JPEG 2000 lossless as OpenJPEG writes it (pydicom's `MR_small.dcm` as
/// one codestream: `tests/fixtures/dicom/MR_small_j2k_openjpeg.dcm`; format
/// version 13, 19 with today's default coder): the samples coded by
/// medzip, the tile data rewritten from them by openjp2's encoder, the
/// file back byte for byte.
#[test]
fn golden_jpeg2000_dicom_decodes_byte_for_byte() {
    let src = repo().join("tests/fixtures/dicom/MR_small_j2k_openjpeg.dcm");
    let info = check_golden_file(&src, "golden_dicom_jpeg2000_cal.mdz", 19, 2);
    assert!(info.contains("\"signed\":true"), "{info}");
    assert!(info.contains("encapsulated JPEG 2000"), "{info}");
    check_earlier_goldens(
        &src,
        &[
            ("golden_dicom_jpeg2000.mdz", 13),
            ("golden_dicom_jpeg2000_cal_v17.mdz", 17),
        ],
        "encapsulated JPEG 2000",
    );
}

/// Signed samples whose words keep their unused high bits zero
/// (`tests/fixtures/dicom/signed_zero_high.dcm`; format version 14, 19
/// with today's default coder): that
/// word form is the canonical one, so the file's source block holds no
/// fix-up per negative sample; the file back byte for byte.
#[test]
fn golden_signed_zero_high_dicom_decodes_byte_for_byte() {
    let src = repo().join("tests/fixtures/dicom/signed_zero_high.dcm");
    check_earlier_goldens(
        &src,
        &[
            ("golden_dicom_signed_zero_high.mdz", 14),
            ("golden_dicom_signed_zero_high_cal_v17.mdz", 17),
        ],
        "\"bits_stored\":12",
    );
    let info = check_golden_file(&src, "golden_dicom_signed_zero_high_cal.mdz", 19, 2);
    assert!(info.contains("\"signed\":true"), "{info}");
    assert!(info.contains("\"bits_stored\":12"), "{info}");
    // 651 of its 4,096 samples are negative: coded as fix-ups (six bytes
    // each before coding), the source block was 2,495 bytes (commit
    // 35784f2, format version 12); 432 with the zero high bits canonical.
    let source = info.split("\"source_bytes\":").nth(1).unwrap();
    let source: usize = source[..source.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap();
    assert!(source < 1000, "source block of {source} bytes: {info}");
}

/// 1-bit samples (a segmentation: pydicom's `liver_1frame.dcm` in
/// `tests/fixtures/dicom/`; format version 8): coded by their pixels, the
/// file back byte for byte; at `-e 3` by the context-mixing coder until
/// 2026-12-03, by the default level's coder since (format version 17: its
/// file is the smaller; 19 since 2026-12-04, 20 with the graphics tools).
#[test]
fn golden_one_bit_dicom_decodes_byte_for_byte() {
    let src = repo().join("tests/fixtures/dicom/liver_1frame.dcm");
    let info = check_golden_file(&src, "golden_dicom_1bit_cal.mdz", 20, 3);
    assert!(info.contains("\"bits_stored\":1"), "{info}");
    assert!(info.contains("\"residual\":\"logistic\""), "{info}");
    assert!(info.contains("\"graphics_tools\":true"), "{info}");
    check_earlier_goldens(
        &src,
        &[("golden_dicom_1bit.mdz", 8)],
        "\"residual\":\"context\"",
    );
    check_earlier_goldens(
        &src,
        &[
            ("golden_dicom_1bit_cal_v17.mdz", 17),
            ("golden_dicom_1bit_cal_v19.mdz", 19),
        ],
        "\"residual\":\"logistic\"",
    );
}

/// The default level (format version 19; and 9, 11, 12 and 17, the levels
/// of 2026-12-01, -02 and -03 before the calibration and before the
/// calibration per intensity, whose files still decode) on an image of
/// several frames (the 10-frame MR fixture): its coder's id follows the
/// planes' transform byte.
#[test]
fn golden_default_level_multi_frame_dicom_decodes_byte_for_byte() {
    let src = repo().join("tests/fixtures/dicom/emri_small.dcm");
    let info = check_golden_file(&src, "golden_dicom_10frames_cal.mdz", 19, 2);
    assert!(info.contains("\"residual\":\"logistic\""), "{info}");
    check_earlier_goldens(
        &src,
        &[
            ("golden_dicom_10frames_logistic.mdz", 9),
            ("golden_dicom_10frames_chosen.mdz", 11),
            ("golden_dicom_10frames_fine.mdz", 12),
            ("golden_dicom_10frames_cal_v17.mdz", 17),
        ],
        "\"residual\":\"logistic\"",
    );
}

/// Frames written one file each: `--frames 2-3 --to png` of the 10-frame
/// MR gives the second and third frames, the same as pydicom's order
/// (frame after frame in the pixel data); `--to png` of an RGB image, an
/// RGB PNG; frames it does not have, and frames without `--to`, are
/// refused.
#[test]
fn frames_are_written_one_file_each() {
    let d = tmpdir("frames");
    let fixtures = repo().join("tests/fixtures/dicom");
    let src = fixtures.join("emri_small.dcm");
    let mdz = d.join("mr.mdz");
    assert_eq!(run(&["compress", s(&src), "-o", s(&mdz)]).0, 0);
    let out = d.join("mr.png");
    let (code, _, err) = run(&[
        "decompress",
        s(&mdz),
        "--frames",
        "2-3",
        "--to",
        "png",
        "-o",
        s(&out),
    ]);
    assert_eq!(code, 0, "{err}");
    let whole = medzip_io::read(&std::fs::read(&src).unwrap(), None)
        .unwrap()
        .image;
    let frame = 64 * 64;
    for (n, name) in [(2, "mr.f0002.png"), (3, "mr.f0003.png")] {
        let f = medzip_io::read(&std::fs::read(d.join(name)).unwrap(), None)
            .unwrap()
            .image;
        assert_eq!((f.width, f.height), (64, 64), "{name}");
        assert_eq!(f.data, whole.data[(n - 1) * frame..n * frame], "{name}");
    }
    assert!(!d.join("mr.f0001.png").exists() && !d.join("mr.f0004.png").exists());
    let (code, _, err) = run(&[
        "decompress",
        s(&mdz),
        "--frames",
        "10-11",
        "--to",
        "png",
        "-o",
        s(&out),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("10 frame(s)"), "{err}");
    let (code, _, err) = run(&["decompress", s(&mdz), "--frames", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("--to"), "{err}");
    // An RGB image as an RGB PNG: each sample where the planes put it.
    let rgb = fixtures.join("SC_rgb_small_odd.dcm");
    let mdz = d.join("rgb.mdz");
    assert_eq!(run(&["compress", s(&rgb), "-o", s(&mdz)]).0, 0);
    let png = d.join("rgb.png");
    assert_eq!(
        run(&["decompress", s(&mdz), "--to", "png", "-o", s(&png)]).0,
        0
    );
    let planes = medzip_io::read(&std::fs::read(&rgb).unwrap(), None)
        .unwrap()
        .image;
    let mut dec = png::Decoder::new(std::io::Cursor::new(std::fs::read(&png).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; dec.output_buffer_size().unwrap()];
    let info = dec.next_frame(&mut buf).unwrap();
    assert_eq!(
        (info.width, info.height, info.color_type),
        (3, 3, png::ColorType::Rgb)
    );
    for (i, &b) in buf[..27].iter().enumerate() {
        assert_eq!(b as i32, planes.data[(i % 3) * 9 + i / 3], "sample {i}");
    }
}

/// Codes `src` with the CLI at effort `effort`, compares with (or, under
/// `MEDZIP_BLESS=1`, writes) the golden file `name`, decodes the golden
/// file to `src` byte for byte and checks its format version; returns
/// `info --json` of it.
fn check_golden_file(src: &Path, name: &str, version: u16, effort: u8) -> String {
    let d = tmpdir(&format!("golden-{name}"));
    let golden = repo().join("tests/golden").join(name);
    let fresh = d.join("fresh.mdz");
    let e = effort.to_string();
    assert_eq!(
        run(&["compress", "-e", &e, s(src), "-o", s(&fresh)]).0,
        0,
        "{name}"
    );
    if std::env::var_os("MEDZIP_BLESS").is_some() {
        std::fs::copy(&fresh, &golden).unwrap();
    }
    let info = check_golden_decodes(src, &golden, version);
    assert!(
        std::fs::read(&fresh).unwrap() == std::fs::read(&golden).unwrap(),
        "coding {} changed: a format change must be deliberate (re-bless with MEDZIP_BLESS=1)",
        src.display()
    );
    info
}

/// Golden files that earlier encoders made of `src` (name in
/// `tests/golden`, format version): each decodes to `src` byte for byte,
/// and its `info --json` contains `says`.
fn check_earlier_goldens(src: &Path, files: &[(&str, u16)], says: &str) {
    for &(name, version) in files {
        let golden = repo().join("tests/golden").join(name);
        let info = check_golden_decodes(src, &golden, version);
        assert!(info.contains(says), "{name}: {info}");
    }
}

/// Decodes the golden file `golden` with the CLI to `src` byte for byte and
/// checks its format version; returns `info --json` of it.
fn check_golden_decodes(src: &Path, golden: &Path, version: u16) -> String {
    let name = golden.display();
    let d = tmpdir(&format!(
        "golden-decodes-{}",
        golden.file_name().unwrap().to_string_lossy()
    ));
    let back = d.join("back.dcm");
    assert_eq!(
        run(&["decompress", s(golden), "-o", s(&back)]).0,
        0,
        "{name}"
    );
    assert_eq!(sha(&back), sha(src), "{name}");
    let (_, info, _) = run(&["info", "--json", s(golden)]);
    assert!(
        info.contains(&format!("\"format_version\":{version}")),
        "{name}: {info}"
    );
    info
}

/// Encodes `img`, compares with (or, under `MEDZIP_BLESS=1`, writes) the
/// golden file, decodes the golden file and checks the committed hash.
fn check_golden(
    dir: &Path,
    table: &str,
    name: &str,
    img: &medzip_codec::Image,
    opts: &medzip_codec::Options,
    prior: Option<&dyn medzip_codec::Prior>,
) {
    let path = dir.join(name);
    let fresh = medzip_codec::compress_with_prior(img, &medzip_codec::Metadata::raw(), opts, prior)
        .unwrap();
    let blessing = std::env::var_os("MEDZIP_BLESS").is_some();
    if blessing {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&path, &fresh).unwrap();
    }
    let golden = check_decodes(&path, if blessing { "" } else { table }, name, img);
    assert!(
        fresh == golden,
        "the encoder output for {} changed: a format change must be deliberate (bump the version, re-bless with MEDZIP_BLESS=1)",
        path.display()
    );
}

/// Decodes the golden file at `path` to `img` and checks its entry in the
/// committed hash table (what a decoder on another machine checks; an
/// empty table while blessing); returns the file.
fn check_decodes(path: &Path, table: &str, name: &str, img: &medzip_codec::Image) -> Vec<u8> {
    let golden = std::fs::read(path).unwrap_or_else(|_| panic!("missing {}", path.display()));
    let (back, _) = medzip_codec::decompress(&golden, &Default::default(), None).unwrap();
    assert_eq!(&back, img, "{name}");
    let want = format!("{name} {}", medzip_format::hex(&back.hash()));
    assert!(
        table.is_empty() || table.contains(&want),
        "tests/golden/HASHES lacks `{want}`"
    );
    golden
}

#[test]
fn exit_codes_overwrite_and_no_partial_outputs() {
    let d = tmpdir("errors");
    let src = samples().join("kermany256_IM-0199-0001.png");
    let mdz = d.join("a.mdz");
    assert_eq!(run(&["compress", s(&src), "-o", s(&mdz)]).0, 0);
    // Outputs get the permissions of any new file (the umask decides), not
    // the owner-only mode of the temporary file they were written as.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let plain = d.join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&mdz), mode(&plain));
    }
    // Refuses to overwrite without --force.
    let before = std::fs::read(&mdz).unwrap();
    let (code, _, err) = run(&["compress", s(&src), "-o", s(&mdz)]);
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&mdz).unwrap(), before);
    assert_eq!(run(&["compress", "--force", s(&src), "-o", s(&mdz)]).0, 0);
    // A file bigger than --max-pixels is refused before decoding.
    let (code, _, err) = run(&[
        "decompress",
        "--max-pixels",
        "1000",
        s(&mdz),
        "-o",
        s(&d.join("big.png")),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("limit"), "{err}");
    assert!(!d.join("big.png").exists());
    // Usage errors exit 2.
    assert_eq!(run(&["compress"]).0, 2);
    assert_eq!(run(&["frobnicate"]).0, 2);
    // Corrupt and truncated inputs: exit 1, clear message, no output file.
    let mut bad = before.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    let badp = d.join("bad.mdz");
    std::fs::write(&badp, &bad).unwrap();
    let out = d.join("bad.png");
    let (code, _, err) = run(&["decompress", s(&badp), "-o", s(&out)]);
    assert_eq!(code, 1);
    assert!(err.contains("CRC") || err.contains("corrupt"), "{err}");
    assert!(!out.exists());
    std::fs::write(&badp, &before[..before.len() - 7]).unwrap();
    let (code, _, err) = run(&["decompress", s(&badp), "-o", s(&out)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("truncated") || err.contains("corrupt"),
        "{err}"
    );
    assert!(!out.exists());
    // An input that cannot be read fails alone; the good input in the same
    // run still succeeds.
    let missing = d.join("missing.png");
    let od = d.join("many");
    let (code, _, err) = run(&["compress", s(&missing), s(&src), "--out-dir", s(&od)]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.png"), "{err}");
    assert!(od.join("kermany256_IM-0199-0001.png.mdz").exists());
    assert!(!od.join("missing.png.mdz").exists());
    // No temporary files are left behind.
    for e in std::fs::read_dir(&od).unwrap() {
        let name = e.unwrap().file_name();
        assert!(
            !name.to_string_lossy().ends_with(".tmp"),
            "{name:?} left behind"
        );
    }
}

/// Whatever a file is — not an image, empty, a damaged PNG, a DICOM file
/// without pixels — compress accepts it and decompress gives back its bytes.
#[test]
fn every_file_is_accepted_and_comes_back_byte_for_byte() {
    let d = tmpdir("whole");
    let png = std::fs::read(samples().join("kermany256_IM-0199-0001.png")).unwrap();
    let dcm = std::fs::read(samples().join("mr12_suyashkumar_3.dcm")).unwrap();
    // A DICOM file whose pixel data element is renamed: no pixel data.
    let mut no_pixels = dcm.clone();
    let tag = [0xe0, 0x7f, 0x10, 0x00];
    let at = no_pixels.windows(4).rposition(|w| w == tag).unwrap();
    no_pixels[at + 2] = 0x11;
    let report: Vec<u8> = (0..3000u32)
        .flat_map(|i| format!("finding {i}: no change\n").into_bytes())
        .collect();
    let files: [(&str, Vec<u8>); 6] = [
        ("empty.dcm", Vec::new()),
        ("junk.png", b"not an image".to_vec()),
        ("truncated.png", png[..png.len() / 2].to_vec()),
        ("no_pixels.dcm", no_pixels),
        ("truncated.dcm", dcm[..dcm.len() - 100].to_vec()),
        ("report.txt", report),
    ];
    for (name, bytes) in &files {
        let src = d.join(name);
        std::fs::write(&src, bytes).unwrap();
        let mdz = d.join(format!("{name}.mdz"));
        let (code, _, err) = run(&["compress", "--verify", s(&src), "-o", s(&mdz)]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(err.contains("stored whole"), "{name}: {err}");
        let back = d.join(format!("back_{name}"));
        assert_eq!(run(&["decompress", s(&mdz), "-o", s(&back)]).0, 0, "{name}");
        assert_eq!(&std::fs::read(&back).unwrap(), bytes, "{name}");
        assert_eq!(run(&["verify", s(&mdz), s(&src)]).0, 0, "{name}");
        let (code, info, _) = run(&["info", s(&mdz)]);
        assert_eq!(code, 0);
        assert!(info.contains("stored whole"), "{info}");
        // Not an image: no pixels to write as one.
        let (code, _, err) = run(&[
            "decompress",
            s(&mdz),
            "--to",
            "png",
            "-o",
            s(&d.join("x.png")),
        ]);
        assert_eq!(code, 1);
        assert!(err.contains("no pixels"), "{err}");
    }
    // The text compresses; verify tells another file from the original.
    let mdz = d.join("report.txt.mdz");
    assert!(std::fs::metadata(&mdz).unwrap().len() < 3000 * 10);
    let (code, _, err) = run(&["verify", s(&mdz), s(&d.join("junk.png"))]);
    assert_eq!(code, 1, "{err}");
    // A damaged stored file is an error, not other bytes.
    let mut bad = std::fs::read(&mdz).unwrap();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let badp = d.join("bad.mdz");
    std::fs::write(&badp, &bad).unwrap();
    let (code, _, err) = run(&["decompress", s(&badp), "-o", s(&d.join("bad.txt"))]);
    assert_eq!(code, 1);
    assert!(err.contains("CRC"), "{err}");
    assert!(!d.join("bad.txt").exists());
}

#[test]
fn info_json_and_pgm_tiff_inputs() {
    let d = tmpdir("formats");
    let img = golden_image();
    // 16-bit unsigned PGM and signed TIFF written by the io layer, compressed by the CLI.
    let unsigned: Vec<i32> = img.data.iter().map(|v| v + 2048).collect();
    let pgm_img = medzip_codec::Image::new(img.width, img.height, 12, false, unsigned).unwrap();
    let mut pgm_meta = medzip_codec::Metadata::raw();
    pgm_meta.source = medzip_codec::SourceKind::Pgm;
    pgm_meta.source_data = vec![5, 0xff, 0x0f];
    let mut tif_meta = medzip_codec::Metadata::raw();
    tif_meta.source = medzip_codec::SourceKind::Tiff;
    let img16 =
        medzip_codec::Image::new(img.width, img.height, 16, true, img.data.clone()).unwrap();
    // (The PGM in the compact layout of small images, the TIFF, kept byte
    // for byte with its file hash, in the long one; both format version
    // 19, the default level's coder calibrated also per intensity.)
    for (name, im, meta, compact, version) in [
        ("a.pgm", &pgm_img, &pgm_meta, true, 19),
        ("b.tif", &img16, &tif_meta, false, 19),
    ] {
        let p = d.join(name);
        let file = medzip_io::write(im, meta).unwrap();
        std::fs::write(&p, &file).unwrap();
        let mdz = d.join(format!("{name}.mdz"));
        assert_eq!(run(&["compress", s(&p)]).0, 0);
        let (code, json, _) = run(&["info", "--json", s(&mdz)]);
        assert_eq!(code, 0);
        assert!(json.contains(&format!("\"width\":{}", img.width)), "{json}");
        // Coded with the 16-bit network and its state, both named.
        let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(v["format_version"], version, "{json}");
        assert_eq!(
            std::fs::read(&mdz).unwrap().starts_with(b"\x89mdz"),
            compact,
            "{name}"
        );
        let models: Vec<(&str, &str)> = v["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["kind"].as_str().unwrap(), m["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            models,
            [("context state", "cm16m"), ("context network", "ctx16m")],
            "{json}"
        );
        std::fs::remove_file(&p).unwrap();
        assert_eq!(run(&["decompress", s(&mdz)]).0, 0);
        let back = medzip_io::read(&std::fs::read(&p).unwrap(), Some(name)).unwrap();
        assert_eq!(&back.image, im);
        if name.ends_with(".tif") {
            assert!(std::fs::read(&p).unwrap() == file, "the TIFF byte for byte");
        }
    }
}

#[test]
fn killed_job_leaves_no_partial_outputs_and_rerun_finishes_it() {
    let d = tmpdir("kill");
    let inp = d.join("in");
    std::fs::create_dir_all(&inp).unwrap();
    let src = std::fs::read(samples().join("mr12_suyashkumar_3.dcm")).unwrap();
    let n = 40;
    for i in 0..n {
        std::fs::write(inp.join(format!("s{i:02}.dcm")), &src).unwrap();
    }
    let out = d.join("out");
    let mut args: Vec<String> = vec![
        "compress".into(),
        "-j".into(),
        "1".into(),
        "--out-dir".into(),
        s(&out).into(),
    ];
    let mut files: Vec<_> = std::fs::read_dir(&inp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    args.extend(files.iter().map(|p| s(p).to_string()));
    let mut child = bin().args(&args).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(250));
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    // Whatever exists under its final name is complete and correct.
    let done: Vec<_> = std::fs::read_dir(&out)
        .map(|r| {
            r.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "mdz"))
                .collect()
        })
        .unwrap_or_default();
    for p in &done {
        let (code, _, err) = run(&["verify", s(p), s(&samples().join("mr12_suyashkumar_3.dcm"))]);
        assert_eq!(code, 0, "{}: {err}", p.display());
    }
    // Re-running with --skip-existing finishes the job.
    args.insert(1, "--skip-existing".into());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = run(&a);
    assert_eq!(code, 0, "{err}");
    for f in &files {
        let name = format!("{}.mdz", f.file_name().unwrap().to_string_lossy());
        assert!(out.join(name).exists());
    }
}

/// `--model` (the paper's autoencoders): every embedded model round-trips
/// the samples through the CLI; the file names its model; an unknown model
/// is a clear error.
#[test]
fn embedded_autoencoder_priors_round_trip() {
    let d = tmpdir("priors");
    let inputs = [
        samples().join("kermany256_IM-0199-0001.png"),
        samples().join("pt16s_suyashkumar_1.dcm"),
    ];
    for m in ["cnn1", "cnn2", "two-stage"] {
        let out = d.join(m);
        let mut args = vec!["compress", "--model", m, "--verify", "--out-dir", s(&out)];
        args.extend(inputs.iter().map(|p| s(p)));
        let (code, _, err) = run(&args);
        assert_eq!(code, 0, "{m}: {err}");
        for i in &inputs {
            let name = i.file_name().unwrap().to_str().unwrap();
            let mdz = out.join(format!("{name}.mdz"));
            let (code, _, err) = run(&["decompress", s(&mdz), "-o", s(&out.join(name))]);
            assert_eq!(code, 0, "{err}");
            // Same pixels (and, for DICOM, the same file).
            let (code, _, err) = run(&["verify", s(&mdz), s(i)]);
            assert_eq!(code, 0, "{m}: {name}: {err}");
            if name.ends_with(".dcm") {
                assert_eq!(sha(&out.join(name)), sha(i), "{m}: {name}");
            }
        }
    }
    let (code, _, err) = run(&[
        "compress",
        "--model",
        "nope",
        s(&inputs[0]),
        "-o",
        s(&d.join("x.mdz")),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("neither an embedded model"), "{err}");
    assert!(!d.join("x.mdz").exists());
}

/// `medzip train` end to end on the two committed 256×256 X-rays: a run
/// folder with config, history, checkpoint and best weights; `--resume`
/// continues it; the exported model codes an image, and a file made with
/// it needs that model to decode. Then `plot` and `eval`.
#[cfg(feature = "train")]
#[test]
fn train_resume_export_compress_plot_eval() {
    let d = tmpdir("train");
    let data = chest_xray_folder(&d);
    let run_dir = d.join("run");
    let base = [
        "train",
        "--arch",
        "cnn1",
        "--data",
        s(&data),
        "--out",
        s(&run_dir),
        "--batch",
        "2",
    ];
    let (code, _, err) = run(&[&base[..], &["--epochs", "1"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1008265 trainable parameters (paper: 1008449)"),
        "{err}"
    );
    for f in [
        "config.json",
        "state.json",
        "history.csv",
        "checkpoint-1.bpk",
        "optimizer-1.bin",
        "best.bpk",
        "model.mzae",
    ] {
        assert!(run_dir.join(f).exists(), "{f} missing");
    }
    let (code, _, err) = run(&[&base[..], &["--epochs", "2", "--resume"]].concat());
    assert_eq!(code, 0, "{err}");
    // The resumed run's checkpoint replaced the first one.
    assert!(
        run_dir.join("checkpoint-2.bpk").exists() && !run_dir.join("checkpoint-1.bpk").exists()
    );
    // Resuming with another batch size (so another run) is refused.
    let (code, _, err) =
        run(&[&base[..7], &["--batch", "1", "--epochs", "3", "--resume"]].concat());
    assert_eq!(code, 1);
    assert!(err.contains("another architecture"), "{err}");
    let hist = std::fs::read_to_string(run_dir.join("history.csv")).unwrap();
    assert_eq!(hist.lines().count(), 3, "{hist}");
    let cfg = std::fs::read_to_string(run_dir.join("config.json")).unwrap();
    assert!(
        cfg.contains("data_list_sha256") && cfg.contains("\"seed\": 1"),
        "{cfg}"
    );

    let model = run_dir.join("model.mzae");
    let src = samples().join("mr12_suyashkumar_3.dcm");
    let mdz = d.join("mr.mdz");
    let (code, _, err) = run(&["compress", "--model", s(&model), s(&src), "-o", s(&mdz)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["decompress", s(&mdz), "-o", s(&d.join("mr.dcm"))]);
    assert_eq!(code, 1);
    assert!(err.contains("pass the model file"), "{err}");
    let (code, _, err) = run(&[
        "decompress",
        "--model",
        s(&model),
        s(&mdz),
        "-o",
        s(&d.join("mr.dcm")),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sha(&d.join("mr.dcm")), sha(&src));

    // Two-stage needs its first stage.
    let (code, _, err) = run(&[
        "train",
        "--arch",
        "two-stage",
        "--data",
        s(&data),
        "--out",
        s(&d.join("ts")),
        "--epochs",
        "1",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--stage1"), "{err}");

    let figs = d.join("figs");
    let (code, _, err) = run(&["plot", s(&run_dir), "--out", s(&figs)]);
    assert_eq!(code, 0, "{err}");
    assert!(figs.join("curves-run.png").exists());
    let (code, out, err) = run(&[
        "eval",
        s(&data),
        "--model",
        s(&model),
        "--figures",
        s(&figs),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("cnn1 + Huffman, exact delta") && out.contains("original as PNG"),
        "{out}"
    );
    assert!(figs.join("panel-cnn1-1.png").exists());
    // --list: only the named images; an unknown name is an error.
    let list = d.join("val.txt");
    std::fs::write(&list, "kermany256_IM-0199-0001.png\n").unwrap();
    let (code, out, err) = run(&["eval", s(&data), "--model", s(&model), "--list", s(&list)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Images: 1 "), "{out}");
    std::fs::write(&list, "missing.png\n").unwrap();
    let (code, _, err) = run(&["eval", s(&data), "--model", s(&model), "--list", s(&list)]);
    assert_eq!(code, 1);
    assert!(err.contains("are not images"), "{err}");
}

/// A site trains its own context network and state, codes with them, and
/// needs them to decode (the file names their ids); the network's record
/// reports float and integer likelihoods.
#[cfg(feature = "train")]
#[test]
fn site_context_network_and_state() {
    let d = tmpdir("site-net");
    let data = chest_xray_folder(&d);
    let net = d.join("site.net");
    let state = d.join("site.state.z");
    let train_net = |out: &Path, more: &[&str]| {
        let head = ["train-net", "--data", s(&data), "--out", s(out)];
        run(&[&head[..], &["--samples", "20000", "--hidden", "8"], more].concat())
    };
    let (code, _, err) = train_net(&net, &["--min-per-image", "1000", "--epochs", "2"]);
    assert_eq!(code, 0, "{err}");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(net.with_extension("json")).unwrap()).unwrap();
    let v = &rec["validation_bits_per_sample"];
    let (fl, int) = (v["float"].as_f64().unwrap(), v["integer"].as_f64().unwrap());
    assert!(fl > 0.5 && fl < 8.0 && (fl - int).abs() < 0.05, "{rec}");
    // --max-per-image: no image gives more than about that many samples.
    let capped = d.join("capped.net");
    let (code, _, err) = train_net(&capped, &["--max-per-image", "300", "--epochs", "1"]);
    assert_eq!(code, 0, "{err}");
    let rec2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(capped.with_extension("json")).unwrap()).unwrap();
    let (n1, n2) = (
        rec["samples"]["train"].as_u64().unwrap(),
        rec2["samples"]["train"].as_u64().unwrap(),
    );
    let images = rec2["images"]["train"].as_u64().unwrap();
    assert!(
        n2 > 0 && n2 <= images * 301 && n2 < n1,
        "{n1} {n2} {images}"
    );
    assert_eq!(rec2["max_per_image"], 300);
    let (code, _, err) = run(&[
        "train-context",
        "--data",
        s(&data),
        "--bits",
        "8",
        "--net",
        s(&net),
        "--out",
        s(&state),
    ]);
    assert_eq!(code, 0, "{err}");
    let src = samples().join("kermany256_IM-0199-0001.png");
    let mdz = d.join("a.mdz");
    let site = ["--context-net", s(&net), "--context-state", s(&state)];
    let (code, _, err) = run(&[&["compress", s(&src), "-o", s(&mdz)][..], &site].concat());
    assert_eq!(code, 0, "{err}");
    // A state trained with a network does not go with --no-net, nor a
    // network with --no-net.
    for (option, file, says) in [
        ("--context-state", &state, "--no-net"),
        ("--context-net", &net, "contradict"),
    ] {
        let (code, _, err) = run(&[
            "compress",
            "--force",
            "--no-net",
            option,
            s(file),
            s(&src),
            "-o",
            s(&mdz),
        ]);
        assert_ne!(code, 0, "{option}");
        assert!(err.contains(says), "{option}: {err}");
    }
    // Without the site's models the file is refused, naming what it needs.
    let back = d.join("a.png");
    let (code, _, err) = run(&["decompress", s(&mdz), "-o", s(&back)]);
    assert_ne!(code, 0);
    assert!(err.contains("context"), "{err}");
    assert!(!back.exists());
    let (code, _, err) = run(&[&["decompress", s(&mdz), "-o", s(&back)][..], &site].concat());
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&[&["verify", s(&mdz), s(&src)][..], &site].concat());
    assert_eq!(code, 0, "{err}");
}

/// Effort levels: `-e 1` (or `--fast`) codes with the fast coder, `-e 2`
/// (the default) with the context network's distribution as tokens, `-e 3`
/// with the context-mixing coder and the network, or as `-e 2` where that
/// is smaller (as for this image); the file says which coder made it and
/// decoding needs no flag. Decoding to
/// pixels: `-o` with another image extension, or `--to`.
#[test]
fn effort_levels_and_decoding_to_pixels() {
    let d = tmpdir("effort");
    let png = samples().join("kermany256_IM-0199-0001.png");
    let dcm = samples().join("pt16s_suyashkumar_1.dcm");
    let mut sizes = Vec::new();
    for e in ["1", "2", "3"] {
        let mdz = d.join(format!("e{e}.mdz"));
        let (code, _, err) = run(&["compress", "-e", e, "--verify", s(&png), "-o", s(&mdz)]);
        assert_eq!(code, 0, "{err}");
        let (_, info, _) = run(&["info", "--json", s(&mdz)]);
        let coder = ["fast", "logistic", "logistic"][e.parse::<usize>().unwrap() - 1];
        assert!(
            info.contains(&format!("\"residual\":\"{coder}\"")),
            "{info}"
        );
        // The fast coder's configuration is named (a 256×256 image
        // downscaled from a JPEG has no 8×8 grid left to use).
        let cfg = if e == "1" {
            "\"fast_grid_contexts\":false"
        } else {
            "\"fast_grid_contexts\":null"
        };
        assert!(info.contains(cfg), "{info}");
        assert_eq!(info.contains("context network"), e != "1", "{info}");
        let back = d.join(format!("e{e}.png"));
        assert_eq!(run(&["decompress", s(&mdz), "-o", s(&back)]).0, 0);
        let a = medzip_io::read(&std::fs::read(&back).unwrap(), None).unwrap();
        let b = medzip_io::read(&std::fs::read(&png).unwrap(), None).unwrap();
        assert_eq!(a.image, b.image);
        sizes.push(std::fs::metadata(&mdz).unwrap().len());
    }
    assert!(
        sizes[2] < sizes[0] && sizes[2] <= sizes[1],
        "the strongest level is the smallest: {sizes:?}"
    );
    // --fast is -e 1.
    let f = d.join("fast.mdz");
    assert_eq!(run(&["compress", "--fast", s(&png), "-o", s(&f)]).0, 0);
    assert_eq!(
        std::fs::read(&f).unwrap(),
        std::fs::read(d.join("e1.mdz")).unwrap()
    );
    // A signed DICOM at -e 1: byte for byte, and its pixels as TIFF (PGM
    // cannot hold them: refused, nothing written).
    let mdz = d.join("pt.mdz");
    assert_eq!(
        run(&["compress", "-e", "1", "--verify", s(&dcm), "-o", s(&mdz)]).0,
        0
    );
    let back = d.join("pt.dcm");
    assert_eq!(run(&["decompress", s(&mdz), "-o", s(&back)]).0, 0);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&dcm).unwrap());
    let (code, _, err) = run(&["decompress", s(&mdz), "-o", s(&d.join("pt.pgm"))]);
    assert_eq!(code, 1);
    assert!(err.contains("signed"), "{err}");
    assert!(!d.join("pt.pgm").exists());
    let tif = d.join("pt_pixels");
    assert_eq!(
        run(&["decompress", s(&mdz), "--to", "tiff", "-o", s(&tif)]).0,
        0
    );
    let t = std::fs::read(&tif).unwrap();
    assert!(t.starts_with(b"II*\0") || t.starts_with(b"MM\0*"));
    let dicom = medzip_io::read(&std::fs::read(&dcm).unwrap(), None).unwrap();
    assert_eq!(medzip_io::read(&t, None).unwrap().image, dicom.image);
    // An unsigned image to PGM by the output's extension.
    let pgm = d.join("x.pgm");
    assert_eq!(
        run(&["decompress", s(&d.join("e1.mdz")), "-o", s(&pgm)]).0,
        0
    );
    let p = std::fs::read(&pgm).unwrap();
    assert!(p.starts_with(b"P5"));
    let png_px = medzip_io::read(&std::fs::read(&png).unwrap(), None).unwrap();
    assert_eq!(medzip_io::read(&p, None).unwrap().image, png_px.image);
    // The fast coder takes no autoencoder prior.
    let (code, _, err) = run(&[
        "compress",
        "-e",
        "1",
        "--model",
        "cnn1",
        s(&png),
        "-o",
        s(&d.join("no.mdz")),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("fast coder"), "{err}");
}

/// The README's first command (`medzip bench samples`), at every level
/// (2 the default): every sample this build reads is compressed, decoded,
/// checked and set beside the peers.
#[test]
fn the_bench_of_the_samples_runs_at_every_level() {
    for level in ["2", "3", "1"] {
        let (code, out, err) = run(&["bench", s(&samples()), "-e", level]);
        assert_eq!(code, 0, "-e {level}: {err}");
        assert!(out.contains("**total**"), "-e {level}: {out}");
        assert!(
            out.contains("every round trip verified"),
            "-e {level}: {out}"
        );
        // One row per sample this build reads, and the total.
        let rows = out.lines().filter(|l| l.starts_with("| ")).count();
        let skipped = err.matches("skipping").count();
        let samples = std::fs::read_dir(samples())
            .unwrap()
            .filter(|e| {
                let p = e.as_ref().unwrap().path();
                p.extension().is_some_and(|x| x == "png" || x == "dcm")
            })
            .count();
        assert_eq!(rows, 1 + samples - skipped + 1, "-e {level}: {out}");
    }
    assert_ne!(run(&["bench", s(&samples()), "-e", "4"]).0, 0);
}

#[allow(dead_code)]
#[path = "../examples/two_sites.rs"]
mod two_sites;

#[test]
fn two_sites_models_in_two_threads_give_the_cli_bytes() {
    let d = tmpdir("two_sites");
    // Two "sites": states trained on different images (no network needed).
    let mut states = Vec::new();
    for (site, img) in [
        ("a", "kermany256_IM-0199-0001.png"),
        ("b", "kermany256_person1340_virus_2312.png"),
    ] {
        let data = d.join(format!("data_{site}"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::copy(samples().join(img), data.join(img)).unwrap();
        let state = d.join(format!("{site}.state.z"));
        let (code, _, err) = run(&[
            "train-context",
            "--data",
            s(&data),
            "--bits",
            "8",
            "--out",
            s(&state),
        ]);
        assert_eq!(code, 0, "{err}");
        states.push(state);
    }
    let image = samples().join("mr12_suyashkumar_3.dcm");
    let image8 = samples().join("kermany256_person1340_virus_2312.png");
    for img in [&image8, &image] {
        let out = d.join("lib");
        let files = two_sites::run(&states[0], &states[1], img, &out).unwrap();
        assert_ne!(files[0], files[1], "the two sites' states were both used");
        for (state, lib) in states.iter().zip(&files) {
            let cli = d.join("cli.mdz");
            let (code, _, err) = run(&[
                "compress",
                "--no-net",
                "--context-state",
                s(state),
                s(img),
                "-o",
                s(&cli),
                "--force",
            ]);
            assert_eq!(code, 0, "{err}");
            assert!(
                std::fs::read(&cli).unwrap() == *lib,
                "{}: the library and the CLI made different files",
                img.display()
            );
        }
    }
}
