//! Bit-exact round trips over bit depth (1–16), signedness, odd sizes,
//! content and residual coder; corruption and truncation of whole files.

use medzip_codec::{
    compress, compress_with_prior, decompress, decompress_with, DecodeOptions, Image, Limits,
    Metadata, Options, Prior, Residual, Simd,
};

/// Small deterministic generator (tests must not depend on a crate's RNG stream).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

#[derive(Clone, Copy, Debug)]
enum Content {
    Constant,
    Ramp,
    Noise,
    Smooth,
    Sparse,
    Extremes,
    /// Flat blocks of two values with a stray sample here and there, and
    /// noisy blocks: flat neighbourhoods whose pixel equals them or not.
    Patches,
    /// A CT's field of view: a disc of values from mid-range, padding
    /// below them outside it (a run of unused values between them: the
    /// intervals value map where it is long enough).
    Padded,
    /// A noisy curved surface posterised to 20 levels spread over the
    /// range (fewer where the depth has fewer values): the context-mixing
    /// coder's pattern contexts.
    Posterised,
    /// Text on black around a noisy field, as on an ultrasound image: four
    /// glyphs of 5 × 7 pixels with a fringe of a third of the range,
    /// repeated along the rows, in three levels (the default level's
    /// graphics tools, `cm::Graphics`, where they code it smaller).
    Annotated,
}

fn make(w: u32, h: u32, bits: u8, signed: bool, c: Content, seed: u64) -> Image {
    let (lo, hi) = Image::range(bits, signed);
    let span = (hi as i64 - lo as i64 + 1) as u64;
    let mut r = Lcg(seed);
    let n = (w * h) as usize;
    let data: Vec<i32> = (0..n)
        .map(|i| {
            let (x, y) = ((i as u32 % w) as u64, (i as u32 / w) as u64);
            let v: u64 = match c {
                Content::Constant => span / 3,
                Content::Ramp => (x * 7 + y * 3) % span,
                Content::Noise => r.next() as u64 % span,
                Content::Smooth => {
                    let base = (x * span / (w as u64 + 1) + y * span / (2 * h as u64 + 2)) % span;
                    let noise = r.next() as u64 % (span / 64 + 2);
                    (base + noise).min(span - 1)
                }
                Content::Sparse => ((r.next() as u64 % 13) * 37 + x % 2) % span,
                Content::Extremes => {
                    if r.next().is_multiple_of(2) {
                        0
                    } else {
                        span - 1
                    }
                }
                Content::Padded => {
                    // Inside, a dense band of up to 512 values from
                    // mid-range; outside, 200 values below it (0 at 8 bits).
                    let (dx, dy) = (2 * x as i64 - w as i64, 2 * y as i64 - h as i64);
                    let d = (w.min(h) as i64).pow(2);
                    let band = (span / 2).min(512);
                    match dx * dx + dy * dy > d {
                        true => (span / 2).saturating_sub(200),
                        false => span / 2 + (x * 3 + y + r.next() as u64 % 4) % band,
                    }
                }
                Content::Posterised => {
                    let level = ((x * x + 2 * y * y) / 40 + r.next() as u64 % 24) / 12 % 20;
                    (level * (span / 20).max(1)).min(span - 1)
                }
                Content::Annotated => {
                    let (w, h) = (w as u64, h as u64);
                    let (gx, gy, letter) = (x % 8, y % 12, (x / 8 + y / 12 * 3) % 4);
                    let ink = |gx: u64| {
                        gx < 5 && gy < 7 && (0x1F4A7 * (letter + 1) * (gy + 3)) >> gx & 1 == 1
                    };
                    if (w / 4..3 * w / 4).contains(&x) && (h / 3..2 * h / 3).contains(&y) {
                        span / 2 + r.next() as u64 % (span / 8 + 1)
                    } else if ink(gx) {
                        span - 1 - letter % 3 * (span / 16)
                    } else if gx > 0 && ink(gx - 1) {
                        span / 3
                    } else {
                        0
                    }
                }
                Content::Patches => {
                    let v = r.next() as u64;
                    match (x / 7 + y / 5) % 3 {
                        0 => v % span,
                        b if v.is_multiple_of(400) => (b * span / 3 + 1) % span,
                        b => b * span / 3,
                    }
                }
            };
            (lo as i64 + v as i64) as i32
        })
        .collect();
    Image::new(w, h, bits, signed, data).unwrap()
}

fn roundtrip(img: &Image, opts: &Options) -> Vec<u8> {
    let f = compress(img, &Metadata::raw(), opts).unwrap();
    let (back, meta) = decompress(&f, &Limits::default(), None).unwrap();
    assert_eq!(
        &back, img,
        "{}x{} {} bits signed={} {:?}",
        img.width, img.height, img.bits, img.signed, opts.residual
    );
    assert_eq!(meta.source, medzip_codec::SourceKind::Raw);
    f
}

const SIZES: [(u32, u32); 7] = [(1, 1), (1, 9), (9, 1), (2, 2), (3, 5), (17, 13), (64, 33)];
const CONTENTS: [Content; 10] = [
    Content::Constant,
    Content::Ramp,
    Content::Noise,
    Content::Smooth,
    Content::Sparse,
    Content::Extremes,
    Content::Patches,
    Content::Padded,
    Content::Posterised,
    Content::Annotated,
];

/// The default level (the network's distribution as tokens) and the
/// context-mixing coder (effort 3).
#[test]
fn every_depth_signedness_size_and_content_context_coders() {
    for opts in [Options::default(), Options::effort(3)] {
        every_depth_signedness_size_and_content(&opts);
    }
}

fn every_depth_signedness_size_and_content(opts: &Options) {
    for bits in 1..=16u8 {
        for signed in [false, true] {
            for (i, &(w, h)) in SIZES.iter().enumerate() {
                for (j, &c) in CONTENTS.iter().enumerate() {
                    roundtrip(
                        &make(
                            w,
                            h,
                            bits,
                            signed,
                            c,
                            (bits as u64) << 16 | (i * 8 + j) as u64,
                        ),
                        opts,
                    );
                }
            }
        }
    }
}

#[test]
fn paper_residual_paths_and_fast_coder_roundtrip() {
    for residual in [Residual::Huffman, Residual::Png, Residual::Fast] {
        let opts = Options {
            residual,
            ..Options::default()
        };
        for bits in [1u8, 2, 7, 8, 9, 12, 15, 16] {
            for signed in [false, true] {
                for &(w, h) in &[(1u32, 1u32), (3, 5), (31, 17)] {
                    for c in [Content::Noise, Content::Smooth, Content::Extremes] {
                        roundtrip(&make(w, h, bits, signed, c, 99), &opts);
                    }
                }
            }
        }
    }
}

#[test]
fn many_stripes_and_thread_counts_give_the_same_bits() {
    for residual in [Residual::Logistic, Residual::Context, Residual::Fast] {
        same_bits_with_one_and_two_threads(residual);
    }
}

fn same_bits_with_one_and_two_threads(residual: Residual) {
    let img = make(301, 257, 16, true, Content::Smooth, 5);
    let opts = Options {
        stripe_pixels: 5000,
        residual,
        ..Options::default()
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let f1 = one.install(|| roundtrip(&img, &opts));
    let f2 = two.install(|| roundtrip(&img, &opts));
    assert_eq!(
        f1, f2,
        "the encoder output must not depend on the thread count"
    );
    let d1 = one.install(|| decompress(&f2, &Limits::default(), None).unwrap().0);
    let d2 = two.install(|| decompress(&f1, &Limits::default(), None).unwrap().0);
    assert_eq!(d1, img);
    assert_eq!(d2, img);
}

#[test]
fn large_16bit_image() {
    // A 2.3 MP 16-bit image with several stripes.
    let img = make(1531, 1503, 16, false, Content::Smooth, 11);
    let f = roundtrip(&img, &Options::default());
    assert!(
        f.len() < img.data.len() * 2,
        "smooth 16-bit content must compress"
    );
}

#[test]
fn compresses_smooth_images_well() {
    let img = make(256, 256, 12, false, Content::Smooth, 3);
    let f = roundtrip(&img, &Options::default());
    let bpp = 8.0 * f.len() as f64 / 65536.0;
    assert!(bpp < 9.0, "smooth 12-bit image at {bpp} bpp");
    let c = make(200, 100, 16, true, Content::Constant, 0);
    let f = roundtrip(&c, &Options::default());
    assert!(f.len() < 300, "a constant image takes {} bytes", f.len());
}

fn small_file() -> (Image, Vec<u8>) {
    let img = make(13, 11, 12, true, Content::Smooth, 42);
    let f = compress(&img, &Metadata::raw(), &Options::default()).unwrap();
    (img, f)
}

#[test]
fn every_truncation_is_an_error() {
    let (_, f) = small_file();
    for n in 0..f.len() {
        assert!(
            decompress(&f[..n], &Limits::default(), None).is_err(),
            "truncated to {n} bytes"
        );
    }
}

#[test]
fn every_bit_flip_is_an_error() {
    let (_, f) = small_file();
    for i in 0..f.len() {
        for b in 0..8 {
            let mut g = f.clone();
            g[i] ^= 1 << b;
            assert!(
                decompress(&g, &Limits::default(), None).is_err(),
                "flip of bit {b} in byte {i} was accepted"
            );
        }
    }
}

#[test]
fn limits_refuse_big_images_before_decoding() {
    let (_, f) = small_file();
    let tight = Limits {
        max_pixels: 100,
        ..Limits::default()
    };
    let e = decompress(&f, &tight, None).unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
}

/// A deterministic toy prior (block means), standing in for an autoencoder.
struct BlockMeans {
    block: u32,
}

impl Prior for BlockMeans {
    fn id(&self) -> Vec<u8> {
        vec![0xB1, self.block as u8]
    }
    fn encode_latent(&self, img: &Image) -> medzip_codec::Result<Vec<u8>> {
        let lo = Image::range(img.bits, img.signed).0;
        let (bw, bh) = (
            img.width.div_ceil(self.block),
            img.height.div_ceil(self.block),
        );
        let mut out = Vec::new();
        for by in 0..bh {
            for bx in 0..bw {
                let (mut s, mut n) = (0i64, 0i64);
                for y in by * self.block..((by + 1) * self.block).min(img.height) {
                    for x in bx * self.block..((bx + 1) * self.block).min(img.width) {
                        s += (img.data[(y * img.width + x) as usize] - lo) as i64;
                        n += 1;
                    }
                }
                out.extend_from_slice(&((s / n) as u16).to_le_bytes());
            }
        }
        Ok(out)
    }
    fn reconstruct(
        &self,
        latent: &[u8],
        w: u32,
        h: u32,
        _bits: u8,
    ) -> medzip_codec::Result<Vec<i32>> {
        let bw = w.div_ceil(self.block);
        if latent.len() != 2 * (bw * h.div_ceil(self.block)) as usize {
            return Err(medzip_codec::Error::Corrupt("latent size".into()));
        }
        Ok((0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let k = 2 * ((y / self.block) * bw + x / self.block) as usize;
                u16::from_le_bytes([latent[k], latent[k + 1]]) as i32
            })
            .collect())
    }
}

#[test]
fn prior_seam_roundtrips_and_wrong_model_is_named() {
    let p = BlockMeans { block: 8 };
    let other = BlockMeans { block: 4 };
    for residual in [Residual::Context, Residual::Huffman, Residual::Png] {
        let opts = Options {
            residual,
            ..Options::default()
        };
        for (bits, signed) in [(8u8, false), (12, true), (16, false)] {
            let img = make(37, 29, bits, signed, Content::Smooth, 7);
            let f = compress_with_prior(&img, &Metadata::raw(), &opts, Some(&p)).unwrap();
            let (back, meta) = decompress(&f, &Limits::default(), Some(&p)).unwrap();
            assert_eq!(back, img);
            // The header lists the models needed: this prior first (tag A, length, id).
            assert_eq!(&meta.model_id[..4], &[b'A', 2, 0xB1, 8]);
            let e = decompress(&f, &Limits::default(), Some(&other)).unwrap_err();
            assert!(e.to_string().contains("b108"), "{e}");
            let e = decompress(&f, &Limits::default(), None).unwrap_err();
            assert!(e.to_string().contains("not embedded"), "{e}");
        }
    }
}

/// The default level codes pixels of flat neighbourhoods by one flag
/// (coder 12; 9 of format version 17 without the calibration per
/// intensity, 8 of version 16 without any) where at most one in 200 of
/// them differs from its neighbourhood, else without the flags (coder
/// 13); both round-trip, the flags' misses included, and are format
/// version 19.
#[test]
fn flat_neighbourhoods_by_one_flag_where_few_differ() {
    // The coder's id: the pixel section's first byte, after the planes'
    // transform byte in an image of several frames.
    let coder = |f: &[u8], frames: bool| {
        let c = medzip_format::Container::parse(f, &Limits::default()).unwrap();
        assert_eq!(c.version(), 19);
        c.pixels[frames as usize]
    };
    for (bits, signed) in [(8, false), (16, false), (16, true), (12, true)] {
        for (stray, id) in [(1000, 12), (50, 13)] {
            let (w, h) = (301u32, 233u32);
            let (lo, hi) = Image::range(bits, signed);
            let span = hi - lo + 1;
            let mut r = Lcg(bits as u64 * 7 + stray);
            let data = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let v = r.next();
                    if x < 100 && !v.is_multiple_of(stray as u32) {
                        lo + 3
                    } else if x < 100 {
                        lo + 4
                    } else {
                        lo + ((x * 3 + y * 2 + v % 50) as i32) % span
                    }
                })
                .collect();
            let img = Image::new(w, h, bits, signed, data).unwrap();
            let f = roundtrip(&img, &Options::default());
            assert_eq!(coder(&f, false), id, "{bits} bits, one in {stray} differs");
            // The same as three frames of 233 / 3 rows (the coder's id
            // after the planes' transform byte).
            let (mut meta, h3) = (Metadata::raw(), h / 3 * 3);
            meta.frames = 3;
            let frames =
                Image::new(w, h3, bits, signed, img.data[..(w * h3) as usize].to_vec()).unwrap();
            let f = compress(&frames, &meta, &Options::default()).unwrap();
            let (back, m) = decompress(&f, &Limits::default(), None).unwrap();
            assert_eq!((&back, m.frames), (&frames, 3), "{bits} bits, frames");
            assert_eq!(coder(&f, true), id, "{bits} bits, frames");
        }
    }
}

/// A CT's padding far below its values (a run of 199 unused values): the
/// intervals value map (format version 17) at every level, 10 to 16 bits,
/// signed and unsigned, one frame and three; an 8-bit image has no such
/// run (its padding is 0, 127 values below its band).
#[test]
fn padding_far_below_the_values_is_mapped_away() {
    // The value map's kind: after the coder's id, the prior flag and the
    // latent (an image of one frame).
    let map_kind = |f: &[u8]| {
        let c = medzip_format::Container::parse(f, &Limits::default()).unwrap();
        let mut r = medzip_format::Reader::new(&c.pixels, "PIXL").compact(c.compact);
        let (_, _, latent) = (r.u8().unwrap(), r.u8().unwrap(), r.int().unwrap());
        assert_eq!(latent, 0);
        (r.u8().unwrap(), c.version())
    };
    for (bits, signed) in [(16, true), (16, false), (12, true), (10, false), (8, false)] {
        let img = make(97, 83, bits, signed, Content::Padded, 5);
        for effort in [1, 2, 3] {
            let f = roundtrip(&img, &Options::effort(effort));
            let (kind, version) = map_kind(&f);
            let want = if bits > 8 { 2 } else { 0 };
            assert_eq!(kind, want, "{bits} bits, signed {signed}, -e {effort}");
            // (19 where the default level's coder codes it, 20 with its
            // graphics tools: newer features.)
            let c = medzip_format::Container::parse(&f, &Limits::default()).unwrap();
            let want = match medzip_codec::residual_of(&c) == Some(Residual::Logistic) {
                true if medzip_codec::graphics_tools_of(&c) => 20,
                true => 19,
                false => 17,
            };
            assert!(
                kind != 2 || version == want,
                "{bits} bits, -e {effort}: {version}"
            );
        }
        let (mut meta, h3) = (Metadata::raw(), 81);
        meta.frames = 3;
        let frames = Image::new(97, h3, bits, signed, img.data[..97 * 81].to_vec()).unwrap();
        let f = compress(&frames, &meta, &Options::effort(1)).unwrap();
        let (back, _) = decompress(&f, &Limits::default(), None).unwrap();
        assert_eq!(back, frames, "{bits} bits, frames");
    }
}

#[test]
fn images_of_few_values_take_the_pattern_contexts() {
    let parse = |f: &[u8]| medzip_format::Container::parse(f, &Limits::default()).unwrap();
    let cm = |net| Options {
        residual: Residual::Context,
        net,
        ..Options::default()
    };
    for (bits, signed) in [(16, true), (16, false), (12, true), (8, false), (6, false)] {
        let img = make(97, 83, bits, signed, Content::Posterised, 9);
        for opts in [cm(true), cm(false)] {
            let f = roundtrip(&img, &opts);
            let c = parse(&f);
            // (Without the network, the encoder's trial may choose the
            // fast coder instead; with it, the context-mixing coder.)
            let coder = medzip_codec::residual_of(&c);
            if opts.net || coder == Some(Residual::Context) {
                assert!(
                    medzip_codec::pattern_contexts_of(&c),
                    "{bits} bits, signed {signed}, net {}: {coder:?}",
                    opts.net
                );
                assert_eq!(c.version(), 18);
            }
            // The same bits without SIMD.
            let scalar = Options {
                simd: Simd::Scalar,
                ..opts.clone()
            };
            assert_eq!(compress(&img, &Metadata::raw(), &scalar).unwrap(), f);
        }
        // An image of three frames (the coder's id after the planes'
        // transform byte).
        let mut meta = Metadata::raw();
        meta.frames = 3;
        let frames = Image::new(97, 81, bits, signed, img.data[..97 * 81].to_vec()).unwrap();
        let f = compress(&frames, &meta, &cm(true)).unwrap();
        assert!(medzip_codec::pattern_contexts_of(&parse(&f)));
        let (back, _) = decompress(&f, &Limits::default(), None).unwrap();
        assert_eq!(back, frames, "{bits} bits, frames");
    }
    // More than 32 values: the usual contexts.
    let many = make(97, 83, 8, false, Content::Smooth, 9);
    let f = roundtrip(&many, &cm(true));
    assert!(!medzip_codec::pattern_contexts_of(&parse(&f)));
    assert!(parse(&f).version() < 18);
}

#[test]
fn simd_and_scalar_paths_give_the_same_bits() {
    // Both paths run the same integer code; only instruction selection
    // differs. Encode with each, decode with the other.
    let imgs = [
        make(97, 61, 8, false, Content::Smooth, 21),
        make(83, 47, 16, true, Content::Noise, 22),
        make(71, 53, 16, false, Content::Patches, 23),
    ];
    Simd::note_if_scalar_only("simd_and_scalar_paths_give_the_same_bits");
    let on = |simd| Options {
        simd,
        ..Options::default()
    };
    let decoding = |simd| DecodeOptions {
        simd,
        ..Default::default()
    };
    for img in &imgs {
        let scalar = compress(img, &Metadata::raw(), &on(Simd::Scalar)).unwrap();
        let fast = compress(img, &Metadata::raw(), &on(Simd::Auto)).unwrap();
        assert_eq!(scalar, fast);
        let back = |f: &[u8], simd| decompress_with(f, None, &decoding(simd)).unwrap().0;
        assert_eq!(&back(&fast, Simd::Scalar), img);
        assert_eq!(&back(&scalar, Simd::Auto), img);
    }
}

/// Text on black around a noisy field (`Content::Annotated`), odd sizes,
/// 8 to 16 bits, signed and unsigned: the default level codes it with the
/// graphics tools (coder 14 or 15, format version 20), bit-exact, to the
/// same bits with scalar and SIMD code and with one and two threads (in
/// stripes of 5000 pixels), and decodes it so either way; the strongest
/// level, which keeps the default level's file where smaller, is never
/// larger.
#[test]
fn text_and_graphics_take_the_graphics_tools() {
    for (w, h, bits, signed) in [
        (157u32, 103u32, 8u8, false),
        (131, 97, 12, true),
        (143, 89, 16, true),
        (121, 111, 16, false),
    ] {
        let img = make(w, h, bits, signed, Content::Annotated, 31);
        let tools = |f: &[u8]| {
            let c = medzip_format::Container::parse(f, &Limits::default()).unwrap();
            (medzip_codec::graphics_tools_of(&c), c.version())
        };
        let f = roundtrip(&img, &Options::default());
        assert_eq!(tools(&f), (true, 20), "{bits} bits, signed {signed}");
        assert!(
            roundtrip(&img, &Options::effort(3)).len() <= f.len(),
            "{bits} bits"
        );
        let opts = |simd| Options {
            simd,
            stripe_pixels: 5000,
            ..Options::default()
        };
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        };
        let one = pool(1).install(|| roundtrip(&img, &opts(Simd::Scalar)));
        let two = pool(2).install(|| roundtrip(&img, &opts(Simd::Auto)));
        assert_eq!(one, two, "{bits} bits");
        assert!(tools(&one).0, "{bits} bits, stripes");
        let decoding = DecodeOptions {
            simd: Simd::Scalar,
            ..Default::default()
        };
        assert_eq!(
            pool(1).install(|| decompress_with(&two, None, &decoding).unwrap().0),
            img
        );
    }
}

#[test]
fn unknown_context_state_is_refused_by_name() {
    let img = make(19, 7, 8, false, Content::Smooth, 1);
    let f = compress(&img, &Metadata::raw(), &Options::default()).unwrap();
    let mut c = medzip_format::Container::parse(&f, &Limits::default()).unwrap();
    // The shipped trained states are embedded, so the file names one.
    assert!(
        !c.header.model_id.is_empty(),
        "an 8-bit image should name the embedded cm8 state"
    );
    // Name a state no build has: tag 'C', 8 bytes of id.
    c.header.model_id = vec![b'C', 8, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3];
    let e = decompress(&c.to_bytes(), &Limits::default(), None).unwrap_err();
    assert!(e.to_string().contains("deadbeef00010203"), "{e}");
}

#[test]
fn without_the_context_network_every_depth_roundtrips() {
    let opts = Options {
        net: false,
        ..Options::default()
    };
    for bits in 1..=16u8 {
        for signed in [false, true] {
            for (i, &(w, h)) in SIZES.iter().enumerate() {
                let c = CONTENTS[(i + bits as usize) % CONTENTS.len()];
                roundtrip(&make(w, h, bits, signed, c, 77 + i as u64), &opts);
            }
        }
    }
}

#[test]
fn the_context_network_is_named_and_an_unknown_one_refused() {
    let img = make(29, 11, 8, false, Content::Smooth, 3);
    let with = compress(&img, &Metadata::raw(), &Options::default()).unwrap();
    let without = compress(
        &img,
        &Metadata::raw(),
        &Options {
            net: false,
            ..Options::default()
        },
    )
    .unwrap();
    assert_ne!(with, without);
    let version = |f: &[u8]| {
        medzip_format::Container::parse(f, &Limits::default())
            .unwrap()
            .version()
    };
    // A small image is in the compact layout (format version 15), its
    // models named as an embedded set; the default level's coder, whose
    // network distribution is calibrated online (per intensity too), is
    // version 19.
    assert_eq!((version(&with), version(&without)), (19, 15));
    // Format version 2 marks files that need a context network, so that
    // builds from before it refuse them by version; others stay version 1.
    // The default level's files (tokens of the network's calibrated
    // distribution) are version 19. (In the long layout: an image of more
    // than 2^16 pixels.)
    let big = make(261, 257, 8, false, Content::Smooth, 3);
    let long = |opts: &Options| compress(&big, &Metadata::raw(), opts).unwrap();
    let no_net = Options {
        net: false,
        ..Options::default()
    };
    let (l_with, l_without) = (long(&Options::default()), long(&no_net));
    assert_eq!((l_with[8], l_without[8]), (19, 1));
    let cm_only = Options {
        residual: Residual::Context,
        ..Options::default()
    };
    let l_cm = long(&cm_only);
    assert_eq!(l_cm[8], 2);
    let cm = compress(&img, &Metadata::raw(), &cm_only).unwrap();
    assert_eq!(version(&cm), 15);
    // The strongest level also tries the default level's coder (with its
    // own network): here the tokens are smaller, and kept.
    let strongest = long(&Options::effort(3));
    assert_eq!(strongest[8], 19);
    assert!(strongest.len() < l_cm.len());
    let (back, _) = decompress(&strongest, &Limits::default(), None).unwrap();
    assert_eq!(back, big);
    // A kind of model this build does not know is refused by name.
    for without in [without, l_without] {
        let mut c = medzip_format::Container::parse(&without, &Limits::default()).unwrap();
        c.header.model_id.extend_from_slice(&[b'Z', 1, 7]);
        let e = decompress(&c.to_bytes(), &Limits::default(), None).unwrap_err();
        assert!(e.to_string().contains("of kind 'Z'"), "{e}");
    }
    // The header's model id is a list of (tag, length, id); the network's
    // tag is 'N' (an embedded set, 'E', stands for a state and a network).
    let net_entry = |id: &[u8]| {
        let mut i = 0;
        while i + 2 <= id.len() {
            if id[i] == b'N' {
                return Some(i + 2);
            }
            i += 2 + id[i + 1] as usize;
        }
        None
    };
    for with in [with, l_with] {
        let mut c = medzip_format::Container::parse(&with, &Limits::default()).unwrap();
        c.header.model_id = medzip_codec::model_entries(&c.header.model_id)
            .unwrap()
            .into_iter()
            .flat_map(|(tag, id)| medzip_format::model::entry(tag, id))
            .collect();
        let at =
            net_entry(&c.header.model_id).expect("an 8-bit file coded with the network names it");
        c.header.model_id[at..at + 8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
        let e = decompress(&c.to_bytes(), &Limits::default(), None).unwrap_err();
        assert!(
            e.to_string().contains("context network deadbeef00010203"),
            "{e}"
        );
    }
    // An embedded set this build does not know is refused by name.
    let mut c = medzip_format::Container::parse(&cm, &Limits::default()).unwrap();
    c.header.model_id = vec![b'E', 1, 200];
    let e = decompress(&c.to_bytes(), &Limits::default(), None).unwrap_err();
    assert!(e.to_string().contains("embedded model set c8"), "{e}");
    // 9–16-bit images have their own network; without one, no entry.
    let img16 = make(29, 11, 12, false, Content::Smooth, 4);
    let id_of = |opts: &Options| {
        let f = compress(&img16, &Metadata::raw(), opts).unwrap();
        medzip_format::Container::parse(&f, &Limits::default())
            .unwrap()
            .header
            .model_id
    };
    let has_net = |id: Vec<u8>| {
        medzip_codec::model_entries(&id)
            .unwrap()
            .iter()
            .any(|e| e.0 == b'N')
    };
    assert!(has_net(id_of(&Options::default())));
    assert!(!has_net(id_of(&no_net)));
}

/// Test-pattern graphics on flat ground, with the middle rows (the
/// encoder's trial band) flat: the band says nothing, so the default and
/// strongest levels also code the whole image with the fast coder and keep
/// it where it is smaller, never larger than effort 1's file. 8-bit and
/// 16-bit signed, odd sizes.
#[test]
fn graphics_outside_the_trial_band_are_coded_no_larger_than_effort_1() {
    for (w, h, bits, signed) in [(301u32, 203u32, 8u8, false), (257, 211, 16, true)] {
        let (lo, hi) = Image::range(bits, signed);
        let level = |v: i32| lo + (hi - lo) / 255 * v;
        let glyph = |x: u32, y: u32| (x * 7 + y * 3) % 11 < 4 && (x ^ y) & 2 == 0;
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let (bx, by) = (x % 40, y % 30);
                if y >= h / 4 && y <= 3 * h / 4 {
                    level(0)
                } else if bx < 12 && by < 20 {
                    level(if (bx / 4) % 2 == 0 { 230 } else { 20 })
                } else if bx < 24 && by < 20 {
                    level(if (bx / 6 + by / 6) % 2 == 0 { 180 } else { 60 })
                } else if (26..36).contains(&bx) && (4..14).contains(&by) && glyph(bx, by) {
                    level(250)
                } else {
                    level(((x * 3 + y / 30 * 10) % 200) as i32)
                }
            })
            .collect();
        let img = Image::new(w, h, bits, signed, data).unwrap();
        let fast = roundtrip(&img, &Options::effort(1));
        for opts in [Options::default(), Options::effort(3)] {
            let f = roundtrip(&img, &opts);
            assert!(
                f.len() <= fast.len(),
                "{bits} bits: {} bytes, effort 1 {}",
                f.len(),
                fast.len()
            );
        }
    }
}
