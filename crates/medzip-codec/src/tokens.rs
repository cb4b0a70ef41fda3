//! The residual step of the default coder (effort level 2,
//! [`crate::Residual::Logistic`]): the context coder's model up to its
//! network (predictors, bias correction, the network's logistic
//! distribution of the pixel), then **one token per pixel** over rANS
//! instead of the context-mixing coder's four to six mixed binary
//! decisions.
//!
//! The residual, folded to `z ≥ 0` as by the fast coder (zigzag inside the
//! band both image ends allow, one-sided beyond), is split into a token
//! (exponent class and four mantissa bits; values below 16 are tokens of
//! their own) and raw low bits. The token's probability is a mixture of
//! the network's discretized logistic (its cumulative function at the
//! token's bounds, truncated to the values the image can take, from the
//! integer sigmoid table of [`crate::logistic`]) and an adaptive
//! distribution of the energy bucket and prediction fraction (which learns
//! what the network misses in this image), of 2^17, coded by a 64-bit rANS
//! ([`medzip_entropy::rans64`]). The network's weight is 0, ¼, ½ or ¾, for
//! each energy bucket the one whose recent code lengths were the shortest
//! (since format version 11, 2026-12-02; ¾ for every pixel before: flat
//! regions, such as a CT's padding outside its field of view, were paid
//! the network's doubt there). Since format version 12 (2026-12-02) the
//! code lengths are counted in 1/65536 bit ([`Weighting::Fine`]): in 1/16
//! bit a nearly certain token cost nothing at every weight, so flat
//! regions still kept ¾ (a black 1024 × 768 image: 1,716 bytes, now 712).
//! Since format version 17 (2026-12-03) the network's distribution is
//! calibrated online to the image (`cm::Calib`) and the weight is chosen
//! in sixteenths, up to 15/16 ([`Weighting::Calibrated`]); since format
//! version 19 (2026-12-04) its scale also per intensity
//! ([`Weighting::ByIntensity`]); since format version 20 (2026-12-04)
//! an image of text and graphics may take the graphics tools
//! ([`Weighting::Graphics`]: see `cm::Graphics`). Measured on dev images (2026-12-01): the
//! network's distribution alone codes them within 0.2 % of the
//! context-mixing coder's files (256×256 chest X-rays) to 0.5–2.5 % above
//! them (high-bit images, full-size chest X-rays); with the adaptive
//! quarter the dev sets come out 0.0–1.5 % above them (docs/RESULTS.md
//! §12). Integer arithmetic only.

use crate::cm::{Model, Pixel, ResidualCoder, Stripe, NQ};
use crate::fast::{class_weights, fold, tokenize, tokens_for, unfold, untokenize};
use crate::logistic::{log2_q16, Dist};
use medzip_entropy::rans::{Adaptation, AdaptiveCdf, MAX_SYMBOLS, PRECISION};
use medzip_entropy::rans64::{Rans64Decoder, Rans64Encoder};

/// Mantissa bits below the leading one in a token.
const MSB: u32 = 4;
/// Precision of the coded mixture (weights in eighths; [`WIDE_BITS`] for
/// weights in sixteenths).
const BITS: u32 = 17;
/// Precision of the mixture of the calibrated coders
/// ([`Weighting::calibrated`]), whose weights are sixteenths: a span of the
/// adaptive part of 1 in 2^15 at the network's weight 15/16 still gives a
/// span of at least 1 in 2^19.
const WIDE_BITS: u32 = 19;
/// Adaptive distributions: energy bucket × prediction fraction.
const CONTEXTS: usize = NQ * 8;
/// Sections of adaptive distributions (each of [`CONTEXTS`]) of the
/// graphics coders ([`Weighting::graphics`]): the usual pixels; pixels of
/// graphics predicted by the exact gradient (their "bucket" and "fraction"
/// then say how the neighbours repeat, `cm::Graphics`); pixels of
/// graphics that keep the usual prediction.
const SECTIONS: usize = 3;

/// `−log2(x / 2^17)` in Q16 for `x = 2^16 + 256 i`, `i` in `0..=256`
/// (integer squaring: `logistic::log2_q16`).
const NEG_LOG2: [u32; 257] = {
    let mut t = [0u32; 257];
    let mut i = 0;
    while i <= 256 {
        t[i] = ((1 << 16) - log2_q16((1 << 16) + 256 * i as i64)) as u32;
        i += 1;
    }
    t
};

/// `−log2(p / 2^17)` in Q16 for `p` in `1..=2^17`: the octave, then the
/// table above interpolated over the eight bits below its index. Fine
/// enough near `p = 2^17` (flat regions: a token of probability
/// 1 − 2^−12 costs 23 units) that the weights' code lengths tell apart
/// what [`cost_q4`] rounds to nothing.
#[inline(always)]
fn cost_q16(p: u32) -> u32 {
    if p >= 1 << 17 {
        return 0;
    }
    let b = 31 - p.max(1).leading_zeros();
    // p = 2^b m, m in [1, 2): 17 − b − log2 m, x = 2^16 m.
    let x = p.max(1) << (16 - b);
    let (i, f) = (((x - (1 << 16)) >> 8) as usize, x & 255);
    let (a, c) = (NEG_LOG2[i], NEG_LOG2[i + 1]);
    (16 - b) * (1 << 16) + a - (((a - c) * f) >> 8)
}

/// How the network's weight in the mixture is set (by the coder's id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// ¾ for every pixel (coder 5, format versions 9 and 10).
    Fixed,
    /// Chosen per energy bucket by recent code lengths counted in 1/16
    /// bit ([`cost_q4`]; coder 6, format version 11). Where every token is
    /// nearly certain (flat regions) all four lengths round to nothing and
    /// the tie keeps ¾.
    Coarse,
    /// The same choice by code lengths in 1/65536 bit ([`cost_q16`]; coder
    /// 7, format version 12, since 2026-12-02): flat regions take the
    /// adaptive distribution alone.
    Fine,
    /// [`Weighting::Fine`], and a pixel whose causal neighbourhood is flat
    /// first codes one flag, whether it equals its neighbours (then
    /// nothing else: see `cm::flat_neighbourhood`) (coder 8, format
    /// version 16, since 2026-12-03).
    FineFlat,
    /// [`Weighting::Fine`] among four weights in sixteenths, up to 15/16
    /// ([`WIDE_WEIGHTS`], a mixture of 2^[`WIDE_BITS`]), of the network's
    /// distribution calibrated online (`cm::Calib`: its scale per energy
    /// bucket, its centre per bucket and texture) (coder 10, format
    /// version 17, since 2026-12-03).
    Calibrated,
    /// [`Weighting::Calibrated`] with the flat flags of
    /// [`Weighting::FineFlat`] (coder 9, format version 17).
    CalibratedFlat,
    /// [`Weighting::Calibrated`] whose scale has a factor per intensity
    /// too (`cm::Calib`; coder 13, format version 19, since 2026-12-04).
    ByIntensity,
    /// [`Weighting::ByIntensity`] with the flat flags (coder 12, format
    /// version 19).
    ByIntensityFlat,
    /// [`Weighting::ByIntensity`] with the graphics tools (`cm::Graphics`:
    /// pixels of text and graphics told apart, predicted by the exact
    /// gradient where it does better, coded in distributions of their own,
    /// and a memory of repeated neighbourhoods) (coder 15, format version
    /// 20, since 2026-12-04). The encoder tries it on images with many
    /// sharp edges beside exactly repeated values, and keeps the smaller.
    Graphics,
    /// [`Weighting::Graphics`] with the flat flags (coder 14, format
    /// version 20).
    GraphicsFlat,
}

impl Weighting {
    /// Whether code lengths are counted in 1/65536 bit ([`cost_q16`]).
    fn fine(self) -> bool {
        !matches!(self, Weighting::Fixed | Weighting::Coarse)
    }

    /// Whether pixels of flat neighbourhoods first code one flag.
    pub fn flat(self) -> bool {
        matches!(
            self,
            Weighting::FineFlat
                | Weighting::CalibratedFlat
                | Weighting::ByIntensityFlat
                | Weighting::GraphicsFlat
        )
    }

    /// Whether the network's distribution is calibrated online, and the
    /// weights are sixteenths.
    pub fn calibrated(self) -> bool {
        matches!(
            self,
            Weighting::Calibrated
                | Weighting::CalibratedFlat
                | Weighting::ByIntensity
                | Weighting::ByIntensityFlat
                | Weighting::Graphics
                | Weighting::GraphicsFlat
        )
    }

    /// Whether the calibrated scale has a factor per intensity too.
    pub fn by_intensity(self) -> bool {
        matches!(
            self,
            Weighting::ByIntensity
                | Weighting::ByIntensityFlat
                | Weighting::Graphics
                | Weighting::GraphicsFlat
        )
    }

    /// Whether the graphics tools are on (`cm::Graphics`).
    pub fn graphics(self) -> bool {
        matches!(self, Weighting::Graphics | Weighting::GraphicsFlat)
    }

    /// This weighting with the graphics tools on or off.
    pub fn with_graphics(self, on: bool) -> Weighting {
        match (self.flat(), on) {
            (true, true) => Weighting::GraphicsFlat,
            (false, true) => Weighting::Graphics,
            (true, false) => Weighting::ByIntensityFlat,
            (false, false) => Weighting::ByIntensity,
        }
    }
}

/// Flag contexts of flat neighbourhoods: whether the eight farther
/// neighbours hold the same value too, whether W and whether N were flat
/// pixels equal to their neighbours.
const FLAT_CONTEXTS: usize = 8;
/// Contexts of the memory's flag (`cm::Graphics`), after the flat flags'.
const MEMORY_CONTEXTS: usize = 32;
/// Precision of a flat pixel's flag, and the count of flags at which a
/// context's counts are halved (so that it follows the image: a
/// mammogram's background, where no pixel differs, codes each flag in
/// about 2^−14 bit; a PET image's, where one in a hundred does, pays each
/// such pixel about 7 bits, not the 12 that a fast-adapting probability
/// near certainty would cost).
const FLAT_BITS: u32 = 24;
const FLAT_LIMIT: u32 = 1 << 13;

/// Weights of the network's part a stripe may choose from, in eighths
/// (the adaptive part takes the rest; at most 6 so that every token keeps
/// a nonzero span of the 2^17, see [`mix`]).
const WEIGHTS: [u32; 4] = [0, 2, 4, 6];
/// Weights of the calibrated coders, in sixteenths (at most 15, see
/// [`mix`]); ties go to the last, 15 (a fifth weight, 4, coded 13 dev
/// images within 0.04 % of these four, for one more code length per
/// pixel: docs/RESULTS.md §12, last part).
const WIDE_WEIGHTS: [u32; 4] = [0, 8, 12, 15];

/// `−log2(p / 2^17)` in Q4 for `p` in `1..=2^17` (integer: the top four
/// bits below the leading one through a table).
#[inline]
fn cost_q4(p: u32) -> u32 {
    const FRAC: [u32; 16] = [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15];
    let b = 31 - p.max(1).leading_zeros();
    let m = if b >= 4 {
        (p >> (b - 4)) & 15
    } else {
        (p << (4 - b)) & 15
    };
    (16 * BITS).saturating_sub(16 * b + FRAC[m as usize])
}

/// The mixture's cumulative value (2^17, or 2^19 where `wide`) of a token
/// bound whose logistic part is `l` (2^16) and adaptive part `s`
/// (2^PRECISION = 2^15), the network's weight `w` eighths (sixteenths
/// where `wide`): for `w` ≤ 6 (≤ 15) two tokens' values differ by at least
/// one, as their adaptive parts do.
#[inline(always)]
fn mix(l: i64, s: u32, w: u32, wide: bool) -> u32 {
    let (w, s) = (w as i64, s as i64);
    if wide {
        ((w * 8 * l + (16 - w) * 16 * s) >> 4) as u32
    } else {
        ((w * 2 * l + (8 - w) * 4 * s) >> 3) as u32
    }
}

/// The mixture's (start, frequency) of a token whose parts' bounds are
/// `lo` and `hi` (as [`Tokens::parts`] gives them), at weight `w`.
#[inline(always)]
fn span(lo: (i64, u32), hi: (i64, u32), w: u32, wide: bool) -> (u32, u32) {
    let (a, b) = (mix(lo.0, lo.1, w, wide), mix(hi.0, hi.1, w, wide));
    (a, b - a)
}

/// The adaptive distributions of a stripe and the value range; `CAL`: of
/// a calibrated coder ([`Weighting::calibrated`]: weights in sixteenths,
/// the mixture of 2^[`WIDE_BITS`]), a type of its own so that neither
/// coder's loop pays for the other's.
pub struct Tokens<const CAL: bool> {
    cdfs: Vec<AdaptiveCdf>,
    ntok: usize,
    maxv: i32,
    /// Per energy bucket, the recent code length (Q4 or Q16, decaying by
    /// 1/256 a token of the bucket) each of [`WEIGHTS`] (or
    /// [`WIDE_WEIGHTS`]) would have given; the next pixel of the bucket
    /// takes the shortest. `None`: ¾ for every pixel ([`Weighting::Fixed`]).
    chosen: Option<Vec<[u32; 4]>>,
    /// The code lengths in Q16 ([`Weighting::Fine`]), else Q4.
    fine: bool,
    /// Per flag context, the flags coded and how many said "equal" (a
    /// pixel of a flat neighbourhood equals it, or the memory's value);
    /// the flat flags' [`FLAT_CONTEXTS`], then with the graphics tools the
    /// memory's [`MEMORY_CONTEXTS`].
    flags: Vec<(u32, u32)>,
    /// Whether pixels of flat neighbourhoods code flags ([`Weighting::flat`]).
    flat: bool,
    /// [`Weighting::by_intensity`].
    by_intensity: bool,
    /// [`Weighting::graphics`].
    graphics: bool,
}

impl<const CAL: bool> Tokens<CAL> {
    /// Fresh distributions for values `0..=maxv` (`maxv < 2^16`). Each
    /// starts flat up to the token of its bucket's scale, then falling
    /// (halving every two tokens).
    pub fn new(maxv: i32, weighting: Weighting) -> Self {
        debug_assert_eq!(weighting.calibrated(), CAL);
        let ntok = tokens_for::<MSB>(maxv as u32);
        assert!(ntok <= MAX_SYMBOLS, "values up to 2^16");
        let graphics = weighting.graphics();
        let sections = if graphics { SECTIONS } else { 1 };
        let cdfs = (0..CONTEXTS * sections)
            .map(|c| {
                // The bucket's scale (×8), about half the folded residual.
                let weights = class_weights::<MSB>((c / 8 % NQ) as u32, ntok, maxv);
                AdaptiveCdf::with_weights(&weights, Adaptation::Quick)
            })
            .collect();
        // Ties go to the last weight (¾ in eighths, the one of versions 9
        // and 10).
        let chosen = (weighting != Weighting::Fixed).then(|| vec![[1, 1, 1, 0]; NQ * sections]);
        let flags = FLAT_CONTEXTS + if graphics { MEMORY_CONTEXTS } else { 0 };
        Tokens {
            cdfs,
            ntok,
            maxv,
            chosen,
            fine: weighting.fine(),
            flags: vec![(0, 0); flags],
            flat: weighting.flat(),
            by_intensity: weighting.by_intensity(),
            graphics,
        }
    }

    /// The precision of the mixture.
    #[inline(always)]
    const fn bits() -> u32 {
        if CAL {
            WIDE_BITS
        } else {
            BITS
        }
    }

    /// The weights a bucket chooses from.
    #[inline(always)]
    const fn weights() -> &'static [u32; 4] {
        if CAL {
            &WIDE_WEIGHTS
        } else {
            &WEIGHTS
        }
    }

    /// The probability (of 2^[`FLAT_BITS`]) that a flag of context `ctx`
    /// says "equal": the Krichevsky–Trofimov estimate `(2k + 1) / (2n + 2)`
    /// of its `n` flags, `k` of them "equal" (within `1 ..= 2^24 − 1`:
    /// `n < FLAT_LIMIT`).
    #[inline(always)]
    fn flat_p(&self, ctx: usize) -> u32 {
        let (n, k) = self.flags[ctx];
        (((2 * k as u64 + 1) << (FLAT_BITS - 1)) / (n as u64 + 1)) as u32
    }

    /// The flag's span of 2^[`FLAT_BITS`] (equal first) in context `ctx`
    /// whose probability is `p` ([`Tokens::flat_p`]), then its counts
    /// updated.
    #[inline(always)]
    fn flat_span(&mut self, ctx: usize, p: u32, equal: bool) -> (u32, u32) {
        let (n, k) = &mut self.flags[ctx];
        *n += 1;
        *k += equal as u32;
        if *n >= FLAT_LIMIT {
            (*n, *k) = (*n >> 1, *k >> 1);
        }
        if equal {
            (0, p)
        } else {
            (p, (1 << FLAT_BITS) - p)
        }
    }

    /// The two parts of the mixture below token `t` (`0..=ntok`): the
    /// logistic's (2^16) and the adaptive distribution's (2^15).
    #[inline(always)]
    fn parts(&self, cdf: &AdaptiveCdf, t: usize, d: &Dist, pred: i32) -> (i64, u32) {
        if t >= self.ntok {
            return (1 << 16, 1 << PRECISION);
        }
        let zlo = untokenize::<MSB>(t).0;
        (below(d, zlo, pred, self.maxv), cdf.start(t))
    }

    /// The network's weight (eighths, or sixteenths) for a pixel of energy
    /// bucket `q`.
    #[inline(always)]
    fn weight(&self, q: usize) -> u32 {
        let Some(c) = &self.chosen else {
            return 6;
        };
        let c = &c[q];
        let mut k = 3;
        for i in (0..3).rev() {
            if c[i] < c[k] {
                k = i;
            }
        }
        Self::weights()[k]
    }

    /// After a token of bucket `q` whose parts' bounds were `lo` and `hi`:
    /// about what each weight would have cost (the spans' mixture, without
    /// the mixture's rounding).
    #[inline(always)]
    fn chose(&mut self, q: usize, lo: (i64, u32), hi: (i64, u32)) {
        let fine = self.fine;
        if let Some(c) = &mut self.chosen {
            // (The parts are cumulative: `hi` ≥ `lo`.)
            let (dl, ds) = ((hi.0 - lo.0).max(0), hi.1.saturating_sub(lo.1));
            for (c, &w) in c[q].iter_mut().zip(Self::weights()) {
                // (Both cost functions take a span of 2^17.)
                let p = mix(dl, ds, w, CAL) >> (Self::bits() - BITS);
                *c = *c - (*c >> 8) + if fine { cost_q16(p) } else { cost_q4(p) };
            }
        }
    }

    /// A pixel's adaptive distribution and its energy bucket (of its
    /// section, with the graphics tools).
    #[inline(always)]
    fn context(px: &Pixel) -> (usize, usize) {
        let q = px.q.min(NQ - 1) + NQ * px.section;
        (q * 8 + px.frac, q)
    }
}

/// `P(z < zt)` in Q16 for the residual's fold `z` of a pixel predicted as
/// `pred` (values `0..=maxv`) under the network's distribution `d`: the
/// residuals with `z < zt` form one interval `lo..=hi`, whose probability
/// counts everything below the smallest possible residual and above the
/// largest as theirs (the distribution truncated to the image's range).
#[inline(always)]
fn below(d: &Dist, zt: u32, pred: i32, maxv: i32) -> i64 {
    if zt == 0 {
        return 0;
    }
    if zt > maxv as u32 {
        return 1 << 16;
    }
    let zt = zt as i32;
    let m = pred.min(maxv - pred);
    let (lo, hi) = if zt <= 2 * m + 1 {
        // Zigzag: 0, −1, 1, −2, 2, …
        (-(zt / 2), (zt - 1) / 2)
    } else if pred == m {
        // Beyond the band, only positive residuals remain.
        (-m, zt - m - 1)
    } else {
        (-(zt - m - 1), m)
    };
    let hi_p = if hi >= maxv - pred {
        1 << 16
    } else {
        d.below(2 * hi + 1)
    };
    let lo_p = if lo <= -pred { 0 } else { d.below(2 * lo - 1) };
    hi_p - lo_p
}

/// Codes one stripe (`px`, its pixels) by the default level's coder of
/// `weighting`, the model starting from `m`: the stripe's stream.
pub fn encode_stripe(s: &Stripe, px: &mut [i32], m: &mut Model, weighting: Weighting) -> Vec<u8> {
    fn run<const CAL: bool>(
        s: &Stripe,
        px: &mut [i32],
        m: &mut Model,
        weighting: Weighting,
    ) -> Vec<u8> {
        let mut enc = TokenEncoder::<CAL>::new(s.maxv, px.len(), weighting);
        crate::cm::code_stripe(&mut enc, s, px, m);
        enc.finish()
    }
    match weighting.calibrated() {
        true => run::<true>(s, px, m, weighting),
        false => run::<false>(s, px, m, weighting),
    }
}

/// Decodes one stripe's stream `bytes` into `px`: whether it decoded
/// whole and undamaged.
pub fn decode_stripe(
    bytes: &[u8],
    s: &Stripe,
    px: &mut [i32],
    m: &mut Model,
    weighting: Weighting,
) -> bool {
    fn run<const CAL: bool>(
        bytes: &[u8],
        s: &Stripe,
        px: &mut [i32],
        m: &mut Model,
        weighting: Weighting,
    ) -> bool {
        match TokenDecoder::<CAL>::new(bytes, s.maxv, weighting) {
            Ok(mut dec) => crate::cm::code_stripe(&mut dec, s, px, m) && !dec.failed(),
            Err(_) => false,
        }
    }
    match weighting.calibrated() {
        true => run::<true>(bytes, s, px, m, weighting),
        false => run::<false>(bytes, s, px, m, weighting),
    }
}

/// The encoder: records each token and its raw bits.
pub struct TokenEncoder<const CAL: bool> {
    pub enc: Rans64Encoder,
    t: Tokens<CAL>,
}

impl<const CAL: bool> TokenEncoder<CAL> {
    pub fn new(maxv: i32, pixels: usize, weighting: Weighting) -> Self {
        TokenEncoder {
            enc: Rans64Encoder::with_capacity(pixels + pixels / 4),
            t: Tokens::new(maxv, weighting),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.enc.finish()
    }
}

impl<const CAL: bool> ResidualCoder for TokenEncoder<CAL> {
    #[inline(always)]
    fn residual(&mut self, _m: &mut Model, px: &Pixel, e: i32) -> i32 {
        let Some(d) = px.dist else {
            return e; // (never: `needs_net`)
        };
        let (tok, raw, nraw) = tokenize::<MSB>(fold(e, px.pred, px.maxv));
        let (c, q) = Tokens::<CAL>::context(px);
        let w = self.t.weight(q);
        let cdf = &self.t.cdfs[c];
        let lo = self.t.parts(cdf, tok, &d, px.pred);
        let hi = self.t.parts(cdf, tok + 1, &d, px.pred);
        let (start, freq) = span(lo, hi, w, CAL);
        self.enc.put(start, freq, Tokens::<CAL>::bits());
        self.enc.put_bits(raw, nraw);
        self.t.cdfs[c].learn(tok);
        self.t.chose(q, lo, hi);
        e
    }

    fn needs_net(&self) -> bool {
        true
    }

    fn flat_runs(&self) -> bool {
        self.t.flat
    }

    fn graphics(&self) -> bool {
        self.t.graphics
    }

    fn calibrated(&self) -> bool {
        CAL
    }

    fn by_intensity(&self) -> bool {
        self.t.by_intensity
    }

    #[inline(always)]
    fn flat(&mut self, ctx: usize, equal: bool) -> bool {
        let p = self.t.flat_p(ctx);
        let (start, freq) = self.t.flat_span(ctx, p, equal);
        self.enc.put(start, freq, FLAT_BITS);
        equal
    }

    #[inline(always)]
    fn remembered(&mut self, ctx: usize, equal: bool) -> bool {
        self.flat(FLAT_CONTEXTS + ctx, equal)
    }
}

/// The decoder. A value outside the image's range (damaged data) marks
/// it [`TokenDecoder::failed`].
pub struct TokenDecoder<'a, const CAL: bool> {
    dec: Rans64Decoder<'a>,
    t: Tokens<CAL>,
    bad: bool,
}

impl<'a, const CAL: bool> TokenDecoder<'a, CAL> {
    pub fn new(bytes: &'a [u8], maxv: i32, weighting: Weighting) -> crate::Result<Self> {
        Ok(TokenDecoder {
            dec: Rans64Decoder::new(bytes)?,
            t: Tokens::new(maxv, weighting),
            bad: false,
        })
    }

    /// Whether the stream was damaged, short or longer than its pixels.
    pub fn failed(&self) -> bool {
        self.bad || self.dec.failed()
    }
}

impl<const CAL: bool> ResidualCoder for TokenDecoder<'_, CAL> {
    #[inline(always)]
    fn residual(&mut self, _m: &mut Model, px: &Pixel, _e: i32) -> i32 {
        let Some(d) = px.dist else {
            self.bad = true;
            return 0;
        };
        let (bits, wide) = (Tokens::<CAL>::bits(), CAL);
        let slot = self.dec.peek(bits);
        let (c, q) = Tokens::<CAL>::context(px);
        let w = self.t.weight(q);
        let cdf = &self.t.cdfs[c];
        let parts = |t: usize| self.t.parts(cdf, t, &d, px.pred);
        // The token whose span holds the slot: first where the adaptive
        // part alone puts it (usually right, or next to it), then step by
        // step (the mixture is 0 at token 0 ≤ slot < 2^17 at `ntok`).
        let mut lo = cdf.find(slot >> (bits - PRECISION));
        let mut lo_p = parts(lo);
        while mix(lo_p.0, lo_p.1, w, wide) > slot {
            lo -= 1;
            lo_p = parts(lo);
        }
        let mut hi_p = parts(lo + 1);
        while mix(hi_p.0, hi_p.1, w, wide) <= slot {
            (lo, lo_p) = (lo + 1, hi_p);
            hi_p = parts(lo + 1);
        }
        let (start, freq) = span(lo_p, hi_p, w, wide);
        self.dec.advance(start, freq, bits);
        self.t.cdfs[c].learn(lo);
        self.t.chose(q, lo_p, hi_p);
        let (base, nraw) = untokenize::<MSB>(lo);
        let z = base + self.dec.get_bits(nraw);
        if z > px.maxv as u32 {
            self.bad = true;
            return 0;
        }
        unfold(z, px.pred, px.maxv)
    }

    fn needs_net(&self) -> bool {
        true
    }

    fn flat_runs(&self) -> bool {
        self.t.flat
    }

    fn graphics(&self) -> bool {
        self.t.graphics
    }

    fn calibrated(&self) -> bool {
        CAL
    }

    fn by_intensity(&self) -> bool {
        self.t.by_intensity
    }

    #[inline(always)]
    fn flat(&mut self, ctx: usize, _equal: bool) -> bool {
        let p = self.t.flat_p(ctx);
        let equal = self.dec.peek(FLAT_BITS) < p;
        let (start, freq) = self.t.flat_span(ctx, p, equal);
        self.dec.advance(start, freq, FLAT_BITS);
        equal
    }

    #[inline(always)]
    fn remembered(&mut self, ctx: usize, equal: bool) -> bool {
        self.flat(FLAT_CONTEXTS + ctx, equal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every weight the coder may choose keeps each token's span nonzero
    /// (the adaptive part's spans are at least 1 of 2^15), the ends are 0
    /// and 2^17 (2^19 for the calibrated coders' sixteenths), and ¾ is the
    /// mixture of format versions 9 and 10.
    #[test]
    fn chosen_mixtures_keep_every_token() {
        for (weights, wide, bits) in [
            (&WEIGHTS[..], false, BITS),
            (&WIDE_WEIGHTS[..], true, WIDE_BITS),
        ] {
            for &w in weights {
                assert_eq!(mix(0, 0, w, wide), 0);
                assert_eq!(mix(1 << 16, 1 << PRECISION, w, wide), 1 << bits);
                for (l0, l1) in [(0, 0), (5, 5), (70, 9000), (65_535, 65_536)] {
                    for s0 in [0u32, 1, 77, 32_766] {
                        assert!(mix(l1, s0 + 1, w, wide) > mix(l0, s0, w, wide), "w {w}");
                    }
                }
            }
        }
        for (l, s) in [(0, 0), (12_345, 999), (1 << 16, 1 << 15)] {
            assert_eq!(mix(l, s, 6, false), ((3 * l as u32 + 2 * s) >> 1));
            assert_eq!(mix(l, s, 12, true), 2 * (3 * l as u32 + 2 * s));
        }
    }

    /// The fine code lengths: 17 bits for a span of 1, none for the
    /// whole, one bit for half, never increasing with the span, and within
    /// 66 units (1/993 bit) of `−log2`.
    #[test]
    fn fine_code_lengths() {
        assert_eq!(cost_q16(1), 17 << 16);
        assert_eq!(cost_q16(1 << 17), 0);
        assert_eq!(cost_q16(1 << 16), 1 << 16);
        let mut last = u32::MAX;
        for p in 1..=1u32 << 17 {
            let c = cost_q16(p);
            assert!(c <= last, "p {p}");
            last = c;
            let exact = -(p as f64 / (1u32 << 17) as f64).log2() * 65536.0;
            assert!((c as f64 - exact).abs() < 66.0, "p {p}: {c} vs {exact}");
        }
        assert!(cost_q16((1 << 17) - 32) > 0);
    }

    /// The code length table: 17 bits for a span of 1, none for the whole,
    /// one bit for half, never increasing with the span.
    #[test]
    fn code_lengths() {
        assert_eq!(cost_q4(1), 16 * 17);
        assert_eq!(cost_q4(1 << 17), 0);
        assert_eq!(cost_q4(1 << 16), 16);
        let mut last = u32::MAX;
        for p in 1..=1u32 << 17 {
            let c = cost_q4(p);
            assert!(c <= last, "p {p}");
            last = c;
        }
    }

    /// The truncated cumulative function is 0 at the first fold, 1 past
    /// the last, and never falls, wherever the prediction lies.
    #[test]
    fn below_is_a_cumulative_function_of_the_fold() {
        for &maxv in &[1, 2, 255, 4095] {
            for pred in [0, 1, maxv / 3, maxv / 2, maxv - 1, maxv] {
                for (c8, s8) in [(0, 1), (-3, 8), (3, 40), (0, 9000)] {
                    let d = Dist::new(c8, s8);
                    let mut prev = 0;
                    for zt in 0..=maxv as u32 + 1 {
                        let b = below(&d, zt, pred, maxv);
                        assert!(b >= prev, "maxv {maxv} pred {pred} zt {zt}");
                        prev = b;
                    }
                    assert_eq!(below(&d, 0, pred, maxv), 0);
                    assert_eq!(prev, 1 << 16);
                }
            }
        }
    }
}
