//! The context network's logistic distribution as binary-decision
//! probabilities, in integer arithmetic only.
//!
//! The coder asks binary questions about the residual `e` (zero? negative?
//! `|e|` above the next power of two?); for a logistic distribution of the
//! pixel with centre `c` and scale `s` (relative to the integer
//! prediction), each answer's log-odds follows from log-sigmoids:
//! `ln F(t) = −softplus(−z)`, `ln(1 − F(t)) = −softplus(z)`, `z = (t − c)/s`.
//! The tables (`softplus`'s correction term, the log-odds of a ratio, powers
//! of two) are computed at compile time from integer square roots and
//! repeated squaring, never from `libm`, so every build has the same tables.
//! Log-odds are in the mixer's stretch units (natural log × 256).

/// Q8 arguments covered by the tables (|z| < 16).
const ZMAX: i32 = 16 << 8;
/// `log2(e)` in Q16.
const LOG2E_Q16: i64 = 94_548;
/// `ln(2)` in Q16.
const LN2_Q16: i64 = 45_426;

/// `2^(x / 2^16)` in Q16 for `x ≤ 0` (0 below 2^-16).
const fn exp2_neg_q16(x: i64) -> i64 {
    debug_assert!(x <= 0);
    let i = (-x) >> 16;
    if i >= 17 {
        return 0;
    }
    let f = (-x) & 0xffff; // 2^(-x) = 2^-(i) · 2^-(f/65536)
                           // 2^(-f/65536) = 2^(1 - f/65536) / 2, via the Q16 table of 2^(j/256)
                           // and a linear step inside the 1/256 interval (error < 2^-17).
    let g = 65_536 - f; // 1 − f in Q16, in (0, 1]
    let j = (g >> 8) as usize;
    let r = g & 255;
    let lo = EXP2_Q16_256(j);
    let hi = EXP2_Q16_256(j + 1);
    let v = lo + (((hi - lo) * r) >> 8); // 2^(g) in Q16, in [1, 2]
    (v >> 1) >> i
}

/// `2^(j/256)` in Q16 for `j` in `0..=256`.
#[allow(non_snake_case)]
const fn EXP2_Q16_256(j: usize) -> i64 {
    if j >= 256 {
        return 131_072;
    }
    EXP2_Q16[j] as i64
}

/// `2^(i/256)` in Q16 for `i` in `0..256`, from integer square roots only.
pub(crate) const EXP2_Q16: [u32; 256] = {
    // roots[k] = 2^(2^-(k+1)) in Q62.
    const fn isqrt(v: u128) -> u128 {
        let mut x = v;
        let mut y = x.div_ceil(2);
        if v < 2 {
            return v;
        }
        while y < x {
            x = y;
            y = (x + v / x) / 2;
        }
        x
    }
    let mut roots = [0u128; 8];
    let mut r: u128 = 2u128 << 62;
    let mut k = 0;
    while k < 8 {
        r = isqrt(r << 62);
        roots[k] = r;
        k += 1;
    }
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut acc: u128 = 1u128 << 62;
        let mut b = 0;
        while b < 8 {
            if i & (128 >> b) != 0 {
                acc = (acc * roots[b]) >> 62;
            }
            b += 1;
        }
        t[i] = ((acc + (1u128 << 45)) >> 46) as u32;
        i += 1;
    }
    t
};

/// `norm · 2^(l/256)`, rounded down, for `|l| < 2048`.
#[inline]
pub(crate) fn scale_by(norm: i64, l: i32) -> i64 {
    let v = norm * EXP2_Q16[(l & 255) as usize] as i64;
    let e = (l >> 8) - 16;
    if e >= 0 {
        v << e
    } else {
        v >> -e
    }
}

/// `log2(x)` in Q16 for `x > 0` given in Q16 (bit-by-bit, by squaring;
/// `const` for the token coder's code-length table, `tokens::NEG_LOG2`).
pub(crate) const fn log2_q16(x: i64) -> i64 {
    debug_assert!(x > 0);
    let mut v = x as u128;
    let mut r: i64 = 0;
    while v >= 2 << 16 {
        v >>= 1;
        r += 1 << 16;
    }
    while v < 1 << 16 {
        v <<= 1;
        r -= 1 << 16;
    }
    // v in [1, 2) in Q16; refine in Q40.
    let mut y = v << 24;
    let mut bit = 16;
    while bit > 0 {
        bit -= 1;
        y = (y * y) >> 40;
        if y >= 2 << 40 {
            y >>= 1;
            r += 1 << bit;
        }
    }
    r
}

/// Entries of [`H`] and [`SIG`] (`0..=ZMAX`).
const NZ: usize = ZMAX as usize + 1;

/// `ln(1 + e^(−a/256)) · 4096` for `a` in `0..=ZMAX`.
static H: [i32; NZ] = {
    let mut t = [0; NZ];
    let mut a = 0;
    while a < NZ {
        let e = exp2_neg_q16(-((a as i64 * LOG2E_Q16) >> 8)); // e^(−a/256), Q16
        let ln = (log2_q16(65_536 + e) * LN2_Q16) >> 16; // Q16
        t[a] = ((ln + 8) >> 4) as i32;
        a += 1;
    }
    t
};

/// Log-odds of `e^(−d/256)`, `(−d/256 − ln(1 − e^(−d/256))) · 256`,
/// clamped to ±2047, for `d` in `0..2048`.
static G: [i32; 2048] = {
    let mut t = [2047; 2048];
    let mut d = 1;
    while d < 2048 {
        let e = exp2_neg_q16(-((d * LOG2E_Q16) >> 8)); // e^(−d/256)
        let one_minus = if 65_536 - e > 1 { 65_536 - e } else { 1 };
        let ln = (log2_q16(one_minus) * LN2_Q16) >> 16; // ≤ 0, Q16
        let v = -(d << 8) - ln; // Q16
        let v = (v + 128) >> 8;
        t[d as usize] = if v > 2047 {
            2047
        } else if v < -2047 {
            -2047
        } else {
            v as i32
        };
        d += 1;
    }
    t
};

/// `σ(z/256)` in Q16 for `z` in `0..=ZMAX`.
static SIG: [i32; NZ] = {
    let mut t = [0; NZ];
    let mut z = 0;
    while z < NZ {
        let e = exp2_neg_q16(-((z as i64 * LOG2E_Q16) >> 8)); // e^(−z/256), Q16
        t[z] = ((1i64 << 32) / (65_536 + e)) as i32;
        z += 1;
    }
    t
};

/// A table with entries every 1/256 read at `a ≥ 0` in Q12, linearly
/// interpolated; its last entry beyond its end.
#[inline]
fn interp(t: &[i32], a: i64) -> i64 {
    let last = t.len() - 1;
    let (i, f) = ((a >> 4) as usize, a & 15);
    if i >= last {
        return t[last] as i64;
    }
    t[i] as i64 + (((t[i + 1] - t[i]) as i64 * f) >> 4)
}

/// `softplus(z) = ln(1 + e^z)`, Q12 in and out.
#[inline]
fn softplus(z: i64) -> i64 {
    z.max(0) + interp(&H, z.abs().min((ZMAX as i64) << 4))
}

/// Log-odds (Q8) of `e^(−d)` for `d ≥ 0` in Q12.
#[inline]
fn odds_of_ratio(d: i64) -> i32 {
    interp(&G, d.clamp(0, 2047 << 4)) as i32
}

/// The network's distribution around the integer prediction: centre
/// `c8/8` and scale `s8/8` in pixel units.
#[derive(Clone, Copy)]
pub struct Dist {
    c8: i32,
    /// `2^24 / s8`.
    inv_s: i64,
}

impl Dist {
    pub fn new(c8: i32, s8: i64) -> Dist {
        Dist {
            c8,
            inv_s: (1i64 << 24) / s8.max(1),
        }
    }

    /// `z` (Q12) of the residual boundary `t2/2` (half-integers as `t2` odd).
    #[inline]
    fn z12(&self, t2: i32) -> i64 {
        ((4 * t2 as i64 - self.c8 as i64) * self.inv_s) >> 12
    }

    /// `z` in Q12, bounded (softplus is linear far out).
    #[inline]
    fn z(&self, t2: i32) -> i64 {
        self.z12(t2).clamp(-(1 << 30), 1 << 30)
    }

    /// `P(residual < t2/2)` in Q16 (`t2` odd: a half-integer boundary),
    /// the distribution's cumulative function (for a coder of whole
    /// residuals: `crate::tokens`).
    #[inline]
    pub fn below(&self, t2: i32) -> i64 {
        sigmoid_q16(self.z(t2))
    }

    /// The gradients of the code length (in nats) of residual `e` with
    /// respect to the log of the scale and to the centre (in scales), Q12:
    /// `(b f(b) − a f(a)) / P` and `(f(b) − f(a)) / P`, where `a` and `b`
    /// are the residual's bounds `e ∓ ½` in scales from the centre, `f`
    /// the logistic's density and `P` the residual's probability. At the
    /// image's lowest value (`low`) the interval is open below, at its
    /// highest (`high`) above, as the coder truncates it. Beyond about 12
    /// scales from the centre the Q16 sigmoid is 0 or 1 and both
    /// gradients are 0: such a pixel teaches nothing (deterministically,
    /// on both sides).
    #[inline(always)]
    pub fn gradients(&self, e: i32, low: bool, high: bool) -> (i64, i64) {
        // Beyond ±ZMAX, σ is 0 or 1 in Q16 and the density 0.
        const Z: i64 = (ZMAX as i64) << 4;
        let za = self.z12(2 * e - 1).clamp(-Z, Z);
        let zb = self.z12(2 * e + 1).clamp(-Z, Z);
        let fa = if low { 0 } else { sigmoid_q16(za) };
        let fb = if high { 1 << 16 } else { sigmoid_q16(zb) };
        let da = (fa * (65_536 - fa)) >> 16;
        let db = (fb * (65_536 - fb)) >> 16;
        let inv = recip_q32(fb - fa);
        // z (Q12, within ±2^16) times a density (≤ 2^14), over P: within
        // 2^18 · 2^32.
        let gs = (((zb * db - za * da) >> 12) * inv) >> 20;
        let gc = ((db - da) * inv) >> 20;
        (gs, gc)
    }

    /// Log-odds that the residual is 0.
    pub fn zero(&self) -> i32 {
        // P(e = 0) = 1 − F(−½) − (1 − F(½)), both tails in Q16.
        let a = sigmoid_q16(self.z(-1));
        let b = sigmoid_q16(-self.z(1));
        let p0 = (65_536 - a - b).clamp(16, 65_535);
        medzip_entropy::stretch((p0 >> 4) as i32)
    }

    /// Log-odds that a nonzero residual is negative.
    pub fn negative(&self) -> i32 {
        ((softplus(self.z(1)) - softplus(-self.z(-1))) >> 4).clamp(-2047, 2047) as i32
    }

    /// Log-odds that `|e| ≥ 2^k + 1` given `|e| ≥ lo` (`lo` = 1 for
    /// `k` = 0, else `2^(k−1) + 1`) and the sign.
    pub fn above(&self, k: u32, neg: bool) -> i32 {
        // k < kmax ≤ 16 (bits stored); bounded anyway.
        let k = k.min(28);
        let lo: i32 = if k == 0 { 1 } else { (1 << (k - 1)) + 1 };
        let hi: i32 = (1i32 << k) + 1;
        // Boundaries at |e| − ½, as doubled values.
        odds_of_ratio(self.tail(2 * hi - 1, neg) - self.tail(2 * lo - 1, neg))
    }

    /// `−ln P(|e| ≥ t)` up to a term that cancels in [`Dist::above`]
    /// (the boundary at doubled residual `t2`, on the side of the sign).
    #[inline]
    fn tail(&self, t2: i32, neg: bool) -> i64 {
        if neg {
            softplus(-self.z(-t2))
        } else {
            softplus(self.z(t2))
        }
    }

    /// [`Dist::above`] for `k` = 0, 1, 2, … in turn: class `k`'s upper
    /// boundary is class `k + 1`'s lower one, so each is computed once.
    pub fn above_seq(&self, neg: bool) -> AboveSeq {
        AboveSeq {
            d: *self,
            neg,
            k: 0,
            lo: self.tail(1, neg),
        }
    }
}

/// See [`Dist::above_seq`].
pub struct AboveSeq {
    d: Dist,
    neg: bool,
    k: u32,
    /// The tail at the current class's lower boundary.
    lo: i64,
}

impl AboveSeq {
    /// `above(k, neg)` for the next `k`.
    #[inline]
    pub fn next_odds(&mut self) -> i32 {
        let k = self.k;
        self.k += 1;
        if k > 28 {
            // Beyond the bounded classes (never reached: k < 17).
            return self.d.above(k, self.neg);
        }
        let hi = self.d.tail(2 * ((1i32 << k) + 1) - 1, self.neg);
        let v = odds_of_ratio(hi - self.lo);
        self.lo = hi;
        v
    }
}

/// `2^24 / (256 + i)` for `i` in `0..256`.
static RECIP9: [u32; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (1 << 24) / (256 + i as u32);
        i += 1;
    }
    t
};

/// About `2^32 / p` for `p` in `1..=2^16` (0 is taken as 1), to nine
/// bits: `p`'s nine leading bits through [`RECIP9`], no division.
#[inline(always)]
fn recip_q32(p: i64) -> i64 {
    let p = p.clamp(1, 1 << 16) as u32;
    let b = 31 - p.leading_zeros();
    // p = m 2^(b − 8), m in [256, 512): 2^32 / p = (2^24 / m) 2^(16 − b).
    let m = (p << 8) >> b;
    (RECIP9[(m - 256) as usize] as i64) << (16 - b)
}

/// `σ(z)` in Q16 for `z` in Q12.
#[inline]
fn sigmoid_q16(z: i64) -> i64 {
    let p = interp(&SIG, z.abs().min((ZMAX as i64) << 4));
    if z >= 0 {
        p
    } else {
        65_536 - p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    #[test]
    fn integer_tables_track_the_functions() {
        for a in (0..ZMAX).step_by(37) {
            let want = (1.0 + (-(a as f64) / 256.0).exp()).ln() * 256.0;
            assert!((H[a as usize] as f64 / 16.0 - want).abs() <= 0.1, "h({a})");
        }
        for d in (1..2048).step_by(13) {
            let x = (-(d as f64) / 256.0).exp();
            let want = ((x / (1.0 - x)).ln() * 256.0).clamp(-2047.0, 2047.0);
            assert!(
                (G[d as usize] as f64 - want).abs() <= 1.5,
                "g({d}) {} vs {want}",
                G[d as usize]
            );
        }
        for x in [1i64, 100, 65_535, 65_536, 65_537, 200_000, 1 << 30] {
            let want = (x as f64 / 65_536.0).log2() * 65_536.0;
            assert!((log2_q16(x) as f64 - want).abs() <= 2.0, "log2({x})");
        }
    }

    /// The decisions' log-odds against the float logistic.
    #[test]
    fn decisions_match_the_float_logistic() {
        for &(c8, s8) in &[(0, 4), (3, 12), (-4, 40), (2, 200), (-1, 3000)] {
            let d = Dist::new(c8, s8);
            let (c, s) = (c8 as f64 / 8.0, s8 as f64 / 8.0);
            let f = |t: f64| sig((t - c) / s);
            let lo = |p: f64| ((p / (1.0 - p)).ln() * 256.0).clamp(-2047.0, 2047.0);
            let p0 = f(0.5) - f(-0.5);
            // (A 12-bit probability's log-odds: 2 % far out, and near
            // certainty compared as probabilities.)
            let tol = 6f64.max(lo(p0).abs() * 0.02);
            let z = d.zero() as f64;
            assert!(
                (z - lo(p0)).abs() < tol
                    || (lo(p0).abs() > 1200.0 && (sig(z / 256.0) - p0).abs() < 0.001),
                "zero {c8} {s8}: {} vs {}",
                d.zero(),
                lo(p0)
            );
            let pn = f(-0.5) / (f(-0.5) + 1.0 - f(0.5));
            assert!((d.negative() as f64 - lo(pn)).abs() < 4.0, "neg {c8} {s8}");
            for k in 0..8u32 {
                let lov = if k == 0 {
                    1.0
                } else {
                    (1u32 << (k - 1)) as f64 + 1.0
                };
                let hiv = (1u32 << k) as f64 + 1.0;
                let pneg = f(-(hiv - 0.5)) / f(-(lov - 0.5));
                let ppos = (1.0 - f(hiv - 0.5)) / (1.0 - f(lov - 0.5));
                for (neg, p) in [(true, pneg), (false, ppos)] {
                    // Near-certain answers (|log-odds| > 1200, p within
                    // 0.01 of 0 or 1) are compared as probabilities.
                    if !p.is_finite() {
                        continue; // beyond f64's reach
                    }
                    let got = d.above(k, neg) as f64;
                    let pg = sig(got / 256.0);
                    assert!(
                        (got - lo(p)).abs() < 8.0
                            || (lo(p).abs() > 1200.0 && (pg - p).abs() < 0.002),
                        "above {k} {neg} {c8} {s8}: {got} vs {}",
                        lo(p)
                    );
                }
            }
        }
    }

    /// The sequence gives `above(k, neg)` for every class, in order.
    #[test]
    fn above_seq_is_above() {
        for &(c8, s8) in &[
            (0, 1),
            (3, 12),
            (-4, 40),
            (2, 200),
            (-7, 3000),
            (5, 1 << 20),
        ] {
            let d = Dist::new(c8, s8);
            for neg in [false, true] {
                let mut seq = d.above_seq(neg);
                for k in 0..32 {
                    assert_eq!(seq.next_odds(), d.above(k, neg), "{c8} {s8} {neg} {k}");
                }
            }
        }
    }
}
