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
//! their own) and raw low bits. The token's probability is ¾ of the
//! network's discretized logistic (its cumulative function at the token's
//! bounds, truncated to the values the image can take, from the integer
//! sigmoid table of [`crate::logistic`]) plus ¼ of an adaptive distribution
//! of the energy bucket and prediction fraction (which learns what the
//! network misses in this image), a mixture of 2^17 coded by a 64-bit rANS
//! ([`medzip_entropy::rans64`]). Measured on dev images (2026-12-01): the
//! network's distribution alone codes them within 0.2 % of the
//! context-mixing coder's files (256×256 chest X-rays) to 0.5–2.5 % above
//! them (high-bit images, full-size chest X-rays); with the adaptive
//! quarter the dev sets come out 0.0–1.5 % above them (docs/RESULTS.md
//! §12). Integer arithmetic only.

use crate::cm::{Model, Pixel, ResidualCoder, NQ};
use crate::fast::{class_weights, fold, tokenize, tokens_for, unfold, untokenize};
use crate::logistic::Dist;
use medzip_entropy::rans::{Adaptation, AdaptiveCdf, MAX_SYMBOLS, PRECISION};
use medzip_entropy::rans64::{Rans64Decoder, Rans64Encoder};

/// Mantissa bits below the leading one in a token.
const MSB: u32 = 4;
/// Precision of the coded mixture.
const BITS: u32 = 17;
/// Adaptive distributions: energy bucket × prediction fraction.
const CONTEXTS: usize = NQ * 8;

/// The adaptive distributions of a stripe and the value range.
pub struct Tokens {
    cdfs: Vec<AdaptiveCdf>,
    ntok: usize,
    maxv: i32,
}

impl Tokens {
    /// Fresh distributions for values `0..=maxv` (`maxv < 2^16`). Each
    /// starts flat up to the token of its bucket's scale, then falling
    /// (halving every two tokens).
    pub fn new(maxv: i32) -> Tokens {
        let ntok = tokens_for::<MSB>(maxv as u32);
        assert!(ntok <= MAX_SYMBOLS, "values up to 2^16");
        let cdfs = (0..CONTEXTS)
            .map(|c| {
                // The bucket's scale (×8), about half the folded residual.
                let weights = class_weights::<MSB>((c / 8) as u32, ntok, maxv);
                AdaptiveCdf::with_weights(&weights, Adaptation::Quick)
            })
            .collect();
        Tokens { cdfs, ntok, maxv }
    }

    /// The mixture's cumulative frequency below token `t` (`0..=ntok`,
    /// 2^17 at `ntok`) for a pixel: strictly increasing in `t`, since the
    /// adaptive part gives every token at least 1 of 2^15.
    #[inline]
    fn cum(&self, cdf: &AdaptiveCdf, t: usize, d: &Dist, pred: i32) -> u32 {
        if t >= self.ntok {
            return 1 << BITS;
        }
        let zlo = untokenize::<MSB>(t).0;
        let l = below(d, zlo, pred, self.maxv) as u32;
        (3 * l + 2 * cdf.start(t)) >> 1
    }

    fn context(px: &Pixel) -> usize {
        (px.q.min(NQ - 1)) * 8 + px.frac
    }
}

/// `P(z < zt)` in Q16 for the residual's fold `z` of a pixel predicted as
/// `pred` (values `0..=maxv`) under the network's distribution `d`: the
/// residuals with `z < zt` form one interval `lo..=hi`, whose probability
/// counts everything below the smallest possible residual and above the
/// largest as theirs (the distribution truncated to the image's range).
#[inline]
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

/// The encoder: records each token and its raw bits.
pub struct TokenEncoder {
    pub enc: Rans64Encoder,
    t: Tokens,
}

impl TokenEncoder {
    pub fn new(maxv: i32, pixels: usize) -> Self {
        TokenEncoder {
            enc: Rans64Encoder::with_capacity(pixels + pixels / 4),
            t: Tokens::new(maxv),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.enc.finish()
    }
}

impl ResidualCoder for TokenEncoder {
    #[inline(always)]
    fn residual(&mut self, _m: &mut Model, px: &Pixel, e: i32) -> i32 {
        let Some(d) = px.dist else {
            return e; // (never: `needs_net`)
        };
        let (tok, raw, nraw) = tokenize::<MSB>(fold(e, px.pred, px.maxv));
        let c = Tokens::context(px);
        let cdf = &self.t.cdfs[c];
        let lo = self.t.cum(cdf, tok, &d, px.pred);
        let hi = self.t.cum(cdf, tok + 1, &d, px.pred);
        self.enc.put(lo, hi - lo, BITS);
        self.enc.put_bits(raw, nraw);
        self.t.cdfs[c].learn(tok);
        e
    }

    fn needs_net(&self) -> bool {
        true
    }
}

/// The decoder. A value outside the image's range (damaged data) marks
/// it [`TokenDecoder::failed`].
pub struct TokenDecoder<'a> {
    dec: Rans64Decoder<'a>,
    t: Tokens,
    bad: bool,
}

impl<'a> TokenDecoder<'a> {
    pub fn new(bytes: &'a [u8], maxv: i32) -> crate::Result<Self> {
        Ok(TokenDecoder {
            dec: Rans64Decoder::new(bytes)?,
            t: Tokens::new(maxv),
            bad: false,
        })
    }

    /// Whether the stream was damaged, short or longer than its pixels.
    pub fn failed(&self) -> bool {
        self.bad || self.dec.failed()
    }
}

impl ResidualCoder for TokenDecoder<'_> {
    #[inline(always)]
    fn residual(&mut self, _m: &mut Model, px: &Pixel, _e: i32) -> i32 {
        let Some(d) = px.dist else {
            self.bad = true;
            return 0;
        };
        let slot = self.dec.peek(BITS);
        let c = Tokens::context(px);
        let cdf = &self.t.cdfs[c];
        let cum = |t: usize| self.t.cum(cdf, t, &d, px.pred);
        // The token whose span holds the slot: first where the adaptive
        // part alone puts it (usually right, or next to it), then step by
        // step (`cum(0)` = 0 ≤ slot < `cum(ntok)`).
        let mut lo = cdf.find(slot >> (BITS - PRECISION));
        let mut lo_c = cum(lo);
        while lo_c > slot {
            lo -= 1;
            lo_c = cum(lo);
        }
        let mut hi_c = cum(lo + 1);
        while hi_c <= slot {
            (lo, lo_c) = (lo + 1, hi_c);
            hi_c = cum(lo + 1);
        }
        self.dec.advance(lo_c, hi_c - lo_c, BITS);
        self.t.cdfs[c].learn(lo);
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
