//! The seed paper's Huffman coder: a static Huffman code over integer
//! symbols, built from exact integer counts (constriction's Huffman trees,
//! which break ties by symbol index, so encoder and decoder build the same
//! tree), with the table stored in the stream.
//!
//! Stream layout: `u32` number of distinct symbols `n`, then `n` pairs of
//! (`u32` symbol, `u32` count) in increasing symbol order, then `u64` number
//! of coded symbols, then the Huffman bit stream as little-endian `u32`
//! words.

use crate::{Error, Result};
use constriction::symbol::huffman::{DecoderHuffmanTree, EncoderHuffmanTree};
use constriction::symbol::{
    DefaultQueueDecoder, DefaultQueueEncoder, ReadBitStream, WriteBitStream,
};
use std::collections::BTreeMap;

/// Most distinct symbols a stream may declare (17-bit deltas plus slack).
pub const MAX_SYMBOLS: usize = 1 << 18;

/// Huffman-codes `symbols`. Returns the self-describing stream.
pub fn encode(symbols: &[u32]) -> Vec<u8> {
    let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
    for &s in symbols {
        *counts.entry(s).or_insert(0) += 1;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(counts.len() as u32).to_le_bytes());
    for (&s, &c) in &counts {
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&c.to_le_bytes());
    }
    out.extend_from_slice(&(symbols.len() as u64).to_le_bytes());
    if counts.len() < 2 {
        return out; // zero or one distinct symbol: nothing to code
    }
    let index: BTreeMap<u32, usize> = counts.keys().enumerate().map(|(i, &s)| (s, i)).collect();
    let freqs: Vec<u64> = counts.values().map(|&c| c as u64).collect();
    let tree = EncoderHuffmanTree::from_probabilities::<u64, _>(&freqs);
    let mut enc = DefaultQueueEncoder::new();
    for s in symbols {
        // Cannot fail: every symbol is in the tree; the backend is a Vec.
        let r = enc.encode_symbol(index[s], &tree);
        debug_assert!(r.is_ok());
    }
    let words = enc.into_compressed().unwrap_or_default();
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

fn corrupt<T>(m: impl Into<String>) -> Result<T> {
    Err(Error::Corrupt(format!("Huffman stream: {}", m.into())))
}

/// Decodes a stream written by [`encode`]; `max_symbols` bounds the output
/// length (the caller knows how many pixels to expect).
pub fn decode(bytes: &[u8], max_symbols: u64) -> Result<Vec<u32>> {
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        if bytes.len() - pos < n {
            return corrupt("truncated table");
        }
        pos += n;
        Ok(&bytes[pos - n..pos])
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let n = u32_of(take(4)?) as usize;
    if n > MAX_SYMBOLS {
        return corrupt(format!("{n} distinct symbols (at most {MAX_SYMBOLS})"));
    }
    let mut syms = Vec::with_capacity(n);
    let mut freqs = Vec::with_capacity(n);
    for _ in 0..n {
        let s = u32_of(take(4)?);
        let c = u32_of(take(4)?);
        if c == 0 || syms.last().is_some_and(|&l| l >= s) {
            return corrupt("symbol table out of order or with a zero count");
        }
        syms.push(s);
        freqs.push(c as u64);
    }
    let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    if count > max_symbols {
        return corrupt(format!("{count} symbols, expected at most {max_symbols}"));
    }
    if freqs.iter().sum::<u64>() != count {
        return corrupt("symbol counts do not add up to the symbol total");
    }
    match n {
        0 if count == 0 => return Ok(Vec::new()),
        0 => return corrupt("symbols but no table"),
        1 => return Ok(vec![syms[0]; count as usize]),
        _ => {}
    }
    let rest = &bytes[pos..];
    if !rest.len().is_multiple_of(4) {
        return corrupt("bit stream is not a whole number of 32-bit words");
    }
    let words: Vec<u32> = rest.chunks_exact(4).map(u32_of).collect();
    let tree = DecoderHuffmanTree::from_probabilities::<u64, _>(&freqs);
    let mut dec = DefaultQueueDecoder::from_compressed(
        constriction::backends::Cursor::new_at_write_beginning(words),
    );
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        match dec.decode_symbol(&tree) {
            Ok(i) if i < syms.len() => out.push(syms[i]),
            _ => return corrupt("bit stream ends early"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for data in [
            vec![],
            vec![5u32],
            vec![7; 100],
            vec![1, 2, 3, 1, 1, 1, 2, 200000, 1, 1],
            (0..5000u32).map(|i| (i * i) % 37).collect(),
        ] {
            let b = encode(&data);
            assert_eq!(decode(&b, data.len() as u64).unwrap(), data);
        }
    }

    #[test]
    fn truncation_is_an_error() {
        let data: Vec<u32> = (0..500u32).map(|i| (i * 7) % 11).collect();
        let b = encode(&data);
        for n in 0..b.len() - 4 {
            if let Ok(v) = decode(&b[..n], 500) {
                assert_ne!(v, data, "len {n}");
            }
        }
    }
}
