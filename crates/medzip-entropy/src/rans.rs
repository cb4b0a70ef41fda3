//! Multi-symbol coding for the fast coders: adaptive cumulative
//! distributions ([`AdaptiveCdf`]) driving a byte-wise rANS coder (after
//! F. Giesen's `rans_byte`, public domain), all integer.
//!
//! rANS decodes without a division: a symbol's slot is the state's low
//! `PRECISION` bits. It encodes in reverse, so [`RansEncoder`] records each
//! symbol's `(start, freq, precision)` as the model gives it in decoding
//! order and codes them backwards in [`RansEncoder::finish`].
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
    /// (start, freq, precision bits) per symbol.
    ops: Vec<(u32, u32, u32)>,
}

impl RansEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        RansEncoder {
            ops: Vec::with_capacity(n),
        }
    }

    /// A symbol of a distribution over `2^bits`: its cumulative start and
    /// frequency (`freq ≥ 1`, `start + freq ≤ 2^bits`, `bits ≤ 16`).
    #[inline]
    pub fn put(&mut self, start: u32, freq: u32, bits: u32) {
        debug_assert!(freq >= 1 && bits <= 16 && start + freq <= 1 << bits);
        self.ops.push((start, freq, bits));
    }

    /// `n ≤ 16` raw bits of `v`.
    #[inline]
    pub fn put_bits(&mut self, v: u32, n: u32) {
        if n > 0 {
            self.put(v & ((1 << n) - 1), 1, n);
        }
    }

    /// The coded bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ops.len() / 2 + 8);
        let mut x = RANS_L;
        for &(start, freq, bits) in self.ops.iter().rev() {
            let x_max = ((RANS_L >> bits) << 8) * freq;
            while x >= x_max {
                out.push(x as u8);
                x >>= 8;
            }
            x = ((x / freq) << bits) + (x % freq) + start;
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
}

/// Largest alphabet of an [`AdaptiveCdf`].
pub const MAX_SYMBOLS: usize = 256;
/// Vector width of the table loops (u16 lanes).
const LANES: usize = 16;

impl AdaptiveCdf {
    /// A distribution whose frequencies follow `weights` (each ≥ 0; a zero
    /// weight still leaves the symbol its minimum frequency).
    pub fn with_weights(weights: &[u32]) -> Self {
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
        AdaptiveCdf { a, n, count: 0 }
    }

    #[cfg(test)]
    fn uniform(n: usize) -> Self {
        Self::with_weights(&vec![1; n])
    }

    /// The coder's (start, frequency) of symbol `s`.
    #[inline]
    fn span(&self, s: usize) -> (u32, u32) {
        let lo = self.a[s] as u32 + s as u32;
        (lo, self.a[s + 1] as u32 + s as u32 + 1 - lo)
    }

    #[inline]
    fn update(&mut self, s: usize) {
        let c = self.count;
        let rate = 4 + (c >= 16) as u32 + (c >= 64) as u32 + (c >= 256) as u32 + (c >= 1024) as u32;
        self.count = c.saturating_add(1).min(1024);
        let free = (TOTAL as usize - self.n) as u16;
        // Entries up to s shrink, those after it grow towards their
        // maximum (padding entries, at the maximum, stay there).
        let s = s as u16;
        for (k, chunk) in self.a[1..].chunks_exact_mut(LANES).enumerate() {
            let base = (k * LANES) as u16 + 1;
            for (i, a) in chunk.iter_mut().enumerate() {
                let down = *a - (*a >> rate);
                let up = *a + ((free - *a) >> rate);
                *a = if base + i as u16 <= s { down } else { up };
            }
        }
    }

    /// Records symbol `s` for the encoder and adapts.
    #[inline]
    pub fn encode(&mut self, enc: &mut RansEncoder, s: usize) {
        let (lo, f) = self.span(s);
        enc.put(lo, f, PRECISION);
        self.update(s);
    }

    /// Decodes a symbol and adapts.
    #[inline]
    pub fn decode(&mut self, dec: &mut RansDecoder) -> usize {
        let slot = dec.peek(PRECISION) as u16;
        // The table is strictly increasing (padding lies beyond every
        // slot): the symbol is the number of boundaries at or below the slot.
        let mut s = 0u16;
        for (k, chunk) in self.a[1..].chunks_exact(LANES).enumerate() {
            let base = (k * LANES) as u16 + 1;
            for (i, &a) in chunk.iter().enumerate() {
                s += (a + base + i as u16 <= slot) as u16;
            }
        }
        let s = s as usize;
        let (lo, f) = self.span(s);
        dec.advance(lo, f, PRECISION);
        self.update(s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_symbols_and_raw_bits_round_trip() {
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            state >> 8
        };
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
        let mut m = AdaptiveCdf::with_weights(&[1000, 0, 0, 5]);
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
}
