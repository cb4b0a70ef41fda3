//! A rANS coder with a 64-bit state and 32-bit renormalisation (after
//! F. Giesen's `rans64`, public domain), for distributions finer than
//! [`crate::rans`]'s 2^15: each symbol comes with its own precision (up to
//! 2^[`MAX_PRECISION`]), so a caller can code a 17-bit mixture of two
//! distributions and raw bits in one stream. The state never falls below
//! 2^31, 2^14 times a 17-bit symbol's total, so rounding costs such a
//! symbol at most log2(1 + 2^-14) bits beyond its ideal length (the 32-bit
//! coder of [`crate::rans`] at its 2^15: log2(1 + 2^-8)).
//!
//! Like [`crate::rans::RansEncoder`], the encoder records each symbol in
//! decoding order and codes them backwards in [`Rans64Encoder::finish`].

use crate::{Error, Result};

/// Largest precision (bits) of a symbol's distribution.
pub const MAX_PRECISION: u32 = 24;
/// Lower bound of the coder state.
const L: u64 = 1 << 31;

/// Encoder: collects symbols in decoding order, codes them in reverse.
#[derive(Default)]
pub struct Rans64Encoder {
    /// One word per symbol: `start | freq << 25 | bits << 50`.
    ops: Vec<u64>,
}

impl Rans64Encoder {
    pub fn with_capacity(n: usize) -> Self {
        Rans64Encoder {
            ops: Vec::with_capacity(n),
        }
    }

    /// A symbol of a distribution over `2^bits`: its cumulative start and
    /// frequency (`freq ≥ 1`, `start + freq ≤ 2^bits`, `bits ≤
    /// MAX_PRECISION`).
    #[inline]
    pub fn put(&mut self, start: u32, freq: u32, bits: u32) {
        debug_assert!(bits <= MAX_PRECISION && freq >= 1 && start + freq <= 1 << bits);
        self.ops
            .push(start as u64 | (freq as u64) << 25 | (bits as u64) << 50);
    }

    /// `n ≤ MAX_PRECISION` raw bits of `v`.
    #[inline]
    pub fn put_bits(&mut self, v: u32, n: u32) {
        if n > 0 {
            self.put(v & ((1 << n) - 1), 1, n);
        }
    }

    /// The coded bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut words: Vec<u32> = Vec::with_capacity(self.ops.len() / 4 + 2);
        let mut x = L;
        let mask = (1u64 << 25) - 1;
        for &op in self.ops.iter().rev() {
            let start = op & mask;
            let freq = (op >> 25) & mask;
            let bits = (op >> 50) as u32;
            let x_max = ((L >> bits) << 32) * freq;
            if x >= x_max {
                words.push(x as u32);
                x >>= 32;
            }
            x = ((x / freq) << bits) + (x % freq) + start;
        }
        let mut out = Vec::with_capacity(8 + 4 * words.len());
        out.extend_from_slice(&x.to_le_bytes());
        for w in words.iter().rev() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Decoder over the bytes of [`Rans64Encoder::finish`]. Reading past the
/// end of damaged data yields zeros and sets [`Rans64Decoder::failed`].
pub struct Rans64Decoder<'a> {
    x: u64,
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Rans64Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Result<Self> {
        let Some(h) = buf.get(..8) else {
            return Err(Error::Corrupt("rANS stream shorter than its state".into()));
        };
        let x = u64::from_le_bytes(h.try_into().expect("8 bytes"));
        if !(L..1 << 63).contains(&x) {
            return Err(Error::Corrupt("rANS state out of range".into()));
        }
        if !(buf.len() - 8).is_multiple_of(4) {
            return Err(Error::Corrupt("rANS stream of a partial word".into()));
        }
        Ok(Rans64Decoder {
            x,
            buf,
            pos: 8,
            failed: false,
        })
    }

    /// The slot (`0..2^bits`) that selects the next symbol.
    #[inline]
    pub fn peek(&self, bits: u32) -> u32 {
        (self.x & ((1 << bits) - 1)) as u32
    }

    /// Consumes the symbol `(start, freq)` found for [`Self::peek`]'s slot.
    #[inline]
    pub fn advance(&mut self, start: u32, freq: u32, bits: u32) {
        let mask = (1u64 << bits) - 1;
        self.x = freq as u64 * (self.x >> bits) + (self.x & mask) - start as u64;
        if self.x < L {
            let w = match self.buf.get(self.pos..self.pos + 4) {
                Some(b) => u32::from_le_bytes(b.try_into().expect("4 bytes")),
                None => {
                    self.failed = true;
                    0
                }
            };
            self.pos += 4;
            self.x = (self.x << 32) | w as u64;
        }
    }

    /// `n ≤ MAX_PRECISION` raw bits.
    #[inline]
    pub fn get_bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.advance(v, 1, n);
        v
    }

    /// Whether the data ran out (damaged or truncated), or words were left
    /// over: a stream that decoded exactly ends with the encoder's initial
    /// state and every word read.
    pub fn failed(&self) -> bool {
        self.failed || self.x != L || self.pos != self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_of_mixed_precisions_and_raw_bits_round_trip() {
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        // (start, freq, bits) triples of skewed distributions, and raw bits.
        let ops: Vec<(u32, u32, u32)> = (0..30_000)
            .map(|i| {
                let bits = [17, 15, 1, 24, 9][i % 5];
                let total = 1u32 << bits;
                let freq = if next() % 4 == 0 {
                    1
                } else {
                    1 + next() % total.max(2) / 2
                }
                .min(total);
                let start = next() % (total - freq + 1);
                (start, freq, bits)
            })
            .collect();
        let mut enc = Rans64Encoder::with_capacity(ops.len());
        for &(s, f, b) in &ops {
            enc.put(s, f, b);
        }
        let bytes = enc.finish();
        let mut dec = Rans64Decoder::new(&bytes).unwrap();
        for &(s, f, b) in &ops {
            let slot = dec.peek(b);
            assert!((s..s + f).contains(&slot));
            dec.advance(s, f, b);
        }
        assert!(!dec.failed());
        // Truncated: fails, never panics.
        let mut dec = Rans64Decoder::new(&bytes[..bytes.len() - 4]).unwrap();
        for &(s, f, b) in &ops {
            dec.advance(s, f, b);
        }
        assert!(dec.failed());
        assert!(Rans64Decoder::new(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn a_certain_symbol_costs_nothing_and_raw_bits_cost_their_count() {
        let mut enc = Rans64Encoder::with_capacity(0);
        for _ in 0..10_000 {
            enc.put(0, 1 << 17, 17);
        }
        assert_eq!(enc.finish().len(), 8);
        let mut enc = Rans64Encoder::with_capacity(0);
        for i in 0..1000 {
            enc.put_bits(i, 16);
        }
        let n = enc.finish().len();
        assert!((2000..=2012).contains(&n), "{n}");
    }
}
