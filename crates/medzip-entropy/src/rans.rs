//! Multi-symbol coding for the fast coders: adaptive cumulative
//! distributions ([`AdaptiveCdf`]) driving a byte-wise rANS coder (after
//! F. Giesen's `rans_byte`, public domain), all integer.
//!
//! rANS decodes without a division: a symbol's slot is the state's low
//! `PRECISION` bits. It encodes in reverse, so [`RansEncoder`] records each
//! symbol (its start and frequency, or raw bits, in one word) as the model
//! gives it in decoding order and codes them backwards in
//! [`RansEncoder::finish`].
//!
//! Every symbol of an [`AdaptiveCdf`] keeps a frequency of at least 1 out
//! of `2^PRECISION` (the cumulative table is an adaptive part plus one per
//! symbol), so anything can be coded whatever the model learnt.

use crate::{Error, Result};

/// Fixed-point precision of [`AdaptiveCdf`] distributions.
pub const PRECISION: u32 = 15;
const TOTAL: u32 = 1 << PRECISION;
/// Lower bound of the coder state (byte-wise renormalisation).
const RANS_L: u32 = 1 << 23;

/// Encoder: collects symbols in decoding order, codes them in reverse.
#[derive(Default)]
pub struct RansEncoder {
    /// One word per symbol (a third of the memory of a tuple): `start |
    /// (freq − 1) << PRECISION` for a modelled symbol, `value | n << 16 |
    /// RAW` for `n` raw bits.
    ops: Vec<u32>,
}

/// Marks an op of raw bits.
const RAW: u32 = 1 << 31;

impl RansEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        RansEncoder {
            ops: Vec::with_capacity(n),
        }
    }

    /// A symbol of a distribution over `2^PRECISION`: its cumulative
    /// start and frequency (`freq ≥ 1`, `start + freq ≤ 2^PRECISION`).
    #[inline]
    pub fn put(&mut self, start: u32, freq: u32) {
        debug_assert!(freq >= 1 && start + freq <= TOTAL);
        self.ops.push(start | (freq - 1) << PRECISION);
    }

    /// `n ≤ 16` raw bits of `v`.
    #[inline]
    pub fn put_bits(&mut self, v: u32, n: u32) {
        debug_assert!(n <= 16);
        if n > 0 {
            self.ops.push((v & ((1 << n) - 1)) | n << 16 | RAW);
        }
    }

    /// The coded bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ops.len() / 2 + 8);
        let mut x = RANS_L;
        for &op in self.ops.iter().rev() {
            if op & RAW != 0 {
                // Frequency 1: no division.
                let (start, bits) = (op & 0xffff, (op >> 16) & 31);
                let x_max = (RANS_L >> bits) << 8;
                while x >= x_max {
                    out.push(x as u8);
                    x >>= 8;
                }
                x = (x << bits) + start;
            } else {
                let start = op & (TOTAL - 1);
                let freq = (op >> PRECISION) + 1;
                let x_max = ((RANS_L >> PRECISION) << 8) * freq;
                while x >= x_max {
                    out.push(x as u8);
                    x >>= 8;
                }
                x = ((x / freq) << PRECISION) + (x % freq) + start;
            }
        }
        out.extend_from_slice(&x.to_le_bytes());
        out.reverse();
        out
    }
}

/// Decoder over the bytes of [`RansEncoder::finish`]. Reading past the end
/// of damaged data yields zeros and sets [`RansDecoder::failed`].
pub struct RansDecoder<'a> {
    x: u32,
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> RansDecoder<'a> {
    pub fn new(buf: &'a [u8]) -> Result<Self> {
        let Some(h) = buf.get(..4) else {
            return Err(Error::Corrupt("rANS stream shorter than its state".into()));
        };
        let x = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        if !(RANS_L..1 << 31).contains(&x) {
            return Err(Error::Corrupt("rANS state out of range".into()));
        }
        Ok(RansDecoder {
            x,
            buf,
            pos: 4,
            failed: false,
        })
    }

    /// The slot (`0..2^bits`) that selects the next symbol.
    #[inline]
    pub fn peek(&self, bits: u32) -> u32 {
        self.x & ((1 << bits) - 1)
    }

    /// Consumes the symbol `(start, freq)` found for [`Self::peek`]'s slot.
    #[inline]
    pub fn advance(&mut self, start: u32, freq: u32, bits: u32) {
        let mask = (1 << bits) - 1;
        self.x = freq * (self.x >> bits) + (self.x & mask) - start;
        while self.x < RANS_L {
            let b = match self.buf.get(self.pos) {
                Some(&b) => b,
                None => {
                    self.failed = true;
                    0
                }
            };
            self.pos += 1;
            self.x = (self.x << 8) | b as u32;
        }
    }

    /// `n ≤ 16` raw bits.
    #[inline]
    pub fn get_bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.advance(v, 1, n);
        v
    }

    /// Whether the data ran out (damaged or truncated), or bytes were left
    /// over: a stream that decoded exactly ends with the encoder's initial
    /// state and every byte read.
    pub fn failed(&self) -> bool {
        self.failed || self.x != RANS_L || self.pos != self.buf.len()
    }
}

/// How fast an [`AdaptiveCdf`] slows its adaptation: its rate starts at
/// 1/16 of the distance to the coded symbol and halves at four counts of
/// symbols seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adaptation {
    /// After 16, 64, 256 and 1024 symbols (the fast coder's files made
    /// before commit fae7c88, 2026-11-30).
    Classic,
    /// After 8, 32, 128 and 512 symbols: 0.08–0.25 % smaller files on the
    /// dev sets.
    Quick,
}

/// An adaptive distribution over `n` symbols (`2 ≤ n ≤ MAX_SYMBOLS`): the
/// AV1 way of moving a cumulative table towards each coded symbol, at a
/// rate that slows as the model sees more.
#[derive(Clone)]
pub struct AdaptiveCdf {
    /// The adaptive part of the cumulative table: a[0] = 0 ≤ a[1] ≤ … ≤
    /// a[n] = 2^PRECISION − n. Symbol s spans [a[s] + s, a[s + 1] + s + 1):
    /// one unit of its own on top of what it learnt. Padded with a[n] up to
    /// a multiple of [`LANES`] entries after a[0], so that update and search
    /// run over whole vectors, without branches.
    a: Vec<u16>,
    n: usize,
    count: u16,
    /// The count at which the rate first halves (then ×4, ×16, ×64).
    first_step: u16,
}

/// Largest alphabet of an [`AdaptiveCdf`].
pub const MAX_SYMBOLS: usize = 256;
/// Vector width of the table loops (u16 lanes).
const LANES: usize = 16;

impl AdaptiveCdf {
    /// A distribution whose frequencies follow `weights` (each ≥ 0; a zero
    /// weight still leaves the symbol its minimum frequency).
    pub fn with_weights(weights: &[u32], adaptation: Adaptation) -> Self {
        let n = weights.len();
        assert!((2..=MAX_SYMBOLS).contains(&n));
        let free = (TOTAL - n as u32) as u64;
        let sum: u64 = weights.iter().map(|&w| w as u64).sum::<u64>().max(1);
        let mut a = Vec::with_capacity(n + LANES + 1);
        let mut acc = 0u64;
        for &w in weights {
            a.push((acc * free / sum) as u16);
            acc += w as u64;
        }
        a.resize(1 + n.div_ceil(LANES) * LANES, free as u16);
        let first_step = match adaptation {
            Adaptation::Classic => 16,
            Adaptation::Quick => 8,
        };
        AdaptiveCdf {
            a,
            n,
            count: 0,
            first_step,
        }
    }

    #[cfg(test)]
    fn uniform(n: usize) -> Self {
        Self::with_weights(&vec![1; n], Adaptation::Classic)
    }

    /// The coder's (start, frequency) of symbol `s`.
    #[inline]
    fn span(&self, s: usize) -> (u32, u32) {
        let lo = self.a[s] as u32 + s as u32;
        (lo, self.a[s + 1] as u32 + s as u32 + 1 - lo)
    }

    #[inline(always)]
    fn update(&mut self, s: usize) {
        let c = self.count;
        let t = self.first_step;
        let rate =
            4 + (c >= t) as u32 + (c >= 4 * t) as u32 + (c >= 16 * t) as u32 + (c >= 64 * t) as u32;
        self.count = c.saturating_add(1).min(1024);
        let free = (TOTAL as usize - self.n) as u16;
        table::update(&mut self.a[1..], s as u16, rate, free);
    }

    /// The cumulative frequency below symbol `s` (`0..=n`; 2^[`PRECISION`]
    /// at `n`): for a caller that mixes this distribution with another.
    #[inline]
    pub fn start(&self, s: usize) -> u32 {
        self.a[s] as u32 + s as u32
    }

    /// The symbol whose span holds `slot` (`0..2^PRECISION`).
    #[inline]
    pub fn find(&self, slot: u32) -> usize {
        table::count_le(&self.a[1..], slot as u16) as usize
    }

    /// Adapts towards symbol `s` (what [`Self::encode`] and
    /// [`Self::decode`] do after coding it).
    #[inline]
    pub fn learn(&mut self, s: usize) {
        self.update(s);
    }

    /// Records symbol `s` for the encoder and adapts.
    #[inline]
    pub fn encode(&mut self, enc: &mut RansEncoder, s: usize) {
        let (lo, f) = self.span(s);
        enc.put(lo, f);
        self.update(s);
    }

    /// Decodes a symbol and adapts.
    #[inline]
    pub fn decode(&mut self, dec: &mut RansDecoder) -> usize {
        // The table is strictly increasing (padding lies beyond every
        // slot): the symbol is the number of boundaries at or below the slot.
        let s = self.find(dec.peek(PRECISION));
        let (lo, f) = self.span(s);
        dec.advance(lo, f, PRECISION);
        self.update(s);
        s
    }
}

/// The two loops over an [`AdaptiveCdf`]'s table (`a[1..]`, whole vectors
/// of [`LANES`] entries): on x86-64 AVX2 where the CPU has it (16 lanes; a
/// cached run-time check), else SSE2 (8 lanes; part of every x86-64 CPU);
/// plain Rust elsewhere. The same integer operations on every path, so the
/// same results (a test compares them).
mod table {
    /// Entry `i` (counting from 1) moves down by `a >> rate` if `i ≤ s`,
    /// else up by `(free − a) >> rate`.
    #[inline(always)]
    pub fn update(a: &mut [u16], s: u16, rate: u32, free: u16) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 was detected; SSE2 is part of the x86-64 baseline;
        // `a.len()` is a multiple of LANES (the caller's construction).
        unsafe {
            if std::arch::is_x86_feature_detected!("avx2") {
                avx2::update(a, s, rate, free)
            } else {
                sse2::update(a, s, rate, free)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        scalar::update(a, s, rate, free)
    }

    /// The number of entries `i` (counting from 1) with `a[i] + i ≤ slot`.
    #[inline(always)]
    pub fn count_le(a: &[u16], slot: u16) -> u16 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `update`.
        unsafe {
            if std::arch::is_x86_feature_detected!("avx2") {
                avx2::count_le(a, slot)
            } else {
                sse2::count_le(a, slot)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        scalar::count_le(a, slot)
    }

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub mod scalar {
        pub fn update(a: &mut [u16], s: u16, rate: u32, free: u16) {
            for (i, a) in a.iter_mut().enumerate() {
                *a = if (i as u16) < s {
                    *a - (*a >> rate)
                } else {
                    *a + ((free - *a) >> rate)
                };
            }
        }

        pub fn count_le(a: &[u16], slot: u16) -> u16 {
            a.iter()
                .enumerate()
                .map(|(i, &a)| (a + (i as u16) < slot) as u16)
                .sum()
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub mod sse2 {
        use std::arch::x86_64::*;

        /// The indices 1..=8 of the first vector.
        #[inline(always)]
        unsafe fn first_indices() -> __m128i {
            _mm_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8)
        }

        /// `x ≤ y` for unsigned 16-bit lanes: all ones where true.
        #[inline(always)]
        unsafe fn le(x: __m128i, y: __m128i) -> __m128i {
            _mm_cmpeq_epi16(_mm_subs_epu16(x, y), _mm_setzero_si128())
        }

        #[inline(always)]
        pub unsafe fn update(a: &mut [u16], s: u16, rate: u32, free: u16) {
            debug_assert!(a.len().is_multiple_of(8));
            let sv = _mm_set1_epi16(s as i16);
            let fv = _mm_set1_epi16(free as i16);
            let eight = _mm_set1_epi16(8);
            let r = _mm_cvtsi32_si128(rate as i32);
            let mut idx = first_indices();
            for chunk in a.chunks_exact_mut(8) {
                let p = chunk.as_mut_ptr() as *mut __m128i;
                let v = _mm_loadu_si128(p);
                let down = _mm_sub_epi16(v, _mm_srl_epi16(v, r));
                let up = _mm_add_epi16(v, _mm_srl_epi16(_mm_sub_epi16(fv, v), r));
                let m = le(idx, sv);
                _mm_storeu_si128(
                    p,
                    _mm_or_si128(_mm_and_si128(m, down), _mm_andnot_si128(m, up)),
                );
                idx = _mm_add_epi16(idx, eight);
            }
        }

        #[inline(always)]
        pub unsafe fn count_le(a: &[u16], slot: u16) -> u16 {
            debug_assert!(a.len().is_multiple_of(8));
            let sv = _mm_set1_epi16(slot as i16);
            let eight = _mm_set1_epi16(8);
            let mut idx = first_indices();
            // Each lane counts down by one (all ones) per entry at or below.
            let mut acc = _mm_setzero_si128();
            for chunk in a.chunks_exact(8) {
                let v = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
                acc = _mm_sub_epi16(acc, le(_mm_add_epi16(v, idx), sv));
                idx = _mm_add_epi16(idx, eight);
            }
            let acc = _mm_add_epi16(acc, _mm_srli_si128(acc, 8));
            let acc = _mm_add_epi16(acc, _mm_srli_si128(acc, 4));
            let acc = _mm_add_epi16(acc, _mm_srli_si128(acc, 2));
            _mm_cvtsi128_si32(acc) as u16
        }
    }

    /// The SSE2 loops on 16 lanes.
    #[cfg(target_arch = "x86_64")]
    pub mod avx2 {
        use std::arch::x86_64::*;

        /// `x ≤ y` for unsigned 16-bit lanes: all ones where true.
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn le(x: __m256i, y: __m256i) -> __m256i {
            _mm256_cmpeq_epi16(_mm256_subs_epu16(x, y), _mm256_setzero_si256())
        }

        /// The indices 1..=16 of the first vector.
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn first_indices() -> __m256i {
            _mm256_setr_epi16(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
        }

        /// # Safety
        /// The CPU has AVX2; `a.len()` is a multiple of 16.
        #[inline]
        #[target_feature(enable = "avx2")]
        pub unsafe fn update(a: &mut [u16], s: u16, rate: u32, free: u16) {
            debug_assert!(a.len().is_multiple_of(16));
            let sv = _mm256_set1_epi16(s as i16);
            let fv = _mm256_set1_epi16(free as i16);
            let sixteen = _mm256_set1_epi16(16);
            let r = _mm_cvtsi32_si128(rate as i32);
            let mut idx = unsafe { first_indices() };
            for chunk in a.chunks_exact_mut(16) {
                let p = chunk.as_mut_ptr() as *mut __m256i;
                // SAFETY: `chunk` holds 16 u16s; AVX2 (this function's).
                unsafe {
                    let v = _mm256_loadu_si256(p);
                    let down = _mm256_sub_epi16(v, _mm256_srl_epi16(v, r));
                    let up = _mm256_add_epi16(v, _mm256_srl_epi16(_mm256_sub_epi16(fv, v), r));
                    let m = le(idx, sv);
                    _mm256_storeu_si256(p, _mm256_blendv_epi8(up, down, m));
                }
                idx = _mm256_add_epi16(idx, sixteen);
            }
        }

        /// # Safety
        /// The CPU has AVX2; `a.len()` is a multiple of 16.
        #[inline]
        #[target_feature(enable = "avx2")]
        pub unsafe fn count_le(a: &[u16], slot: u16) -> u16 {
            debug_assert!(a.len().is_multiple_of(16));
            let sv = _mm256_set1_epi16(slot as i16);
            let sixteen = _mm256_set1_epi16(16);
            let mut idx = unsafe { first_indices() };
            // Each lane counts down by one (all ones) per entry at or below.
            let mut acc = _mm256_setzero_si256();
            for chunk in a.chunks_exact(16) {
                // SAFETY: `chunk` holds 16 u16s; AVX2 (this function's).
                let v = unsafe { _mm256_loadu_si256(chunk.as_ptr() as *const __m256i) };
                acc = _mm256_sub_epi16(acc, unsafe { le(_mm256_add_epi16(v, idx), sv) });
                idx = _mm256_add_epi16(idx, sixteen);
            }
            let acc = _mm_add_epi16(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256(acc, 1),
            );
            let acc = _mm_add_epi16(acc, _mm_srli_si128(acc, 8));
            let acc = _mm_add_epi16(acc, _mm_srli_si128(acc, 4));
            let acc = _mm_add_epi16(acc, _mm_srli_si128(acc, 2));
            _mm_cvtsi128_si32(acc) as u16
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of 24-bit numbers.
    fn lcg(mut state: u32) -> impl FnMut() -> u32 {
        move || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            state >> 8
        }
    }

    #[test]
    fn adaptive_symbols_and_raw_bits_round_trip() {
        let mut next = lcg(12345);
        let syms: Vec<(usize, u32, u32)> = (0..20000)
            .map(|i| {
                let r = next();
                // Skewed symbols, with runs of the rarest ones.
                let s = if i % 997 < 30 {
                    39
                } else {
                    (r % 7 + r % 3) as usize
                };
                let n = r % 17;
                (s, next() & ((1 << n) - 1), n)
            })
            .collect();
        let mut enc = RansEncoder::new();
        let mut m = AdaptiveCdf::uniform(40);
        for &(s, v, n) in &syms {
            m.encode(&mut enc, s);
            enc.put_bits(v, n.min(16));
        }
        let bytes = enc.finish();
        let mut dec = RansDecoder::new(&bytes).unwrap();
        let mut m = AdaptiveCdf::uniform(40);
        for &(s, v, n) in &syms {
            assert_eq!(m.decode(&mut dec), s);
            assert_eq!(dec.get_bits(n.min(16)), v & ((1 << n.min(16)) - 1));
        }
        assert!(!dec.failed());
        // Truncated data is reported.
        let mut dec = RansDecoder::new(&bytes[..bytes.len() / 2]).unwrap();
        let mut m = AdaptiveCdf::uniform(40);
        for _ in &syms {
            m.decode(&mut dec);
        }
        assert!(dec.failed());
    }

    #[test]
    fn frequencies_stay_positive_under_any_updates() {
        let mut m = AdaptiveCdf::with_weights(&[1000, 0, 0, 5], Adaptation::Quick);
        for i in 0..100_000 {
            let s = if i % 1000 == 0 { 2 } else { 0 };
            let mut e = RansEncoder::new();
            m.encode(&mut e, s);
            for s in 0..m.n {
                assert!(m.span(s).1 >= 1);
            }
        }
        let (lo, f) = m.span(m.n - 1);
        assert_eq!(lo + f, TOTAL);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_and_avx2_table_loops_match_the_scalar_ones() {
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        if !avx2 {
            eprintln!("no AVX2 here: only the SSE2 loops were compared");
        }
        let mut next = lcg(99);
        for n in [2usize, 17, 32, 64, 200] {
            let mut m = AdaptiveCdf::uniform(n);
            let free = (TOTAL as usize - n) as u16;
            for i in 0..2000 {
                let s = (next() as usize % n) as u16;
                let rate = 4 + next() % 5;
                let mut b = m.a.clone();
                table::scalar::update(&mut b[1..], s, rate, free);
                // SAFETY: SSE2 is part of x86-64; AVX2 was detected.
                unsafe {
                    if avx2 && i % 2 == 1 {
                        table::avx2::update(&mut m.a[1..], s, rate, free)
                    } else {
                        table::sse2::update(&mut m.a[1..], s, rate, free)
                    }
                };
                assert_eq!(m.a, b);
                let slot = (next() % TOTAL) as u16;
                let want = table::scalar::count_le(&m.a[1..], slot);
                // SAFETY: as above.
                assert_eq!(unsafe { table::sse2::count_le(&m.a[1..], slot) }, want);
                if avx2 {
                    // SAFETY: as above.
                    assert_eq!(unsafe { table::avx2::count_le(&m.a[1..], slot) }, want);
                }
            }
        }
    }
}
