//! Images of several frames or planes (multi-frame DICOM, colour): how
//! they are laid out for the coders, and the reversible colour transform.
//!
//! Such an image is one tall image (`medzip_format::ImageDesc`): frame after
//! frame, plane after plane within a frame. The coders code it as any
//! other image, with two differences:
//!
//! * stripes (the units decoded independently and in parallel) hold whole
//!   planes where a plane is not much larger than a stripe
//!   ([`aligned_rows`]), so that threads work across frames and a frame
//!   decodes from its own stripes (`decompress_frames` decodes the stripes
//!   that overlap the frame's rows, aligned or not; the decoder assumes no
//!   alignment);
//! * three planes (RGB, and YBR_FULL too) may be coded after the reversible
//!   *subtract green* transform ([`Transform::SubtractGreen`]: the second
//!   plane, then the first and third minus it, each modulo 2^bits so that
//!   the planes keep their depth), which the encoder chooses when it
//!   predicts better: grey areas (an ultrasound image with a colour Doppler
//!   box, a secondary capture of a grey image) have zero differences
//!   there.

use crate::{Error, Result};
use medzip_format::Image;

/// How the planes of each frame are transformed before coding (the pixel
/// section's first byte when the image has several frames or planes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// The planes as they are.
    None = 0,
    /// Three planes (R, G, B) coded as G, (R − G + h) mod 2^bits and
    /// (B − G + h) mod 2^bits, h = 2^(bits−1), in the unsigned domain.
    SubtractGreen = 1,
}

impl Transform {
    pub fn from_byte(b: u8, planes: u8) -> Result<Transform> {
        match (b, planes) {
            (0, _) => Ok(Transform::None),
            (1, 3) => Ok(Transform::SubtractGreen),
            _ => Err(Error::Corrupt(format!(
                "plane transform {b} for {planes} planes (unknown to this build, or damage)"
            ))),
        }
    }

    /// Chooses the transform for `img` (`planes` planes of `plane_rows`
    /// rows per frame): the one whose planes' median-edge predictions err
    /// least on every fourth row (a cheap stand-in for coding them; only
    /// those rows and the rows above them are transformed to measure it).
    pub fn choose(img: &Image, planes: u8, plane_rows: usize) -> Transform {
        if planes != 3 || plane_rows < 2 {
            return Transform::None;
        }
        let w = img.width as usize;
        let plane = plane_rows * w;
        let (mut plain, mut sg) = (0u64, 0u64);
        for frame in img.data.chunks_exact(3 * plane) {
            for y in (1..plane_rows).filter(|y| y % 4 == 1) {
                // Rows y − 1 and y of the three planes, as they are and
                // transformed (the transform works sample by sample).
                let mut band = Image {
                    width: img.width,
                    height: 6,
                    bits: img.bits,
                    signed: img.signed,
                    data: frame
                        .chunks_exact(plane)
                        .flat_map(|pl| &pl[(y - 1) * w..(y + 1) * w])
                        .copied()
                        .collect(),
                };
                let before = band.data.clone();
                Transform::SubtractGreen.forward(&mut band, 3, 2);
                for two in 0..3 {
                    let r = 2 * two * w..2 * (two + 1) * w;
                    plain += row_cost(&before[r.clone()], w);
                    sg += row_cost(&band.data[r], w);
                }
            }
        }
        if sg < plain {
            Transform::SubtractGreen
        } else {
            Transform::None
        }
    }

    /// Applies the transform to every frame of `img`.
    pub fn forward(self, img: &mut Image, planes: u8, plane_rows: usize) {
        self.apply(img, planes, plane_rows, true)
    }

    /// Undoes [`forward`](Self::forward).
    pub fn inverse(self, img: &mut Image, planes: u8, plane_rows: usize) {
        self.apply(img, planes, plane_rows, false)
    }

    fn apply(self, img: &mut Image, planes: u8, plane_rows: usize, forward: bool) {
        if self == Transform::None {
            return;
        }
        debug_assert_eq!(planes, 3);
        let (lo, _) = Image::range(img.bits, img.signed);
        let mask = (1i32 << img.bits) - 1;
        let half = 1i32 << (img.bits - 1);
        let plane = plane_rows * img.width as usize;
        for frame in img.data.chunks_exact_mut(3 * plane) {
            let (r, gb) = frame.split_at_mut(plane);
            let (g, b) = gb.split_at_mut(plane);
            // Stored order: G, R − G, B − G (the first plane predicts the
            // others' reference).
            for i in 0..plane {
                let (ur, ug, ub) = (r[i] - lo, g[i] - lo, b[i] - lo);
                let (x, y, z) = if forward {
                    (ug, (ur - ug + half) & mask, (ub - ug + half) & mask)
                } else {
                    // Here r holds G, g holds R − G, b holds B − G.
                    let gg = ur;
                    ((ug + gg - half) & mask, gg, (ub + gg - half) & mask)
                };
                r[i] = x + lo;
                g[i] = y + lo;
                b[i] = z + lo;
            }
        }
    }
}

/// Sum of the absolute errors of the median-edge predictor (JPEG-LS's) on
/// the second of two rows of `w` samples (`two`: the row above, the row).
fn row_cost(two: &[i32], w: usize) -> u64 {
    let (up, row) = two.split_at(w);
    let mut cost = 0u64;
    for x in 1..w {
        let (a, b, c) = (row[x - 1], up[x], up[x - 1]);
        let p = if c >= a.max(b) {
            a.min(b)
        } else if c <= a.min(b) {
            a.max(b)
        } else {
            a + b - c
        };
        cost += (row[x] - p).unsigned_abs() as u64;
    }
    cost
}

/// Stripe height for an image of `layers` planes of `plane_rows` rows
/// each (all frames): `rows` (what the coder would choose) rounded to a
/// whole number of planes, so that no plane spans two stripes; or `rows`
/// itself where a plane is more than twice that (a large colour image:
/// stripes smaller than a plane keep every thread busy).
pub fn aligned_rows(rows: usize, plane_rows: usize, layers: usize) -> usize {
    if layers <= 1 || 2 * rows < plane_rows {
        return rows;
    }
    let k = ((rows + plane_rows / 2) / plane_rows).clamp(1, layers);
    k * plane_rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_green_is_reversible_at_every_depth() {
        for (bits, signed) in [
            (8u8, false),
            (12, true),
            (16, false),
            (16, true),
            (1, false),
        ] {
            let (lo, hi) = Image::range(bits, signed);
            let span = (hi - lo) as i64 + 1;
            // 2 frames of 3 planes of 3×5 (odd sizes), values over the
            // whole range, extremes included.
            let mut data: Vec<i32> = (0..2 * 3 * 15i64)
                .map(|i| (lo as i64 + (i * 7919 + i * i * 31) % span) as i32)
                .collect();
            (data[0], data[1], data[20]) = (lo, hi, hi);
            let img = Image::new(3, 30, bits, signed, data).unwrap();
            let mut t = img.clone();
            Transform::SubtractGreen.forward(&mut t, 3, 5);
            t.validate().unwrap();
            assert_ne!(t, img);
            Transform::SubtractGreen.inverse(&mut t, 3, 5);
            assert_eq!(t, img, "{bits} {signed}");
        }
    }

    #[test]
    fn grey_rgb_chooses_subtract_green() {
        let w: i32 = 17;
        let g: Vec<i32> = (0..w * 9).map(|i| i * 13 % 251).collect();
        let data = [g.clone(), g.clone(), g].concat();
        let img = Image::new(w as u32, 27, 8, false, data).unwrap();
        assert_eq!(Transform::choose(&img, 3, 9), Transform::SubtractGreen);
    }

    #[test]
    fn stripes_hold_whole_planes() {
        assert_eq!(aligned_rows(100, 64, 10), 128);
        assert_eq!(aligned_rows(40, 64, 10), 64);
        assert_eq!(aligned_rows(10, 64, 10), 10);
        assert_eq!(aligned_rows(10_000, 64, 10), 640);
        assert_eq!(aligned_rows(37, 5, 1), 37);
        // Planes of 2,000 rows, stripes of 524: stripes within planes.
        assert_eq!(aligned_rows(524, 2000, 3), 524);
    }
}
