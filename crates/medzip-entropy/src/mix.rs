//! Adaptive binary models and logistic mixing in integer arithmetic.
//!
//! Probabilities are 12-bit (`0..4096` means `[0, 1)`); the logistic domain
//! ("stretch") is `-2047..=2047`, 8 fractional bits. `squash` interpolates a
//! fixed 33-entry table and `stretch` is its exact inverse table, both built
//! from integers only, so no libm call is ever on the coding path.

use std::sync::OnceLock;

/// `4096 / (1 + exp(-x/256))` at x = -2048, -1920, …, 2048 (rounded).
const SQUASH_KNOTS: [i32; 33] = [
    1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348,
    3607, 3785, 3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
];

/// Logistic function: stretch domain → 12-bit probability.
#[inline]
pub fn squash(d: i32) -> i32 {
    if d > 2047 {
        return 4095;
    }
    if d < -2047 {
        return 1;
    }
    let w = d & 127;
    let i = ((d >> 7) + 16) as usize;
    (SQUASH_KNOTS[i] * (128 - w) + SQUASH_KNOTS[i + 1] * w + 64) >> 7
}

fn stretch_table() -> &'static [i16; 4096] {
    static T: OnceLock<Box<[i16; 4096]>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Box::new([0i16; 4096]);
        let mut pi = 0usize;
        for x in -2047..=2047 {
            let v = squash(x) as usize;
            for e in t.iter_mut().take(v + 1).skip(pi) {
                *e = x as i16;
            }
            pi = pi.max(v + 1);
        }
        for e in t.iter_mut().skip(pi) {
            *e = 2047;
        }
        t
    })
}

/// Inverse of [`squash`]: 12-bit probability → stretch domain.
#[inline]
pub fn stretch(p: i32) -> i32 {
    stretch_table()[p.clamp(0, 4095) as usize] as i32
}

/// Reciprocal table for count-based adaptation: `65536 / (n + 1.5)`.
const fn recip_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        t[n] = 65536 * 2 / (2 * n as u32 + 3);
        n += 1;
    }
    t
}
static RECIP: [u32; 256] = recip_table();

/// An adaptive probability of a 1: fast while young (rate 1/(n+1.5)), then
/// a fixed rate once `n` reaches [`BitModel::LIMIT`].
#[derive(Clone, Copy, Debug)]
pub struct BitModel {
    /// Probability of a 1, 16-bit fixed point. Invariant: `< 65536`.
    p: u16,
    /// Number of updates seen, saturating at `LIMIT`.
    n: u8,
}

impl Default for BitModel {
    fn default() -> Self {
        Self::new()
    }
}

impl BitModel {
    /// Adaptation stops slowing down after this many updates.
    pub const LIMIT: u8 = 60;

    pub const fn new() -> Self {
        BitModel { p: 32768, n: 0 }
    }
    /// A model starting at probability `p16`/65536 with confidence `n`.
    pub const fn with(p16: u16, n: u8) -> Self {
        BitModel { p: p16, n }
    }
    /// Probability of a 1, 12 bits.
    #[inline]
    pub fn p(&self) -> u32 {
        (self.p >> 4) as u32
    }
    #[inline]
    pub fn p16(&self) -> u16 {
        self.p
    }
    #[inline]
    pub fn update(&mut self, bit: bool) {
        let target = if bit { 65535i32 } else { 0 };
        let p = self.p as i32;
        let r = RECIP[self.n as usize] as i32;
        let np = p + (((target - p) * r) >> 16);
        self.p = np.clamp(32, 65535 - 32) as u16;
        if self.n < Self::LIMIT {
            self.n += 1;
        }
    }
}

/// Most inputs a [`Mixer`] takes.
pub const MAX_INPUTS: usize = 12;

/// Logistic mixing: a single-layer network over stretched probabilities,
/// one weight vector per selector context, trained online on each bit.
#[derive(Clone, Debug)]
pub struct Mixer {
    n: usize,
    weights: Vec<i32>,
    inputs: [i32; MAX_INPUTS],
    nin: usize,
    sel: usize,
    pr: i32,
    lr: i32,
}

impl Mixer {
    /// `n` inputs per bit, `contexts` weight sets, learning rate `lr`.
    pub fn new(n: usize, contexts: usize, lr: i32) -> Self {
        assert!(n <= MAX_INPUTS, "at most {MAX_INPUTS} mixer inputs");
        let w0 = (1 << 16) * 2 / (n as i32).max(1) / 3;
        Mixer {
            n,
            weights: vec![w0; n * contexts],
            inputs: [0; MAX_INPUTS],
            nin: 0,
            sel: 0,
            pr: 2048,
            lr,
        }
    }
    /// Adds an input in the stretch domain.
    #[inline]
    pub fn add(&mut self, st: i32) {
        debug_assert!(self.nin < self.n);
        self.inputs[self.nin] = st;
        self.nin += 1;
    }
    /// Mixes the inputs added so far with weight set `ctx`; returns a 12-bit
    /// probability of a 1.
    #[inline]
    pub fn mix(&mut self, ctx: usize) -> i32 {
        self.sel = ctx * self.n;
        let w = &self.weights[self.sel..self.sel + self.n];
        let dot: i64 = self.inputs[..self.nin]
            .iter()
            .zip(w)
            .map(|(&x, &wi)| x as i64 * wi as i64)
            .sum();
        let d = (dot >> 16).clamp(-2047, 2047) as i32;
        self.pr = squash(d);
        self.pr
    }
    /// Trains the selected weights on the coded bit and clears the inputs.
    #[inline]
    pub fn update(&mut self, bit: bool) {
        let err = (((bit as i32) << 12) - self.pr) * self.lr;
        let w = &mut self.weights[self.sel..self.sel + self.n];
        for (wi, &x) in w.iter_mut().zip(&self.inputs[..self.nin]) {
            *wi += ((x as i64 * err as i64) >> 10) as i32;
        }
        self.nin = 0;
    }
}

/// Adaptive probability map (secondary estimation): refines a probability
/// given a small context, interpolating between 33 buckets of its stretch.
#[derive(Clone, Debug)]
pub struct Apm {
    t: Vec<u16>,
    idx: usize,
    rate: u32,
}

impl Apm {
    pub fn new(contexts: usize, rate: u32) -> Self {
        let mut t = vec![0u16; contexts * 33];
        for (i, e) in t.iter_mut().enumerate() {
            *e = (squash(((i % 33) as i32 - 16) * 128) * 16) as u16;
        }
        Apm { t, idx: 0, rate }
    }
    /// Refined 12-bit probability for `pr` in context `cx`.
    #[inline]
    pub fn pp(&mut self, pr: i32, cx: usize) -> i32 {
        let s = stretch(pr) + 2048;
        let lo = (s >> 7) as usize;
        let w = s & 127;
        let base = cx * 33 + lo;
        self.idx = base + ((w >> 6) as usize);
        ((self.t[base] as i32 * (128 - w) + self.t[base + 1] as i32 * w) >> 11).clamp(1, 4095)
    }
    #[inline]
    pub fn update(&mut self, bit: bool) {
        let g = ((bit as i32) << 16) + ((bit as i32) << self.rate) - bit as i32 - bit as i32;
        let t = self.t[self.idx] as i32;
        self.t[self.idx] = (t + ((g - t) >> self.rate)).clamp(0, 65535) as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretch_inverts_squash() {
        for x in (-2047..=2047).step_by(7) {
            let p = squash(x);
            let back = squash(stretch(p));
            assert!((back - p).abs() <= 1, "x {x} p {p} back {back}");
        }
        assert!((2047..=2048).contains(&squash(0)));
        assert!(stretch(1) < -1500 && stretch(4095) > 1500);
    }

    #[test]
    fn bitmodel_learns() {
        let mut m = BitModel::new();
        for _ in 0..200 {
            m.update(true);
        }
        assert!(m.p() > 4000);
        for _ in 0..400 {
            m.update(false);
        }
        assert!(m.p() < 100);
    }

    #[test]
    fn mixer_learns_to_trust_the_good_input() {
        let mut m = Mixer::new(2, 1, 4);
        let mut s = 7u32;
        for _ in 0..5000 {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            let bit = s >> 31 != 0;
            m.add(if bit { 1000 } else { -1000 }); // oracle
            m.add(0); // useless
            m.mix(0);
            m.update(bit);
        }
        m.add(1000);
        m.add(0);
        assert!(m.mix(0) > 3500);
    }
}
