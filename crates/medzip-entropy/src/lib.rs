//! Entropy coding for medzip, over exact integer models only.
//!
//! * [`BinEncoder`] / [`BinDecoder`]: binary range coding through
//!   `constriction`'s range coder, driven by 12-bit integer probabilities.
//!   [`prob_to_model`] is the one audited place where a model output becomes
//!   the coder's fixed-point distribution: both symbols always keep a nonzero
//!   frequency.
//! * [`BitModel`], [`Mixer`], [`Apm`]: adaptive binary models and logistic
//!   mixing (a single-layer network trained online), all in integer
//!   arithmetic with lookup tables, so encoder and decoder agree bit for bit
//!   on every CPU.
//! * [`rans`]: adaptive multi-symbol distributions over a rANS coder (the
//!   fast coders); [`rans64`]: a rANS coder of finer precision (the
//!   default coder's token stream).
//! * [`huffman`]: the seed paper's Huffman coder over integer symbols.
//!
//! Nothing here knows about images or ML frameworks.

use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};
use std::borrow::Borrow;
use std::num::NonZeroU32;

pub mod bytes;
pub mod huffman;
mod mix;
pub mod rans;
pub mod rans64;

pub use mix::{squash, stretch, Apm, BitModel, Mixer, Mixer2, State, LANES};

/// Errors of the entropy layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The coded data is damaged or truncated.
    #[error("corrupt entropy-coded data: {0}")]
    Corrupt(String),
    /// An internal coder invariant failed (a bug, reported instead of a panic).
    #[error("entropy coder failure: {0}")]
    Coder(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Probability precision at the coder boundary (bits).
pub const PROB_BITS: u32 = 12;
const PROB_ONE: u32 = 1 << PROB_BITS;

/// A binary distribution in constriction's fixed-point form: `p1` is the
/// frequency of symbol 1 out of `2^PROB_BITS`, strictly between 0 and 1.
#[derive(Clone, Copy, Debug)]
pub struct BinaryModel {
    /// Invariant: `1 <= p1 < 2^PROB_BITS`.
    p1: u32,
}

/// Turns a model output (probability of a 1 in 12-bit fixed point, any
/// `u32`) into a coder distribution. The single place where clamping
/// happens: both symbols keep a frequency of at least 1.
#[inline]
pub fn prob_to_model(p1: u32) -> BinaryModel {
    BinaryModel {
        p1: p1.clamp(1, PROB_ONE - 1),
    }
}

impl EntropyModel<{ PROB_BITS as usize }> for BinaryModel {
    type Symbol = bool;
    type Probability = u32;
}

impl EncoderModel<{ PROB_BITS as usize }> for BinaryModel {
    #[inline]
    fn left_cumulative_and_probability(
        &self,
        symbol: impl Borrow<bool>,
    ) -> Option<(u32, NonZeroU32)> {
        // Symbol 0 occupies [0, 1 - p1), symbol 1 occupies [1 - p1, 1).
        let p0 = PROB_ONE - self.p1;
        if *symbol.borrow() {
            Some((p0, NonZeroU32::new(self.p1)?))
        } else {
            Some((0, NonZeroU32::new(p0)?))
        }
    }
}

impl DecoderModel<{ PROB_BITS as usize }> for BinaryModel {
    #[inline]
    fn quantile_function(&self, quantile: u32) -> (bool, u32, NonZeroU32) {
        let p0 = PROB_ONE - self.p1;
        // Invariant of BinaryModel: p0 and p1 are both in 1..PROB_ONE.
        let nz = |v: u32| NonZeroU32::new(v.max(1)).expect("max(1) is nonzero");
        if quantile < p0 {
            (false, 0, nz(p0))
        } else {
            (true, p0, nz(self.p1))
        }
    }
}

/// Binary arithmetic encoder (constriction's range coder, 32-bit words).
pub struct BinEncoder {
    inner: DefaultRangeEncoder,
}

impl Default for BinEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BinEncoder {
    pub fn new() -> Self {
        BinEncoder {
            inner: DefaultRangeEncoder::new(),
        }
    }

    /// Codes `bit` with probability `p1`/4096 of a 1.
    #[inline(always)]
    pub fn encode(&mut self, bit: bool, p1: u32) {
        // Cannot fail: the model gives every symbol a nonzero probability and
        // the backend is an in-memory Vec.
        let r = self.inner.encode_symbol(bit, prob_to_model(p1));
        debug_assert!(r.is_ok());
    }

    /// Codes the low `n` bits of `v` (MSB first) at probability one half.
    pub fn encode_raw(&mut self, v: u32, n: u32) {
        for i in (0..n).rev() {
            self.encode((v >> i) & 1 != 0, PROB_ONE / 2);
        }
    }

    /// Finishes the stream and returns its bytes.
    pub fn finish(self) -> Vec<u8> {
        let words = self.inner.into_compressed().unwrap_or_default();
        let mut out = Vec::with_capacity(words.len() * 4);
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Binary arithmetic decoder matching [`BinEncoder`].
pub struct BinDecoder {
    inner: DefaultRangeDecoder,
    /// Set when the decoder read past the end of its data.
    overrun: bool,
}

impl BinDecoder {
    /// Starts decoding `bytes` (a multiple of 4 bytes, as written by
    /// [`BinEncoder::finish`]).
    pub fn new(bytes: &[u8]) -> Result<Self> {
        if !bytes.len().is_multiple_of(4) {
            return Err(Error::Corrupt(format!(
                "range-coded stream of {} bytes is not a whole number of 32-bit words",
                bytes.len()
            )));
        }
        let words: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        let inner = DefaultRangeDecoder::from_compressed(words)
            .map_err(|_| Error::Corrupt("range-coded stream cannot start".into()))?;
        Ok(BinDecoder {
            inner,
            overrun: false,
        })
    }

    /// Decodes one bit coded with probability `p1`/4096 of a 1.
    #[inline(always)]
    pub fn decode(&mut self, p1: u32) -> bool {
        match self.inner.decode_symbol(prob_to_model(p1)) {
            Ok(b) => b,
            Err(_) => {
                self.overrun = true;
                false
            }
        }
    }

    /// Decodes `n` bits at probability one half (MSB first).
    pub fn decode_raw(&mut self, n: u32) -> u32 {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.decode(PROB_ONE / 2) as u32;
        }
        v
    }

    /// Whether the stream was damaged (a read failed). Callers check this at
    /// the end of a block; hashes catch everything else.
    pub fn failed(&self) -> bool {
        self.overrun
    }
}

/// Adaptive Exp-Golomb-style coding of unsigned integers up to 32 bits with
/// binary contexts, for side information (palettes, tables).
pub struct UintCoder {
    exp: [BitModel; 33],
    mant: [BitModel; 33],
}

impl Default for UintCoder {
    fn default() -> Self {
        UintCoder {
            exp: [BitModel::new(); 33],
            mant: [BitModel::new(); 33],
        }
    }
}

impl UintCoder {
    pub fn encode(&mut self, enc: &mut BinEncoder, v: u32) {
        let k = 32 - v.leading_zeros(); // 0 for v == 0
        for i in 0..k {
            let m = &mut self.exp[i as usize];
            enc.encode(true, m.p());
            m.update(true);
        }
        if k < 32 {
            let m = &mut self.exp[k as usize];
            enc.encode(false, m.p());
            m.update(false);
        }
        if k > 1 {
            let m = &mut self.mant[k as usize];
            let top = (v >> (k - 2)) & 1 != 0;
            enc.encode(top, m.p());
            m.update(top);
            enc.encode_raw(v, k - 2);
        }
    }

    pub fn decode(&mut self, dec: &mut BinDecoder) -> u32 {
        let mut k = 0u32;
        while k < 32 {
            let m = &mut self.exp[k as usize];
            let b = dec.decode(m.p());
            m.update(b);
            if !b {
                break;
            }
            k += 1;
        }
        if k == 0 {
            return 0;
        }
        if k == 1 {
            return 1;
        }
        let m = &mut self.mant[k as usize];
        let top = dec.decode(m.p());
        m.update(top);
        let rest = dec.decode_raw(k - 2);
        (1u32 << (k - 1)) | ((top as u32) << (k - 2)) | rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_roundtrip_with_skewed_probabilities() {
        let mut enc = BinEncoder::new();
        let mut bits = Vec::new();
        let mut s = 12345u32;
        for i in 0..20000u32 {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            let p = (s >> 20) % 4200; // includes out-of-range values: clamped
            let bit = (s >> 3).is_multiple_of(7);
            bits.push((bit, p));
            enc.encode(bit, p);
            if i.is_multiple_of(97) {
                enc.encode(true, 0); // probability 0 clamps to 1/4096
            }
        }
        let bytes = enc.finish();
        let mut dec = BinDecoder::new(&bytes).unwrap();
        for (i, &(bit, p)) in bits.iter().enumerate() {
            assert_eq!(dec.decode(p), bit, "bit {i}");
            if i.is_multiple_of(97) {
                assert!(dec.decode(0));
            }
        }
        assert!(!dec.failed());
    }

    #[test]
    fn uint_roundtrip() {
        let vals = [
            0u32,
            1,
            2,
            3,
            4,
            7,
            8,
            255,
            256,
            65535,
            65536,
            u32::MAX,
            12345678,
        ];
        let mut c = UintCoder::default();
        let mut enc = BinEncoder::new();
        for &v in &vals {
            c.encode(&mut enc, v);
        }
        let b = enc.finish();
        let mut c = UintCoder::default();
        let mut dec = BinDecoder::new(&b).unwrap();
        for &v in &vals {
            assert_eq!(c.decode(&mut dec), v);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut s = 99u32;
        for len in [0usize, 4, 8, 64] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                    (s >> 24) as u8
                })
                .collect();
            let mut dec = BinDecoder::new(&bytes).unwrap();
            let mut c = UintCoder::default();
            for _ in 0..100 {
                c.decode(&mut dec);
            }
        }
        assert!(BinDecoder::new(&[1, 2, 3]).is_err());
    }
}
