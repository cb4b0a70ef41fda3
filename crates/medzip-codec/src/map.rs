//! Value mapping before modelling: the pixel values actually used are mapped
//! to a dense range `0..levels`.
//!
//! * **Offset**: `v − min` (the common case: a CT that uses −1024…3071 of a
//!   16-bit range becomes 0…4095).
//! * **Palette**: when at most half of the values in `min..=max` occur (a
//!   rescaled mammogram that uses 2,502 of 65,536 values; bit-shifted data),
//!   each value becomes its rank among the used values, and the sorted list
//!   of used values is stored (gaps coded with an adaptive Exp-Golomb code).
//!   The mapping is monotone, so prediction still works on ranks.

use crate::{Error, Result};
use medzip_entropy::{BinDecoder, BinEncoder, UintCoder};
use medzip_format::put_int;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueMap {
    Offset { min: i32, levels: u32 },
    Palette { values: Vec<i32> },
}

impl ValueMap {
    /// Chooses the mapping for `data`.
    pub fn analyse(data: &[i32]) -> ValueMap {
        let (mut min, mut max) = (i32::MAX, i32::MIN);
        for &v in data {
            min = min.min(v);
            max = max.max(v);
        }
        if data.is_empty() {
            return ValueMap::Offset { min: 0, levels: 1 };
        }
        let span = (max as i64 - min as i64 + 1) as usize;
        let mut used = vec![false; span];
        for &v in data {
            used[(v - min) as usize] = true;
        }
        let count = used.iter().filter(|&&u| u).count();
        if count * 2 <= span && span > 2 {
            let values = used
                .iter()
                .enumerate()
                .filter(|(_, &u)| u)
                .map(|(i, _)| min + i as i32)
                .collect();
            ValueMap::Palette { values }
        } else {
            ValueMap::Offset {
                min,
                levels: span as u32,
            }
        }
    }

    /// Number of distinct mapped values.
    pub fn levels(&self) -> u32 {
        match self {
            ValueMap::Offset { levels, .. } => *levels,
            ValueMap::Palette { values } => values.len() as u32,
        }
    }

    /// Maps every sample (all must be covered by the map).
    pub fn forward(&self, data: &[i32]) -> Vec<i32> {
        match self {
            ValueMap::Offset { min, .. } => data.iter().map(|&v| v - min).collect(),
            ValueMap::Palette { values } => {
                let min = values[0];
                let span = (values[values.len() - 1] - min + 1) as usize;
                let mut rank = vec![0i32; span];
                for (i, &v) in values.iter().enumerate() {
                    rank[(v - min) as usize] = i as i32;
                }
                data.iter().map(|&v| rank[(v - min) as usize]).collect()
            }
        }
    }

    /// Maps an arbitrary value (a prior) to the nearest mapped value.
    pub fn forward_nearest(&self, v: i32) -> i32 {
        match self {
            ValueMap::Offset { min, levels } => (v - min).clamp(0, *levels as i32 - 1),
            ValueMap::Palette { values } => match values.binary_search(&v) {
                Ok(i) => i as i32,
                Err(i) => (i as i32).min(values.len() as i32 - 1),
            },
        }
    }

    /// Inverse mapping, in place.
    pub fn inverse(&self, data: &mut [i32]) {
        match self {
            ValueMap::Offset { min, .. } => data.iter_mut().for_each(|v| *v += min),
            ValueMap::Palette { values } => data.iter_mut().for_each(|v| *v = values[*v as usize]),
        }
    }

    pub fn write(&self, out: &mut Vec<u8>, compact: bool) {
        match self {
            ValueMap::Offset { min, levels } => {
                out.push(0);
                put_int(out, *min as u32, compact);
                put_int(out, *levels, compact);
            }
            ValueMap::Palette { values } => {
                out.push(1);
                put_int(out, values[0] as u32, compact);
                put_int(out, values.len() as u32, compact);
                let mut enc = BinEncoder::new();
                let mut uc = UintCoder::default();
                for pair in values.windows(2) {
                    uc.encode(&mut enc, (pair[1] - pair[0] - 1) as u32);
                }
                let b = enc.finish();
                put_int(out, b.len() as u32, compact);
                out.extend_from_slice(&b);
            }
        }
    }

    /// Reads a map; `lo..=hi` is the sample range the image description allows.
    pub fn read(r: &mut medzip_format::Reader, lo: i32, hi: i32) -> Result<ValueMap> {
        let kind = r.u8()?;
        let min = r.int()? as i32;
        let n = r.int()?;
        let span = hi as i64 - lo as i64 + 1;
        if min < lo || n == 0 || min as i64 + n as i64 - 1 > hi as i64 || n as i64 > span {
            return Err(Error::Corrupt(format!(
                "value map: {n} levels from {min} do not fit the sample range {lo}..={hi}"
            )));
        }
        match kind {
            0 => Ok(ValueMap::Offset { min, levels: n }),
            1 => {
                let len = r.int()? as usize;
                let bytes = r.bytes(len)?;
                let mut dec = BinDecoder::new(bytes)?;
                let mut uc = UintCoder::default();
                let mut values = Vec::with_capacity(n as usize);
                values.push(min);
                let mut last = min as i64;
                for _ in 1..n {
                    last += uc.decode(&mut dec) as i64 + 1;
                    if last > hi as i64 {
                        return Err(Error::Corrupt("palette runs past the sample range".into()));
                    }
                    values.push(last as i32);
                }
                if dec.failed() {
                    return Err(Error::Corrupt("palette stream is truncated".into()));
                }
                Ok(ValueMap::Palette { values })
            }
            k => Err(Error::Corrupt(format!(
                "value map kind {k} (expected 0 or 1)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_for_sparse_offset_for_dense() {
        let sparse: Vec<i32> = (0..1000).map(|i| (i % 50) * 64 - 1000).collect();
        let m = ValueMap::analyse(&sparse);
        assert!(matches!(m, ValueMap::Palette { .. }));
        assert_eq!(m.levels(), 50);
        let dense: Vec<i32> = (0..1000).map(|i| i % 300 - 5).collect();
        let m2 = ValueMap::analyse(&dense);
        assert_eq!(
            m2,
            ValueMap::Offset {
                min: -5,
                levels: 300
            }
        );
        for (m, d) in [(m, sparse), (m2, dense)] {
            let mut f = m.forward(&d);
            assert!(f.iter().all(|&v| v >= 0 && (v as u32) < m.levels()));
            m.inverse(&mut f);
            assert_eq!(f, d);
            for compact in [false, true] {
                let mut b = Vec::new();
                m.write(&mut b, compact);
                let mut r = medzip_format::Reader::new(&b, "map").compact(compact);
                assert_eq!(ValueMap::read(&mut r, -32768, 32767).unwrap(), m);
                r.finish().unwrap();
            }
        }
    }
}
