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
//! * **Intervals** (since format version 17, 2026-12-03): otherwise, when
//!   runs of at least [`GAP`] unused values lie between used ones (a CT's
//!   padding value outside its field of view, 477 or 2,000 values below
//!   the darkest air), the used
//!   range is cut into the intervals between such runs and the intervals
//!   are laid end to end: `v − start + base`. Within an interval distances
//!   stay as they are (the predictors' arithmetic holds), and the edge of
//!   the field of view costs a step of one level, not of 477 or 2,000: the
//!   CT `693_UNCR` (padding −2000, air from 0) codes 5.6 % smaller, the CT
//!   `03` 2.8 % (docs/RESULTS.md §7).

use crate::{Error, Result};
use medzip_entropy::{BinDecoder, BinEncoder, UintCoder};
use medzip_format::put_int;

/// The shortest run of unused values between used ones that the
/// intervals map removes. (With 32, the sparse bright values of a small
/// MR, runs of 37 to 58, were removed too, and its file was 0.8 % larger.)
pub const GAP: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueMap {
    Offset {
        min: i32,
        levels: u32,
    },
    Palette {
        values: Vec<i32>,
    },
    /// Each interval's first value and length, in increasing order, with
    /// at least one unused value between two intervals: interval `i` maps
    /// to `base_i ..`, `base_i` the lengths before it.
    Intervals {
        intervals: Vec<(i32, u32)>,
    },
}

/// Whether `data` holds at most `n` distinct values (`n` small: the
/// values seen are kept in a list, and the scan stops at the `n + 1`-th).
pub fn few_values(data: &[i32], n: usize) -> bool {
    let mut seen: Vec<i32> = Vec::with_capacity(n + 1);
    for &v in data {
        if seen.last() != Some(&v) && !seen.contains(&v) {
            if seen.len() == n {
                return false;
            }
            seen.push(v);
        }
    }
    true
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
            // Runs of at least GAP unused values (never at the ends: `min`
            // and `max` are used) cut the range into intervals.
            let mut intervals = vec![(min, 0u32)];
            let mut run = 0;
            for (i, &u) in used.iter().enumerate() {
                if !u {
                    run += 1;
                    continue;
                }
                let last = intervals.last_mut().expect("one at least");
                if run >= GAP {
                    intervals.push((min + i as i32, 1));
                } else {
                    last.1 = (min + i as i32 - last.0) as u32 + 1;
                }
                run = 0;
            }
            match intervals.len() {
                1 => ValueMap::Offset {
                    min,
                    levels: span as u32,
                },
                _ => ValueMap::Intervals { intervals },
            }
        }
    }

    /// For [`ValueMap::Intervals`], each interval's first mapped value.
    fn bases(intervals: &[(i32, u32)]) -> Vec<i32> {
        let mut base = 0;
        intervals
            .iter()
            .map(|&(_, len)| {
                base += len as i32;
                base - len as i32
            })
            .collect()
    }

    /// Number of distinct mapped values.
    pub fn levels(&self) -> u32 {
        match self {
            ValueMap::Offset { levels, .. } => *levels,
            ValueMap::Palette { values } => values.len() as u32,
            ValueMap::Intervals { intervals } => intervals.iter().map(|i| i.1).sum(),
        }
    }

    /// Maps every sample (all must be covered by the map).
    pub fn forward(&self, data: &[i32]) -> Vec<i32> {
        match self {
            ValueMap::Offset { min, .. } => data.iter().map(|&v| v - min).collect(),
            ValueMap::Palette { .. } | ValueMap::Intervals { .. } => {
                let values = self.values();
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

    /// The same mapping with intervals given as the palette of their
    /// values (what [`ValueMap::inverse`] reads; never written so).
    pub fn as_palette(self) -> ValueMap {
        match self {
            ValueMap::Intervals { .. } => ValueMap::Palette {
                values: self.values().into_owned(),
            },
            m => m,
        }
    }

    /// The value of each mapped level, in order (a palette's used values,
    /// or the intervals' values end to end); empty for an offset map.
    fn values(&self) -> std::borrow::Cow<'_, [i32]> {
        match self {
            ValueMap::Offset { .. } => std::borrow::Cow::Borrowed(&[]),
            ValueMap::Palette { values } => std::borrow::Cow::Borrowed(values),
            ValueMap::Intervals { intervals } => intervals
                .iter()
                .flat_map(|&(start, len)| start..start + len as i32)
                .collect(),
        }
    }

    /// Maps arbitrary values (a prior's reconstruction) to mapped values:
    /// an offset map clamps to its range; a palette takes the rank of the
    /// value or of the next used value above it (the last beyond the
    /// last); intervals the value's place in the interval it lies in, or
    /// the last value of the interval before it when it lies in a gap (the
    /// first value below the first interval).
    pub fn forward_nearest(&self, data: &[i32]) -> Vec<i32> {
        match self {
            ValueMap::Offset { min, levels } => data
                .iter()
                .map(|&v| (v - min).clamp(0, *levels as i32 - 1))
                .collect(),
            ValueMap::Palette { values } => data
                .iter()
                .map(|v| match values.binary_search(v) {
                    Ok(i) => i as i32,
                    Err(i) => (i as i32).min(values.len() as i32 - 1),
                })
                .collect(),
            ValueMap::Intervals { intervals } => {
                let bases = Self::bases(intervals);
                data.iter()
                    .map(|&v| {
                        // The interval `v` lies in, or the one before it.
                        let i = intervals.partition_point(|&(start, _)| start <= v).max(1) - 1;
                        let (start, len) = intervals[i];
                        bases[i] + (v - start).clamp(0, len as i32 - 1)
                    })
                    .collect()
            }
        }
    }

    /// Inverse mapping, in place.
    pub fn inverse(&self, data: &mut [i32]) {
        match self {
            ValueMap::Offset { min, .. } => data.iter_mut().for_each(|v| *v += min),
            ValueMap::Palette { .. } | ValueMap::Intervals { .. } => {
                let values = self.values();
                data.iter_mut().for_each(|v| *v = values[*v as usize]);
            }
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
            ValueMap::Intervals { intervals } => {
                out.push(2);
                put_int(out, intervals[0].0 as u32, compact);
                put_int(out, self.levels(), compact);
                put_int(out, intervals.len() as u32, compact);
                let mut end = intervals[0].0;
                for (i, &(start, len)) in intervals.iter().enumerate() {
                    if i > 0 {
                        // The unused values before the interval (≥ 1).
                        put_int(out, (start - end) as u32, compact);
                    }
                    put_int(out, len, compact);
                    end = start + len as i32;
                }
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
            2 => {
                let count = r.int()? as u64;
                if count < 2 || count > n as u64 {
                    return Err(Error::Corrupt(format!(
                        "value map: {count} intervals for {n} levels"
                    )));
                }
                let mut intervals = Vec::with_capacity(count as usize);
                let (mut end, mut total) = (min as i64, 0u64);
                for i in 0..count {
                    let start = match i {
                        0 => end,
                        _ => end + r.int()? as i64,
                    };
                    let len = r.int()?;
                    let gap_ok = i == 0 || start > end;
                    end = start + len as i64;
                    total += len as u64;
                    if !gap_ok || len == 0 || end - 1 > hi as i64 || total > n as u64 {
                        return Err(Error::Corrupt(
                            "value map: intervals overlap or run past the sample range".into(),
                        ));
                    }
                    intervals.push((start as i32, len));
                }
                if total != n as u64 {
                    return Err(Error::Corrupt(format!(
                        "value map: intervals of {total} levels, {n} declared"
                    )));
                }
                Ok(ValueMap::Intervals { intervals })
            }
            k => Err(Error::Corrupt(format!(
                "value map kind {k} (expected 0, 1 or 2)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_counts_up_to_n() {
        let thirteen: Vec<i32> = (0..5000).map(|i| (i * 7 % 13) * 17).collect();
        assert!(few_values(&thirteen, 13));
        assert!(few_values(&thirteen, 32));
        assert!(!few_values(&thirteen, 12));
        assert!(few_values(&[], 0));
        assert!(!few_values(&(0..33).collect::<Vec<_>>(), 32));
    }

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
        // A padding value 150 below the darkest value, and a bright outlier
        // 150 above the brightest: three intervals, the runs of at least
        // GAP unused values removed (most values are used: no palette).
        let padded: Vec<i32> = (0..2000)
            .map(|i| match i % 10 {
                0 => -150,
                9 if i == 1999 => 470,
                _ => i % 321,
            })
            .collect();
        let m3 = ValueMap::analyse(&padded);
        assert_eq!(
            m3,
            ValueMap::Intervals {
                intervals: vec![(-150, 1), (0, 321), (470, 1)]
            }
        );
        assert_eq!(m3.levels(), 323);
        assert_eq!(m3.forward(&[-150, 0, 320, 470]), [0, 1, 321, 322]);
        assert_eq!(
            m3.forward_nearest(&[-200, -149, -5, 60, 330, 469, 900]),
            [0, 0, 0, 61, 321, 321, 322]
        );
        // A shorter run (127 unused values) is kept.
        let short: Vec<i32> = (0..2000)
            .map(|i| if i % 10 == 0 { -128 } else { i % 321 })
            .collect();
        assert_eq!(
            ValueMap::analyse(&short),
            ValueMap::Offset {
                min: -128,
                levels: 449
            }
        );
        for (m, d) in [(m, sparse), (m2, dense), (m3, padded)] {
            let mut f = m.forward(&d);
            assert!(f.iter().all(|&v| v >= 0 && (v as u32) < m.levels()));
            let mut g = f.clone();
            m.clone().as_palette().inverse(&mut g);
            m.inverse(&mut f);
            assert_eq!(f, d);
            assert_eq!(g, d);
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
