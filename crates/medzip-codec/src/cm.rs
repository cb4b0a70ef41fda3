//! The context-model residual coder (medzip's default).
//!
//! For each pixel, in raster order within a stripe:
//! 1. eleven predictors (two normalized-LMS filters over nine neighbours
//!    and five recent prediction errors,
//!    three error-feedback predictors after JPEG XL's weighted predictor,
//!    MED, GAP, gradient, W+NE−N, N, W) are blended with weights inversely
//!    proportional to their recent local errors, in fixed point with 3
//!    fractional bits;
//! 2. a bias correction learned per texture/energy context (CALIC-style) is
//!    added; a prior reconstruction (the autoencoder's), when present, is
//!    one more blended predictor (weighted by its own recent errors) and a
//!    context (its disagreement with the prediction);
//! 3. with a context network ([`CtxNet`], trained offline), an integer MLP
//!    over features of the neighbourhood gives a logistic distribution for
//!    the pixel: the prediction moves by its centre, its scale chooses the
//!    energy bucket of the coding contexts, and each binary decision below
//!    gets its log-odds as one more mixer input;
//! 4. the residual is coded as binary decisions (zero?, sign, exponent in
//!    unary, mantissa bits). Each modelled decision mixes the predictions
//!    of several context models with an online logistic mixer and refines
//!    the mix with an APM: a small network trained while coding, in integer
//!    arithmetic only, so encoder and decoder compute the same bits on
//!    every machine.
//!
//! One function ([`code_stripe`]) serves both directions through the
//! [`ResidualCoder`] trait, so the encoder and decoder cannot drift apart:
//! the binary coders of [`BitIo`] (step 4 above, effort level 3) or the
//! default level's tokens of the network's distribution (`crate::tokens`,
//! instead of step 4).

use crate::logistic::{scale_by, Dist};
use medzip_entropy::{Apm, BinDecoder, BinEncoder, BitModel, Mixer2, State, LANES};

/// A binary coder seen from the modelling code: the encoder codes `bit` and
/// returns it; the decoder ignores `bit` and returns what it decodes.
pub trait BitIo {
    fn bit(&mut self, bit: bool, p1: u32) -> bool;
}

impl BitIo for BinEncoder {
    #[inline]
    fn bit(&mut self, bit: bool, p1: u32) -> bool {
        self.encode(bit, p1);
        bit
    }
}

/// Runs the model without coding (training passes).
pub struct NullIo;

impl BitIo for NullIo {
    #[inline]
    fn bit(&mut self, bit: bool, _p1: u32) -> bool {
        bit
    }
}

impl BitIo for BinDecoder {
    #[inline]
    fn bit(&mut self, _bit: bool, p1: u32) -> bool {
        self.decode(p1)
    }
}

/// What the model knows of a pixel when its residual is coded.
pub struct Pixel<'a> {
    /// The context of each mixer input.
    pub(crate) ctx: &'a [usize; NIN],
    /// The energy bucket (from the network's scale, with a network).
    pub(crate) q: usize,
    /// Exponent classes `0..=kmax`.
    pub(crate) kmax: u32,
    /// The mixer's selectors: texture and position in the 8×8 grid.
    pub(crate) sel: (usize, usize),
    /// The network's distribution around `pred`, with a network.
    pub(crate) dist: Option<Dist>,
    /// The integer prediction and the largest value.
    pub(crate) pred: i32,
    pub(crate) maxv: i32,
    /// The prediction's fraction (eighths); for a pixel of graphics
    /// predicted by the exact gradient, how its neighbours repeat.
    pub(crate) frac: usize,
    /// The section of the default level's adaptive distributions (0; with
    /// the graphics tools, [`Graphics`], 1 or 2 for pixels of graphics).
    pub(crate) section: usize,
}

/// Codes (or decodes) a pixel's residual once the model has predicted it:
/// as binary decisions, mixed ([`BitIo`]: the context-mixing coder), or as
/// one token of the network's distribution (`crate::tokens`).
pub trait ResidualCoder {
    /// Codes residual `e_in` (ignored when decoding); returns the
    /// (de)coded residual.
    fn residual(&mut self, m: &mut Model, px: &Pixel, e_in: i32) -> i32;
    /// Whether this coder needs the context network's distribution.
    fn needs_net(&self) -> bool {
        false
    }
    /// Whether a pixel of a flat neighbourhood (`flat_neighbourhood`)
    /// first codes [`ResidualCoder::flat`] (the default level since format
    /// version 16).
    fn flat_runs(&self) -> bool {
        false
    }
    /// Whether the network's distribution is calibrated online
    /// (`Calib`; the default level since format version 17).
    fn calibrated(&self) -> bool {
        false
    }
    /// Whether the calibrated scale also has a factor per intensity
    /// (`Calib::level`; the default level since format version 19).
    fn by_intensity(&self) -> bool {
        false
    }
    /// Whether the graphics tools are on (`Graphics`; the default
    /// level's coders 14 and 15, since format version 20).
    fn graphics(&self) -> bool {
        false
    }
    /// Codes whether a pixel equals the value its neighbourhood was
    /// followed by last time (`equal`, ignored when decoding) in flag
    /// context `ctx` (`0..32`); returns the (de)coded answer. Only where
    /// [`ResidualCoder::graphics`].
    fn remembered(&mut self, _ctx: usize, equal: bool) -> bool {
        equal
    }
    /// Codes whether a pixel of a flat neighbourhood equals its neighbours
    /// (`equal`, ignored when decoding) in flag context `ctx`
    /// (`0..8`); returns the (de)coded answer. Only where
    /// [`ResidualCoder::flat_runs`].
    fn flat(&mut self, _ctx: usize, equal: bool) -> bool {
        equal
    }
}

impl<IO: BitIo> ResidualCoder for IO {
    #[inline(always)]
    fn residual(&mut self, m: &mut Model, px: &Pixel, e_in: i32) -> i32 {
        code_residual(self, m, px.ctx, px.q, px.kmax, px.sel, px.dist, e_in)
    }
}

/// Number of classical predictors blended.
const NP: usize = 11;
/// Energy buckets.
pub(crate) const NQ: usize = 24;
/// Decision slots: 0 zero flag, 1 sign, 2.. exponent unary (up to 18 classes).
const SLOTS: usize = 2 + 19;
const SLOT_SIGN: usize = 1;
const SLOT_EXP: usize = 2;
/// Number of context-model inputs to the mixer (plus one bias input).
const NIN: usize = 6;
// The mixer's lanes hold the inputs, the bias input and the network's.
const _: () = assert!(NIN + 2 <= LANES);

/// Extra weight (as a shift) of the LMS and first error-feedback predictors.
static WSHIFT: [u32; NP] = {
    let mut t = [0u32; NP];
    t[0] = 2;
    t[1] = 2;
    t[2] = 1;
    t
};

/// Taps of the LMS predictors (9 neighbours, 5 past prediction errors).
const NL: usize = 14;

/// Two buckets per octave: 0,1,2,3,4,6,8,12,16,24,…
#[inline]
fn qlog(v: u32) -> usize {
    if v < 4 {
        return v as usize;
    }
    let b = 31 - v.leading_zeros(); // floor(log2 v) >= 2
    let half = (v >> (b - 1)) & 1; // next bit
    (2 * b + half) as usize // 4→4, 6→5, 8→6, 12→7, …
}

/// Signed difference (×8 units) in 15 buckets, 7 = zero.
#[inline]
fn qsign(d: i32) -> usize {
    let m = qlog(d.unsigned_abs() / 4).min(7);
    if d < 0 {
        7 - m
    } else {
        7 + m
    }
}

/// `2^24 / (i + 1)` for the predictor weights.
static WEIGHT_LUT: [u32; 1024] = {
    let mut t = [0u32; 1024];
    let mut i = 0;
    while i < 1024 {
        t[i] = (1u32 << 24) / (i as u32 + 1);
        i += 1;
    }
    t
};

/// Weight of a predictor whose recent error sum is `e` (fixed point, ~2^24/(e+1)).
#[inline]
fn weight(e: u32) -> u64 {
    let b = 32 - e.leading_zeros();
    let s = b.saturating_sub(10);
    (WEIGHT_LUT[(e >> s) as usize] >> s) as u64
}

/// The adaptive state of the context model: what a stripe starts from
/// (fresh, or a trained state shipped with the codec) and what coding
/// updates.
#[derive(Clone)]
pub struct Model {
    /// All inputs' models: input `i` owns `TABLE_OFF[i]..TABLE_OFF[i + 1]`,
    /// indexed by `ctx * SLOTS + slot`.
    table: Vec<BitModel>,
    mixer: Mixer2,
    apm: Apm,
    /// Mantissa models: [class][bit position][prefix of up to 1 bit].
    mant: Vec<BitModel>,
    /// Bias correction: per context, (sum of errors ×8, count).
    bias: Vec<(i32, i32)>,
    /// Whether the mixer has the context network's input (a state for
    /// coding with the network).
    net: bool,
}

const CTX_SIZES: [usize; NIN] = [
    NQ * 8,      // energy × fraction of the prediction
    64 * 8,      // texture signs × coarse energy
    8 * 8 * 4,   // |eW| × |eN| × coarse energy
    25 * 8,      // prior − prediction (magnitude, sign; 0: no prior) × coarse energy
    64 * 8,      // position in an 8×8 block (JPEG-decoded sources) × coarse energy
    15 * 15 * 2, // where two error-feedback predictors point, relative to the prediction
];

/// Start of each input's models in the flat table.
const TABLE_OFF: [usize; NIN + 1] = {
    let mut o = [0; NIN + 1];
    let mut i = 0;
    while i < NIN {
        o[i + 1] = o[i] + CTX_SIZES[i] * SLOTS;
        i += 1;
    }
    o
};

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// A fresh, untrained state for coding without the context network.
    pub fn new() -> Self {
        Self::fresh(false)
    }

    /// A fresh, untrained state for coding with (`net`) or without the
    /// context network (whose log-odds are one more mixer input).
    pub fn fresh(net: bool) -> Self {
        Model {
            table: vec![BitModel::new(); TABLE_OFF[NIN]],
            mixer: Mixer2::new(
                NIN + 1 + net as usize,
                &[SLOTS * 8 * 16, SLOTS * 64],
                SLOTS,
                8,
                8,
            ),
            apm: Apm::new(SLOTS * NQ, 7),
            mant: vec![BitModel::new(); 19 * 20 * 4 * NQ],
            bias: vec![(0, 0); 512],
            net,
        }
    }

    /// Whether this state is for coding with the context network.
    pub fn uses_net(&self) -> bool {
        self.net
    }

    /// Serializes the state (values only; the shape is fixed by this code).
    pub fn save(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.table.save(&mut out);
        self.mant.save(&mut out);
        self.mixer.save(&mut out);
        self.apm.save(&mut out);
        for &(s, c) in &self.bias {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    /// Restores a state written by [`Model::save`] by this version of the code.
    /// Both shapes (with and without the network's input) are tried.
    pub fn load(bytes: &[u8]) -> Option<Model> {
        Self::load_as(bytes, false).or_else(|| Self::load_as(bytes, true))
    }

    fn load_as(mut bytes: &[u8], net: bool) -> Option<Model> {
        let mut m = Model::fresh(net);
        let inp = &mut bytes;
        m.table.load(inp)?;
        m.mant.load(inp)?;
        m.mixer.load(inp)?;
        m.apm.load(inp)?;
        let mut flat = vec![0i32; 2 * m.bias.len()];
        flat.load(inp)?;
        for (b, c) in m.bias.iter_mut().zip(flat.chunks_exact(2)) {
            *b = (c[0], c[1].clamp(0, 64));
        }
        inp.is_empty().then_some(m)
    }

    /// Lowers the confidence of every adaptive count to at most `n`, so that
    /// a trained state still adapts quickly to the image at hand.
    pub fn cap_confidence(&mut self, n: u8) {
        self.table
            .iter_mut()
            .chain(self.mant.iter_mut())
            .for_each(|b| b.cap_confidence(n));
        for b in self.bias.iter_mut() {
            if b.1 > n as i32 {
                b.0 = b.0 * n as i32 / b.1;
                b.1 = n as i32;
            }
        }
    }
}

/// Geometry and value range of a stripe.
pub struct Stripe<'a> {
    pub width: usize,
    pub height: usize,
    /// Largest value (values are `0..=maxv`).
    pub maxv: i32,
    /// Prior reconstruction in the same value domain, if any.
    pub prior: Option<&'a [i32]>,
    /// The learned context network, if used.
    pub net: Option<&'a CtxNet>,
    /// The instructions the coder runs on (the same bits either way).
    pub simd: simd::Simd,
    /// Pattern contexts (coder 11, for images of at most 32 levels): the
    /// context-mixing coder's inputs 3 and 4 (the prior's disagreement,
    /// the position in an 8 × 8 block) take the values of NW, WW, NN and
    /// of W, N, NE relative to the prediction (each −2 to 2) instead: in
    /// an image of few values, which neighbour the pixel repeats.
    pub patterns: bool,
    /// Collects the network's training samples (encoder-side passes only).
    #[cfg(feature = "train")]
    pub trace: Option<&'a std::cell::RefCell<Trace>>,
}

impl Stripe<'_> {
    /// Whether this pass collects training samples (never without the
    /// `train` feature: the decoder's loop carries no training hook).
    #[inline(always)]
    fn tracing(&self) -> bool {
        #[cfg(feature = "train")]
        return self.trace.is_some();
        #[cfg(not(feature = "train"))]
        false
    }
}

/// Features computed per pixel: a network takes the first 32 (the first
/// networks) or all of them.
pub const NF: usize = 32 + FAR.len();

/// Farther causal neighbours seen by networks with [`NF`] inputs, as
/// `(dx, dy)`: `dy` rows up, `dx` columns right (left when negative);
/// on the pixel's own row only to its left.
const FAR: [(isize, usize); 8] = [
    (-3, 0),
    (0, 3),
    (-2, 2),
    (2, 2),
    (-3, 1),
    (3, 1),
    (-1, 3),
    (1, 3),
];

/// The learned context network: an integer MLP (`medzip-nn`) that sees
/// the first 32 or all [`NF`] features of the causal neighbourhood —
/// neighbours, classical predictions and recent errors relative to the
/// blended prediction, scaled by the local energy so that one network
/// serves every bit depth — and gives a logistic distribution for the pixel: a correction `μ` of the
/// prediction and a log-scale. The coder moves its prediction by `μ` and
/// selects its adaptive models by the scale. Everything the network sees
/// is computed before, and independently of, its outputs, so a training
/// pass without the network (`Trace`, with the `train` feature) sees the
/// coder's inputs — except that it starts from the state for coding without a network, whose bias
/// corrections differ from the coder's early in a stripe.
pub struct CtxNet {
    mlp: medzip_nn::mlp::Mlp,
    /// Its inputs: the first `nin` features.
    nin: usize,
}

impl CtxNet {
    /// Wraps an integer network: dense layers only, 32 or [`NF`] inputs, 2 outputs.
    pub fn new(net: medzip_nn::Net) -> crate::Result<CtxNet> {
        let bad = |m: String| crate::Error::InvalidModel(format!("context network: {m}"));
        let mlp = medzip_nn::mlp::Mlp::new(net, 4095).map_err(|e| bad(e.to_string()))?;
        let nin = mlp.net().input.len();
        if !(nin == 32 || nin == NF) || mlp.outputs() != 2 {
            return Err(bad(format!(
                "needs 32 or {NF} inputs and 2 outputs (has {nin} and {})",
                mlp.outputs()
            )));
        }
        Ok(CtxNet { mlp, nin })
    }

    pub fn net(&self) -> &medzip_nn::Net {
        self.mlp.net()
    }

    /// The network's `(μ, log2 scale)` in Q8, relative to the energy scale.
    #[inline]
    pub fn eval(
        &self,
        f: &[i16; NF],
        simd: simd::Simd,
        scratch: &mut medzip_nn::mlp::Scratch,
    ) -> (i32, i32) {
        let mut out = [0i16; 2];
        self.mlp
            .forward_on(simd.avx2(), &f[..self.nin], scratch, &mut out);
        let f_out = self.mlp.f_out();
        let q8 = |v: i16| {
            let v = v as i32;
            if f_out >= 8 {
                let sh = (f_out - 8) as u32;
                if sh == 0 {
                    v
                } else {
                    (v + (1 << (sh - 1))) >> sh
                }
            } else {
                v << (8 - f_out)
            }
        };
        (q8(out[0]), q8(out[1]).clamp(-2047, 2047))
    }
}

/// Training samples of the context network: features and targets of every
/// `stride`-th pixel.
#[cfg(feature = "train")]
#[derive(Default)]
pub struct Trace {
    pub stride: u32,
    count: u32,
    pub feats: Vec<[i16; NF]>,
    /// `(8·x − prediction×8, energy scale ×8)`: the target in the features' units.
    pub targets: Vec<(i32, i32)>,
}

#[cfg(feature = "train")]
impl Trace {
    pub fn new(stride: u32) -> Trace {
        Trace {
            stride: stride.max(1),
            ..Trace::default()
        }
    }
}

/// Codes (or decodes) one stripe. `px` holds the pixels: read by the
/// encoder, written by the decoder. Returns `false` if a decoded value fell
/// outside `0..=maxv` (corrupt stream).
pub fn code_stripe<C: ResidualCoder>(
    io: &mut C,
    s: &Stripe,
    px: &mut [i32],
    m: &mut Model,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if s.simd.avx2() {
        // SAFETY: `Simd::avx2` is only true when the CPU has AVX2.
        return unsafe { code_stripe_avx2(io, s, px, m) };
    }
    code_stripe_impl(io, s, px, m)
}

/// The same integer code compiled for AVX2: only the instruction selection
/// differs (integer sums are exact in any order), so the bits are identical.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt")]
unsafe fn code_stripe_avx2<C: ResidualCoder>(
    io: &mut C,
    s: &Stripe,
    px: &mut [i32],
    m: &mut Model,
) -> bool {
    code_stripe_impl(io, s, px, m)
}

/// The SIMD choice (`Simd`, a value passed per call: `Stripe::simd`), the
/// same type as for the integer networks of `medzip-nn`.
pub use medzip_nn::simd;

#[inline(always)]
fn code_stripe_impl<C: ResidualCoder>(
    io: &mut C,
    s: &Stripe,
    px: &mut [i32],
    m: &mut Model,
) -> bool {
    let w = s.width;
    let h = s.height;
    let maxv = s.maxv;
    // Exponent classes 0..=kmax.
    let kmax = 32 - (maxv.max(1) as u32).leading_zeros();
    // Per-predictor errors (×8) for previous and current row.
    let mut perr = vec![[0u32; NP]; 2 * w];
    // Recent errors of the prior's reconstruction, blended as one more
    // predictor (only when a prior is present).
    let mut perr_prior = vec![0u32; if s.prior.is_some() { 2 * w } else { 0 }];
    // Residuals of previous and current row.
    let mut res = vec![0i32; 2 * w];
    // Signed errors of the final prediction (×8) for previous and current row.
    let mut te = vec![0i32; 2 * w];
    // Two normalized-LMS predictors of x − N from nine neighbours' deviations
    // from N and five recent errors of the final prediction (weights in Q16,
    // integer updates, one division per pixel), a fast-adapting one (step
    // 2^-2) and a slower one (step 2^-5).
    let mut lms = [0i64; NL];
    let mut lms2 = [0i64; NL];
    let mut ok = true;
    let mid = (maxv + 1) / 2;
    let mut bufs = medzip_nn::mlp::Scratch::default();
    // The network's last features and outputs (no pixel's features hold
    // `i16::MIN`: `features` gives values within ±4095).
    let mut last = ([i16::MIN; NF], (0, 0));
    let avx2 = s.simd.avx2();
    // Flat neighbourhoods coded by one flag: for the previous and the
    // current row, whether each pixel was one and equal to it.
    let flat_runs = io.flat_runs();
    let mut flat_eq = vec![false; if flat_runs { 2 * w } else { 0 }];
    // The network's distribution calibrated online, and the slots of the
    // pixel being coded.
    let mut cal = io.calibrated().then(|| Calib::new(io.by_intensity()));
    let mut cal_at = None;
    let mut gfx = io.graphics().then(|| Graphics::new(w * h));
    if m.net != s.net.is_some() || (io.needs_net() && s.net.is_none()) {
        // A state for the other coder, or a coder of the network's
        // distribution without a network (callers check; never decode so).
        return false;
    }

    for y in 0..h {
        let (cur, prv) = if y & 1 == 0 { (0, w) } else { (w, 0) };
        let row = y * w;
        for x in 0..w {
            // ---- neighbourhood ----
            let at = |xx: usize, yy: usize| px[yy * w + xx];
            let Nb {
                n,
                nw,
                ne,
                nn,
                nne,
                wv,
                ww,
            } = neighbours(px, w, x, y, mid);

            // ---- a flat neighbourhood: one flag, and nothing else where
            // the pixel equals it (no prediction, no update) ----
            if flat_runs {
                let flat = flat_neighbourhood(px, w, x, y);
                let equal = flat && {
                    let ctx = 4 * flat_ring(px, w, x, y, n) as usize
                        + 2 * flat_eq[cur + x - 1] as usize
                        + flat_eq[prv + x] as usize;
                    io.flat(ctx, px[row + x] == n)
                };
                flat_eq[cur + x] = equal;
                if equal {
                    px[row + x] = n;
                    perr[cur + x] = [0; NP];
                    if s.prior.is_some() {
                        perr_prior[cur + x] = 0;
                    }
                    res[cur + x] = 0;
                    te[cur + x] = 0;
                    continue;
                }
            }

            // ---- predictors (×8) ----
            let med = if nw >= n.max(wv) {
                n.min(wv)
            } else if nw <= n.min(wv) {
                n.max(wv)
            } else {
                n + wv - nw
            };
            let dh = (wv - ww).abs() + (n - nw).abs() + (ne - n).abs();
            let dv = (wv - nw).abs() + (n - nn).abs() + (ne - nne).abs();
            let gap8 = {
                // A simplified CALIC gradient-adjusted prediction, in ×8 fixed
                // point: the gradient-corrected average of W and N, switching
                // to W or N only across sharp edges (|dv − dh| > 640).
                let d = dv - dh;
                let base = 4 * (wv + n) + 2 * (ne - nw);
                if d > 80 * 8 {
                    8 * wv
                } else if d < -80 * 8 {
                    8 * n
                } else {
                    base
                }
            };
            // Error-feedback predictors (after JPEG XL's weighted predictor).
            let (ten, tew, tenw, tene) = causal(&te, prv, cur, x, y, w);
            let c: [i64; NL] = [
                (wv - n) as i64,
                (nw - n) as i64,
                (ne - n) as i64,
                (ww - n) as i64,
                (nn - n) as i64,
                (nne - n) as i64,
                (if y > 0 && x > 1 { at(x - 2, y - 1) } else { nw } - n) as i64,
                (if y > 0 && x + 2 < w {
                    at(x + 2, y - 1)
                } else {
                    ne
                } - n) as i64,
                (if y > 1 && x > 0 { at(x - 1, y - 2) } else { nn } - n) as i64,
                (tew / 2) as i64,
                (ten / 2) as i64,
                (tenw / 2) as i64,
                (tene / 2) as i64,
                (if x > 1 { te[cur + x - 2] } else { tew } / 2) as i64,
            ];
            let [d1, d2, norm] = lms_dots(&c, [&lms, &lms2], avx2);
            let lms_d = d1 >> 13;
            let p_lms = (8 * n as i64 + lms_d).clamp(0, 8 * maxv as i64) as i32;
            let lms_d2 = d2 >> 13;
            let p_lms2 = (8 * n as i64 + lms_d2).clamp(0, 8 * maxv as i64) as i32;
            let p: [i32; NP] = [
                p_lms,
                p_lms2,
                (8 * n - (((tew + ten + tene) * 16) >> 5)).clamp(0, 8 * maxv),
                (8 * wv - (((tew + ten + tenw) * 10) >> 5)).clamp(0, 8 * maxv),
                (8 * n - (((tenw + ten + tene) * 7) >> 5)).clamp(0, 8 * maxv),
                8 * med,
                gap8,
                (8 * (wv + n - nw)).clamp(0, 8 * maxv),
                (8 * (wv + ne - n)).clamp(0, 8 * maxv),
                8 * n,
                8 * wv,
            ];
            let en = &perr[prv + x];
            let ew = if x > 0 { &perr[cur + x - 1] } else { en };
            let enw = if x > 0 { &perr[prv + x - 1] } else { en };
            let ene = if x + 1 < w { &perr[prv + x + 1] } else { en };
            let (mut wsum, mut acc) = blend([en, ew, enw, ene], &p, avx2);
            let r8 = s.prior.map(|pr| 8 * pr[row + x]);
            if let Some(r8) = r8 {
                let pe = |i: usize| perr_prior[i];
                let en = pe(prv + x);
                let ew = if x > 0 { pe(cur + x - 1) } else { en };
                let enw = if x > 0 { pe(prv + x - 1) } else { en };
                let ene = if x + 1 < w { pe(prv + x + 1) } else { en };
                let wt = weight(en + ew + (enw + ene) / 2) << 1;
                wsum += wt;
                acc += wt as i64 * r8 as i64;
            }
            let mut pred8 = (acc / wsum.max(1) as i64) as i32;

            // ---- contexts ----
            let (rn, rw, rnw, rne) = causal(&res, prv, cur, x, y, w);
            let energy = (2 * rw.unsigned_abs() + 2 * rn.unsigned_abs())
                + rnw.unsigned_abs()
                + rne.unsigned_abs()
                + ((dh + dv) as u32) / 2;
            let q = qlog(energy).min(NQ - 1);
            let qc = q / 3; // 0..7
            let tex = ((n * 8 > pred8) as usize)
                | (((wv * 8 > pred8) as usize) << 1)
                | (((nw * 8 > pred8) as usize) << 2)
                | (((ne * 8 > pred8) as usize) << 3)
                | (((nn * 8 > pred8) as usize) << 4)
                | (((ww * 8 > pred8) as usize) << 5);

            // ---- bias correction ----
            let bctx = tex << 3 | qc;
            let (bs, bc) = m.bias[bctx];
            if bc > 0 {
                pred8 += bs / bc;
            }
            // The prior's disagreement with the prediction is a context.
            let prior_ctx = r8.map_or(0, |r8| {
                let d = r8 - pred8;
                (qlog(d.unsigned_abs() / 8).min(11) * 2 + (d < 0) as usize) + 1
            });
            let pred8 = pred8.clamp(0, 8 * maxv);

            // ---- graphics: a pixel beside exactly repeated values ----
            let nnw = if y > 1 && x > 0 { at(x - 1, y - 2) } else { nn };
            let syn = gfx.is_some() && Graphics::is_graphics([wv, ww, nw, n, ne, nnw, nn, nne]);

            // ---- the context network ----
            // Its features depend only on what precedes it (and the state
            // it updates below does not depend on its outputs).
            let norm8 = 8 * energy as i64 + 16;
            // (`features` is inlined, not a closure: a closure is compiled
            // out of line, without the AVX2 of this function.)
            let feats = if s.net.is_some() || s.tracing() {
                let bias = if bc > 0 { bs / bc } else { 0 };
                let errs = (en, ew);
                Some(features(
                    px,
                    w,
                    (x, y),
                    (n, wv),
                    pred8,
                    norm8,
                    (&c, &p),
                    errs,
                    bias,
                    (q, kmax),
                ))
            } else {
                None
            };
            // The coding prediction and the energy bucket of the coding contexts.
            let (code8, q, s8) = match (s.net, &feats) {
                (Some(net), Some(f)) => {
                    // The network is a function of its features: the same
                    // features as the last pixel's (flat regions) give the
                    // same outputs without running it again.
                    if *f != last.0 {
                        last = (*f, net.eval(f, s.simd, &mut bufs));
                    }
                    let (mu, ls) = last.1;
                    let c8 = (pred8 as i64 + ((mu as i64 * norm8) >> 8)).clamp(0, 8 * maxv as i64);
                    let s8 = scale_by(norm8, ls).clamp(1, 1 << 30);
                    // (The bucket of the coding contexts is the network's.)
                    let q = qlog(s8 as u32).min(NQ - 1);
                    let (c8, s8) = match &cal {
                        Some(cal) => {
                            let mut key = Calib::key(q, tex, c8, maxv);
                            // (Graphics has scale factors of its own.)
                            key.0 += NQ * syn as usize;
                            // (Half the pixels teach it, as a checkerboard.)
                            cal_at = ((x + y) & 1 == 0).then_some(key);
                            cal.apply(key, c8, s8, maxv)
                        }
                        None => (c8, s8),
                    };
                    (c8 as i32, q, s8)
                }
                _ => (pred8, q, 0),
            };
            let qc = q / 3;
            let mut pred = (code8 + 4) >> 3;
            let mut frac = (code8 & 7) as usize;
            let mut section = 0;
            // (Graphics: the exact gradient, where it has done better.)
            let repeats =
                ((n == nw) as usize) | ((wv == nw) as usize) << 1 | ((ne == n) as usize) << 2;
            let grad = (wv + n - nw).clamp(0, maxv);
            let own = pred;
            if let (Some(g), true) = (&gfx, syn) {
                let (eg, eo) = g.errs[repeats];
                if eg <= eo {
                    pred = grad;
                    frac = repeats;
                    section = 1;
                } else {
                    section = 2;
                }
            }
            let dist = s.net.map(|_| Dist::new(code8 - 8 * pred, s8));

            // (Pattern contexts: a neighbour's value relative to the
            // prediction, −2 to 2.)
            let d = |v: i32| ((v - pred).clamp(-2, 2) + 2) as usize;
            let ctx: [usize; NIN] = [
                q * 8 + frac,
                tex * 8 + qc,
                (qlog(rw.unsigned_abs()).min(7) * 8 + qlog(rn.unsigned_abs()).min(7)) * 4 + qc / 2,
                match s.patterns {
                    true => (d(nw) * 5 + d(ww)) * 5 + d(nn),
                    false => prior_ctx.min(24) * 8 + qc,
                },
                match s.patterns {
                    true => ((d(wv) * 5 + d(n)) * 5 + d(ne)) * 4 + qc / 2,
                    false => ((y & 7) * 8 + (x & 7)) * 8 + qc,
                },
                (qsign(p[0] - pred8) * 15 + qsign(p[2] - pred8)) * 2 + (qc > 3) as usize,
            ];

            // ---- residual ----
            let x_in = px[row + x];
            let e_in = x_in - pred;
            let bpos = ((x & 7 == 0) as usize)
                | (((x & 7 == 7) as usize) << 1)
                | (((y & 7 == 0) as usize) << 2)
                | (((y & 7 == 7) as usize) << 3);
            let pixel = Pixel {
                ctx: &ctx,
                // (The gradient's pixels: how large the gradient is, and
                // how the farther neighbours repeat.)
                q: match section {
                    1 => {
                        (qlog(((n - nw).abs() + (wv - nw).abs()) as u32) / 3).min(2) * 2
                            + (q >= NQ / 2) as usize
                            + 6 * ((wv == ww) as usize + 2 * (nn == n) as usize)
                    }
                    _ => q,
                },
                kmax,
                sel: (tex, bpos),
                dist,
                pred,
                maxv,
                frac,
                section,
            };
            // (Graphics: the value this neighbourhood was followed by last
            // time, by one flag.)
            let keys = gfx
                .as_ref()
                .map(|_| Graphics::keys([wv, ww, nw, n, ne, nnw, nn, nne]));
            let remembered = match (&gfx, keys) {
                (Some(g), Some(k)) => g
                    .guess(k, syn, pred)
                    .and_then(|(v, ctx)| io.remembered(ctx, x_in == v).then_some(v - pred)),
                _ => None,
            };
            let e = match remembered {
                Some(e) => e,
                None => io.residual(m, &pixel, e_in),
            };
            let xv = pred + e;
            let xv = if (0..=maxv).contains(&xv) {
                xv
            } else {
                ok = false;
                xv.clamp(0, maxv)
            };
            px[row + x] = xv;

            // ---- updates ----
            if let (Some(g), Some(k)) = (&mut gfx, keys) {
                g.learn(k, xv, syn.then_some((repeats, grad, own)));
            }
            if let (Some(cal), Some(key), Some(d)) = (&mut cal, cal_at.take(), dist) {
                cal.learn(key, d.gradients(xv - pred, xv == 0, xv == maxv));
            }
            let err8 = xv * 8 - pred8;
            let b = &mut m.bias[bctx];
            b.0 += err8;
            b.1 += 1;
            if b.1 >= 64 {
                b.0 /= 2;
                b.1 /= 2;
            }
            let pe = &mut perr[cur + x];
            for i in 0..NP {
                pe[i] = (p[i] - 8 * xv).unsigned_abs();
            }
            if let Some(r8) = r8 {
                perr_prior[cur + x] = (r8 - 8 * xv).unsigned_abs();
            }
            res[cur + x] = xv - ((pred8 + 4) >> 3);
            #[cfg(feature = "train")]
            if let (Some(t), Some(f)) = (s.trace, &feats) {
                let mut t = t.borrow_mut();
                t.count += 1;
                if t.count >= t.stride {
                    t.count = 0;
                    t.feats.push(*f);
                    t.targets
                        .push((8 * xv - pred8, norm8.min(i32::MAX as i64) as i32));
                }
            }
            te[cur + x] = pred8 - 8 * xv;
            lms_update(&mut lms, &mut lms2, &c, norm + 1, 8 * xv, p_lms, p_lms2);
        }
    }
    ok
}

/// The graphics tools of the default level's coders 14 and 15 (format
/// version 20, since 2026-12-04), for images of text, graphics and
/// annotations (an ultrasound's text, ECG trace and scale beside its
/// sector: docs/RESULTS.md §7):
///
/// - A pixel whose eight nearest causal neighbours repeat one another
///   ([`Graphics::is_graphics`]) is one of *graphics*; its calibrated scale
///   has factors of its own (`Calib`), and it is predicted by the exact
///   gradient N + W − NW where that has had the smaller recent errors on
///   graphics of the same pattern of repeats (N = NW, W = NW, NE = N),
///   else as usual. Each kind codes its tokens in a section of
///   distributions of its own; the gradient's are chosen by the gradient's
///   size and the farther repeats instead of the energy and fraction.
/// - A memory (after the fast coder's, `fast::Memory`): two tables of the
///   value that followed a neighbourhood last time, by a hash of the eight
///   nearest neighbours (every pixel coded) and of four (W, NW, N, NE;
///   pixels of graphics). Where the first knows the neighbourhood (or, for
///   graphics, the second) and its value is not the prediction, one flag
///   says whether the pixel is that value again; only if not is the
///   residual coded.
struct Graphics {
    /// The tables by eight neighbours and by four, `1 << bits` slots each.
    eight: Vec<Slot>,
    four: Vec<Slot>,
    bits: u32,
    /// Per pattern of repeats: recent absolute errors (×16, decaying by
    /// 1/16) on graphics of the exact gradient and of the usual prediction.
    errs: [(u32, u32); 8],
}

/// A memory's slot: the hash's tag (odd; 0 empty), the value, and how many
/// times in a row it came again (at most 3).
#[derive(Clone, Copy, Default)]
struct Slot {
    tag: u32,
    value: i32,
    hits: u32,
}

impl Graphics {
    /// For a stripe of `pixels`: tables of as many slots, between 2^8 and
    /// 2^16.
    fn new(pixels: usize) -> Graphics {
        let bits = (usize::BITS - pixels.max(1).leading_zeros()).clamp(8, 16);
        Graphics {
            eight: vec![Slot::default(); 1 << bits],
            four: vec![Slot::default(); 1 << bits],
            bits,
            errs: [(0, 0); 8],
        }
    }

    /// Whether a pixel whose neighbours are `[W, WW, NW, N, NE, NNW, NN,
    /// NNE]` is one of graphics: at least four of eight neighbouring pairs
    /// (W–WW, NW–N, N–NE, NN–N, W–NW, NE–NNE, NNW–NN, NW–NNW) equal. (On
    /// the ultrasound of RESULTS §7, 81 % of the coded pixels outside its
    /// sector and 8 % inside.)
    #[inline(always)]
    fn is_graphics([w, ww, nw, n, ne, nnw, nn, nne]: [i32; 8]) -> bool {
        let pairs = [
            (w, ww),
            (nw, n),
            (n, ne),
            (nn, n),
            (w, nw),
            (ne, nne),
            (nnw, nn),
            (nw, nnw),
        ];
        pairs.iter().filter(|(a, b)| a == b).count() >= 4
    }

    /// The slots and tags of a neighbourhood `[W, WW, NW, N, NE, NNW, NN,
    /// NNE]` (values below 2^16) in the two tables.
    #[inline(always)]
    fn keys(v: [i32; 8]) -> [(usize, u32); 2] {
        let pack = |a: i32, b: i32, c: i32, d: i32| {
            a as u64 | (b as u64) << 16 | (c as u64) << 32 | (d as u64) << 48
        };
        let near = pack(v[0], v[2], v[3], v[4]);
        let far = pack(v[1], v[5], v[6], v[7]);
        let h8 =
            ((near.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ far).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let h4 = (near ^ 0x5851_F42D_4C95_7F2D).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        [h8, h4].map(|h| ((h >> 48) as usize, (h >> 16) as u32 | 1))
    }

    /// The remembered value of a pixel (of graphics where `syn`) predicted
    /// as `pred`, and its flag's context: the eight neighbours' table
    /// first, then for graphics the four's (the context says which, and
    /// whether both agree), where the value is not the prediction.
    #[inline(always)]
    fn guess(&self, [k8, k4]: [(usize, u32); 2], syn: bool, pred: i32) -> Option<(i32, usize)> {
        let shift = 16 - self.bits;
        let (s8, s4) = (self.eight[k8.0 >> shift], self.four[k4.0 >> shift]);
        let (has8, has4) = (s8.tag == k8.1, syn && s4.tag == k4.1);
        let (s, which) = match (has8, has4) {
            (true, true) => (s8, if s8.value == s4.value { 2 } else { 3 }),
            (true, false) => (s8, 0),
            (false, true) => (s4, 1),
            (false, false) => return None,
        };
        (s.value != pred).then_some((s.value, (which * 4 + s.hits as usize) * 2 + syn as usize))
    }

    /// After a pixel of value `v` (and for graphics, its pattern of
    /// repeats, the gradient's and the usual prediction).
    #[inline(always)]
    fn learn(&mut self, [k8, k4]: [(usize, u32); 2], v: i32, syn: Option<(usize, i32, i32)>) {
        let shift = 16 - self.bits;
        for (table, (slot, tag)) in [(&mut self.eight, k8), (&mut self.four, k4)] {
            let s = &mut table[slot >> shift];
            let again = s.tag == tag && s.value == v;
            *s = Slot {
                tag,
                value: v,
                hits: if again { (s.hits + 1).min(3) } else { 0 },
            };
        }
        if let Some((repeats, grad, own)) = syn {
            let (eg, eo) = &mut self.errs[repeats];
            *eg = *eg - (*eg >> 4) + 16 * (grad - v).unsigned_abs().min(64);
            *eo = *eo - (*eo >> 4) + 16 * (own - v).unsigned_abs().min(64);
        }
    }
}

/// Whether an image (`px`, rows of `w`, values `0..=maxv`) looks like text
/// and graphics, for which the encoder also tries the graphics tools
/// (`Graphics`): at least one in 32 of its pixels outside flat
/// neighbourhoods (on every fourth row from the third) is of graphics
/// beside a sharp edge (its eight nearest neighbours span at least an
/// eighth of the value range). Measured with
/// numpy on dev images (2026-12-04): the ultrasound of RESULTS §7 7.8 %,
/// three posterised chest X-rays of `cxr_other` 5.9–8.5 %, every other
/// image of `cxr_other`, of the first Kermany images and of `highbit` at
/// most 1.5 %.
pub fn looks_like_graphics(px: &[i32], w: usize, maxv: i32) -> bool {
    let (mut coded, mut graphic) = (0u64, 0u64);
    // (Every fourth row: a fraction of the encoder's time.)
    for y in (2..px.len() / w.max(1)).step_by(4) {
        for x in 2..w.saturating_sub(2) {
            if flat_neighbourhood(px, w, x, y) {
                continue;
            }
            let at = |dx: usize, dy: usize| px[(y - dy) * w + x + 1 - dx];
            let v = [
                at(2, 0),
                at(3, 0),
                at(2, 1),
                at(1, 1),
                at(0, 1),
                at(2, 2),
                at(1, 2),
                at(0, 2),
            ];
            coded += 1;
            let (lo, hi) = (
                v.iter().fold(v[0], |a, &b| a.min(b)),
                v.iter().fold(v[0], |a, &b| a.max(b)),
            );
            let sharp = 8 * (hi - lo) as i64 > maxv as i64;
            graphic += (sharp && Graphics::is_graphics(v)) as u64;
        }
    }
    graphic * 32 >= coded && graphic > 0
}

/// Whether the ten causal neighbours of `(x, y)` within two rows and two
/// columns (the row above from `x − 2` to `x + 2`, the row two above from
/// `x − 1` to `x + 1`, W and WW) all hold the same value; never in the
/// first two rows (of the stripe `px` holds) or columns, or the last two
/// columns.
#[inline(always)]
fn flat_neighbourhood(px: &[i32], w: usize, x: usize, y: usize) -> bool {
    if y < 2 || x < 2 || x + 2 >= w {
        return false;
    }
    let (r1, r2, r0) = ((y - 1) * w + x, (y - 2) * w + x, y * w + x);
    let n = px[r1];
    px[r1 - 2..=r1 + 2].iter().all(|&v| v == n)
        && px[r2 - 1..=r2 + 1].iter().all(|&v| v == n)
        && px[r0 - 2] == n
        && px[r0 - 1] == n
}

/// How many pixels of an image (`px`, rows of `w`) have a flat
/// neighbourhood (`flat_neighbourhood`), and how many of those differ
/// from it: the encoder codes the flags where few do.
pub fn flat_counts(px: &[i32], w: usize) -> (u64, u64) {
    let (mut flat, mut differ) = (0, 0);
    for y in 2..px.len() / w.max(1) {
        for x in 2..w.saturating_sub(2) {
            if flat_neighbourhood(px, w, x, y) {
                flat += 1;
                differ += (px[y * w + x] != px[(y - 1) * w + x]) as u64;
            }
        }
    }
    (flat, differ)
}

/// Whether the eight farther neighbours of [`FAR`] (outside those of
/// [`flat_neighbourhood`]) all hold `n`; false where one lies outside the
/// image.
#[inline(always)]
fn flat_ring(px: &[i32], w: usize, x: usize, y: usize, n: i32) -> bool {
    y >= 3
        && x >= 3
        && x + 3 < w
        && FAR
            .iter()
            .all(|&(dx, dy)| px[(y - dy) * w + (x as isize + dx) as usize] == n)
}

/// A pixel's causal neighbours: N, NW, NE, NN, NNE (the rows above) and W,
/// WW (the row so far). Edges replicate the nearest causal pixel; the
/// first row sees W (or the middle value `mid` at its start) everywhere.
#[derive(Clone, Copy)]
struct Nb {
    n: i32,
    nw: i32,
    ne: i32,
    nn: i32,
    nne: i32,
    wv: i32,
    ww: i32,
}

#[inline(always)]
fn neighbours(px: &[i32], w: usize, x: usize, y: usize, mid: i32) -> Nb {
    let at = |xx: usize, yy: usize| px[yy * w + xx];
    let (n, nw, ne, nn, nne) = if y == 0 {
        let wv = if x > 0 { at(x - 1, 0) } else { mid };
        (wv, wv, wv, wv, wv)
    } else {
        let n = at(x, y - 1);
        let nw = if x > 0 { at(x - 1, y - 1) } else { n };
        let ne = if x + 1 < w { at(x + 1, y - 1) } else { n };
        let nn = if y > 1 { at(x, y - 2) } else { n };
        let nne = if y > 1 && x + 1 < w {
            at(x + 1, y - 2)
        } else {
            ne
        };
        (n, nw, ne, nn, nne)
    };
    let wv = if x > 0 { at(x - 1, y) } else { n };
    let ww = if x > 1 { at(x - 2, y) } else { wv };
    Nb {
        n,
        nw,
        ne,
        nn,
        nne,
        wv,
        ww,
    }
}

/// The context network's features of a pixel at `(x, y)` (`n`, `wv`: its
/// N and W): the neighbours, predictions and recent errors relative to the
/// blended prediction `pred8`, divided by the local energy `norm8` (`c`:
/// the LMS taps, `p`: the predictions); then four predictors' recent errors
/// at N and W (`en`, `ew`), the bias correction, the energy bucket `q`, the
/// prediction's fraction, the depth `kmax`, and the farther neighbours of
/// [`FAR`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn features(
    px: &[i32],
    w: usize,
    (x, y): (usize, usize),
    (n, wv): (i32, i32),
    pred8: i32,
    norm8: i64,
    (c, p): (&[i64; NL], &[i32; NP]),
    (en, ew): (&[u32; NP], &[u32; NP]),
    bias: i32,
    (q, kmax): (usize, u32),
) -> [i16; NF] {
    let at = |xx: usize, yy: usize| px[yy * w + xx];
    let inv = (1i64 << 28) / norm8;
    let f = |v8: i32| ((v8 as i64 * inv) >> 20).clamp(-4095, 4095) as i16;
    let mut v = [0i16; NF];
    v[0] = f(8 * n - pred8);
    for i in 0..9 {
        v[1 + i] = f(8 * (c[i] as i32 + n) - pred8);
    }
    for i in 0..9 {
        v[10 + i] = f(p[i] - pred8);
    }
    for i in 0..5 {
        v[19 + i] = f(2 * c[9 + i] as i32);
    }
    for (j, &i) in [0usize, 5, 9, 10].iter().enumerate() {
        v[24 + j] = f((en[i] + ew[i]) as i32);
    }
    v[28] = f(bias);
    v[29] = (q as i16) << 6;
    v[30] = ((pred8 & 7) as i16) << 6;
    v[31] = (kmax as i16) << 6;
    // Farther neighbours (networks with NF inputs; the first 32 features
    // are those of 32-input networks).
    let inside = y >= 3 && x >= 3 && x + 3 < w;
    for (k, &(dx, dy)) in FAR.iter().enumerate() {
        let xx = x as isize + dx;
        let val = if inside || (y >= dy && xx >= 0 && (xx as usize) < w) {
            at(xx as usize, y - dy)
        } else if dy == 0 {
            wv
        } else {
            n
        };
        v[32 + k] = f(8 * val - pred8);
    }
    v
}

/// One step of the two normalized-LMS predictors towards the coded value
/// `x8` (×8): `p_lms`, `p_lms2` their predictions, `c` their taps, `norm`
/// their squares' sum plus one.
#[inline(always)]
fn lms_update(
    lms: &mut [i64; NL],
    lms2: &mut [i64; NL],
    c: &[i64; NL],
    norm: i64,
    x8: i32,
    p_lms: i32,
    p_lms2: i32,
) {
    let err8 = (x8 - p_lms) as i64;
    let g = div_exact(err8 << 13, norm);
    for (w, &ci) in lms.iter_mut().zip(c) {
        *w = (*w + ((g * ci) >> 2)).clamp(-(1 << 18), 1 << 18);
    }
    let err8 = (x8 - p_lms2) as i64;
    let g = div_exact(err8 << 13, norm);
    for (w, &ci) in lms2.iter_mut().zip(c) {
        *w = (*w + ((g * ci) >> 5)).clamp(-(1 << 18), 1 << 18);
    }
}

/// The blend of the [`NP`] predictions `p` (×8): the sum of the weights
/// and of the weighted predictions, each prediction weighted by
/// [`weight`] of its recent errors at N and W and half those at NW and NE
/// (`e`: those four pixels' errors), shifted by [`WSHIFT`]. On eight AVX2
/// lanes where `avx2` (the same integer results; see [`blend_avx2`]).
#[inline(always)]
fn blend(e: [&[u32; NP]; 4], p: &[i32; NP], avx2: bool) -> (u64, i64) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` comes from `Simd::avx2` (the CPU has AVX2).
        if let Some(r) = unsafe { blend_avx2(e, p) } {
            return r;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx2;
    let [en, ew, enw, ene] = e;
    let mut wsum = 0u64;
    let mut acc = 0i64;
    for i in 0..NP {
        let wt = weight(en[i] + ew[i] + (enw[i] + ene[i]) / 2) << WSHIFT[i];
        wsum += wt;
        acc += wt as i64 * p[i] as i64;
    }
    (wsum, acc)
}

/// [`blend`] on AVX2 lanes (predictions 0–7, then 8–10 in the top lanes of
/// a second vector), when every error sum is below 2^24 (else `None`): a
/// sum's bit length is then its `f32` exponent (the context coders' one float
/// operation, and an exact one: IEEE 754 converts every integer below
/// 2^24 without rounding, on every CPU), the table is read by a gather,
/// and each weight (at most 2^26) times its prediction is one `vpmuldq`.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn blend_avx2(e: [&[u32; NP]; 4], p: &[i32; NP]) -> Option<(u64, i64)> {
    use std::arch::x86_64::*;
    const _: () = assert!(NP > 8 && NP <= 16);
    let mut wsum = _mm256_setzero_si256();
    let mut acc = _mm256_setzero_si256();
    let mut big = _mm256_setzero_si256();
    // (offset, lanes kept): 0..8, then NP − 8..NP keeping 8..NP.
    for (off, keep) in [(0usize, 0i32), (NP - 8, 16 - NP as i32)] {
        // SAFETY: `off + 8 ≤ NP` for every array read.
        let [en, ew, enw, ene] =
            e.map(|a| unsafe { _mm256_loadu_si256(a.as_ptr().add(off) as *const __m256i) });
        let sum = _mm256_add_epi32(
            _mm256_add_epi32(en, ew),
            _mm256_srli_epi32(_mm256_add_epi32(enw, ene), 1),
        );
        big = _mm256_or_si256(big, _mm256_srli_epi32(sum, 24));
        // s = max(bit length − 10, 0) = max(biased exponent − 136, 0).
        let expo = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(sum)), 23);
        let s = _mm256_max_epi32(
            _mm256_sub_epi32(expo, _mm256_set1_epi32(136)),
            _mm256_setzero_si256(),
        );
        // SAFETY: indices `sum >> s` are below 1024 (the table's length)
        // for sums below 2^24; a larger sum's lane is discarded below.
        let lut = unsafe {
            _mm256_i32gather_epi32::<4>(
                WEIGHT_LUT.as_ptr() as *const i32,
                _mm256_and_si256(_mm256_srlv_epi32(sum, s), _mm256_set1_epi32(1023)),
            )
        };
        // SAFETY: WSHIFT holds NP ≥ off + 8 values.
        let sh = unsafe { _mm256_loadu_si256(WSHIFT.as_ptr().add(off) as *const __m256i) };
        let mut wt = _mm256_sllv_epi32(_mm256_srlv_epi32(lut, s), sh);
        // Lanes below `keep` were counted by the first vector.
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        wt = _mm256_and_si256(wt, _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(keep - 1)));
        // SAFETY: as for `ld`.
        let pv = unsafe { _mm256_loadu_si256(p.as_ptr().add(off) as *const __m256i) };
        wsum = _mm256_add_epi32(wsum, wt);
        let even = _mm256_mul_epi32(wt, pv);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64(wt, 32), _mm256_srli_epi64(pv, 32));
        acc = _mm256_add_epi64(acc, _mm256_add_epi64(even, odd));
    }
    if _mm256_testz_si256(big, big) == 0 {
        return None;
    }
    let mut w = [0u32; 8];
    let mut a = [0i64; 4];
    // SAFETY: `w` holds 8 u32s, `a` 4 i64s.
    unsafe {
        _mm256_storeu_si256(w.as_mut_ptr() as *mut __m256i, wsum);
        _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, acc);
    }
    // (At most 11 weights of 2^26: the sum fits u32.)
    Some((w.iter().map(|&v| v as u64).sum(), a.iter().sum()))
}

/// `Σ c[i]·w[i]` for each of `ws` (the two LMS predictors' weights), then
/// `Σ c[i]²` (the taps' energy), in `i64`. The taps (pixel differences
/// and halved errors) and weights (within ±2^18) fit `i32`, so on AVX2
/// (where `avx2`) each product is one lane of a `vpmuldq`.
#[inline(always)]
fn lms_dots(c: &[i64; NL], ws: [&[i64; NL]; 2], avx2: bool) -> [i64; 3] {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` comes from `Simd::avx2` (the CPU has AVX2).
        if let Some(r) = unsafe { lms_dots_avx2(c, ws) } {
            return r;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx2;
    [ws[0], ws[1], c].map(|v| c.iter().zip(v).map(|(&c, &w)| c * w).sum::<i64>())
}

/// [`lms_dots`] on AVX2, when every value fits `i32` (else `None`).
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn lms_dots_avx2(c: &[i64; NL], ws: [&[i64; NL]; 2]) -> Option<[i64; 3]> {
    use std::arch::x86_64::*;
    const _: () = assert!(NL > 12 && NL <= 16);
    // Vectors of four at 0, 4, 8 and NL − 4 (its lanes below 16 − NL
    // were counted by the third).
    const OFF: [usize; 4] = [0, 4, 8, NL - 4];
    let tail = _mm256_cmpgt_epi64(
        _mm256_setr_epi64x(0, 1, 2, 3),
        _mm256_set1_epi64x(15 - NL as i64),
    );
    /// Nonzero lanes where a value does not fit `i32` (sign-extending
    /// its low half does not give it back).
    #[target_feature(enable = "avx2")]
    fn far(v: __m256i) -> __m256i {
        let lo = _mm256_srai_epi32(_mm256_slli_epi64(v, 32), 31);
        _mm256_xor_si256(_mm256_srli_epi64(v, 32), _mm256_srli_epi64(lo, 32))
    }
    let mut bad = _mm256_setzero_si256();
    let mut cv = [_mm256_setzero_si256(); 4];
    for (k, &o) in OFF.iter().enumerate() {
        // SAFETY: `o + 4 ≤ NL`.
        cv[k] = unsafe { _mm256_loadu_si256(c.as_ptr().add(o) as *const __m256i) };
        bad = _mm256_or_si256(bad, far(cv[k]));
    }
    cv[3] = _mm256_and_si256(cv[3], tail);
    // The weights' products, then the taps' squares (the masked tail's
    // zeros meet the tail's second factor).
    let mut acc = [_mm256_setzero_si256(); 3];
    for (k, &o) in OFF.iter().enumerate() {
        for (v, a) in ws.iter().zip(&mut acc) {
            // SAFETY: `o + 4 ≤ NL`.
            let w = unsafe { _mm256_loadu_si256(v.as_ptr().add(o) as *const __m256i) };
            bad = _mm256_or_si256(bad, far(w));
            *a = _mm256_add_epi64(*a, _mm256_mul_epi32(cv[k], w));
        }
        acc[2] = _mm256_add_epi64(acc[2], _mm256_mul_epi32(cv[k], cv[k]));
    }
    let mut out = [0i64; 3];
    for (a, r) in acc.iter().zip(&mut out) {
        let mut l = [0i64; 4];
        // SAFETY: `l` holds 4 i64s.
        unsafe { _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, *a) };
        *r = l.iter().sum();
    }
    if _mm256_testz_si256(bad, bad) == 0 {
        return None;
    }
    Some(out)
}

/// `a / b` (`b > 0`), truncated as Rust's `/`: in 32 bits when both fit
/// (the same quotient; a 32-bit division is several times faster than a
/// 64-bit one on older x86 cores).
#[inline(always)]
fn div_exact(a: i64, b: i64) -> i64 {
    if a == a as i32 as i64 && b == b as i32 as i64 {
        (a as i32 / b as i32) as i64
    } else {
        a / b
    }
}

/// N, W, NW, NE of `x` in a two-row buffer (`prv`/`cur` row offsets); a
/// missing neighbour takes N's value, and N is 0 on the first row.
#[inline(always)]
fn causal(
    buf: &[i32],
    prv: usize,
    cur: usize,
    x: usize,
    y: usize,
    w: usize,
) -> (i32, i32, i32, i32) {
    let n = if y > 0 { buf[prv + x] } else { 0 };
    let wv = if x > 0 { buf[cur + x - 1] } else { n };
    let nw = if y > 0 && x > 0 { buf[prv + x - 1] } else { n };
    let ne = if y > 0 && x + 1 < w {
        buf[prv + x + 1]
    } else {
        n
    };
    (n, wv, nw, ne)
}

/// Codes one binary decision: the context models' predictions, mixed by
/// the two-layer mixer and refined by the APM; then every part learns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn decide<IO: BitIo>(
    io: &mut IO,
    m: &mut Model,
    base: &[usize; NIN],
    sels: &[usize; 3],
    q: usize,
    slot: usize,
    net: Option<i32>,
    bit: bool,
) -> bool {
    let mut x = [0i32; LANES];
    for (x, &b) in x.iter_mut().zip(base) {
        *x = m.table[b + slot].st();
    }
    x[NIN] = 256;
    if let Some(v) = net {
        x[NIN + 1] = v;
    }
    let pm = m.mixer.mix(
        &x,
        &[(slot * 16 + sels[2]) * 8 + sels[0], slot * 64 + sels[1]],
        slot,
    );
    let pa = m.apm.pp(pm, slot * NQ + q);
    let p = ((pm + 3 * pa) >> 2) as u32;
    let b = io.bit(bit, p);
    for &bs in base {
        m.table[bs + slot].update(b);
    }
    m.mixer.update(b);
    m.apm.update(b);
    b
}

/// Codes one residual as binary decisions; returns the (de)coded residual.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn code_residual<IO: BitIo>(
    io: &mut IO,
    m: &mut Model,
    ctx: &[usize; NIN],
    q: usize,
    kmax: u32,
    sel: (usize, usize),
    dist: Option<Dist>,
    e_in: i32,
) -> i32 {
    let qc = q / 3;
    let base: [usize; NIN] = std::array::from_fn(|i| TABLE_OFF[i] + ctx[i] * SLOTS);
    let sels = [qc, sel.0, sel.1];
    if decide(io, m, &base, &sels, q, 0, dist.map(|d| d.zero()), e_in == 0) {
        return 0;
    }
    let neg = decide(
        io,
        m,
        &base,
        &sels,
        q,
        SLOT_SIGN,
        dist.map(|d| d.negative()),
        e_in < 0,
    );
    let mag_in = e_in.unsigned_abs().saturating_sub(1); // ≥ 0
    let k_in = 32 - mag_in.leading_zeros();
    let mut k = 0u32;
    let mut above = dist.map(|d| d.above_seq(neg));
    while k < kmax {
        let x = above.as_mut().map(|a| a.next_odds());
        if !decide(io, m, &base, &sels, q, SLOT_EXP + k as usize, x, k_in > k) {
            break;
        }
        k += 1;
    }
    let mut mag = 0u32;
    if k > 0 {
        mag = 1;
        for j in (0..k - 1).rev() {
            let bit_in = (mag_in >> j) & 1 != 0;
            let pos = (k - 1 - j).min(19) as usize; // 1.. from the top
                                                    // The top two mantissa bits see the energy and the bits above
                                                    // them (the density falls within an octave); the rest only the
                                                    // class and position.
            let (prefix, qq) = match pos {
                1 => (0, q),
                2 => ((mag & 1) as usize, q),
                _ => (2, 0),
            };
            let idx = (((k as usize).min(18) * 20 + pos) * 4 + prefix) * NQ + qq;
            let bm = &mut m.mant[idx];
            let b = io.bit(bit_in, bm.p());
            bm.update(b);
            mag = (mag << 1) | b as u32;
        }
    }
    let v = mag as i32 + 1;
    if neg {
        -v
    } else {
        v
    }
}

/// `2^16 / k` for `k` in `1..=256` (index 0 unused).
const RECIP: [i64; 257] = {
    let mut t = [0i64; 257];
    let mut k = 1;
    while k <= 256 {
        t[k] = (1 << 16) / k as i64;
        k += 1;
    }
    t
};

/// The network's distribution calibrated online to the image (the default
/// level since format version 17, 2026-12-03). A network trained on other
/// images can be too sure or too doubtful of a new one (the CT
/// `693_UNCR`: the scale that fits its residuals best is 1.35 times the
/// network's), and its centre may lean one way in some textures. So the
/// coder multiplies the network's scale by a factor per energy bucket (of
/// the network's scale) and moves its centre by a number of scales per
/// bucket's third and texture, and after every other pixel (a
/// checkerboard: learning from every pixel doubled the instructions it
/// adds, for 0.1 %) moves both by one step of gradient descent on the
/// pixel's code length
/// ([`crate::logistic::Dist::gradients`]): the step `1 / min(n + n0, cap)`
/// after `n` pixels of the slot (`n0` 32 and `cap` 256 for the factor, 16
/// and 128 for the centre; the factor within ¼ to 4, the centre within
/// ±4 scales). Integers only: the decoder repeats it exactly.
///
/// The means of the residual against the scale (the first version, not
/// kept) are biased where the scale is below a pixel, and made some 256 ×
/// 256 chest X-rays up to 0.3 % larger; the gradients are not. Files,
/// against the coder before (format version 16), 2026-12-03: `693_UNCR`
/// −1.3 %, the ultrasound `JPGLosslessP14SV1` −3.6 %, CT `03` −0.6 %, MR
/// `3` −1.3 %, 256 × 256 chest X-rays −0.3 to +0.09 % (docs/RESULTS.md
/// §12, last part).
///
/// Since format version 19 (2026-12-04, coders 12 and 13) the scale has a
/// second factor per intensity (a sixteenth of the value range, where the
/// network's centre lies) and quarter of the energy buckets, learnt by the
/// same step: noise that grows or shrinks with the signal (photon counts,
/// a detector's gain, an MR magnitude's floor), which the network cannot
/// see (its features are differences, divided by the local energy).
/// Two-fold cross-validated on the high-bit dev images, 4.0464 → 4.0397 bpp
/// (−0.17 %); the 8-bit dev sets 0.07–0.10 % smaller (docs/RESULTS.md
/// §3).
pub(crate) struct Calib {
    /// Per energy bucket (and with the graphics tools, per bucket of
    /// graphics: `NQ +` the bucket): the scale's factor (Q12) and the count.
    scale: [(i64, u32); 2 * NQ],
    /// Per bucket's third and texture: the centre's move in scales (Q12)
    /// and the count.
    centre: Vec<(i64, u32)>,
    /// Per intensity: a second factor of the scale (Q12) and the count, per
    /// sixteenth of the value range (where the network's centre lies) and
    /// quarter of the energy buckets (`q / 6`); `None`: none (coders 9
    /// and 10).
    level: Option<Vec<(i64, u32)>>,
}

impl Calib {
    fn new(by_intensity: bool) -> Calib {
        Calib {
            scale: [(1 << 12, 0); 2 * NQ],
            centre: vec![(0, 0); NQ / 3 * 64],
            level: by_intensity.then(|| vec![(1 << 12, 0); NQ / 6 * 16]),
        }
    }

    /// The slots of a pixel of energy bucket `q` (of the network's scale),
    /// texture `tex` (`0..64`) and the network's centre `c8` (eighths, of
    /// values `0..=maxv`).
    #[inline(always)]
    fn key(q: usize, tex: usize, c8: i64, maxv: i32) -> (usize, usize, usize) {
        let level = ((c8 * 16) / (8 * maxv as i64 + 8)).clamp(0, 15) as usize;
        (q, (q / 3) * 64 + tex, (q / 6) * 16 + level)
    }

    /// The calibrated centre and scale (eighths, as given).
    #[inline(always)]
    fn apply(&self, key: (usize, usize, usize), c8: i64, s8: i64, maxv: i32) -> (i64, i64) {
        let mut s = ((s8 * self.scale[key.0].0) >> 12).clamp(1, 1 << 30);
        if let Some(level) = &self.level {
            s = ((s * level[key.2].0) >> 12).clamp(1, 1 << 30);
        }
        let c = (c8 + ((self.centre[key.1].0 * s) >> 12)).clamp(0, 8 * maxv as i64);
        (c, s)
    }

    /// One step down the gradients `(gs, gc)` (Q12) of a pixel's code
    /// length with respect to the log of the calibrated scale and to its
    /// centre in scales.
    #[inline(always)]
    fn learn(&mut self, key: (usize, usize, usize), (gs, gc): (i64, i64)) {
        let (gs, gc) = (gs.clamp(-8 << 12, 8 << 12), gc.clamp(-8 << 12, 8 << 12));
        // The factors of the scale both take the step of the same gradient.
        let factors = std::iter::once(&mut self.scale[key.0])
            .chain(self.level.as_mut().map(|l| &mut l[key.2]));
        for (k, n) in factors {
            let eta = RECIP[(*n as usize + 32).min(256)];
            *k = (*k - ((((*k * gs) >> 12) * eta) >> 16)).clamp(1 << 10, 1 << 14);
            *n = (*n + 1).min(256);
        }
        let (d, n) = &mut self.centre[key.1];
        let eta = RECIP[(*n as usize + 16).min(128)];
        *d = (*d - ((gc * eta) >> 16)).clamp(-4 << 12, 4 << 12);
        *n = (*n + 1).min(256);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medzip_nn::{Layer, Net, Shape, Weighted};

    fn net(inputs: usize, outs: usize) -> Net {
        Net {
            input: Shape {
                c: inputs,
                h: 1,
                w: 1,
            },
            f_in: 8,
            layers: vec![Layer::Dense(Weighted {
                fan_in: inputs,
                outs,
                f_out: 8,
                leaky: false,
                bound: 30_000,
                w_frac: vec![10; outs],
                bias: vec![0; outs],
                w: vec![1; inputs * outs],
            })],
        }
    }

    /// A network takes the first 32 features (the first networks) or all
    /// [`NF`], and gives 2 outputs; anything else is refused by name.
    /// The AVX2 blend of the predictions and the LMS dot products equal
    /// the scalar ones, at ordinary and extreme values (where the AVX2
    /// code declines and the scalar code answers).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn blend_and_lms_dots_are_the_same_on_avx2() {
        if !simd::Simd::Auto.avx2() {
            simd::Simd::note_if_scalar_only("blend_and_lms_dots_are_the_same_on_avx2");
            return;
        }
        let mut seed = 11u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as u32
        };
        let (mut declined, mut answered) = (0, 0);
        for t in 0..20_000u32 {
            // Error sums from 0 to past 2^24, some lanes only.
            let top = [8, 12, 19, 22, 25][(t % 5) as usize];
            let mut err = || -> [u32; NP] { std::array::from_fn(|_| next() % (1 << top)) };
            let e = [err(), err(), err(), err()];
            let p: [i32; NP] = std::array::from_fn(|_| (next() % (1 << 20)) as i32 - (1 << 18));
            let scalar = blend([&e[0], &e[1], &e[2], &e[3]], &p, false);
            // SAFETY: AVX2 was detected.
            match unsafe { blend_avx2([&e[0], &e[1], &e[2], &e[3]], &p) } {
                Some(r) => {
                    answered += 1;
                    assert_eq!(r, scalar, "case {t}")
                }
                None => declined += 1,
            }
            assert_eq!(blend([&e[0], &e[1], &e[2], &e[3]], &p, true), scalar);

            let wide = t % 7 == 0;
            let mut val = |bits: u32| -> i64 {
                let v = (next() as i64) << 20 | next() as i64;
                let v = v % (1i64 << bits) - (1i64 << (bits - 1));
                if wide && next() % 4 == 0 {
                    v << 20
                } else {
                    v
                }
            };
            let c: [i64; NL] = std::array::from_fn(|_| val(21));
            let w1: [i64; NL] = std::array::from_fn(|_| val(19));
            let w2: [i64; NL] = std::array::from_fn(|_| val(19));
            let want = lms_dots(&c, [&w1, &w2], false);
            assert_eq!(lms_dots(&c, [&w1, &w2], true), want, "case {t}");
            // SAFETY: as above.
            let got = unsafe { lms_dots_avx2(&c, [&w1, &w2]) };
            let fit = [&c, &w1, &w2]
                .iter()
                .all(|a| a.iter().all(|&v| v == v as i32 as i64));
            assert_eq!(got.is_some(), fit, "case {t}");
            if let Some(got) = got {
                assert_eq!(got, want, "case {t}");
            }
        }
        assert!(
            declined > 1000 && answered > 10_000,
            "{declined} {answered}"
        );
    }

    #[test]
    fn context_networks_take_32_or_nf_features() {
        assert!(CtxNet::new(net(32, 2)).is_ok());
        assert!(CtxNet::new(net(NF, 2)).is_ok());
        for (i, o) in [(33, 2), (NF + 1, 2), (32, 3)] {
            let e = CtxNet::new(net(i, o)).err().expect("refused");
            assert!(e.to_string().contains("inputs and 2 outputs"), "{e}");
        }
    }
}
