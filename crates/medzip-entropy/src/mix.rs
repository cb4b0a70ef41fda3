//! Adaptive binary models and logistic mixing in integer arithmetic.
//!
//! Probabilities are 12-bit (`0..4096` means `[0, 1)`); the logistic domain
//! ("stretch") is `-2047..=2047`, 8 fractional bits. `squash` interpolates a
//! fixed 33-entry table and `stretch` is its exact inverse table, both built
//! from integers only, so no libm call is ever on the coding path.

/// `4096 / (1 + exp(-x/256))` at x = -2048, -1920, …, 2048 (rounded).
const SQUASH_KNOTS: [i32; 33] = [
    1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348,
    3607, 3785, 3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
];

/// `squash_const` tabulated over its whole domain.
static SQUASH: [i16; 4095] = {
    let mut t = [0i16; 4095];
    let mut i = 0;
    while i < 4095 {
        t[i] = squash_const(i as i32 - 2047) as i16;
        i += 1;
    }
    t
};

/// Logistic function: stretch domain → 12-bit probability.
#[inline(always)]
pub fn squash(d: i32) -> i32 {
    SQUASH[(d.clamp(-2047, 2047) + 2047) as usize] as i32
}

/// `squash` usable in constant evaluation (same integer formula).
const fn squash_const(d: i32) -> i32 {
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

/// Exact inverse table of `squash`, built at compile time.
static STRETCH: [i16; 4096] = {
    let mut t = [0i16; 4096];
    let mut pi = 0usize;
    let mut x = -2047;
    while x <= 2047 {
        let v = squash_const(x) as usize;
        let mut i = pi;
        while i <= v {
            t[i] = x as i16;
            i += 1;
        }
        if v + 1 > pi {
            pi = v + 1;
        }
        x += 1;
    }
    while pi < 4096 {
        t[pi] = 2047;
        pi += 1;
    }
    t
};

/// Inverse of [`squash`]: 12-bit probability → stretch domain.
#[inline(always)]
pub fn stretch(p: i32) -> i32 {
    STRETCH[p.clamp(0, 4095) as usize] as i32
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
    /// Probability of a 1, 12 bits.
    #[inline(always)]
    pub fn p(&self) -> u32 {
        (self.p >> 4) as u32
    }
    /// `stretch(self.p())` without a range check (`p >> 4` is always < 4096).
    #[inline(always)]
    pub fn st(&self) -> i32 {
        STRETCH[(self.p >> 4) as usize] as i32
    }
    #[inline(always)]
    pub fn update(&mut self, bit: bool) {
        let target = if bit { 65535i32 } else { 0 };
        let p = self.p as i32;
        let r = RECIP[self.n as usize] as i32;
        // Moves at most 2/3 of the way to the target: stays in 0..=65535.
        self.p = (p + (((target - p) * r) >> 16)) as u16;
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
    #[inline(always)]
    pub fn add(&mut self, st: i32) {
        debug_assert!(self.nin < self.n);
        self.inputs[self.nin] = st;
        self.nin += 1;
    }
    /// Mixes the inputs added so far with weight set `ctx`; returns a 12-bit
    /// probability of a 1.
    #[inline(always)]
    pub fn mix(&mut self, ctx: usize) -> i32 {
        self.sel = ctx * self.n;
        let w = &self.weights[self.sel..self.sel + self.n];
        let d = (dot32(&self.inputs[..self.nin], w) >> 8).clamp(-2047, 2047);
        self.pr = squash(d);
        self.pr
    }
    /// Trains the selected weights on the coded bit and clears the inputs.
    #[inline(always)]
    pub fn update(&mut self, bit: bool) {
        let err = (((bit as i32) << 12) - self.pr) * self.lr;
        train32(
            &mut self.weights[self.sel..self.sel + self.n],
            &self.inputs[..self.nin],
            err,
        );
        self.nin = 0;
    }
}

/// Two-layer mixing: several weight sets, each chosen by its own selector
/// context, mix the same inputs; a final [`Mixer`] combines their outputs.
#[derive(Clone, Debug)]
pub struct Mixer2 {
    n: usize,
    /// The inputs of the bit being coded; lanes at and beyond `n` are zero.
    inputs: [i32; LANES],
    /// Per layer-1 set: (weights per selector value, selected index, last p).
    sets: Vec<(Vec<[i32; LANES]>, usize, i32)>,
    lr: i32,
    fin: Mixer,
}

/// Fixed width of a layer-1 weight vector: whole SIMD registers, no
/// remainder loop. Unused lanes have zero inputs and stay zero.
pub const LANES: usize = 8;

impl Mixer2 {
    /// `n` inputs; one layer-1 weight set per entry of `contexts` (its
    /// number of selector values); `final_contexts` weight sets in layer 2.
    pub fn new(
        n: usize,
        contexts: &[usize],
        final_contexts: usize,
        lr: i32,
        final_lr: i32,
    ) -> Self {
        assert!(n <= LANES && contexts.len() < MAX_INPUTS);
        let w0 = (1 << 16) * 2 / (n as i32).max(1) / 3;
        let mut row = [0i32; LANES];
        row[..n].iter_mut().for_each(|w| *w = w0);
        Mixer2 {
            n,
            inputs: [0; LANES],
            sets: contexts.iter().map(|&c| (vec![row; c], 0, 2048)).collect(),
            lr,
            fin: Mixer::new(contexts.len() + 1, final_contexts, final_lr),
        }
    }

    /// Mixes the inputs `x` (stretched probabilities; lanes from `n` on
    /// must be zero) with layer-1 selectors `sel` (one per set) and layer-2
    /// selector `fsel`. The inputs come whole, as one array built by the
    /// caller: written one by one into the mixer and read back as a vector,
    /// they cost a store-forwarding stall per bit.
    #[inline(always)]
    pub fn mix(&mut self, x: &[i32; LANES], sel: &[usize], fsel: usize) -> i32 {
        debug_assert!(x[self.n..].iter().all(|&v| v == 0));
        self.inputs = *x;
        for (set, &c) in self.sets.iter_mut().zip(sel) {
            set.1 = c;
            let d = (dot_lanes(x, &set.0[c]) >> 8).clamp(-2047, 2047);
            set.2 = SQUASH[(d + 2047) as usize] as i32;
            self.fin.add(d);
        }
        self.fin.add(256);
        self.fin.mix(fsel)
    }
    #[inline(always)]
    pub fn update(&mut self, bit: bool) {
        for set in self.sets.iter_mut() {
            let err = (((bit as i32) << 12) - set.2) * self.lr;
            train_lanes(&mut set.0[set.1], &self.inputs, err);
        }
        self.fin.update(bit);
    }
}

/// [`dot32`] over exactly [`LANES`] lanes (vectorizes fully; integer sums
/// are exact, so any evaluation order gives the same result).
#[inline(always)]
fn dot_lanes(x: &[i32; LANES], w: &[i32; LANES]) -> i32 {
    let mut s = 0;
    for i in 0..LANES {
        s += (x[i] * w[i]) >> 8;
    }
    s
}

#[inline(always)]
fn train_lanes(w: &mut [i32; LANES], x: &[i32; LANES], err: i32) {
    for i in 0..LANES {
        w[i] = (w[i] + ((x[i] * err) >> 14)).clamp(-W_LIMIT, W_LIMIT);
    }
}

/// Largest weight magnitude (8.0): keeps every product and sum in i32.
const W_LIMIT: i32 = 8 << 16;

/// `Σ (x·w >> 8)` in i32: inputs are at most 2^11 and weights at most
/// 2^19 in magnitude, so no product or partial sum overflows (≤ 12 inputs).
#[inline(always)]
fn dot32(x: &[i32], w: &[i32]) -> i32 {
    x.iter().zip(w).map(|(&x, &w)| (x * w) >> 8).sum()
}

/// `w += x·err >> 14`, clamped to ±[`W_LIMIT`]; `|err| ≤ 2^15`.
#[inline(always)]
fn train32(w: &mut [i32], x: &[i32], err: i32) {
    for (wi, &xi) in w.iter_mut().zip(x) {
        *wi = (*wi + ((xi * err) >> 14)).clamp(-W_LIMIT, W_LIMIT);
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
    #[inline(always)]
    pub fn pp(&mut self, pr: i32, cx: usize) -> i32 {
        let s = stretch(pr) + 2048;
        let lo = (s >> 7) as usize;
        let w = s & 127;
        let base = cx * 33 + lo;
        self.idx = base + ((w >> 6) as usize);
        ((self.t[base] as i32 * (128 - w) + self.t[base + 1] as i32 * w) >> 11).clamp(1, 4095)
    }
    #[inline(always)]
    pub fn update(&mut self, bit: bool) {
        let g = ((bit as i32) << 16) + ((bit as i32) << self.rate) - bit as i32 - bit as i32;
        let t = self.t[self.idx] as i32;
        self.t[self.idx] = (t + ((g - t) >> self.rate)).clamp(0, 65535) as u16;
    }
}

/// Saving and restoring adaptive state (trained initial states ship with
/// the codec). The shape (sizes) is fixed by the code; only values travel.
pub trait State {
    fn save(&self, out: &mut Vec<u8>);
    /// Restores values saved by [`State::save`]; `None` if `inp` is too short.
    fn load(&mut self, inp: &mut &[u8]) -> Option<()>;
}

impl State for [BitModel] {
    fn save(&self, out: &mut Vec<u8>) {
        for m in self {
            out.extend_from_slice(&m.p.to_le_bytes());
            out.push(m.n);
        }
    }
    fn load(&mut self, inp: &mut &[u8]) -> Option<()> {
        let (bytes, rest) = inp.split_at_checked(3 * self.len())?;
        for (m, b) in self.iter_mut().zip(bytes.chunks_exact(3)) {
            m.p = u16::from_le_bytes([b[0], b[1]]);
            m.n = b[2];
        }
        *inp = rest;
        Some(())
    }
}

impl State for [i32] {
    fn save(&self, out: &mut Vec<u8>) {
        for v in self {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    fn load(&mut self, inp: &mut &[u8]) -> Option<()> {
        let (bytes, rest) = inp.split_at_checked(4 * self.len())?;
        for (v, b) in self.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        *inp = rest;
        Some(())
    }
}

impl State for Mixer {
    fn save(&self, out: &mut Vec<u8>) {
        self.weights.save(out)
    }
    fn load(&mut self, inp: &mut &[u8]) -> Option<()> {
        self.weights.load(inp)?;
        self.weights
            .iter_mut()
            .for_each(|w| *w = (*w).clamp(-W_LIMIT, W_LIMIT));
        Some(())
    }
}

impl State for Mixer2 {
    fn save(&self, out: &mut Vec<u8>) {
        for s in &self.sets {
            for row in &s.0 {
                row[..self.n].save(out);
            }
        }
        self.fin.save(out);
    }
    fn load(&mut self, inp: &mut &[u8]) -> Option<()> {
        let n = self.n;
        for s in self.sets.iter_mut() {
            for row in s.0.iter_mut() {
                row[..n].load(inp)?;
                row.iter_mut()
                    .for_each(|w| *w = (*w).clamp(-W_LIMIT, W_LIMIT));
            }
        }
        self.fin.load(inp)
    }
}

impl State for Apm {
    fn save(&self, out: &mut Vec<u8>) {
        for v in &self.t {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    fn load(&mut self, inp: &mut &[u8]) -> Option<()> {
        let (bytes, rest) = inp.split_at_checked(2 * self.t.len())?;
        for (v, b) in self.t.iter_mut().zip(bytes.chunks_exact(2)) {
            *v = u16::from_le_bytes([b[0], b[1]]);
        }
        *inp = rest;
        Some(())
    }
}

impl BitModel {
    /// Caps the confidence so that a trained state keeps adapting quickly.
    pub fn cap_confidence(&mut self, n: u8) {
        self.n = self.n.min(n);
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
        let mut m = Mixer::new(2, 1, 8);
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
