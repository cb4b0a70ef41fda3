//! A small context-mixing byte compressor for side data (DICOM headers:
//! tag structures, text, vendor blobs), stronger than deflate on them.
//!
//! Each byte is coded MSB first as 8 binary decisions. Order-0 to order-4
//! contexts (orders 2–4 and a tag-alignment context hashed into tables),
//! mixed by a [`Mixer`] selected by the bits of the byte seen so far, then
//! refined by an [`Apm`]. Integer arithmetic only, like everything on the
//! decode path.
//!
//! A [`Dictionary`] (typical data of the kind, e.g. DICOM headers of
//! several vendors) primes the model before coding: its bytes pass through
//! the model as if coded, so the first occurrences of familiar structures
//! and strings are already predicted and the match model can copy from it.
//!
//! Stream: `u32` length of the original, then the range-coded bits.

use crate::{Apm, BinDecoder, BinEncoder, BitModel, Error, Mixer, Result};

const HASH_BITS: u32 = 18;
const NH: usize = 4; // hashed contexts
const MATCH_BITS: u32 = 18;
const MATCH_MIN: usize = 5;
/// A [`Dictionary`]'s last this many bytes prime the whole model, the
/// rest only the match model's history (part of the stream format of
/// primed streams: DICOM header layout 2).
const FULL_PRIME: usize = 32 << 10;

#[derive(Clone)]
struct Model {
    o0: Vec<BitModel>,
    o1: Vec<BitModel>,
    hashed: Vec<BitModel>,
    mixer: Mixer,
    apm: Apm,
    /// Context hashes, computed at each byte boundary.
    h: [u32; NH],
    hist: u32,
    pos: u32,
    /// Everything coded so far (for the match model).
    buf: Vec<u8>,
    /// Last position after each hashed `MATCH_MIN`-byte context.
    last: Vec<u32>,
    /// Current match: position in `buf` of the predicted byte, and length.
    mptr: usize,
    mlen: usize,
    /// Match model: [min(len, 15)][expected bit].
    mm: Vec<BitModel>,
}

impl Model {
    fn new() -> Self {
        Model {
            o0: vec![BitModel::new(); 256],
            o1: vec![BitModel::new(); 256 * 256],
            hashed: vec![BitModel::new(); NH << HASH_BITS],
            mixer: Mixer::new(NH + 4, 256 * 4, 12),
            apm: Apm::new(256 * 256, 7),
            h: [0; NH],
            hist: 0,
            pos: 0,
            buf: Vec::new(),
            last: vec![0; 1 << MATCH_BITS],
            mptr: 0,
            mlen: 0,
            mm: vec![BitModel::new(); 64],
        }
    }

    fn next_byte(&mut self, b: u8) {
        // Match model: extend the current match or look for a new one.
        if self.mlen > 0 && self.buf.get(self.mptr) == Some(&b) {
            self.mlen += 1;
            self.mptr += 1;
        } else {
            self.mlen = 0;
        }
        self.buf.push(b);
        let n = self.buf.len();
        if n >= MATCH_MIN {
            let h = self.buf[n - MATCH_MIN..]
                .iter()
                .fold(0u32, |h, &c| (h ^ c as u32).wrapping_mul(0x0100_0193))
                >> (32 - MATCH_BITS);
            if self.mlen == 0 {
                let cand = self.last[h as usize] as usize;
                if cand > 0 {
                    let mut l = 0;
                    while l < 32 && l < cand && self.buf[cand - 1 - l] == self.buf[n - 1 - l] {
                        l += 1;
                    }
                    if l >= MATCH_MIN {
                        self.mlen = l;
                        self.mptr = cand;
                    }
                }
            }
            self.last[h as usize] = n as u32;
        }
        self.hist = (self.hist << 8) | b as u32;
        self.pos = self.pos.wrapping_add(1);
        let hmix = |v: u32, k: u32| (v.wrapping_add(k).wrapping_mul(0x9E37_79B1)) ^ (v >> 15);
        self.h = [
            hmix(self.hist & 0xFFFF, 1),
            hmix(self.hist & 0xFF_FFFF, 2),
            hmix(self.hist, 3),
            // Tag alignment: the previous byte and the position within a 4-byte word.
            hmix((self.hist & 0xFF) | ((self.pos & 3) << 8), 4),
        ];
    }

    /// Codes one bit of the current byte; `c0` is 1 followed by the bits so far.
    #[inline]
    fn bit<IO: FnMut(u32) -> bool>(&mut self, c0: u32, io: &mut IO) -> bool {
        let c1 = (self.hist & 0xFF) as usize;
        let i0 = c0 as usize;
        let i1 = c1 << 8 | i0;
        let idx: [usize; NH] = std::array::from_fn(|k| {
            (k << HASH_BITS)
                | ((self.h[k] ^ c0.wrapping_mul(0x2F0B_3C93)) >> (32 - HASH_BITS)) as usize
        });
        self.mixer.add(crate::stretch(self.o0[i0].p() as i32));
        self.mixer.add(crate::stretch(self.o1[i1].p() as i32));
        for &i in &idx {
            self.mixer.add(crate::stretch(self.hashed[i].p() as i32));
        }
        // The match model's guess for this bit, if the match still holds.
        let nbits = 31 - c0.leading_zeros(); // bits of this byte coded so far
        let mut mslot = None;
        if self.mlen > 0 {
            if let Some(&pb) = self.buf.get(self.mptr) {
                let want = (pb as u32 | 0x100) >> (8 - nbits);
                if want == c0 {
                    let e = ((pb >> (7 - nbits)) & 1) as usize;
                    mslot = Some(self.mlen.min(31) * 2 + e);
                }
            }
        }
        match mslot {
            Some(i) => self.mixer.add(crate::stretch(self.mm[i].p() as i32)),
            None => self.mixer.add(0),
        }
        self.mixer.add(256);
        let pm = self.mixer.mix(i0 * 4 + (self.pos & 3) as usize);
        let pa = self.apm.pp(pm, i1);
        let bit = io(((pm + 3 * pa) >> 2) as u32);
        self.o0[i0].update(bit);
        self.o1[i1].update(bit);
        for &i in &idx {
            self.hashed[i].update(bit);
        }
        if let Some(i) = mslot {
            self.mm[i].update(bit);
        }
        self.mixer.update(bit);
        self.apm.update(bit);
        bit
    }
}

/// A primed model: the state after seeing a dictionary's bytes. Made once,
/// cloned for each stream.
#[derive(Clone)]
pub struct Dictionary {
    model: Model,
}

impl Dictionary {
    /// Primes a model with `bytes`: all of them enter the match model's
    /// history (and the byte history and position the contexts are made
    /// of); the last `FULL_PRIME` bytes also train every adaptive model, as
    /// coding them would (the whole model over a large dictionary costs
    /// about 0.4 µs per byte).
    pub fn new(bytes: &[u8]) -> Dictionary {
        let mut model = Model::new();
        let full = bytes.len().saturating_sub(FULL_PRIME);
        for &byte in &bytes[..full] {
            model.next_byte(byte);
        }
        for &byte in &bytes[full..] {
            code_byte(&mut model, byte, &mut |bit, _| bit);
        }
        Dictionary { model }
    }
}

/// Codes (or decodes) one byte through `io(bit, p1)`; returns the byte.
#[inline]
fn code_byte<IO: FnMut(bool, u32) -> bool>(m: &mut Model, byte: u8, io: &mut IO) -> u8 {
    let mut c0 = 1u32;
    for i in (0..8).rev() {
        let bit = (byte >> i) & 1 != 0;
        let b = m.bit(c0, &mut |p| io(bit, p));
        c0 = (c0 << 1) | b as u32;
    }
    let byte = c0 as u8;
    m.next_byte(byte);
    byte
}

/// Compresses `data`.
pub fn compress(data: &[u8]) -> Vec<u8> {
    compress_from(Model::new(), data)
}

/// Compresses `data` with the model primed by `dict` (decode with
/// [`decompress_with`] and the same dictionary).
pub fn compress_with(dict: &Dictionary, data: &[u8]) -> Vec<u8> {
    compress_from(dict.model.clone(), data)
}

fn compress_from(mut m: Model, data: &[u8]) -> Vec<u8> {
    let mut enc = BinEncoder::new();
    for &byte in data {
        code_byte(&mut m, byte, &mut |bit, p| {
            enc.encode(bit, p);
            bit
        });
    }
    let mut out = (data.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&enc.finish());
    out
}

/// Decompresses a stream from [`compress`]; refuses more than `max_len` bytes.
pub fn decompress(stream: &[u8], max_len: usize) -> Result<Vec<u8>> {
    decompress_from(Model::new(), stream, max_len)
}

/// Decompresses a stream from [`compress_with`] with the same dictionary.
pub fn decompress_with(dict: &Dictionary, stream: &[u8], max_len: usize) -> Result<Vec<u8>> {
    decompress_from(dict.model.clone(), stream, max_len)
}

fn decompress_from(mut m: Model, stream: &[u8], max_len: usize) -> Result<Vec<u8>> {
    let corrupt = |m: &str| Error::Corrupt(format!("byte stream: {m}"));
    let (len, rest) = stream
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("truncated length"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > max_len {
        return Err(corrupt(&format!(
            "{len} bytes claimed, at most {max_len} allowed"
        )));
    }
    let mut dec = BinDecoder::new(rest)?;
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        out.push(code_byte(&mut m, 0, &mut |_, p| dec.decode(p)));
    }
    if dec.failed() {
        return Err(corrupt("ends early"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_text_binary_and_empty() {
        let mut text = Vec::new();
        for i in 0..300 {
            text.extend_from_slice(
                format!("(0008,{:04x}) LO [Patient^Name^{}]\n", i * 7, i % 13).as_bytes(),
            );
        }
        let binary: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        for d in [Vec::new(), vec![0u8], text.clone(), binary] {
            let c = compress(&d);
            assert_eq!(decompress(&c, d.len()).unwrap(), d);
        }
        let c = compress(&text);
        assert!(c.len() < text.len() / 4, "{} of {}", c.len(), text.len());
        assert!(decompress(&c, text.len() - 1).is_err());
    }

    /// A dictionary of similar data makes the stream smaller; the stream
    /// decodes only with the same dictionary.
    #[test]
    fn dictionary_primes_the_model() {
        let text = |seed: usize| -> Vec<u8> {
            (0..200)
                .flat_map(|i| {
                    format!("(0018,{:04x}) DS [{}.{}]\n", i * 3, (i * seed) % 97, i % 7)
                        .into_bytes()
                })
                .collect()
        };
        let dict = Dictionary::new(&text(5));
        let data = text(11);
        let plain = compress(&data);
        let with = compress_with(&dict, &data);
        assert!(
            with.len() < plain.len() * 3 / 4,
            "{} vs {}",
            with.len(),
            plain.len()
        );
        assert_eq!(decompress_with(&dict, &with, data.len()).unwrap(), data);
        let other = Dictionary::new(b"something else entirely");
        assert_ne!(
            decompress_with(&other, &with, data.len()).ok(),
            Some(data.clone())
        );
        // An empty dictionary is no dictionary.
        assert_eq!(compress_with(&Dictionary::new(&[]), &data), plain);
    }
}
