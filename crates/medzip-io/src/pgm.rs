//! PGM (Netpbm gray), P5 binary and P2 ASCII, maxval 1–65535.
//!
//! Source data kept for the rebuild: the kind (`2` or `5`) and the maxval,
//! so a file comes back as the same kind with the same maxval (comments and
//! whitespace layout are not kept).

use crate::{malformed, meta, Error, Loaded, Result};
use medzip_format::{Image, Metadata, Photometric, SourceKind};

const KIND: &str = "PGM";

struct Tokens<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Tokens<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.b.len() {
            match self.b[self.pos] {
                b'#' => {
                    while self.pos < self.b.len() && self.b[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                c if c.is_ascii_whitespace() => self.pos += 1,
                _ => break,
            }
        }
    }
    fn number(&mut self, what: &str) -> Result<u64> {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.b.len() && self.b[self.pos].is_ascii_digit() && self.pos - start < 12
        {
            self.pos += 1;
        }
        if start == self.pos {
            return malformed(
                KIND,
                format!("expected a number for {what} at byte {start}"),
            );
        }
        Ok(std::str::from_utf8(&self.b[start..self.pos])
            .expect("digits")
            .parse()
            .expect("≤12 digits"))
    }
}

pub(crate) fn read(bytes: &[u8]) -> Result<Loaded> {
    let ascii = bytes[1] == b'2';
    let mut t = Tokens { b: bytes, pos: 2 };
    let w = t.number("width")?;
    let h = t.number("height")?;
    let maxval = t.number("maxval")?;
    if !(1..=65535).contains(&maxval) {
        return malformed(KIND, format!("maxval {maxval} (expected 1 to 65535)"));
    }
    if w == 0 || h == 0 || w > u32::MAX as u64 || h > u32::MAX as u64 {
        return malformed(KIND, format!("size {w}×{h}"));
    }
    crate::check_size(w as u32, h as u32)?;
    let n = w * h;
    let bits = (64 - maxval.leading_zeros()) as u8;
    let mut data = Vec::new();
    if ascii {
        for _ in 0..n {
            let v = t.number("a sample")?;
            if v > maxval {
                return malformed(KIND, format!("sample {v} above maxval {maxval}"));
            }
            data.push(v as i32);
        }
    } else {
        // Exactly one whitespace byte separates the header from the raster.
        let start = t.pos + 1;
        let bps = if maxval < 256 { 1 } else { 2 };
        let need = n
            .checked_mul(bps)
            .ok_or_else(|| Error::Unsupported("PGM too large".into()))?;
        if (bytes.len() as u64) < start as u64 + need {
            return malformed(
                KIND,
                format!(
                    "raster needs {need} bytes, file has {}",
                    bytes.len().saturating_sub(start)
                ),
            );
        }
        let raster = &bytes[start..start + need as usize];
        data = if bps == 1 {
            raster.iter().map(|&b| b as i32).collect()
        } else {
            raster
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]) as i32)
                .collect()
        };
        if let Some(v) = data.iter().find(|&&v| v as u64 > maxval) {
            return malformed(KIND, format!("sample {v} above maxval {maxval}"));
        }
    }
    let image = Image::new(w as u32, h as u32, bits, false, data)?;
    let mut src = vec![if ascii { 2u8 } else { 5 }];
    src.extend_from_slice(&(maxval as u16).to_le_bytes());
    Ok(Loaded {
        image,
        meta: meta(
            SourceKind::Pgm,
            if maxval < 256 { 8 } else { 16 },
            Photometric::Monochrome2,
            src,
        ),
    })
}

/// `P5` or `P2`.
pub(crate) fn has_magic(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] == b'P' && (b[1] == b'5' || b[1] == b'2')
}

pub(crate) fn write(img: &Image, m: &Metadata) -> Result<Vec<u8>> {
    let (ascii, maxval) = match m.source_data.as_slice() {
        [k, a, b] => (*k == 2, u16::from_le_bytes([*a, *b]) as u32),
        _ => (false, (1u32 << img.bits) - 1),
    };
    if img.signed || img.data.iter().any(|&v| v < 0 || v as u32 > maxval) {
        return Err(Error::Unsupported(
            "samples do not fit the PGM maxval".into(),
        ));
    }
    let mut out = format!(
        "P{}\n{} {}\n{}\n",
        if ascii { 2 } else { 5 },
        img.width,
        img.height,
        maxval
    )
    .into_bytes();
    if ascii {
        for row in img.data.chunks(img.width as usize) {
            let line: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            out.extend_from_slice(line.join(" ").as_bytes());
            out.push(b'\n');
        }
    } else if maxval < 256 {
        out.extend(img.data.iter().map(|&v| v as u8));
    } else {
        for &v in &img.data {
            out.extend_from_slice(&(v as u16).to_be_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p5_p2_roundtrip() {
        for (kind, maxval) in [
            (5u8, 255u32),
            (5, 4095),
            (2, 1023),
            (2, 255),
            (5, 65535),
            (5, 1),
        ] {
            let data: Vec<i32> = (0..35)
                .map(|i: i32| (i * 977) % (maxval as i32 + 1))
                .collect();
            let bits = (32 - maxval.leading_zeros()) as u8;
            let img = Image::new(7, 5, bits, false, data).unwrap();
            let mut src = vec![kind];
            src.extend_from_slice(&(maxval as u16).to_le_bytes());
            let m = meta(SourceKind::Pgm, 16, Photometric::Monochrome2, src);
            let b = write(&img, &m).unwrap();
            let l = read(&b).unwrap();
            assert_eq!(l.image, img);
            assert_eq!(write(&l.image, &l.meta).unwrap(), b);
        }
    }

    #[test]
    fn truncated_raster_is_an_error() {
        assert!(read(b"P5 4 4 255\n\x01\x02").is_err());
        assert!(read(b"P5 4 4 70000\n").is_err());
        assert!(read(b"P2 2 1 255\n1").is_err());
    }
}
