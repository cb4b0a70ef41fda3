//! Images that were once JPEGs: the JPEG recovered from the pixels, and
//! its quantized DCT coefficients coded instead of the pixels.
//!
//! Many 8-bit images that archives keep as PNG, TIFF or native DICOM are
//! decoded JPEGs (public chest X-ray collections, exports of lossy DICOM).
//! Every 8×8 block of such an image is the inverse DCT of quantized
//! coefficients, computed by the decoder's integer arithmetic. The encoder
//! here finds the quantization table from the pixels (the DCT values of
//! the blocks cluster at multiples of each frequency's step), rounds each
//! block's DCT to those multiples, and checks which blocks libjpeg's
//! integer inverse DCT (`jpeg_idct_islow`, the default of libjpeg-turbo
//! and so of Pillow, imagecodecs and pylibjpeg) gives back exactly. When
//! nearly all do, the image is coded as:
//!
//! * the quantization table,
//! * each block's coefficients: binary decisions whose probabilities mix
//!   several adaptive context models (the same frequency in the blocks
//!   left and above, the coefficients already coded, the nonzero ones
//!   left), interior coefficients first; then the first row and column,
//!   each with a prediction from the image's samples across the block's
//!   edge (Lepton's idea), then the DC likewise;
//! * the difference between the image and the decoded JPEG, block by block
//!   (a flag per block; the pixels of a block that differs).
//!
//! The decoder is integer arithmetic only ([`idct_islow`] is libjpeg's,
//! bit for bit), like the rest of the decode path. The encoder's forward
//! DCT is floating point: it only proposes coefficients, and what the file
//! holds is checked by decoding.

use crate::cm::BitIo;
use medzip_entropy::{BinDecoder, BinEncoder, BitModel, Mixer};

/// The variant byte of a JPEG-coded pixel section: libjpeg's islow inverse
/// DCT, 8-bit samples, the block grid at the image's top-left corner.
pub const ISLOW: u8 = 0;

/// Natural index of the `i`-th coefficient in zigzag order.
pub const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

// libjpeg's jidctint.c constants: FIX(x) = round(x * 2^13).
const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;
const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_541196100: i64 = 4433;
const FIX_0_765366865: i64 = 6270;
const FIX_0_899976223: i64 = 7373;
const FIX_1_175875602: i64 = 9633;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;

#[inline(always)]
fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// libjpeg's range limit after the IDCT (`sample_range_limit +
/// CENTERJSAMPLE`, indexed with `& RANGE_MASK`): `x + 128` clamped to
/// 0..=255 for `x` in −512..=511, wrapping beyond as libjpeg's table does.
#[inline(always)]
fn range_limit(x: i64) -> u8 {
    let v = (x as i32 & 1023) as u32;
    match v {
        0..=127 => (v + 128) as u8,
        128..=511 => 255,
        512..=895 => 0,
        _ => (v - 896) as u8,
    }
}

/// One pass of the 8-point islow IDCT over `x[0..8]` (stride-free), in the
/// even/odd form of jidctint.c; returns the eight outputs before descaling.
#[inline(always)]
fn idct8(x: [i64; 8]) -> [i64; 8] {
    // Even part.
    let (z2, z3) = (x[2], x[6]);
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (x[0] + x[4]) << CONST_BITS;
    let tmp1 = (x[0] - x[4]) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);
    // Odd part.
    let (mut t0, mut t1, mut t2, mut t3) = (x[7], x[5], x[3], x[1]);
    let z1 = t0 + t3;
    let z2 = t1 + t2;
    let z3 = t0 + t2;
    let z4 = t1 + t3;
    let z5 = (z3 + z4) * FIX_1_175875602;
    t0 *= FIX_0_298631336;
    t1 *= FIX_2_053119869;
    t2 *= FIX_3_072711026;
    t3 *= FIX_1_501321110;
    let z1 = z1 * -FIX_0_899976223;
    let z2 = z2 * -FIX_2_562915447;
    let z3 = z3 * -FIX_1_961570560 + z5;
    let z4 = z4 * -FIX_0_390180644 + z5;
    t0 += z1 + z3;
    t1 += z2 + z4;
    t2 += z2 + z3;
    t3 += z1 + z4;
    [
        tmp10 + t3,
        tmp11 + t2,
        tmp12 + t1,
        tmp13 + t0,
        tmp13 - t0,
        tmp12 - t1,
        tmp11 - t2,
        tmp10 - t3,
    ]
}

/// libjpeg's `jpeg_idct_islow`, bit for bit: `deq` holds the dequantized
/// coefficients (coefficient × step) in natural order; `out` the 8×8
/// samples, row after row. (libjpeg's shortcuts for columns and rows whose
/// AC terms are zero give the same values as the full computation.)
pub fn idct_islow(deq: &[i32; 64], out: &mut [u8; 64]) {
    let v = idct_unclamped(deq);
    for (o, &v) in out.iter_mut().zip(&v) {
        *o = range_limit(v as i64);
    }
}

/// libjpeg's islow IDCT without the range limit: the samples − 128,
/// unclamped (their low ten bits are what the range limit reads).
fn idct_unclamped(deq: &[i32; 64]) -> [i32; 64] {
    let mut ws = [0i32; 64];
    for c in 0..8 {
        let o = idct8(std::array::from_fn(|r| deq[r * 8 + c] as i64));
        for r in 0..8 {
            ws[r * 8 + c] = descale(o[r], CONST_BITS - PASS1_BITS) as i32;
        }
    }
    let mut out = [0i32; 64];
    for r in 0..8 {
        let o = idct8(std::array::from_fn(|c| ws[r * 8 + c] as i64));
        for c in 0..8 {
            out[r * 8 + c] = descale(o[c], CONST_BITS + PASS1_BITS + 3) as i32;
        }
    }
    out
}

/// `cos(kπ/16)` for k = 0..=8, written out: the platform's `cos` may
/// differ in the last bit between CPUs, and the encoder's output must not.
const COS16: [f64; 9] = [
    1.0,
    0.980_785_280_403_230_4,
    0.923_879_532_511_286_7,
    0.831_469_612_302_545_2,
    std::f64::consts::FRAC_1_SQRT_2,
    0.555_570_233_019_602_2,
    0.382_683_432_365_089_8,
    0.195_090_322_016_128_25,
    0.0,
];

/// The orthonormal 8-point DCT-II basis, `B[u][x] = c(u)/2 cos((2x+1)uπ/16)`
/// with `c(0) = √½`, else 1.
fn basis() -> &'static [[f64; 8]; 8] {
    static B: std::sync::OnceLock<[[f64; 8]; 8]> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        std::array::from_fn(|u| {
            std::array::from_fn(|x| {
                let m = ((2 * x + 1) * u) % 32;
                let cos = match m {
                    0..=8 => COS16[m],
                    9..=16 => -COS16[16 - m],
                    17..=24 => -COS16[m - 16],
                    _ => COS16[32 - m],
                };
                let c = if u == 0 { COS16[4] } else { 1.0 };
                c / 2.0 * cos
            })
        })
    })
}

/// The JPEG forward DCT (orthonormal, as the standard defines it) of a block
/// of level-shifted samples, natural order.
fn fdct(px: &[f64; 64]) -> [f64; 64] {
    let b = basis();
    separable(px, |j, i| b[j][i])
}

/// A separable 8×8 transform: rows, then columns, each output `j` the sum
/// over `i` of `k(j, i)` × input `i` (the DCT's basis, or its transpose).
fn separable(a: &[f64; 64], k: impl Fn(usize, usize) -> f64) -> [f64; 64] {
    let mut t = [0f64; 64];
    for r in 0..8 {
        for j in 0..8 {
            t[r * 8 + j] = (0..8).map(|i| k(j, i) * a[r * 8 + i]).sum();
        }
    }
    std::array::from_fn(|n| {
        let (j, c) = (n / 8, n % 8);
        (0..8).map(|i| k(j, i) * t[i * 8 + c]).sum()
    })
}

/// The 8×8 block at block column `bx`, row `by`: samples level-shifted,
/// the image's last column and row repeated past its edges (as libjpeg's
/// encoder pads).
fn block_of(px: &[i32], w: usize, h: usize, bx: usize, by: usize) -> [f64; 64] {
    std::array::from_fn(|i| {
        let y = (by * 8 + i / 8).min(h - 1);
        let x = (bx * 8 + i % 8).min(w - 1);
        (px[y * w + x] - 128) as f64
    })
}

/// Whether block (`bx`, `by`) of the image equals `rec` where it is visible.
fn block_equals(px: &[i32], w: usize, h: usize, bx: usize, by: usize, rec: &[u8; 64]) -> bool {
    let (x0, y0) = (bx * 8, by * 8);
    (0..8.min(h - y0))
        .all(|r| (0..8.min(w - x0)).all(|c| px[(y0 + r) * w + x0 + c] == rec[r * 8 + c] as i32))
}

/// Chooses one frequency's quantization step from its DCT values in blocks
/// that cannot have been clamped (`total` of them): among the steps
/// (2..=255) that put all but a few values within 0.3 × the step of a
/// multiple (at most 1.5: the decoder's rounding moves 1 % of the values by
/// more than 1) and explain nearly as many of the large values as any, the
/// largest that no slightly smaller one fits clearly better; 1 when none
/// passes.
fn step_of(vals: &[f64], total: usize) -> u16 {
    // Values near zero fit every step: only the others decide.
    let big: Vec<f64> = vals.iter().copied().filter(|v| v.abs() > 1.5).collect();
    if big.is_empty() {
        return 255;
    }
    // Distance of `v` to the nearest multiple of `q`, and its square
    // capped (one outlier must not decide).
    let dist = |v: f64, q: u16| {
        let qf = q as f64;
        (v - qf * (v / qf).round()).abs()
    };
    let err = |v: f64, q: u16| dist(v, q).min(1.5).powi(2);
    // The decoder's rounding puts about 1 % of the values more than 1.5
    // from their multiple.
    let allowed = total / 100 + 4;
    // (Step 2 against 1: values near an even number rather than any; the
    // rounding noise puts up to a tenth of them more than 0.5 off.)
    let passing: Vec<u16> = (2..=255u16)
        .rev()
        .filter(|&q| {
            let (tol, allowed) = match q {
                2 => (0.5, big.len() / 5),
                _ => ((0.3 * q as f64).min(1.5), allowed),
            };
            let mut miss = 0;
            big.iter().all(|&v| {
                miss += (dist(v, q) > tol) as usize;
                miss <= allowed
            })
        })
        .collect();
    // A step too large (255 where a few blocks hold a coefficient) leaves
    // those blocks wrong; a divisor of the step only costs bits: the
    // candidates explain (nearly) as many values of 4 or more as a nonzero
    // multiple as the best does.
    let explained = |q: u16| {
        let tol = (0.3 * q as f64).min(1.5);
        big.iter()
            .filter(|&&v| v.abs() >= 4.0 && dist(v, q) <= tol && (v / q as f64).round() != 0.0)
            .count()
    };
    let most = passing.iter().map(|&q| explained(q)).max().unwrap_or(0);
    let candidates: Vec<u16> = passing
        .into_iter()
        .filter(|&q| 10 * explained(q) >= 9 * most)
        .collect();
    // When the values are all 0 or ± the step, the step + 1 fits too, but
    // clearly worse than the step: the largest candidate that no candidate
    // less than a quarter below it fits clearly better on the values it
    // does not round to zero.
    candidates
        .iter()
        .copied()
        .find(|&q| {
            let s: Vec<f64> = big
                .iter()
                .copied()
                .filter(|v| v.abs() > q as f64 / 2.0)
                .collect();
            let mean = |q: u16| s.iter().map(|&v| err(v, q)).sum::<f64>() / s.len().max(1) as f64;
            let e = mean(q);
            !candidates
                .iter()
                .any(|&q2| q2 < q && 4 * q2 >= 3 * q && mean(q2) < e - 0.15)
        })
        .unwrap_or(1)
}

/// A JPEG recovered from an image's pixels.
pub struct Recovered {
    /// Quantization steps, natural order.
    pub q: [u16; 64],
    /// Blocks across and down (partial blocks at the right and bottom
    /// included).
    pub bw: usize,
    pub bh: usize,
    /// Each block's quantized coefficients, natural order.
    pub coefs: Vec<[i16; 64]>,
    /// Which blocks the coefficients reproduce exactly.
    pub exact: Vec<bool>,
}

impl Recovered {
    /// The fraction of blocks reproduced exactly.
    pub fn exact_fraction(&self) -> f64 {
        self.exact.iter().filter(|&&e| e).count() as f64 / self.exact.len().max(1) as f64
    }
}

/// The decoded block of quantized coefficients `n` with steps `q`.
pub fn decode_block(n: &[i16; 64], q: &[u16; 64], out: &mut [u8; 64]) {
    let deq: [i32; 64] = std::array::from_fn(|i| n[i] as i32 * q[i] as i32);
    idct_islow(&deq, out);
}

/// DCT values `d` rounded to multiples of the steps `q`.
fn quantize(d: &[f64; 64], q: &[u16; 64]) -> [i16; 64] {
    std::array::from_fn(|k| (d[k] / q[k] as f64).round().clamp(-32767.0, 32767.0) as i16)
}

/// The float inverse of [`fdct`].
fn idct_f(c: &[f64; 64]) -> [f64; 64] {
    let b = basis();
    separable(c, |j, i| b[i][j])
}

/// The quantized coefficients of block (`bx`, `by`) with steps `q`, and
/// whether they reproduce it. Where the rounded DCT does not, the samples
/// the block cannot show are sought: those past the image's edge (the
/// JPEG's encoder padded with samples the decoded image does not hold),
/// and those at 0 or 255 (the decoder clamped them): for a partial block,
/// the encoder's input repeated past the edge, estimated from the decoded
/// samples corrected by the error left; then rounds that alternate between
/// the coefficients and the samples they give, keeping the known samples
/// and the clamped ones' bounds; then a descent by ± 1 per coefficient.
fn block_coefs(
    px: &[i32],
    w: usize,
    h: usize,
    bx: usize,
    by: usize,
    q: &[u16; 64],
) -> ([i16; 64], bool) {
    let quantize = |d: &[f64; 64]| quantize(d, q);
    let mut blk = block_of(px, w, h, bx, by);
    let mut rec = [0u8; 64];
    let mut n = quantize(&fdct(&blk));
    decode_block(&n, q, &mut rec);
    if block_equals(px, w, h, bx, by, &rec) {
        return (n, true);
    }
    let first = n;
    let (x0, y0) = (bx * 8, by * 8);
    // A partial block: the encoder saw the original samples repeated past
    // the image's edge, the decoded ones differ from them by the JPEG's
    // error. An estimate of the originals, nudged by the error left.
    let (vw, vh) = ((w - x0).min(8), (h - y0).min(8));
    if vw < 8 || vh < 8 {
        let mut o = block_of(px, w, h, bx, by);
        for _ in 0..8 {
            let ext: [f64; 64] =
                std::array::from_fn(|i| o[(i / 8).min(vh - 1) * 8 + (i % 8).min(vw - 1)]);
            let n2 = quantize(&fdct(&ext));
            decode_block(&n2, q, &mut rec);
            if block_equals(px, w, h, bx, by, &rec) {
                return (n2, true);
            }
            for r in 0..vh {
                for c in 0..vw {
                    o[r * 8 + c] += (px[(y0 + r) * w + x0 + c] - rec[r * 8 + c] as i32) as f64;
                }
            }
        }
    }
    for _ in 0..8 {
        let deq: [f64; 64] = std::array::from_fn(|k| n[k] as f64 * q[k] as f64);
        let f = idct_f(&deq);
        for (i, b) in blk.iter_mut().enumerate() {
            let (y, x) = (y0 + i / 8, x0 + i % 8);
            *b = if y >= h || x >= w {
                f[i]
            } else {
                match px[y * w + x] {
                    0 => f[i].min(-128.0),
                    255 => f[i].max(127.0),
                    v => (v - 128) as f64,
                }
            };
        }
        n = quantize(&fdct(&blk));
        decode_block(&n, q, &mut rec);
        if block_equals(px, w, h, bx, by, &rec) {
            return (n, true);
        }
    }
    // Then a descent, one coefficient at a time by ± 1, on the squared
    // distance of the samples it gives to those the block shows (to the
    // clamped ones' bounds).
    let p = unit_images();
    let mut f = idct_f(&std::array::from_fn(|k| n[k] as f64 * q[k] as f64));
    let target: Vec<(usize, f64, i32)> = (0..64)
        .filter_map(|i| {
            let (y, x) = (y0 + i / 8, x0 + i % 8);
            (y < h && x < w).then(|| (i, (px[y * w + x] - 128) as f64, px[y * w + x]))
        })
        .collect();
    let miss = |t: f64, v: i32, f: f64| -> f64 {
        let d = match v {
            0 => (f - t).max(0.0),
            255 => (t - f).max(0.0),
            _ => f - t,
        };
        d * d
    };
    let total = |f: &[f64; 64]| {
        target
            .iter()
            .map(|&(i, t, v)| miss(t, v, f[i]))
            .sum::<f64>()
    };
    let mut e = total(&f);
    for _ in 0..6 {
        let mut better = false;
        for &k in &ZIGZAG {
            for d in [1i16, -1] {
                let s = d as f64 * q[k] as f64;
                let e2: f64 = target
                    .iter()
                    .map(|&(i, t, v)| miss(t, v, f[i] + s * p[k][i]))
                    .sum();
                if e2 < e - 1e-9 && n[k].checked_add(d).is_some() {
                    n[k] += d;
                    for (i, fi) in f.iter_mut().enumerate() {
                        *fi += s * p[k][i];
                    }
                    e = e2;
                    better = true;
                }
            }
        }
        decode_block(&n, q, &mut rec);
        if block_equals(px, w, h, bx, by, &rec) {
            return (n, true);
        }
        if !better {
            break;
        }
    }
    (first, false)
}

/// The samples (level-shifted, float) of each coefficient alone at 1.
fn unit_images() -> &'static [[f64; 64]; 64] {
    static P: std::sync::OnceLock<Box<[[f64; 64]; 64]>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        Box::new(std::array::from_fn(|k| {
            let mut c = [0f64; 64];
            c[k] = 1.0;
            idct_f(&c)
        }))
    })
}

/// Least share of blocks a recovered JPEG must reproduce exactly.
pub const MIN_EXACT: f64 = 0.9;

/// Looks for the JPEG an 8-bit image (`px`, `w`×`h`, samples 0..=255) was
/// decoded from. `None` when it does not look like one: fewer than 32
/// unclamped whole blocks, fewer than three of the six lowest frequencies
/// quantized with a step of 2 or more, or fewer than [`MIN_EXACT`] of the
/// blocks of a sample, or of all blocks, reproduced exactly.
pub fn recover(px: &[i32], w: usize, h: usize) -> Option<Recovered> {
    if w < 16 || h < 16 || px.len() != w * h {
        return None;
    }
    let (bw, bh) = (w.div_ceil(8), h.div_ceil(8));
    // Whole blocks with no sample at 0 or 255 (no clamping in the decoder
    // could have moved their DCT).
    let clean = |bx: usize, by: usize| {
        (0..8).all(|r| {
            let row = &px[(by * 8 + r) * w + bx * 8..][..8];
            row.iter().all(|&v| v > 0 && v < 255)
        })
    };
    // A first look at a sample of up to 512 clean blocks.
    let whole: Vec<(usize, usize)> = (0..h / 8)
        .flat_map(|by| (0..w / 8).map(move |bx| (bx, by)))
        .collect();
    let stride = (whole.len() / 2048).max(1);
    let sample: Vec<(usize, usize)> = whole
        .iter()
        .step_by(stride)
        .copied()
        .filter(|&(bx, by)| clean(bx, by))
        .take(512)
        .collect();
    if sample.len() < 32 {
        return None;
    }
    let dcts: Vec<[f64; 64]> = sample
        .iter()
        .map(|&(bx, by)| fdct(&block_of(px, w, h, bx, by)))
        .collect();
    let low_steps: Vec<u16> = ZIGZAG[..6]
        .iter()
        .map(|&k| {
            let v: Vec<f64> = dcts.iter().map(|d| d[k]).collect();
            step_of(&v, v.len())
        })
        .collect();
    if low_steps.iter().filter(|&&q| q > 1 && q < 255).count() < 3 {
        return None;
    }
    // Every clean whole block decides the table; then only those whose
    // first ten frequencies sit on it (not samples changed after decoding,
    // whose values some small step would explain by chance where the
    // JPEG's coefficients are rare).
    let all: Vec<[f64; 64]> = whole
        .iter()
        .filter(|&&(bx, by)| clean(bx, by))
        .map(|&(bx, by)| fdct(&block_of(px, w, h, bx, by)))
        .collect();
    let table = |blocks: &[&[f64; 64]]| -> [u16; 64] {
        std::array::from_fn(|k| {
            let v: Vec<f64> = blocks.iter().map(|d| d[k]).collect();
            step_of(&v, v.len())
        })
    };
    let q = table(&all.iter().collect::<Vec<_>>());
    let on_grid: Vec<&[f64; 64]> = all
        .iter()
        .filter(|d| {
            ZIGZAG[..10].iter().all(|&k| {
                let qf = q[k] as f64;
                (d[k] - qf * (d[k] / qf).round()).abs() <= (0.3 * qf).clamp(0.5, 1.5)
            })
        })
        .collect();
    let q = if on_grid.len() >= 32 {
        table(&on_grid)
    } else {
        q
    };
    // The sample must come back (nearly) exactly before every block is tried.
    let mut rec = [0u8; 64];
    let good = sample
        .iter()
        .zip(&dcts)
        .filter(|(&(bx, by), d)| {
            decode_block(&quantize(d, &q), &q, &mut rec);
            block_equals(px, w, h, bx, by, &rec)
        })
        .count();
    if (good as f64) < MIN_EXACT * sample.len() as f64 {
        return None;
    }
    let mut coefs = Vec::with_capacity(bw * bh);
    let mut exact = Vec::with_capacity(bw * bh);
    for by in 0..bh {
        for bx in 0..bw {
            let (n, e) = block_coefs(px, w, h, bx, by, &q);
            exact.push(e);
            coefs.push(n);
        }
    }
    let r = Recovered {
        q,
        bw,
        bh,
        coefs,
        exact,
    };
    (r.exact_fraction() >= MIN_EXACT).then_some(r)
}

/// Contexts of an unsigned number coded as its bit length in unary, then
/// the bits below the leading one (the top two modelled by length and
/// position, the rest by length).
const UINT: usize = 17 + 17 * 2;

/// Codes `v` (encoder; ignored by the decoder) with the models `m` (one
/// context's [`UINT`] models); returns the (de)coded value.
fn code_uint<IO: BitIo>(io: &mut IO, m: &mut [BitModel], v: u32) -> u32 {
    let len = 32 - v.leading_zeros(); // 0 for v = 0
    let mut k = 0;
    while k < 16 {
        let b = io.bit(len > k, m[k as usize].p());
        m[k as usize].update(b);
        if !b {
            break;
        }
        k += 1;
    }
    code_mantissa(io, m, k as usize, v)
}

/// The bits of `v` below its leading one, `v` being `k` bits long (`k = 0`:
/// zero), with the models of [`code_uint`]'s layout; returns `v`.
fn code_mantissa<IO: BitIo>(io: &mut IO, m: &mut [BitModel], k: usize, v: u32) -> u32 {
    if k == 0 {
        return 0;
    }
    let mut out = 1u32;
    for j in (0..k - 1).rev() {
        let slot = 17 + k * 2 + ((k - 1 - j) > 1) as usize;
        let b = io.bit((v >> j) & 1 != 0, m[slot].p());
        m[slot].update(b);
        out = (out << 1) | b as u32;
    }
    out
}

/// Bucket of a small count or magnitude: 0, 1, 2, 3, 4–5, 6–8, 9–15,
/// 16–31, 32 and more.
fn bucket(v: u32) -> usize {
    match v {
        0..=3 => v as usize,
        4..=5 => 4,
        6..=8 => 5,
        9..=15 => 6,
        16..=31 => 7,
        _ => 8,
    }
}
const NB: usize = 9;

/// Position band of a zigzag index (1..=63) for the magnitude contexts.
fn band(i: usize) -> usize {
    match i {
        0..=2 => 0,
        3..=5 => 1,
        6..=9 => 2,
        10..=20 => 3,
        _ => 4,
    }
}

/// Learning rate of the mixers.
const ZMIX_RATE: i32 = 12;

/// A decision mixed from the models `ms` (and a bias) by `mixer`'s weight
/// set `sel`; every model and the mixer learn the coded bit.
fn mixed<IO: BitIo, const N: usize>(
    io: &mut IO,
    ms: [&mut BitModel; N],
    mixer: &mut Mixer,
    sel: usize,
    bit: bool,
) -> bool {
    for m in &ms {
        mixer.add(m.st());
    }
    mixer.add(256);
    let p = mixer.mix(sel).clamp(1, 4095) as u32;
    let b = io.bit(bit, p);
    for m in ms {
        m.update(b);
    }
    mixer.update(b);
    b
}

/// The adaptive models of the coefficient and difference coder.
struct Models {
    nz: Vec<BitModel>,
    dc_zero: Vec<BitModel>,
    dc_sign: Vec<BitModel>,
    dc_mag: Vec<BitModel>,
    ac_zero: Vec<BitModel>,
    /// By the previous coefficient's magnitude and the nonzeros left.
    ac_zero2: Vec<BitModel>,
    /// By the neighbours' magnitude (finer) and which of them is nonzero.
    ac_zero3: Vec<BitModel>,
    /// By the edge coefficient's prediction (and the nonzeros left).
    edge_zero: Vec<BitModel>,
    /// Mixes the four, a weight set per position.
    zmix: Mixer,
    ac_sign: Vec<BitModel>,
    /// By the prediction's size and sign.
    edge_sign: Vec<BitModel>,
    smix: Mixer,
    ac_mag: Vec<BitModel>,
    /// By position and the nonzeros left.
    ac_mag2: Vec<BitModel>,
    /// By position and the prediction's size.
    edge_mag: Vec<BitModel>,
    /// Mixes the three for the magnitude's length, a weight set per band
    /// and step.
    mmix: Mixer,
    exact: Vec<BitModel>,
    diff_zero: Vec<BitModel>,
    diff_sign: Vec<BitModel>,
    diff_mag: Vec<BitModel>,
}

impl Models {
    fn new() -> Models {
        let v = |n: usize| vec![BitModel::new(); n];
        Models {
            nz: v(2 * NB * 5 * UINT),
            dc_zero: v(NB),
            dc_sign: v(NB),
            dc_mag: v(NB * UINT),
            ac_zero: v(64 * NB * 6),
            ac_zero2: v(64 * 4 * NB),
            ac_zero3: v(64 * NB * 4),
            edge_zero: v(64 * (NB + 1) * 4),
            zmix: Mixer::new(5, 64, ZMIX_RATE),
            ac_sign: v(4 * 3),
            edge_sign: v(64 * (NB + 1) * 3),
            smix: Mixer::new(3, 64, ZMIX_RATE),
            ac_mag: v(5 * 6 * UINT),
            ac_mag2: v(64 * 6 * UINT),
            edge_mag: v(64 * (NB + 1) * UINT),
            mmix: Mixer::new(4, 5 * 17, ZMIX_RATE),
            exact: v(3),
            diff_zero: v(2),
            diff_sign: v(1),
            diff_mag: v(2 * UINT),
        }
    }
}

/// Codes a signed value: zero?, sign, magnitude − 1.
fn code_sint<IO: BitIo>(
    io: &mut IO,
    zero: &mut BitModel,
    sign: &mut BitModel,
    mag: &mut [BitModel],
    v: i32,
) -> i32 {
    let z = io.bit(v == 0, zero.p());
    zero.update(z);
    if z {
        return 0;
    }
    let neg = io.bit(v < 0, sign.p());
    sign.update(neg);
    let m = code_uint(io, mag, v.unsigned_abs().saturating_sub(1)) as i32 + 1;
    if neg {
        -m
    } else {
        m
    }
}

/// The DC coefficient that block (`bx`, `by`) of AC coefficients `n` (its
/// DC ignored) most likely has, from the image's samples `px` left of and
/// above it: at each edge sample, the step across the edge taken as the
/// mean of the gradients on either side. Returns the prediction and the
/// disagreement of the left and upper edges (in steps of the DC), or
/// `None` for the first block.
fn dc_from_edges(
    px: &[i32],
    w: usize,
    h: usize,
    bx: usize,
    by: usize,
    n: &[i16; 64],
    q: &[u16; 64],
) -> Option<(i32, u32)> {
    let mut deq: [i32; 64] = std::array::from_fn(|k| n[k] as i32 * q[k] as i32);
    deq[0] = 0;
    let f = idct_unclamped(&deq);
    let (x0, y0) = (bx * 8, by * 8);
    let (vw, vh) = (8.min(w - x0), 8.min(h - y0));
    // Sums of twice the offset (samples − 128 − AC part) each edge suggests.
    let edge = |count: usize, at: &dyn Fn(usize) -> (i32, i32, i32, i32)| -> (i64, i64) {
        let mut sum = 0i64;
        for i in 0..count {
            let (out1, out0, in0, in1) = at(i);
            sum += (2 * (out0 - 128 - in0) + (out0 - out1) + (in1 - in0)) as i64;
        }
        (sum, 2 * count as i64)
    };
    let l = (bx > 0 && vw > 1).then(|| {
        edge(vh, &|r| {
            let row = (y0 + r) * w + x0;
            (px[row - 2], px[row - 1], f[r * 8], f[r * 8 + 1])
        })
    });
    let a = (by > 0 && vh > 1).then(|| {
        edge(vw, &|c| {
            let col = y0 * w + x0 + c;
            (px[col - 2 * w], px[col - w], f[c], f[8 + c])
        })
    });
    // Offset `sum / den` in samples is a DC of 8 × that: in steps of q[0].
    let steps = |(sum, den): (i64, i64)| -> i32 {
        let (num, d) = (8 * sum, den * q[0].max(1) as i64);
        (num + d / 2).div_euclid(d) as i32
    };
    match (l, a) {
        (Some(l), Some(a)) => {
            let p = steps((l.0 + a.0, l.1 + a.1));
            Some((p, steps(l).abs_diff(steps(a))))
        }
        (Some(e), None) | (None, Some(e)) => Some((steps(e), 8)),
        (None, None) => None,
    }
}

/// The orthonormal DCT basis in fixed point: `round(2^13 B[v][y])`.
const BI: [[i64; 8]; 8] = [
    [2896, 2896, 2896, 2896, 2896, 2896, 2896, 2896],
    [4017, 3406, 2276, 799, -799, -2276, -3406, -4017],
    [3784, 1567, -1567, -3784, -3784, -1567, 1567, 3784],
    [3406, -799, -4017, -2276, 2276, 4017, 799, -3406],
    [2896, -2896, -2896, 2896, 2896, -2896, -2896, 2896],
    [2276, -4017, 799, 3406, -3406, -799, 4017, -2276],
    [1567, -3784, 3784, -1567, -1567, 3784, -3784, 1567],
    [799, -2276, 3406, -4017, 4017, -3406, 2276, -799],
];

/// Whether natural index `k` is on the coefficient block's first row or
/// column (an edge coefficient: constant along one direction), DC aside.
const fn is_edge(k: usize) -> bool {
    k != 0 && (k < 8 || k.is_multiple_of(8))
}

/// The zigzag positions (1..=63) of the interior coefficients, then of the
/// edge ones, each in zigzag order.
const ORDER: ([usize; 49], [usize; 14]) = {
    let (mut int, mut edge) = ([0usize; 49], [0usize; 14]);
    let (mut a, mut b, mut i) = (0, 0, 1);
    while i < 64 {
        if is_edge(ZIGZAG[i]) {
            edge[b] = i;
            b += 1;
        } else {
            int[a] = i;
            a += 1;
        }
        i += 1;
    }
    (int, edge)
};

/// Predictions of the edge coefficients of block (`bx`, `by`) (steps of
/// `q`, natural index; `None` where there is none) from its interior
/// coefficients in `n` and the image's two rows above it (for the first
/// row: frequencies along x) and two columns left of it (first column):
/// the block's edge samples, projected on each frequency, continue those
/// outside with the mean of the gradients on either side (Lepton's edge
/// prediction). Integer arithmetic only.
fn edge_predictions(
    px: &[i32],
    w: usize,
    h: usize,
    bx: usize,
    by: usize,
    n: &[i16; 64],
    q: &[u16; 64],
) -> [Option<i32>; 64] {
    let mut out = [None; 64];
    let (x0, y0) = (bx * 8, by * 8);
    let d = |v: usize, u: usize| n[v * 8 + u] as i64 * q[v * 8 + u] as i64;
    // `along(f)`: projection of the 8 samples f(0..8) on frequency `j`.
    let proj = |j: usize, f: &dyn Fn(usize) -> i64| (0..8).map(|t| f(t) * BI[j][t]).sum::<i64>();
    let whole_x = x0 + 8 <= w;
    let whole_y = y0 + 8 <= h;
    for j in 1..8 {
        // First row (vertical frequency 0, horizontal j): from above.
        if by > 0 && whole_x {
            let a7 = proj(j, &|x| (px[(y0 - 1) * w + x0 + x] - 128) as i64);
            let a6 = proj(j, &|x| (px[(y0 - 2) * w + x0 + x] - 128) as i64);
            let k: i64 = (1..8).map(|v| (BI[v][1] - BI[v][0]) * d(v, j)).sum();
            let s: i64 = (1..8).map(|v| BI[v][0] * d(v, j)).sum();
            out[j] = Some(ratio(
                2 * a7 + (a7 - a6) + k - 2 * s,
                2 * BI[0][0] * q[j].max(1) as i64,
            ));
        }
        // First column (horizontal frequency 0, vertical j): from the left.
        if bx > 0 && whole_y {
            let l7 = proj(j, &|y| (px[(y0 + y) * w + x0 - 1] - 128) as i64);
            let l6 = proj(j, &|y| (px[(y0 + y) * w + x0 - 2] - 128) as i64);
            let k: i64 = (1..8).map(|u| (BI[u][1] - BI[u][0]) * d(j, u)).sum();
            let s: i64 = (1..8).map(|u| BI[u][0] * d(j, u)).sum();
            out[j * 8] = Some(ratio(
                2 * l7 + (l7 - l6) + k - 2 * s,
                2 * BI[0][0] * q[j * 8].max(1) as i64,
            ));
        }
    }
    out
}

/// `num / den` rounded to the nearest integer (`den > 0`), saturated to i16.
fn ratio(num: i64, den: i64) -> i32 {
    (num + den / 2).div_euclid(den).clamp(-32767, 32767) as i32
}

/// Codes (or decodes) one AC coefficient at zigzag position `i` of block
/// `b`: zero?, sign, magnitude, mixed from the contexts of the same
/// frequency in the blocks left and above, the magnitude of the one coded
/// before it in the block (`prev`), the nonzero ones left to code
/// (`left_nz`), and for edge coefficients their prediction `pred`.
#[allow(clippy::too_many_arguments)]
fn code_ac<IO: BitIo>(
    io: &mut IO,
    m: &mut Models,
    coefs: &mut [[i16; 64]],
    b: usize,
    left: Option<usize>,
    above: Option<usize>,
    i: usize,
    prev: u32,
    left_nz: u32,
    pred: Option<i32>,
) {
    let k = ZIGZAG[i];
    let nb = |n: Option<usize>| n.map(|n| coefs[n][k] as i32);
    let (nl, na) = (nb(left), nb(above));
    let (mag, sgn) = match (nl, na) {
        (Some(x), Some(y)) => (x.unsigned_abs() + y.unsigned_abs(), (x + y).signum()),
        (Some(x), None) | (None, Some(x)) => (2 * x.unsigned_abs(), x.signum()),
        (None, None) => (0, 0),
    };
    let nbk = bucket(mag).min(5);
    let v = coefs[b][k] as i32;
    let prev = bucket(prev).min(3);
    let pattern = nl.is_some_and(|x| x != 0) as usize * 2 + na.is_some_and(|x| x != 0) as usize;
    let ln = bucket(left_nz);
    // The prediction's size (NB: none) and sign.
    let (pb, ps) = match pred {
        Some(p) => (bucket(p.unsigned_abs()), (p.signum() + 1) as usize),
        None => (NB, 1),
    };
    let z = mixed(
        io,
        [
            &mut m.ac_zero[(i * NB + ln) * 6 + nbk],
            &mut m.ac_zero2[(i * 4 + prev) * NB + ln],
            &mut m.ac_zero3[(i * NB + bucket(mag)) * 4 + pattern],
            &mut m.edge_zero[(i * (NB + 1) + pb) * 4 + ln.min(3)],
        ],
        &mut m.zmix,
        i,
        v == 0,
    );
    if z {
        coefs[b][k] = 0;
        return;
    }
    let si = i.min(3) * 3 + (sgn + 1) as usize;
    let neg = mixed(
        io,
        [
            &mut m.ac_sign[si],
            &mut m.edge_sign[(i * (NB + 1) + pb) * 3 + ps],
        ],
        &mut m.smix,
        i,
        v < 0,
    );
    // The magnitude − 1: its length in unary (mixed), the bits below its
    // leading one.
    let mv = v.unsigned_abs().saturating_sub(1);
    let len = 32 - mv.leading_zeros();
    let (m1, m2) = ((band(i) * 6 + nbk) * UINT, (i * 6 + ln.min(5)) * UINT);
    let m3 = (i * (NB + 1) + pb) * UINT;
    let mut kk = 0;
    while kk < 16 {
        let more = mixed(
            io,
            [
                &mut m.ac_mag[m1 + kk],
                &mut m.ac_mag2[m2 + kk],
                &mut m.edge_mag[m3 + kk],
            ],
            &mut m.mmix,
            band(i) * 17 + kk,
            len > kk as u32,
        );
        if !more {
            break;
        }
        kk += 1;
    }
    let out = code_mantissa(io, &mut m.ac_mag[m1..m1 + UINT], kk, mv);
    let out = (out + 1).min(32767) as i16;
    coefs[b][k] = if neg { -out } else { out };
}

/// Codes (or decodes) every block: its coefficients, then whether the
/// JPEG's block is the image's, and if not the image's samples as
/// differences from it. `coefs` and `px` hold the encoder's values and
/// receive the decoder's; `q` the steps. Per block: the count of nonzero
/// interior coefficients (neither on the first row nor column), those in
/// zigzag order up to the last nonzero one; the count of nonzero edge
/// coefficients, those likewise (with their predictions from the
/// neighbouring samples); the DC (predicted likewise).
fn code_blocks<IO: BitIo>(
    io: &mut IO,
    q: &[u16; 64],
    coefs: &mut [[i16; 64]],
    exact: &mut [bool],
    px: &mut [i32],
    w: usize,
    h: usize,
) {
    let (bw, bh) = (w.div_ceil(8), h.div_ceil(8));
    let mut m = Models::new();
    let mut nzs = vec![[0u32; 2]; bw * bh];
    let mut rec = [0u8; 64];
    for by in 0..bh {
        for bx in 0..bw {
            let b = by * bw + bx;
            let left = (bx > 0).then(|| b - 1);
            let above = (by > 0).then(|| b - bw);
            for part in 0..2 {
                let positions: &[usize] = if part == 0 { &ORDER.0 } else { &ORDER.1 };
                // Count of nonzero coefficients of this part, from the
                // neighbours' (and, for the edges, the interior's).
                let nz_in = positions
                    .iter()
                    .filter(|&&i| coefs[b][ZIGZAG[i]] != 0)
                    .count() as u32;
                let pred = match (left, above) {
                    (Some(l), Some(a)) => (nzs[l][part] + nzs[a][part]).div_ceil(2),
                    (Some(n), None) | (None, Some(n)) => nzs[n][part],
                    (None, None) => 0,
                };
                let c = (part * NB + bucket(pred)) * 5
                    + if part == 0 {
                        0
                    } else {
                        bucket(nzs[b][0]).min(4)
                    };
                let nz = code_uint(io, &mut m.nz[c * UINT..(c + 1) * UINT], nz_in)
                    .min(positions.len() as u32);
                nzs[b][part] = nz;
                let preds = match part {
                    0 => [None; 64],
                    _ => edge_predictions(px, w, h, bx, by, &coefs[b], q),
                };
                let (mut left_nz, mut prev) = (nz, 0);
                for &i in positions {
                    let k = ZIGZAG[i];
                    if left_nz == 0 {
                        coefs[b][k] = 0;
                        continue;
                    }
                    code_ac(
                        io, &mut m, coefs, b, left, above, i, prev, left_nz, preds[k],
                    );
                    prev = coefs[b][k].unsigned_abs() as u32;
                    left_nz -= (prev != 0) as u32;
                }
            }
            // The DC: the offset that continues the image's samples left
            // of and above the block into the block's AC part (its
            // gradients across the edges the mean of those on either
            // side), else the neighbour's DC.
            let (pred, spread) = match dc_from_edges(px, w, h, bx, by, &coefs[b], q) {
                Some(p) => p,
                None => {
                    let dc = |n: Option<usize>| n.map(|n| coefs[n][0] as i32);
                    let (l, a) = (dc(left), dc(above));
                    (l.or(a).unwrap_or(0), 16)
                }
            };
            let c = bucket(spread);
            let d = code_sint(
                io,
                &mut m.dc_zero[c],
                &mut m.dc_sign[c],
                &mut m.dc_mag[c * UINT..(c + 1) * UINT],
                coefs[b][0] as i32 - pred,
            );
            coefs[b][0] = (pred + d).clamp(-32767, 32767) as i16;
            // The image's samples where the JPEG's differ.
            let ec = left.is_some_and(|n| !exact[n]) as usize
                + above.is_some_and(|n| !exact[n]) as usize;
            let e = io.bit(exact[b], m.exact[ec].p());
            m.exact[ec].update(e);
            exact[b] = e;
            decode_block(&coefs[b], q, &mut rec);
            let (x0, y0) = (bx * 8, by * 8);
            let mut prev_zero = 1;
            for r in 0..8.min(h - y0) {
                for c in 0..8.min(w - x0) {
                    let p = &mut px[(y0 + r) * w + x0 + c];
                    let j = rec[r * 8 + c] as i32;
                    if e {
                        *p = j;
                        continue;
                    }
                    let d = code_sint(
                        io,
                        &mut m.diff_zero[prev_zero],
                        &mut m.diff_sign[0],
                        &mut m.diff_mag[prev_zero * UINT..(prev_zero + 1) * UINT],
                        *p - j,
                    );
                    prev_zero = (d != 0) as usize;
                    *p = j + d;
                }
            }
        }
    }
}

/// The pixel section's body for a recovered JPEG: variant byte, the 64
/// steps (u16, natural order), then the coded blocks.
pub fn encode(r: &Recovered, px: &[i32], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![ISLOW];
    for q in r.q {
        out.extend_from_slice(&q.to_le_bytes());
    }
    let mut enc = BinEncoder::new();
    let mut coefs = r.coefs.clone();
    let mut exact = r.exact.clone();
    let mut px = px.to_vec();
    code_blocks(&mut enc, &r.q, &mut coefs, &mut exact, &mut px, w, h);
    out.extend_from_slice(&enc.finish());
    out
}

/// What a JPEG-coded body records of the JPEG: the inverse DCT (variant
/// byte) and the quantization steps (natural order).
pub fn steps(body: &[u8]) -> Option<(u8, [u16; 64])> {
    if body.len() < 129 {
        return None;
    }
    let q = std::array::from_fn(|i| u16::from_le_bytes([body[1 + 2 * i], body[2 + 2 * i]]));
    Some((body[0], q))
}

/// The IJG quality (1–100) whose luminance table has DC step `dc`, as
/// libjpeg scales the standard table (DC 16 at quality 50): an estimate of
/// the quality the JPEG was saved with.
pub fn quality_of_dc(dc: u16) -> u32 {
    let s = dc as u32 * 100 / 16; // the scale factor in per cent
    match s {
        0..=100 => (200 - s) / 2,
        _ => (5000 / s).max(1),
    }
    .clamp(1, 100)
}

/// Decodes a body written by [`encode`] into `w`×`h` samples; `None` when
/// it is damaged (or of a variant this build does not know).
pub fn decode(body: &[u8], w: usize, h: usize) -> Option<Vec<i32>> {
    let (variant, q) = steps(body)?;
    if variant != ISLOW || w == 0 || h == 0 {
        return None;
    }
    let mut dec = BinDecoder::new(&body[129..]).ok()?;
    let nb = w.div_ceil(8) * h.div_ceil(8);
    let mut coefs = vec![[0i16; 64]; nb];
    let mut exact = vec![false; nb];
    let mut px = vec![0i32; w * h];
    code_blocks(&mut dec, &q, &mut coefs, &mut exact, &mut px, w, h);
    (!dec.failed()).then_some(px)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence (xorshift).
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    /// The luminance table of the JPEG standard scaled as libjpeg does for
    /// `quality` (natural order).
    fn ijg_table(quality: u32) -> [u16; 64] {
        const STD: [u32; 64] = [
            16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
            69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55,
            64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100,
            103, 99,
        ];
        let scale = if quality < 50 {
            5000 / quality
        } else {
            200 - 2 * quality
        };
        std::array::from_fn(|k| ((STD[k] * scale + 50) / 100).clamp(1, 255) as u16)
    }

    /// The quality-75 luminance table of the JPEG standard (natural order).
    const Q75: [u16; 64] = [
        8, 6, 5, 8, 12, 20, 26, 31, 6, 6, 7, 10, 13, 29, 30, 28, 7, 7, 8, 12, 20, 29, 35, 28, 7, 9,
        11, 15, 26, 44, 40, 31, 9, 11, 19, 28, 34, 55, 52, 39, 12, 18, 28, 32, 41, 52, 57, 46, 25,
        32, 39, 44, 52, 61, 60, 51, 36, 46, 48, 49, 56, 50, 52, 50,
    ];

    /// What a JPEG encoder and decoder make of a smooth `w`×`h` image with
    /// noise: padded by repeating its last column and row, each block's DCT
    /// quantized with `q`, decoded by [`idct_islow`], cropped.
    fn decoded_jpeg(w: usize, h: usize, q: &[u16; 64], seed: u64) -> Vec<i32> {
        let mut r = rng(seed);
        let orig: Vec<i32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let v = 120.0 + 50.0 * (x / 9.0).sin() * (y / 13.0).cos() + (r() % 9) as f64;
                v.round() as i32
            })
            .collect();
        let mut px = vec![0i32; w * h];
        let mut rec = [0u8; 64];
        for by in 0..h.div_ceil(8) {
            for bx in 0..w.div_ceil(8) {
                let d = fdct(&block_of(&orig, w, h, bx, by));
                let n: [i16; 64] = std::array::from_fn(|k| (d[k] / q[k] as f64).round() as i16);
                decode_block(&n, q, &mut rec);
                for y in 0..8.min(h - by * 8) {
                    for x in 0..8.min(w - bx * 8) {
                        px[(by * 8 + y) * w + bx * 8 + x] = rec[y * 8 + x] as i32;
                    }
                }
            }
        }
        px
    }

    #[test]
    fn quality_from_the_dc_step() {
        for (dc, q) in [(8, 75), (16, 50), (2, 94), (1, 97), (32, 25), (255, 3)] {
            assert_eq!(quality_of_dc(dc), q, "{dc}");
        }
    }

    #[test]
    fn idct_of_a_dc_block_is_flat_and_clamped() {
        let mut out = [0u8; 64];
        let mut deq = [0i32; 64];
        for (dc, want) in [(0, 128), (80, 138), (-80, 118), (4000, 255), (-4000, 0)] {
            deq[0] = dc;
            idct_islow(&deq, &mut out);
            assert!(out.iter().all(|&v| v == want), "{dc}: {out:?}");
        }
    }

    #[test]
    fn idct_islow_is_within_one_of_the_exact_transform() {
        let mut r = rng(7);
        let mut out = [0u8; 64];
        for _ in 0..2000 {
            let deq: [i32; 64] = std::array::from_fn(|k| {
                let v = (r() % 61) as i32 - 30;
                if k == 0 {
                    v * 8
                } else if r().is_multiple_of(4) {
                    v
                } else {
                    0
                }
            });
            idct_islow(&deq, &mut out);
            let f = idct_f(&std::array::from_fn(|k| deq[k] as f64));
            for i in 0..64 {
                let want = (f[i] + 128.0).round().clamp(0.0, 255.0);
                assert!(
                    (out[i] as f64 - want).abs() <= 1.0,
                    "{i}: {} vs {want}",
                    out[i]
                );
            }
        }
    }

    #[test]
    fn the_written_out_basis_is_the_cosine_basis() {
        let b = basis();
        for (u, row) in b.iter().enumerate() {
            for (x, &v) in row.iter().enumerate() {
                let c = if u == 0 { 0.5f64.sqrt() } else { 1.0 };
                let want =
                    c / 2.0 * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos();
                assert!((v - want).abs() < 1e-15, "{u} {x}");
            }
        }
    }

    #[test]
    fn forward_and_inverse_float_transforms_invert() {
        let mut r = rng(3);
        let x: [f64; 64] = std::array::from_fn(|_| (r() % 255) as f64 - 128.0);
        let y = idct_f(&fdct(&x));
        assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-9));
    }

    /// Odd sizes (partial blocks at the right and bottom), the steps found
    /// from the pixels, every block exact, and the coded blocks decode to
    /// the image; with some samples changed afterwards (annotations), the
    /// changed blocks are coded as differences and still come back exactly.
    #[test]
    fn recovered_jpegs_round_trip() {
        for (w, h, seed) in [(101, 77, 1), (64, 64, 2), (203, 157, 3)] {
            let mut px = decoded_jpeg(w, h, &Q75, seed);
            let r = recover(&px, w, h).expect("a decoded JPEG");
            for &k in &ZIGZAG[..6] {
                assert_eq!(r.q[k], Q75[k], "{w}×{h}: step {k}");
            }
            // Every whole block exact (partial ones at the edges, whose
            // padding the encoder saw and the image does not hold, mostly).
            for (b, &e) in r.exact.iter().enumerate() {
                let (bx, by) = (b % r.bw, b / r.bw);
                assert!(e || bx * 8 + 8 > w || by * 8 + 8 > h, "{w}×{h}: block {b}");
            }
            let body = encode(&r, &px, w, h);
            assert_eq!(decode(&body, w, h).as_deref(), Some(&px[..]));
            // Marks burned in after decoding.
            for i in (0..px.len()).step_by(2503) {
                px[i] = 255 - px[i];
            }
            let r = recover(&px, w, h).unwrap_or_else(|| panic!("{w}×{h}: still a decoded JPEG"));
            assert!(r.exact.iter().any(|&e| !e));
            let body = encode(&r, &px, w, h);
            assert_eq!(decode(&body, w, h).as_deref(), Some(&px[..]));
            // Damage is refused or decodes to something else, never panics.
            for cut in [130, body.len() / 2] {
                if let Some(d) = decode(&body[..cut - cut % 4], w, h) {
                    assert_eq!(d.len(), w * h);
                }
            }
        }
    }

    /// A quality-90 JPEG: steps of 2 and 3 in the low frequencies, which
    /// the decoder's rounding noise nearly hides.
    #[test]
    fn fine_steps_are_found() {
        let q90 = ijg_table(90);
        assert_eq!(ijg_table(75), Q75);
        assert_eq!(&q90[..4], &[3, 2, 2, 3]);
        let (w, h) = (160, 120);
        let px = decoded_jpeg(w, h, &q90, 5);
        let r = recover(&px, w, h).expect("a quality-90 JPEG");
        for &k in &ZIGZAG[..6] {
            assert_eq!(r.q[k], q90[k], "step {k}");
        }
        assert_eq!(
            decode(&encode(&r, &px, w, h), w, h).as_deref(),
            Some(&px[..])
        );
    }

    #[test]
    fn images_that_never_were_jpegs_are_not_taken_for_one() {
        let mut r = rng(11);
        let (w, h) = (96, 80);
        let noise: Vec<i32> = (0..w * h).map(|_| (r() % 256) as i32).collect();
        assert!(recover(&noise, w, h).is_none());
        let smooth: Vec<i32> = (0..w * h)
            .map(|i| ((i % w) + (i / w) + (r() % 5) as usize) as i32 % 256)
            .collect();
        assert!(recover(&smooth, w, h).is_none());
        // Too small to tell.
        assert!(recover(&decoded_jpeg(15, 40, &Q75, 1), 15, 40).is_none());
    }
}
