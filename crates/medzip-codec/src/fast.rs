//! The fast coder (effort level 1): built for speed, not the context-mixing
//! coder with parts switched off.
//!
//! Per pixel: a blend of seven classical predictors, each weighted by the
//! inverse of its recent errors around the pixel (JPEG XL's weighted
//! predictor, with three more predictors), in fixed point; a context from
//! the size of the neighbours' errors and how the local gradient compares
//! with it (and, where the encoder's trial on a band says it pays, from
//! the 8×8 grid of a JPEG the pixels were decoded from); LOCO-I's bias
//! correction; the residual coded as one token of an adaptive multi-symbol
//! distribution (exponent class and two leading mantissa bits, JPEG XL's
//! hybrid-uint split) plus its remaining low bits raw, over rANS
//! ([`medzip_entropy::rans`]). One modelled symbol per pixel, no network,
//! integer arithmetic only: every machine decodes the same bits.
//!
//! Stripes of rows are coded independently (threads), as by the context
//! coder; the values are those of the value map (`0..=maxv`).

// The per-predictor loops index several parallel arrays at once.
#![allow(clippy::needless_range_loop)]

use medzip_entropy::rans::{Adaptation, AdaptiveCdf, RansDecoder, RansEncoder};

/// Tokens below this are the value itself.
const DIRECT: u32 = 16;
/// Mantissa bits (below the leading one) carried in a token.
const MSB: u32 = 2;
const _: () = assert!(1 << MSB <= DIRECT);
/// Number of contexts (classes of the neighbours' error size).
const CONTEXTS: usize = ERR_CLASSES * 4 * 2;
/// Contexts of [`Config::exact`] (see `Model::predict_exact`).
const EXACT_CONTEXTS: usize = 66;
/// Classes of the neighbours' error size.
const ERR_CLASSES: usize = 24;

/// Predictor constants: JPEG XL's defaults for its weighted predictor's
/// four predictors, then three more (N + W − NW and two averages).
const P1C: i64 = 16;
const P2C: i64 = 10;
const P3C: i64 = 7;
/// Number of predictors blended.
const NP: usize = 7;
/// Per-predictor errors are kept in vectors of `LANES` (one unused), so
/// that their sums run as whole vectors.
const LANES: usize = 8;
type Errs = [u32; LANES];
/// Each predictor's largest weight (the error-corrected ones count more
/// than in JPEG XL: measured on the dev sets, 2026-11-30).
const WEIGHTS: [u32; NP] = [13, 20, 20, 20, 14, 10, 10];

/// `(1 << 24) / (i + 1)`.
const DIV: [u32; 64] = {
    let mut t = [0u32; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = (1 << 24) / (i as u32 + 1);
        i += 1;
    }
    t
};

#[inline]
const fn floor_log2(x: u32) -> u32 {
    31 - x.leading_zeros()
}

/// A predictor's weight from the sum of its recent errors.
#[inline]
const fn error_weight(err_sum: u32, max_weight: u32) -> u32 {
    let shift = floor_log2(err_sum + 1).saturating_sub(5);
    4 + ((max_weight * DIV[(err_sum >> shift) as usize]) >> shift)
}

/// Error sums below this take their weights from [`WEIGHT_TABLE`].
const WEIGHT_TABLE_LEN: usize = 512;

/// `error_weight(e, WEIGHTS[i])` for the common (small) error sums: one
/// load instead of a logarithm, a multiplication and two shifts.
static WEIGHT_TABLE: [[u32; WEIGHT_TABLE_LEN]; NP] = {
    let mut t = [[0u32; WEIGHT_TABLE_LEN]; NP];
    let mut i = 0;
    while i < NP {
        let mut e = 0;
        while e < WEIGHT_TABLE_LEN {
            t[i][e] = error_weight(e as u32, WEIGHTS[i]);
            e += 1;
        }
        i += 1;
    }
    t
};

/// Predictor `i`'s weight for the error sum `e`.
#[inline(always)]
fn weight(i: usize, e: u32) -> u32 {
    match WEIGHT_TABLE[i].get(e as usize) {
        Some(&w) => w,
        None => error_weight(e, WEIGHTS[i]),
    }
}

/// Tokens needed for values `0..=zmax`, with `M` mantissa bits per token
/// (`M ≤ 4`: tokens below [`DIRECT`] are values).
pub(crate) fn tokens_for<const M: u32>(zmax: u32) -> usize {
    if zmax < DIRECT {
        (zmax as usize + 1).max(2)
    } else {
        (DIRECT + (floor_log2(zmax) - floor_log2(DIRECT) + 1) * (1 << M)) as usize
    }
}

/// Starting weights of a distribution of `ntok` tokens (`M` mantissa
/// bits) for a context of size class `ec` (two classes per octave of the
/// residual ×8: 0, 1, 2, 3, 4, 6, 8, 12, …): flat up to the token of that
/// size, then halving every two tokens.
pub(crate) fn class_weights<const M: u32>(ec: u32, ntok: usize, maxv: i32) -> Vec<u32> {
    let a = if ec < 2 {
        ec
    } else {
        (2 + (ec & 1)) << (ec / 2 - 1)
    };
    let t0 = tokenize::<M>((a / 4).min(maxv as u32)).0 as u32;
    (0..ntok as u32)
        .map(|t| (1 << 16) >> (t.saturating_sub(t0) / 2).min(15))
        .collect()
}

/// (token, raw bits, number of raw bits): the exponent class and the `M`
/// mantissa bits below the leading one in the token, the rest raw.
#[inline]
pub(crate) fn tokenize<const M: u32>(z: u32) -> (usize, u32, u32) {
    if z < DIRECT {
        return (z as usize, 0, 0);
    }
    let n = floor_log2(z);
    let nraw = n - M;
    let m = (z >> nraw) & ((1 << M) - 1);
    let tok = DIRECT + ((n - floor_log2(DIRECT)) << M) + m;
    (tok as usize, z & ((1 << nraw) - 1), nraw)
}

/// The number of raw bits of a token, and its value without them.
#[inline]
pub(crate) fn untokenize<const M: u32>(tok: usize) -> (u32, u32) {
    let t = tok as u32;
    if t < DIRECT {
        return (t, 0);
    }
    let n = ((t - DIRECT) >> M) + floor_log2(DIRECT);
    let m = (t - DIRECT) & ((1 << M) - 1);
    let nraw = n - M;
    ((((1 << M) | m) << nraw), nraw)
}

/// A residual `e` of a pixel predicted as `p` (both ends of `0..=maxv`
/// reachable) as an unsigned value, small for small errors.
#[inline]
pub(crate) fn fold(e: i32, p: i32, maxv: i32) -> u32 {
    let m = p.min(maxv - p);
    if e.abs() <= m {
        if e >= 0 {
            2 * e as u32
        } else {
            (-2 * e - 1) as u32
        }
    } else {
        (m + e.abs()) as u32
    }
}

#[inline]
pub(crate) fn unfold(z: u32, p: i32, maxv: i32) -> i32 {
    let m = p.min(maxv - p);
    let z = z as i32;
    // Both cases computed, one selected (no data-dependent branch).
    let near = (z >> 1) ^ -(z & 1);
    let a = z - m;
    // Beyond the symmetric band only one side of the range reaches.
    let far = if p + a <= maxv { a } else { -a };
    if z <= 2 * m {
        near
    } else {
        far
    }
}

/// Rows per stripe for an image of `w × h` and a target of `target`
/// pixels per stripe: images of 2^18 pixels or more are cut into at least
/// two stripes, and into a multiple of four beyond two (the last stripe
/// takes what is left, so the count can come out lower), so that two
/// threads share them about evenly.
pub fn stripe_rows(w: u32, h: u32, target: u64) -> u32 {
    let n = w as u64 * h as u64;
    let mut k = n.div_ceil(target.max(1)).max(1);
    if n >= 1 << 18 && h >= 2 {
        k = balanced_stripes(k.max(2));
    }
    (h as u64).div_ceil(k).max(1) as u32
}

/// A stripe count that two or four threads share evenly: `k` up to two,
/// else `k` rounded up to a multiple of four.
pub(crate) fn balanced_stripes(k: u64) -> u64 {
    if k <= 2 {
        k
    } else {
        k.div_ceil(4) * 4
    }
}

/// What the encoder chose for an image (stored with it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Contexts and bias corrections also by position in the 8×8 grid of
    /// a JPEG the pixels were once decoded from (the first row and column
    /// of each block): for images that are decoded JPEGs.
    pub grid: bool,
    /// The distributions adapt with [`Adaptation::Quick`] (every file
    /// made since commit fae7c88, 2026-11-30), else [`Adaptation::Classic`].
    pub quick: bool,
    /// Synthetic content (test patterns, screenshots, renderings, text on
    /// flat ground: most pixels exactly N + W − NW): that one predictor,
    /// no bias correction, and contexts from the sizes of the neighbours'
    /// exact residuals (files made since 2026-11-30; not with `grid`).
    pub exact: bool,
    /// With `exact`: a memory of neighbourhoods seen before (test
    /// patterns, text and graphics repeat): where the value that followed
    /// the same eight neighbours last time differs from the prediction, a
    /// binary flag says whether the pixel is that value again, before any
    /// residual (files made since 2026-12-02; the model is `Memory` in
    /// this module).
    pub memory: bool,
}

impl Config {
    pub fn byte(self) -> u8 {
        self.grid as u8
            | (self.quick as u8) << 1
            | (self.exact as u8) << 2
            | (self.memory as u8) << 3
    }
    pub fn from_byte(b: u8) -> Option<Config> {
        let c = Config {
            grid: b & 1 == 1,
            quick: b & 2 == 2,
            exact: b & 4 == 4,
            memory: b & 8 == 8,
        };
        (b <= 15 && !(c.grid && c.exact) && (c.exact || !c.memory)).then_some(c)
    }

    /// How `medzip info` names the coder with this configuration.
    pub fn describe(self) -> String {
        let parts: Vec<&str> = [
            (self.grid, "JPEG-grid contexts"),
            (self.quick, "quick adaptation"),
            (self.exact, "exact gradient for synthetic content"),
            (self.memory, "memory of repeated neighbourhoods"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if parts.is_empty() {
            "fast".into()
        } else {
            format!("fast ({})", parts.join(", "))
        }
    }

    fn adaptation(self) -> Adaptation {
        if self.quick {
            Adaptation::Quick
        } else {
            Adaptation::Classic
        }
    }

    /// Chooses the configuration for an image of values `px` (rows of
    /// `w`). The grid contexts pay on decoded JPEGs, whose 8×8 block
    /// edges show as larger steps between pixels across the grid lines
    /// than elsewhere: an image with no such excess (< 4 % in both
    /// directions) is coded plain, one with a clear excess (≥ 10 % in both)
    /// with the grid; in between, a trial on a band of middle rows decides
    /// (on the dev sets of 2026-11-30 the first two rules chose as the
    /// trial did on every image they decided, and left 19 % to the trial).
    ///
    /// An image whose pixels are mostly exactly N + W − NW
    /// ([`synthetic`]) is tried with [`Config::exact`] too, with and
    /// without [`Config::memory`], on the same band.
    pub fn choose(px: &[i32], w: usize, maxv: i32) -> Config {
        let plain = Config {
            grid: false,
            quick: true,
            exact: false,
            memory: false,
        };
        let grid = Config {
            grid: true,
            ..plain
        };
        if synthetic(px, w) {
            let exact = Config {
                exact: true,
                ..plain
            };
            let memory = Config {
                memory: true,
                ..exact
            };
            let rows = band(px, w);
            let size = |cfg| encode_stripe(rows.1, w, rows.0, maxv, cfg).len();
            let (a, (b, c)) = rayon::join(
                || size(plain),
                || rayon::join(|| size(exact), || size(memory)),
            );
            // The smallest; on a tie the simpler.
            if c < b.min(a) {
                return memory;
            }
            if b < a {
                return exact;
            }
        }
        let (bx, by) = blockiness(px, w);
        // Ratios in hundredths.
        let (lo, hi) = (bx.min(by), bx.max(by));
        if hi < 104 {
            return plain;
        }
        if lo >= 110 {
            return grid;
        }
        let (y0, rows) = band(px, w);
        let (a, b) = rayon::join(
            || encode_stripe(rows, w, y0, maxv, plain).len(),
            || encode_stripe(rows, w, y0, maxv, grid).len(),
        );
        if b < a {
            grid
        } else {
            plain
        }
    }
}

/// The rows an encoder's trial codes: the middle eighth of the image (at
/// least 64 rows, at most all), and the index of its first row.
pub fn band(px: &[i32], w: usize) -> (usize, &[i32]) {
    let (y0, n) = band_rows(px.len() / w, 64);
    (y0, &px[y0 * w..(y0 + n) * w])
}

/// The middle eighth of `h` rows (at least `min`, at most all): its first
/// row and its number of rows.
pub(crate) fn band_rows(h: usize, min: usize) -> (usize, usize) {
    let n = (h / 8).max(min).min(h);
    ((h - n) / 2, n)
}

/// Whether most pixels (more than 70 %) of an image (values `px`, rows of
/// `w`) are exactly N + W − NW: content made by a program rather than a
/// detector. On the dev sets of 2026-11-30: chest X-rays 5–65 %, high-bit
/// images 2–81 % (two of 29 above 70 %), an 8-bit ultrasound 77 %, test
/// patterns 98 %.
pub fn synthetic(px: &[i32], w: usize) -> bool {
    let h = px.len() / w;
    if w < 2 || h < 2 {
        return false;
    }
    let mut exact = 0u64;
    for (up, row) in px.chunks_exact(w).zip(px.chunks_exact(w).skip(1)) {
        for x in 1..w {
            exact += (row[x] == row[x - 1] + up[x] - up[x - 1]) as u64;
        }
    }
    exact * 10 > 7 * (w as u64 - 1) * (h as u64 - 1)
}

/// The mean step between horizontal neighbours across the 8×8 grid's
/// vertical lines (between x = 8k − 1 and 8k) over the mean step between
/// all horizontal neighbours, in hundredths; the same vertically. 100 for
/// images too small to tell.
fn blockiness(px: &[i32], w: usize) -> (u64, u64) {
    let h = px.len() / w;
    // (sum of steps, count) across grid lines and overall, per direction.
    let (mut xb, mut xa, mut yb, mut ya) = ([0u64; 2], [0u64; 2], [0u64; 2], [0u64; 2]);
    for (y, row) in px.chunks_exact(w).enumerate() {
        for (x, p) in row.windows(2).enumerate() {
            let d = p[0].abs_diff(p[1]) as u64;
            xa[0] += d;
            if x % 8 == 7 {
                xb[0] += d;
                xb[1] += 1;
            }
        }
        xa[1] += w as u64 - 1;
        if y + 1 < h {
            let below = &px[(y + 1) * w..(y + 2) * w];
            let s: u64 = row
                .iter()
                .zip(below)
                .map(|(a, b)| a.abs_diff(*b) as u64)
                .sum();
            ya[0] += s;
            ya[1] += w as u64;
            if y % 8 == 7 {
                yb[0] += s;
                yb[1] += w as u64;
            }
        }
    }
    let ratio = |b: [u64; 2], a: [u64; 2]| -> u64 {
        if b[1] == 0 || a[0] == 0 {
            return 100;
        }
        // (b0 / b1) / (a0 / a1) × 100, in u128 (sums of up to 2^16 × 2^32).
        (b[0] as u128 * a[1] as u128 * 100 / (b[1] as u128 * a[0] as u128)) as u64
    };
    (ratio(xb, xa), ratio(yb, ya))
}

/// Cells left of each row (x − 1 and x − 2), and one right of it.
const PAD: usize = 2;

/// Per-stripe modelling state: two rows (padded) of values, the blend's
/// errors and the predictors' errors; the context distributions; the bias
/// corrections.
struct Model {
    cfg: Config,
    w: usize,
    maxv: i32,
    /// Values of the row above and of the current row.
    top: Vec<i32>,
    cur: Vec<i32>,
    /// Values of the row two above (read by [`Memory`] only).
    top2: Vec<i32>,
    /// The blend's error ×8 (prediction − value), same rows.
    te_top: Vec<i32>,
    te_cur: Vec<i32>,
    /// Each predictor's absolute error (rounded, ×1), same rows.
    err_top: Vec<Errs>,
    err_cur: Vec<Errs>,
    /// The row above's share of each error sum: its errors at x − 1, x and
    /// x + 1 (summed once per row).
    esum_top: Vec<Errs>,
    cdfs: Vec<AdaptiveCdf>,
    /// Bias correction per bias context (LOCO-I's, without division, in
    /// eighths): (error sum, count, correction).
    bias: Vec<(i32, i32, i32)>,
    memory: Option<Memory>,
}

/// Slots of [`Memory`]'s table are `1 << MEMORY_BITS` (per stripe).
const MEMORY_BITS: u32 = 16;
/// Contexts of [`Memory`]'s flag: how many times in a row the slot's value
/// came again (0–3), and whether the pixel's exact-gradient context is 0
/// (the exact residuals around it zero, its neighbourhood flat).
const MEMORY_CONTEXTS: usize = 8;

/// [`Config::memory`]'s model (one per stripe): a table, indexed by a hash
/// of a pixel's eight nearest causal neighbours (W, WW, NW, N, NE, NNW, NN,
/// NNE), of the value that followed that neighbourhood last time; and the
/// distributions of the flag that says whether it follows again (the
/// "2D context" of PAQ-style image models, reduced to one guess per
/// pixel). On the test patterns of the dev compat set, 63 % of the pixels
/// that N + W − NW misses are such repeats.
struct Memory {
    slots: Vec<Slot>,
    flags: Vec<AdaptiveCdf>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The hash's low bits, odd (0: an empty slot).
    tag: u32,
    value: i32,
    /// How many times in a row the value came again (at most 3).
    hits: u32,
}

impl Memory {
    fn new(adaptation: Adaptation) -> Self {
        Memory {
            slots: vec![Slot::default(); 1 << MEMORY_BITS],
            flags: vec![AdaptiveCdf::with_weights(&[1, 1], adaptation); MEMORY_CONTEXTS],
        }
    }

    /// The slot of a neighbourhood and its tag.
    #[inline(always)]
    fn key(values: [i32; 8]) -> (usize, u32) {
        let mut h = 0u64;
        for v in values {
            h = (h ^ v as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        ((h >> (64 - MEMORY_BITS)) as usize, h as u32 | 1)
    }

    /// The slot's value and the flag's context, where the slot holds this
    /// neighbourhood and a value other than the prediction `p` (`quiet`:
    /// the exact-gradient context is 0).
    #[inline(always)]
    fn guess(&self, (slot, tag): (usize, u32), p: i32, quiet: bool) -> Option<(i32, usize)> {
        let s = self.slots[slot];
        (s.tag == tag && s.value != p).then_some((s.value, s.hits as usize * 2 + quiet as usize))
    }

    #[inline(always)]
    fn learn(&mut self, (slot, tag): (usize, u32), v: i32) {
        let s = &mut self.slots[slot];
        let again = s.tag == tag && s.value == v;
        *s = Slot {
            tag,
            value: v,
            hits: if again { (s.hits + 1).min(3) } else { 0 },
        };
    }
}

/// Bias contexts: the context, the signs of the errors above and to the
/// left, and (with `Config::grid`) the position in the 8×8 grid.
const BIAS_CONTEXTS: usize = CONTEXTS * 4 * 4;

/// A pixel's causal neighbourhood.
struct Neighbours {
    n: i32,
    w: i32,
    ne: i32,
    nw: i32,
    te_n: i64,
    te_w: i64,
    te_nw: i64,
    te_ne: i64,
    /// Each predictor's recent errors around the pixel (N, NW, NE, W, WW).
    esum: Errs,
}

/// The cells left of a pixel: W's value and blend error, the predictors'
/// errors at W and WW.
struct Left {
    v: i32,
    te: i32,
    e1: Errs,
    e2: Errs,
}

/// What the model predicts for one pixel.
struct Prediction {
    /// The blend, ×8.
    p8: i64,
    /// The predictions, ×8.
    sub: [i64; NP],
    /// The rounded, bias-corrected prediction in `0..=maxv`.
    p: i32,
    ctx: usize,
    bctx: usize,
}

impl Model {
    fn new(cfg: Config, w: usize, maxv: i32) -> Self {
        let ntok = tokens_for::<MSB>(maxv as u32);
        // Each context starts from the shape its error class suggests: flat
        // up to the token of the error size the class stands for, then
        // falling (halving every two tokens); adaptation does the rest.
        let per_class = if cfg.grid { 8 } else { 4 };
        let cdfs = if cfg.exact {
            // Synthetic content: every context starts peaked at zero.
            let weights: Vec<u32> = (0..ntok as u32)
                .map(|t| (1 << 16) >> (t / 2).min(15))
                .collect();
            vec![AdaptiveCdf::with_weights(&weights, cfg.adaptation()); EXACT_CONTEXTS]
        } else {
            (0..if cfg.grid { CONTEXTS } else { CONTEXTS / 2 })
                .map(|c| {
                    let weights = class_weights::<MSB>((c / per_class) as u32, ntok, maxv);
                    AdaptiveCdf::with_weights(&weights, cfg.adaptation())
                })
                .collect()
        };
        let len = w + PAD + 1;
        Model {
            cfg,
            w,
            maxv,
            top: vec![0; len],
            cur: vec![0; len],
            top2: vec![0; len],
            te_top: vec![0; len],
            te_cur: vec![0; len],
            err_top: vec![[0; LANES]; len],
            err_cur: vec![[0; LANES]; len],
            esum_top: vec![[0; LANES]; len],
            cdfs,
            bias: vec![
                (0, 0, 0);
                if cfg.grid {
                    BIAS_CONTEXTS
                } else {
                    BIAS_CONTEXTS / 4
                }
            ],
            memory: cfg.memory.then(|| Memory::new(cfg.adaptation())),
        }
    }

    /// Starts a row below the one just coded: the edge cells take the
    /// values JPEG XL's edge rules give (W = N at the left edge, NE = N at
    /// the right, NW = N; errors beyond the edges count as zero).
    fn next_row(&mut self) {
        // (The row two above keeps the edge cells it was given as the row above.)
        std::mem::swap(&mut self.top2, &mut self.top);
        std::mem::swap(&mut self.top, &mut self.cur);
        std::mem::swap(&mut self.te_top, &mut self.te_cur);
        std::mem::swap(&mut self.err_top, &mut self.err_cur);
        let (l, r) = (PAD, PAD + self.w);
        self.top[l - 1] = self.top[l];
        self.top[r] = self.top[r - 1];
        self.te_top[l - 1] = self.te_top[l];
        self.te_top[r] = self.te_top[r - 1];
        self.err_top[l - 1] = [0; LANES];
        self.err_top[r] = [0; LANES];
        self.cur[l - 1] = self.top[l];
        self.te_cur[l - 1] = 0;
        self.err_cur[l - 1] = [0; LANES];
        self.err_cur[l - 2] = [0; LANES];
        for x in l..r {
            let (a, b, c) = (&self.err_top[x - 1], &self.err_top[x], &self.err_top[x + 1]);
            let mut e = [0; LANES];
            for i in 0..LANES {
                e[i] = a[i] + b[i] + c[i];
            }
            self.esum_top[x] = e;
        }
    }

    /// The neighbourhood of pixel `x` of a row below another (`left`: the
    /// cells to its left).
    #[inline(always)]
    fn neighbours(&self, x: usize, left: &Left) -> Neighbours {
        let i = x + PAD;
        let et = &self.esum_top[i];
        let mut esum = [0; LANES];
        for k in 0..LANES {
            esum[k] = et[k] + left.e1[k] + left.e2[k];
        }
        Neighbours {
            n: self.top[i],
            w: left.v,
            ne: self.top[i + 1],
            nw: self.top[i - 1],
            te_n: self.te_top[i] as i64,
            te_w: left.te as i64,
            te_nw: self.te_top[i - 1] as i64,
            te_ne: self.te_top[i + 1] as i64,
            esum,
        }
    }

    /// The neighbourhood of pixel `x` of a stripe's first row (nothing
    /// above: N = W, or 0 at the left edge).
    fn first_row_neighbours(&self, left: &Left) -> Neighbours {
        let mut esum = [0; LANES];
        for k in 0..LANES {
            esum[k] = left.e1[k] + left.e2[k];
        }
        Neighbours {
            n: left.v,
            w: left.v,
            ne: left.v,
            nw: left.v,
            te_n: 0,
            te_w: left.te as i64,
            te_nw: 0,
            te_ne: 0,
            esum,
        }
    }

    /// [`Config::exact`]'s prediction: N + W − NW (in range), and a context
    /// from the sizes of the exact residuals at W, N and NE (0, 1, 2–3,
    /// more: their ×8 blend errors are exact residuals here), where all
    /// three are zero split by whether the neighbourhood is flat.
    #[inline(always)]
    fn predict_exact(&self, nb: &Neighbours) -> Prediction {
        let p = (nb.n + nb.w - nb.nw).clamp(0, self.maxv);
        let class = |te: i64| match te.unsigned_abs() >> 3 {
            0 => 0,
            1 => 1,
            2 | 3 => 2,
            _ => 3,
        };
        let mut ctx = class(nb.te_w) * 16 + class(nb.te_n) * 4 + class(nb.te_ne);
        if ctx == 0 && !(nb.n == nb.nw && nb.w == nb.nw && nb.ne == nb.n) {
            ctx = 64 + (class(nb.te_nw) > 0) as usize;
        }
        let p8 = (p as i64) << 3;
        Prediction {
            p8,
            sub: [p8; NP],
            p,
            ctx,
            bctx: 0,
        }
    }

    #[inline(always)]
    fn predict(&self, nb: &Neighbours, x: usize, y: usize) -> Prediction {
        let (n, wv, ne, nw) = (nb.n, nb.w, nb.ne, nb.nw);
        let (te_n, te_w, te_nw, te_ne) = (nb.te_n, nb.te_w, nb.te_nw, nb.te_ne);
        let (n8, w8, ne8) = ((n as i64) << 3, (wv as i64) << 3, (ne as i64) << 3);
        let sub = [
            w8 + ne8 - n8,
            n8 - (((te_w + te_n + te_ne) * P1C) >> 5),
            w8 - (((te_w + te_n + te_nw) * P2C) >> 5),
            n8 - (((te_nw + te_n + te_ne) * P3C) >> 5),
            n8 + w8 - ((nw as i64) << 3),
            (n8 + w8) >> 1,
            (n8 + ne8) >> 1,
        ];
        let mut wts = [0u32; NP];
        let mut sum = 0u32;
        for i in 0..NP {
            wts[i] = weight(i, nb.esum[i]);
            sum += wts[i];
        }
        // Weights normalised so that their sum indexes DIV.
        let shift = floor_log2(sum).saturating_sub(5);
        let mut acc = 0i64;
        let mut wsum = 0u32;
        for i in 0..NP {
            let wi = wts[i] >> shift;
            acc += sub[i] * wi as i64;
            wsum += wi;
        }
        let mut p8 = ((acc + (wsum >> 1) as i64) * DIV[(wsum - 1) as usize] as i64) >> 24;
        // Unless the neighbours' errors agree in sign, stay within their values.
        // (Computed both ways and selected: the condition is data, not a
        // pattern a branch predictor learns.)
        let lo = (n.min(wv).min(ne) as i64) << 3;
        let hi = (n.max(wv).max(ne) as i64) << 3;
        let clamped = p8.max(lo).min(hi);
        // (JPEG XL's test: positive when the three errors have the same
        // sign and are not all equal.)
        let agree = ((te_n ^ te_w) | (te_n ^ te_nw)) > 0;
        p8 = if agree { p8 } else { clamped };
        // Context: the largest neighbouring error, in classes of half an
        // octave…
        let a = te_w
            .abs()
            .max(te_n.abs())
            .max(te_nw.abs())
            .max(te_ne.abs())
            .min(1 << 30) as u32;
        let ec = if a < 2 {
            a as usize
        } else {
            let l = floor_log2(a);
            (2 * l + ((a >> (l - 1)) & 1)) as usize
        }
        .min(ERR_CLASSES - 1);
        // …and how the local gradient compares with it (edge or noise).
        let g = (((n - nw).unsigned_abs() + (wv - nw).unsigned_abs() + (ne - n).unsigned_abs())
            as u64)
            << 3;
        let a64 = a as u64;
        let gc = (g > a64) as usize + (g > 2 * a64 + 8) as usize + (g > 4 * a64 + 16) as usize;
        let mut ctx = ec * 4 + gc;
        let mut bctx = ctx * 4 + ((te_n > 0) as usize) * 2 + (te_w > 0) as usize;
        if self.cfg.grid {
            ctx = ctx * 2 + (x & 7 == 0 || y & 7 == 0) as usize;
            bctx = bctx * 4 + ((x & 7 == 0) as usize) * 2 + (y & 7 == 0) as usize;
        }
        let p = ((p8 + self.bias[bctx].2 as i64 + 4) >> 3).clamp(0, self.maxv as i64) as i32;
        Prediction {
            p8,
            sub,
            p,
            ctx,
            bctx,
        }
    }

    #[inline(always)]
    fn update(&mut self, x: usize, v: i32, pr: &Prediction, left: &mut Left) {
        let v8 = (v as i64) << 3;
        let (b, n, c) = &mut self.bias[pr.bctx];
        *b += (v8 - (pr.p8 + *c as i64)).clamp(-(1 << 20), 1 << 20) as i32;
        *n += 1;
        // LOCO-I's update, as selects (no data-dependent branch).
        let (down, up) = (*b <= -*n, *b > 0);
        let moved_down = (*b + *n).max(-*n + 1);
        let moved_up = (*b - *n).min(0);
        *b = if down {
            moved_down
        } else if up {
            moved_up
        } else {
            *b
        };
        *c += up as i32 - down as i32;
        if *n == 64 {
            *n >>= 1;
            *b >>= 1;
        }
        *c = (*c).clamp(-8 * self.maxv, 8 * self.maxv);
        let i = x + PAD;
        let te = (pr.p8 - v8).clamp(-(1 << 30), 1 << 30) as i32;
        let mut e = [0u32; LANES];
        for k in 0..NP {
            e[k] = (((pr.sub[k] - v8).unsigned_abs() + 3) >> 3).min(1 << 24) as u32;
        }
        self.cur[i] = v;
        self.te_cur[i] = te;
        self.err_cur[i] = e;
        // The next pixel reads these from registers, not back from the
        // rows just written.
        *left = Left {
            v,
            te,
            e1: e,
            e2: left.e1,
        };
    }
}

impl Model {
    /// Codes one row (the image's row `y`; `first`: the stripe's first,
    /// with nothing above): for each pixel, `code` gets the prediction, the
    /// context's distribution and, with [`Config::memory`], the memory's
    /// guess and its flag's distribution; it codes or decodes the value and
    /// returns it. One loop for the encoder and the decoder, so that both
    /// model the same way by construction.
    /// (`EXACT`: [`Config::exact`]'s predictor, chosen once per stripe
    /// rather than per pixel.)
    #[inline(always)]
    fn row<const EXACT: bool>(
        &mut self,
        y: usize,
        first: bool,
        mut code: impl FnMut(
            usize,
            &Prediction,
            &mut AdaptiveCdf,
            Option<(i32, &mut AdaptiveCdf)>,
        ) -> i32,
    ) {
        self.next_row();
        // (Lets the compiler drop the bounds checks of the cells x − 2 ..=
        // x + 1 around each pixel.)
        let len = self.w + PAD + 1;
        assert!(
            self.top.len() == len
                && self.cur.len() == len
                && self.top2.len() == len
                && self.te_top.len() == len
                && self.te_cur.len() == len
                && self.err_top.len() == len
                && self.err_cur.len() == len
                && self.esum_top.len() == len
        );
        // The edge cells left of the row (set by `next_row`).
        let mut left = Left {
            v: self.cur[PAD - 1],
            te: self.te_cur[PAD - 1],
            e1: self.err_cur[PAD - 1],
            e2: self.err_cur[PAD - 2],
        };
        for x in 0..self.w {
            let nb = if first {
                self.first_row_neighbours(&left)
            } else {
                self.neighbours(x, &left)
            };
            let pr = if EXACT {
                self.predict_exact(&nb)
            } else {
                self.predict(&nb, x, y)
            };
            let v = match &mut self.memory {
                Some(m) if EXACT => {
                    let i = x + PAD;
                    let k = Memory::key([
                        left.v,
                        self.cur[i - 2],
                        self.top[i - 1],
                        self.top[i],
                        self.top[i + 1],
                        self.top2[i - 1],
                        self.top2[i],
                        self.top2[i + 1],
                    ]);
                    let flag = m
                        .guess(k, pr.p, pr.ctx == 0)
                        .map(|(g, c)| (g, &mut m.flags[c]));
                    let v = code(x, &pr, &mut self.cdfs[pr.ctx], flag);
                    m.learn(k, v);
                    v
                }
                _ => code(x, &pr, &mut self.cdfs[pr.ctx], None),
            };
            self.update(x, v, &pr, &mut left);
        }
    }
}

/// Codes a stripe of `px.len() / w` rows of mapped values (`0..=maxv`)
/// whose first row is the image's row `y0`.
pub fn encode_stripe(px: &[i32], w: usize, y0: usize, maxv: i32, cfg: Config) -> Vec<u8> {
    if cfg.exact {
        encode_rows::<true>(px, w, y0, maxv, cfg)
    } else {
        encode_rows::<false>(px, w, y0, maxv, cfg)
    }
}

fn encode_rows<const EXACT: bool>(
    px: &[i32],
    w: usize,
    y0: usize,
    maxv: i32,
    cfg: Config,
) -> Vec<u8> {
    let mut m = Model::new(cfg, w, maxv);
    let mut enc = RansEncoder::with_capacity(px.len() * 2);
    for (y, row) in px.chunks(w).enumerate() {
        m.row::<EXACT>(y0 + y, y == 0, |x, pr, cdf, flag| {
            let v = row[x];
            if let Some((g, f)) = flag {
                f.encode(&mut enc, (v == g) as usize);
                if v == g {
                    return v;
                }
            }
            let (tok, raw, nraw) = tokenize::<MSB>(fold(v - pr.p, pr.p, maxv));
            cdf.encode(&mut enc, tok);
            enc.put_bits(raw, nraw);
            v
        });
    }
    enc.finish()
}

/// Decodes a stripe into `px`; false if the data is damaged.
pub fn decode_stripe(
    bytes: &[u8],
    px: &mut [i32],
    w: usize,
    y0: usize,
    maxv: i32,
    cfg: Config,
) -> bool {
    if cfg.exact {
        decode_rows::<true>(bytes, px, w, y0, maxv, cfg)
    } else {
        decode_rows::<false>(bytes, px, w, y0, maxv, cfg)
    }
}

fn decode_rows<const EXACT: bool>(
    bytes: &[u8],
    px: &mut [i32],
    w: usize,
    y0: usize,
    maxv: i32,
    cfg: Config,
) -> bool {
    let Ok(mut dec) = RansDecoder::new(bytes) else {
        return false;
    };
    let mut m = Model::new(cfg, w, maxv);
    // A value out of range (damaged data) is clamped and reported at the end.
    let mut bad = false;
    for (y, row) in px.chunks_mut(w).enumerate() {
        m.row::<EXACT>(y0 + y, y == 0, |x, pr, cdf, flag| {
            // (A guess is a value decoded before: in range.)
            if let Some((g, f)) = flag {
                if f.decode(&mut dec) == 1 {
                    row[x] = g;
                    return g;
                }
            }
            let (base, nraw) = untokenize::<MSB>(cdf.decode(&mut dec));
            let z = base | dec.get_bits(nraw);
            bad |= z > maxv as u32;
            let v = (pr.p + unfold(z.min(maxv as u32), pr.p, maxv)).clamp(0, maxv);
            row[x] = v;
            v
        });
    }
    !bad && !dec.failed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_folding_are_bijective() {
        for zmax in [1u32, 15, 16, 17, 255, 4095, 65535] {
            let n = tokens_for::<MSB>(zmax);
            for z in (0..=zmax).step_by(1 + zmax as usize / 5000) {
                let (t, raw, nraw) = tokenize::<MSB>(z);
                assert!(t < n, "{z} {zmax}");
                let (base, nr) = untokenize::<MSB>(t);
                assert_eq!(nr, nraw);
                assert_eq!(base | raw, z);
            }
        }
        for maxv in [1, 2, 7, 255, 1000] {
            for p in 0..=maxv {
                let mut seen = vec![false; maxv as usize + 1];
                for v in 0..=maxv {
                    let z = fold(v - p, p, maxv);
                    assert!(z <= maxv as u32 && !seen[z as usize], "{maxv} {p} {v}");
                    seen[z as usize] = true;
                    assert_eq!(p + unfold(z, p, maxv), v);
                }
            }
        }
    }

    #[test]
    fn blocky_images_get_the_grid_contexts_and_smooth_ones_do_not() {
        let (w, h) = (203, 97);
        let mut s = 1u32;
        let mut noise = || {
            s = s.wrapping_mul(1103515245).wrapping_add(12345);
            (s >> 16) as i32 % 5
        };
        // Flat 8×8 blocks with a little noise: steps across the grid lines
        // far larger than inside the blocks.
        let blocky: Vec<i32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                ((x / 8 * 37 + y / 8 * 91) % 200) as i32 + noise()
            })
            .collect();
        let (bx, by) = blockiness(&blocky, w);
        assert!(bx >= 110 && by >= 110, "{bx} {by}");
        assert!(Config::choose(&blocky, w, 255).grid);
        // A smooth ramp with the same noise: no excess at the grid lines.
        let smooth: Vec<i32> = (0..w * h)
            .map(|i| ((i % w) * 5 / 7 + (i / w) * 4 / 9) as i32 + noise())
            .collect();
        let (bx, by) = blockiness(&smooth, w);
        assert!(bx.max(by) < 104, "{bx} {by}");
        assert!(!Config::choose(&smooth, w, 255).grid);
        // Too small to tell.
        assert_eq!(blockiness(&[1, 2, 3], 3), (100, 100));
    }

    #[test]
    fn configurations_are_named() {
        let names: Vec<String> = (0..16)
            .filter_map(Config::from_byte)
            .map(|c| c.describe())
            .collect();
        assert_eq!(
            names,
            [
                "fast",
                "fast (JPEG-grid contexts)",
                "fast (quick adaptation)",
                "fast (JPEG-grid contexts, quick adaptation)",
                "fast (exact gradient for synthetic content)",
                "fast (quick adaptation, exact gradient for synthetic content)",
                "fast (exact gradient for synthetic content, memory of repeated neighbourhoods)",
                "fast (quick adaptation, exact gradient for synthetic content, memory of repeated neighbourhoods)"
            ]
        );
        // The grid with the exact gradient, the memory without it, and
        // unknown bits, are damage.
        for b in [5, 7, 8, 9, 10, 13, 16, 255] {
            assert_eq!(Config::from_byte(b), None);
        }
    }

    #[test]
    fn synthetic_content_gets_the_exact_gradient() {
        // Ramps and bars of a test pattern, with a few edges.
        let (w, h) = (97, 83);
        let px: Vec<i32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as i32, (i / w) as i32);
                if y < 40 {
                    (x * 3 + y) % 256
                } else if x < 50 {
                    200
                } else {
                    17 + (x / 10) * 20
                }
            })
            .collect();
        assert!(synthetic(&px, w));
        let cfg = Config::choose(&px, w, 255);
        assert!(cfg.exact, "{cfg:?}");
        let plain = encode_stripe(
            &px,
            w,
            0,
            255,
            Config {
                exact: false,
                memory: false,
                ..cfg
            },
        );
        let exact = encode_stripe(&px, w, 0, 255, cfg);
        assert!(
            exact.len() * 2 < plain.len(),
            "{} vs {}",
            exact.len(),
            plain.len()
        );
        let mut back = vec![0; px.len()];
        assert!(decode_stripe(&exact, &mut back, w, 0, 255, cfg));
        assert_eq!(back, px);
        // Noise is not synthetic.
        let mut s = 1u32;
        let noise: Vec<i32> = (0..w * h)
            .map(|_| {
                s = s.wrapping_mul(1103515245).wrapping_add(12345);
                (s >> 24) as i32
            })
            .collect();
        assert!(!synthetic(&noise, w));
    }

    #[test]
    fn repeated_patterns_get_the_memory() {
        // A test pattern: blocks of stripes, a checkerboard and glyph-like
        // marks on flat ground, each drawn several times; odd sizes.
        let (w, h) = (203, 151);
        let glyph = |x: i32, y: i32| (x * 7 + y * 3) % 11 < 4 && (x ^ y) & 2 == 0;
        let px: Vec<i32> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as i32, (i / w) as i32);
                let (bx, by) = (x % 40, y % 30);
                if bx < 12 && by < 20 {
                    if (bx / 4) % 2 == 0 {
                        230
                    } else {
                        20
                    }
                } else if bx < 24 && by < 20 {
                    if (bx / 6 + by / 6) % 2 == 0 {
                        180
                    } else {
                        60
                    }
                } else if (26..36).contains(&bx) && (4..14).contains(&by) && glyph(bx, by) {
                    250
                } else {
                    100 + (y / 30) * 10
                }
            })
            .collect();
        assert!(synthetic(&px, w));
        let cfg = Config::choose(&px, w, 255);
        assert!(cfg.exact && cfg.memory, "{cfg:?}");
        let without = Config {
            memory: false,
            ..cfg
        };
        let a = encode_stripe(&px, w, 0, 255, without);
        let b = encode_stripe(&px, w, 0, 255, cfg);
        assert!(b.len() * 3 < a.len() * 2, "{} vs {}", b.len(), a.len());
        let mut back = vec![0; px.len()];
        assert!(decode_stripe(&b, &mut back, w, 0, 255, cfg));
        assert_eq!(back, px);
    }

    #[test]
    fn stripe_heights() {
        assert_eq!(stripe_rows(1000, 1000, 1 << 20), 500);
        assert_eq!(stripe_rows(2000, 2500, 1 << 20), 313);
        assert_eq!(stripe_rows(256, 256, 1 << 20), 256);
        assert_eq!(stripe_rows(300, 200, 5000), 17);
    }

    #[test]
    fn stripes_round_trip() {
        let mut s = 7u32;
        for (w, h, maxv) in [
            (1, 1, 1),
            (13, 7, 255),
            (33, 9, 4095),
            (5, 40, 65535),
            (64, 3, 3),
        ] {
            let px: Vec<i32> = (0..w * h)
                .map(|i| {
                    s = s.wrapping_mul(1103515245).wrapping_add(12345);
                    let smooth = ((i % w) * 7 + (i / w) * 3) as i32;
                    (smooth + (s >> 20) as i32 % 9).rem_euclid(maxv + 1)
                })
                .collect();
            for cfg in (0..16).filter_map(Config::from_byte) {
                let bytes = encode_stripe(&px, w, 3, maxv, cfg);
                let mut back = vec![0; px.len()];
                assert!(decode_stripe(&bytes, &mut back, w, 3, maxv, cfg));
                assert_eq!(back, px, "{w}x{h} {maxv}");
            }
            let cfg = Config::choose(&px, w, maxv);
            let bytes = encode_stripe(&px, w, 3, maxv, cfg);
            let mut back = vec![0; px.len()];
            // Damage is detected (or decodes to other values the pixel hash
            // catches), never a panic.
            let mut bad = bytes.clone();
            let mid = bad.len() / 2;
            bad[mid] ^= 0x5a;
            let _ = decode_stripe(&bad, &mut back, w, 3, maxv, cfg);
            assert!(!decode_stripe(
                &bytes[..bytes.len() - 1],
                &mut back,
                w,
                3,
                maxv,
                cfg
            ));
        }
    }
}
