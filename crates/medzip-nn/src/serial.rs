//! The network file format (little endian, magic `MZNN`): [`Net::to_bytes`]
//! and [`Net::from_bytes`], and the byte writer and reader the autoencoder
//! file ([`crate::ae`]) shares.

use crate::{Error, Layer, Net, Result, Shape, Weighted, MAX_ACTIVATIONS};

const NET_MAGIC: &[u8; 4] = b"MZNN";

/// Writer helpers shared with [`ae`].
pub(crate) struct W(pub Vec<u8>);

impl W {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i16s(&mut self, v: &[i16]) {
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    pub fn shape(&mut self, s: Shape) {
        self.u32(s.c as u32);
        self.u32(s.h as u32);
        self.u32(s.w as u32);
    }
}

/// Reader helpers shared with [`ae`]: every read is bounds-checked.
pub(crate) struct R<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

impl<'a> R<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() - self.pos < n {
            return Err(Error::BadModel(format!("truncated at byte {}", self.pos)));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    /// A count that must fit in the remaining bytes at `unit` bytes each.
    pub fn count(&mut self, unit: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(unit) > self.b.len() - self.pos {
            return Err(Error::BadModel(format!("count {n} exceeds the file")));
        }
        Ok(n)
    }
    pub fn i16s(&mut self, n: usize) -> Result<Vec<i16>> {
        Ok(self
            .take(
                n.checked_mul(2)
                    .ok_or_else(|| Error::BadModel("size overflow".into()))?,
            )?
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect())
    }
    pub fn shape(&mut self) -> Result<Shape> {
        let (c, h, w) = (
            self.u32()? as usize,
            self.u32()? as usize,
            self.u32()? as usize,
        );
        if c == 0
            || h == 0
            || w == 0
            || c.checked_mul(h)
                .and_then(|v| v.checked_mul(w))
                .is_none_or(|n| n > MAX_ACTIVATIONS)
        {
            return Err(Error::BadModel(format!(
                "shape {c}×{h}×{w} empty or too large"
            )));
        }
        Ok(Shape { c, h, w })
    }
}

impl Net {
    pub(crate) fn write(&self, w: &mut W) {
        w.0.extend_from_slice(NET_MAGIC);
        w.shape(self.input);
        w.u8(self.f_in);
        w.u32(self.layers.len() as u32);
        for l in &self.layers {
            match l {
                Layer::Conv3(p) | Layer::Dense(p) => {
                    w.u8(if matches!(l, Layer::Conv3(_)) { 1 } else { 2 });
                    w.u32(p.fan_in as u32);
                    w.u32(p.outs as u32);
                    w.u8(p.f_out);
                    w.u8(p.leaky as u8);
                    w.i16s(&[p.bound]);
                    w.0.extend_from_slice(&p.w_frac);
                    for &b in &p.bias {
                        w.i32(b);
                    }
                    w.i16s(&p.w);
                }
                Layer::MaxPool2 => w.u8(3),
                Layer::Upsample2 => w.u8(4),
                Layer::Reshape(s) => {
                    w.u8(5);
                    w.shape(*s);
                }
            }
        }
    }

    pub(crate) fn read(r: &mut R) -> Result<Net> {
        if r.take(4)? != NET_MAGIC {
            return Err(Error::BadModel("not a medzip network (magic)".into()));
        }
        let input = r.shape()?;
        let f_in = r.u8()?;
        let n = r.count(1)?;
        let mut layers = Vec::with_capacity(n);
        for _ in 0..n {
            let kind = r.u8()?;
            layers.push(match kind {
                1 | 2 => {
                    let fan_in = r.u32()? as usize;
                    let outs = r.u32()? as usize;
                    let f_out = r.u8()?;
                    let leaky = r.u8()? != 0;
                    let bound = r.i16s(1)?[0];
                    let w_frac = r.take(outs)?.to_vec();
                    let bias = (0..outs).map(|_| r.i32()).collect::<Result<Vec<_>>>()?;
                    let len = fan_in
                        .checked_mul(outs)
                        .ok_or_else(|| Error::BadModel("size overflow".into()))?;
                    let w = r.i16s(len)?;
                    let p = Weighted {
                        fan_in,
                        outs,
                        f_out,
                        leaky,
                        bound,
                        w_frac,
                        bias,
                        w,
                    };
                    if kind == 1 {
                        Layer::Conv3(p)
                    } else {
                        Layer::Dense(p)
                    }
                }
                3 => Layer::MaxPool2,
                4 => Layer::Upsample2,
                5 => Layer::Reshape(r.shape()?),
                k => return Err(Error::BadModel(format!("unknown layer kind {k}"))),
            });
        }
        let net = Net {
            input,
            f_in,
            layers,
        };
        net.check()?;
        Ok(net)
    }

    /// Serialized form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = W(Vec::new());
        self.write(&mut w);
        w.0
    }

    /// Parses and checks a serialized network.
    pub fn from_bytes(b: &[u8]) -> Result<Net> {
        let mut r = R { b, pos: 0 };
        let n = Net::read(&mut r)?;
        if r.pos != b.len() {
            return Err(Error::BadModel("trailing bytes".into()));
        }
        Ok(n)
    }
}
