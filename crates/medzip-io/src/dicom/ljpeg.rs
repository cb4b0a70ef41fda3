//! JPEG Lossless (ITU-T T.81 process 14: Huffman coding of the differences
//! to one of seven predictors; DICOM transfer syntaxes
//! 1.2.840.10008.1.2.4.57 and .70), taken apart into its samples and put
//! back together byte for byte.
//!
//! A stream is `header | entropy-coded segment | trailer`: the header (SOI,
//! tables, SOF3, SOS) and the trailer (EOI and whatever follows it) are
//! kept as they are; the entropy-coded segment is the one part an encoder
//! could write only one way once its tables, predictor and restart interval
//! (all in the header) and the padding of its last byte are fixed. So
//! [`decode`] gives the samples, [`encode`] writes the segment from them,
//! and the caller keeps the file only where the rewrite equals the
//! original (an encoder with other habits — a non-standard difference, a
//! mixed padding — is found out there, never guessed).
//!
//! Supported: one scan holding every component of the frame, interleaved,
//! each sampled 1×1; precision 2–16 bits; any point transform; restart
//! intervals of whole rows. Anything else is refused (the file is then
//! kept whole by the caller).

/// A refusal: why this stream is not taken apart.
pub type Why = String;

/// One Huffman table: the canonical codes of T.81 Annex C.
#[derive(Clone)]
struct Table {
    /// `(code, length)` of each symbol 0..=16 (length 0: absent).
    enc: [(u16, u8); 17],
    /// Decoding: for each length, the largest code (−1: none) and the
    /// index in `symbols` of its first code minus that code.
    maxcode: [i32; 18],
    valptr: [i32; 17],
    symbols: Vec<u8>,
}

impl Table {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Table, Why> {
        let mut enc = [(0u16, 0u8); 17];
        let mut maxcode = [-1i32; 18];
        let mut valptr = [0i32; 17];
        let mut code = 0u32;
        let mut k = 0usize;
        for len in 1..=16usize {
            let n = counts[len - 1] as usize;
            valptr[len] = k as i32 - code as i32;
            for _ in 0..n {
                let s = symbols[k];
                if s > 16 {
                    return Err(format!("Huffman symbol {s} (a lossless table has 0–16)"));
                }
                if code >= 1 << len {
                    return Err("Huffman table overfull".into());
                }
                if enc[s as usize].1 != 0 {
                    return Err(format!("Huffman symbol {s} twice"));
                }
                enc[s as usize] = (code as u16, len as u8);
                code += 1;
                k += 1;
            }
            if n > 0 {
                maxcode[len] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(Table {
            enc,
            maxcode,
            valptr,
            symbols: symbols.to_vec(),
        })
    }
}

/// What the header says about the scan.
struct Params {
    precision: u8,
    width: usize,
    height: usize,
    /// Each component's table, in scan order (= frame order).
    tables: Vec<Table>,
    predictor: u8,
    point_transform: u8,
    restart: usize,
    /// Length of the header (through the SOS segment).
    header_len: usize,
}

impl Params {
    /// Bits of a coded sample.
    fn bits(&self) -> u8 {
        self.precision - self.point_transform
    }
}

/// What SOF3 says: precision, width, height, and per component its id and
/// (filled in by SOS) its Huffman table.
struct Frame {
    precision: u8,
    width: usize,
    height: usize,
    comps: Vec<(u8, u8)>,
}

fn be16(b: &[u8], at: usize) -> Result<usize, Why> {
    b.get(at..at + 2)
        .map(|v| u16::from_be_bytes([v[0], v[1]]) as usize)
        .ok_or_else(|| "truncated JPEG header".into())
}

/// Reads the markers from SOI through SOS.
fn header(s: &[u8]) -> Result<Params, Why> {
    if !s.starts_with(&[0xFF, 0xD8]) {
        return Err("no JPEG SOI marker".into());
    }
    let mut at = 2;
    let mut tables: [Option<Table>; 4] = [None, None, None, None];
    let mut restart = 0;
    let mut frame: Option<Frame> = None;
    loop {
        if s.get(at) != Some(&0xFF) {
            return Err(format!("no JPEG marker at byte {at}"));
        }
        let m = *s.get(at + 1).ok_or("truncated JPEG header")?;
        if m == 0xFF {
            // Fill byte before a marker.
            at += 1;
            continue;
        }
        let len = be16(s, at + 2)?;
        let seg = s
            .get(at + 4..at + 2 + len)
            .filter(|_| len >= 2)
            .ok_or("truncated JPEG segment")?;
        match m {
            0xC3 => {
                if seg.len() < 6 {
                    return Err("short SOF3".into());
                }
                let p = seg[0];
                let (h, w) = (be16(seg, 1)?, be16(seg, 3)?);
                let nf = seg[5] as usize;
                if seg.len() != 6 + 3 * nf || nf == 0 {
                    return Err("bad SOF3 length".into());
                }
                let mut comps = Vec::new();
                for c in seg[6..].chunks_exact(3) {
                    if c[1] != 0x11 {
                        return Err(format!("component sampling {:#04x} (only 1×1)", c[1]));
                    }
                    comps.push((c[0], 0));
                }
                if !(2..=16).contains(&p) || h == 0 || w == 0 {
                    return Err(format!("SOF3 precision {p}, {w}×{h}"));
                }
                frame = Some(Frame {
                    precision: p,
                    width: w,
                    height: h,
                    comps,
                });
            }
            0xC0..=0xCF if m != 0xC4 && m != 0xC8 && m != 0xCC => {
                return Err(format!("JPEG process SOF{} (only lossless SOF3)", m - 0xC0));
            }
            0xC4 => {
                let mut t = seg;
                while !t.is_empty() {
                    let (tc, th) = (t[0] >> 4, t[0] & 15);
                    let counts: [u8; 16] = t
                        .get(1..17)
                        .ok_or("short DHT")?
                        .try_into()
                        .expect("16 bytes");
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let symbols = t.get(17..17 + n).ok_or("short DHT")?;
                    if tc != 0 || th > 3 {
                        return Err(format!("Huffman table class {tc}, id {th}"));
                    }
                    tables[th as usize] = Some(Table::new(&counts, symbols)?);
                    t = &t[17 + n..];
                }
            }
            0xDD => restart = be16(seg, 0)?,
            0xDA => {
                let Frame {
                    precision: p,
                    width: w,
                    height: h,
                    comps,
                } = frame.take().ok_or("SOS before SOF3")?;
                let ns = *seg.first().ok_or("short SOS")? as usize;
                if seg.len() != 4 + 2 * ns {
                    return Err("bad SOS length".into());
                }
                if ns != comps.len() {
                    return Err(format!("{ns} of {} components in the scan", comps.len()));
                }
                let mut ts = Vec::new();
                for (j, c) in seg[1..1 + 2 * ns].chunks_exact(2).enumerate() {
                    if c[0] != comps[j].0 {
                        return Err("scan components in another order than the frame's".into());
                    }
                    let id = (c[1] >> 4) as usize;
                    ts.push(
                        tables
                            .get(id)
                            .and_then(|t| t.clone())
                            .ok_or(format!("Huffman table {id} undefined"))?,
                    );
                }
                let (ss, se, a) = (seg[1 + 2 * ns], seg[2 + 2 * ns], seg[3 + 2 * ns]);
                let pt = a & 15;
                if !(1..=7).contains(&ss) || se != 0 || a >> 4 != 0 || pt >= p {
                    return Err(format!("SOS predictor {ss}, Se {se}, Ah/Al {a:#04x}"));
                }
                if restart != 0 && restart % w != 0 {
                    return Err(format!(
                        "restart interval {restart} is not whole rows of {w}"
                    ));
                }
                return Ok(Params {
                    precision: p,
                    width: w,
                    height: h,
                    tables: ts,
                    predictor: ss,
                    point_transform: pt,
                    restart,
                    header_len: at + 2 + len,
                });
            }
            0xD9 => return Err("EOI before SOS".into()),
            0xDC => return Err("DNL".into()),
            _ => {}
        }
        at += 2 + len;
    }
}

/// The prediction of T.81 H.1.2.1 at `(x, y)` of a plane of width `w`
/// (`y0`: the first row of the current restart interval).
#[inline(always)]
fn predict(plane: &[u16], w: usize, x: usize, y: usize, y0: usize, sel: u8, init: i32) -> i32 {
    let at = |x: usize, y: usize| plane[y * w + x] as i32;
    if y == y0 {
        return if x == 0 { init } else { at(x - 1, y) };
    }
    if x == 0 {
        return at(0, y - 1);
    }
    let (a, b, c) = (at(x - 1, y), at(x, y - 1), at(x - 1, y - 1));
    match sel {
        1 => a,
        2 => b,
        3 => c,
        4 => a + b - c,
        5 => a + ((b - c) >> 1),
        6 => b + ((a - c) >> 1),
        _ => (a + b) >> 1,
    }
}

/// A decoded frame: the coded samples (point transform not undone),
/// component after component.
#[derive(Debug)]
pub struct Decoded {
    /// Bits of a coded sample (precision minus point transform).
    pub bits: u8,
    pub samples: Vec<u16>,
    /// Where the entropy-coded segment begins and ends in the stream.
    pub ecs: std::ops::Range<usize>,
    /// The value of the padding bits of the segment's last byte (and of
    /// each restart interval's), as far as they tell.
    pub pad_ones: bool,
}

struct Bits<'a> {
    s: &'a [u8],
    at: usize,
    acc: u32,
    n: u32,
    /// The bits past the last code of the current byte, when aligned.
    pad: Option<bool>,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, Why> {
        if self.n == 0 {
            let b = *self.s.get(self.at).ok_or("entropy-coded data truncated")?;
            if b == 0xFF {
                match self.s.get(self.at + 1) {
                    Some(0) => self.at += 1,
                    _ => return Err("a marker inside the entropy-coded data".into()),
                }
            }
            self.at += 1;
            self.acc = b as u32;
            self.n = 8;
        }
        self.n -= 1;
        Ok(self.acc >> self.n & 1)
    }

    fn bits(&mut self, k: u32) -> Result<u32, Why> {
        let mut v = 0;
        for _ in 0..k {
            v = v << 1 | self.bit()?;
        }
        Ok(v)
    }

    /// Drops the rest of the current byte, noting its padding.
    fn align(&mut self) -> Result<(), Why> {
        if self.n > 0 {
            let rest = self.acc & ((1 << self.n) - 1);
            let ones = rest == (1 << self.n) - 1;
            if rest != 0 && !ones {
                return Err("mixed padding bits".into());
            }
            if self.pad.is_some_and(|p| p != ones) {
                return Err("padding bits of both values".into());
            }
            self.pad = Some(ones);
            self.n = 0;
        }
        Ok(())
    }
}

fn decode_diff(b: &mut Bits, t: &Table) -> Result<i32, Why> {
    let mut code = 0i32;
    for len in 1..=16 {
        code = code << 1 | b.bit()? as i32;
        if code <= t.maxcode[len] {
            let ssss = t.symbols[(t.valptr[len] + code) as usize] as u32;
            return Ok(match ssss {
                0 => 0,
                16 => 32768,
                _ => {
                    let v = b.bits(ssss)? as i32;
                    if v < 1 << (ssss - 1) {
                        v - (1 << ssss) + 1
                    } else {
                        v
                    }
                }
            });
        }
    }
    Err("invalid Huffman code".into())
}

/// Width, height and components of the frame of `stream`, from its header
/// alone.
pub fn dimensions(stream: &[u8]) -> Result<(usize, usize, usize), Why> {
    let p = header(stream)?;
    Ok((p.width, p.height, p.tables.len()))
}

/// Decodes the frame of `stream` (SOI through the entropy-coded segment).
pub fn decode(stream: &[u8]) -> Result<Decoded, Why> {
    let p = header(stream)?;
    let (w, h, nc) = (p.width, p.height, p.tables.len());
    let bits = p.bits();
    let init = 1i32 << (bits - 1);
    let max = (1u32 << bits) - 1;
    let mut planes = vec![vec![0u16; w * h]; nc];
    let mut b = Bits {
        s: stream,
        at: p.header_len,
        acc: 0,
        n: 0,
        pad: None,
    };
    let rows_per_interval = if p.restart == 0 { h } else { p.restart / w };
    let mut y0 = 0;
    for y in 0..h {
        if y > y0 && y - y0 == rows_per_interval {
            // A restart marker: RSTn with n counting intervals mod 8.
            b.align()?;
            let k = (y / rows_per_interval - 1) % 8;
            if stream.get(b.at..b.at + 2) != Some(&[0xFF, 0xD0 + k as u8]) {
                return Err(format!("restart marker {k} missing"));
            }
            b.at += 2;
            y0 = y;
        }
        for x in 0..w {
            for (c, plane) in planes.iter_mut().enumerate() {
                let pred = predict(plane, w, x, y, y0, p.predictor, init);
                let d = decode_diff(&mut b, &p.tables[c])?;
                let v = (pred + d) as u32 & 0xFFFF;
                if v > max {
                    return Err(format!("a sample of {v} beyond {bits} bits"));
                }
                plane[y * w + x] = v as u16;
            }
        }
    }
    b.align()?;
    let end = b.at;
    // The segment ends at a marker.
    if stream.get(end) != Some(&0xFF) {
        return Err("bytes after the last code before the next marker".into());
    }
    Ok(Decoded {
        bits,
        samples: planes.concat(),
        ecs: p.header_len..end,
        pad_ones: b.pad.unwrap_or(true),
    })
}

struct Writer {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Writer {
    #[inline(always)]
    fn put(&mut self, v: u32, k: u32) {
        if k == 0 {
            return;
        }
        self.acc = self.acc << k | (v as u64 & ((1 << k) - 1));
        self.n += k;
        while self.n >= 8 {
            self.n -= 8;
            let byte = (self.acc >> self.n) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0);
            }
        }
    }

    fn flush(&mut self, ones: bool) {
        if self.n > 0 {
            let k = 8 - self.n;
            self.put(if ones { (1 << k) - 1 } else { 0 }, k);
        }
    }
}

/// Writes the entropy-coded segment of `samples` (as [`decode`] gives
/// them) under `header` (SOI through SOS), padding with ones or zeros.
pub fn encode(header_bytes: &[u8], samples: &[u16], pad_ones: bool) -> Result<Vec<u8>, Why> {
    let p = header(header_bytes)?;
    if p.header_len != header_bytes.len() {
        return Err("bytes after the SOS segment in the header".into());
    }
    let (w, h, nc) = (p.width, p.height, p.tables.len());
    if samples.len() != w * h * nc {
        return Err("sample count differs from the header's".into());
    }
    let init = 1i32 << (p.bits() - 1);
    let planes: Vec<&[u16]> = samples.chunks_exact(w * h).collect();
    let mut wr = Writer {
        out: Vec::with_capacity(samples.len()),
        acc: 0,
        n: 0,
    };
    let rows_per_interval = if p.restart == 0 { h } else { p.restart / w };
    let mut y0 = 0;
    for y in 0..h {
        if y > y0 && y - y0 == rows_per_interval {
            wr.flush(pad_ones);
            let k = (y / rows_per_interval - 1) % 8;
            wr.out.extend_from_slice(&[0xFF, 0xD0 + k as u8]);
            y0 = y;
        }
        for x in 0..w {
            for (c, plane) in planes.iter().enumerate() {
                let pred = predict(plane, w, x, y, y0, p.predictor, init);
                let mut d = (plane[y * w + x] as i32 - pred).rem_euclid(65536);
                if d > 32768 {
                    d -= 65536;
                }
                let ssss = 32 - d.unsigned_abs().leading_zeros();
                let (code, len) = p.tables[c].enc[ssss as usize];
                if len == 0 {
                    return Err(format!("no Huffman code for category {ssss}"));
                }
                wr.put(code as u32, len as u32);
                if ssss < 16 {
                    let v = if d > 0 { d } else { d + (1 << ssss) - 1 };
                    wr.put(v as u32, ssss);
                }
            }
        }
    }
    wr.flush(pad_ones);
    Ok(wr.out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stream header: SOI, DHT (one table of every category, lengths 5),
    /// optional DRI, SOF3, SOS.
    pub(crate) fn header_for(w: u16, h: u16, p: u8, nc: u8, sel: u8, pt: u8, ri: u16) -> Vec<u8> {
        let mut s = vec![0xFF, 0xD8];
        // 17 symbols: 2 of length 4, 15 of length 5 (a complete-enough code).
        let mut counts = [0u8; 16];
        counts[3] = 2;
        counts[4] = 15;
        s.extend_from_slice(&[0xFF, 0xC4, 0, (2 + 17 + 17) as u8, 0x00]);
        s.extend_from_slice(&counts);
        s.extend((0..17u8).map(|v| (v + 3) % 17));
        if ri > 0 {
            s.extend_from_slice(&[0xFF, 0xDD, 0, 4]);
            s.extend_from_slice(&ri.to_be_bytes());
        }
        s.extend_from_slice(&[0xFF, 0xC3, 0, 8 + 3 * nc, p]);
        s.extend_from_slice(&h.to_be_bytes());
        s.extend_from_slice(&w.to_be_bytes());
        s.push(nc);
        for c in 0..nc {
            s.extend_from_slice(&[c + 1, 0x11, 0]);
        }
        s.extend_from_slice(&[0xFF, 0xDA, 0, 6 + 2 * nc, nc]);
        for c in 0..nc {
            s.extend_from_slice(&[c + 1, 0]);
        }
        s.extend_from_slice(&[sel, 0, pt]);
        s
    }

    #[test]
    fn every_predictor_round_trips_with_restarts_and_components() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for (w, h, p, nc, sel, pt, ri) in [
            (13u16, 7u16, 8u8, 1u8, 1u8, 0u8, 0u16),
            (5, 9, 16, 1, 7, 0, 5),
            (17, 3, 12, 3, 4, 0, 34),
            (8, 8, 16, 3, 6, 2, 0),
            (1, 1, 2, 1, 5, 0, 0),
            (9, 11, 10, 1, 2, 1, 9),
            (6, 4, 16, 1, 3, 0, 0),
        ] {
            let bits = p - pt;
            let n = w as usize * h as usize * nc as usize;
            // Smooth with jumps, extremes included.
            let mut samples: Vec<u16> = (0..n)
                .map(|i| ((i as u32 * 37 + next() % 5) % (1 << bits)) as u16)
                .collect();
            samples[0] = ((1u32 << bits) - 1) as u16;
            if n > 2 {
                samples[n / 2] = 0;
            }
            for pad in [true, false] {
                let hd = header_for(w, h, p, nc, sel, pt, ri);
                let ecs = encode(&hd, &samples, pad).unwrap();
                let stream = [&hd[..], &ecs, &[0xFF, 0xD9]].concat();
                let d = decode(&stream).unwrap();
                assert_eq!(d.samples, samples, "{w}×{h} P{p} sel {sel}");
                assert_eq!(d.ecs, hd.len()..hd.len() + ecs.len());
                assert_eq!(
                    dimensions(&stream).unwrap(),
                    (w as usize, h as usize, nc as usize)
                );
                assert_eq!(d.bits, bits);
            }
        }
    }

    #[test]
    fn a_difference_of_32768_has_no_extra_bits() {
        let hd = header_for(2, 1, 16, 1, 1, 0, 0);
        // First sample predicted 32768: 0 differs by −32768 ≡ 32768.
        let samples = [0u16, 65535];
        let ecs = encode(&hd, &samples, true).unwrap();
        let stream = [&hd[..], &ecs, &[0xFF, 0xD9]].concat();
        assert_eq!(decode(&stream).unwrap().samples, samples);
    }

    #[test]
    fn refuses_what_it_does_not_take_apart() {
        let mut hd = header_for(4, 4, 8, 1, 1, 0, 0);
        let sof = hd.windows(2).position(|m| m == [0xFF, 0xC3]).unwrap();
        hd[sof + 1] = 0xC1;
        assert!(decode(&hd).unwrap_err().contains("SOF1"));
        assert!(decode(b"not a jpeg").is_err());
        let hd = header_for(4, 4, 8, 1, 1, 0, 3);
        assert!(decode(&hd).unwrap_err().contains("restart interval"));
        // Truncated data.
        let hd = header_for(4, 4, 8, 1, 1, 0, 0);
        let ecs = encode(&hd, &[9; 16], true).unwrap();
        let stream = [&hd[..], &ecs[..ecs.len() - 1], &[0xFF, 0xD9]].concat();
        assert!(decode(&stream).is_err());
    }
}
