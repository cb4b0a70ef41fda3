//! Integer resampling between an image of any size and bit depth and the
//! square 8-bit grid an autoencoder sees. Deterministic (integers only), so
//! the encoder and decoder of a file agree on the prior.

/// Area average of the unsigned samples `u` (`w × h`, `bits` deep) onto a
/// `size × size` 8-bit grid. Each output pixel averages the source pixels
/// whose indices fall in its cell (at least one: nearest when enlarging);
/// values are scaled from `bits` to 8 bits with rounding.
///
/// Preconditions (the codec's images satisfy them): `u.len() == w * h`,
/// `w, h, size > 0`, `bits` in 1..=16; otherwise an all-zero grid.
pub fn to_grid(u: &[i32], w: usize, h: usize, bits: u8, size: usize) -> Vec<u8> {
    if w == 0 || h == 0 || size == 0 || u.len() != w * h || !(1..=16).contains(&bits) {
        return vec![0; size * size];
    }
    let maxv = (1i64 << bits) - 1;
    let span = |o: usize, n: usize| {
        let a = o * n / size;
        let b = ((o + 1) * n / size).max(a + 1).min(n);
        (a.min(n - 1), b)
    };
    let mut out = Vec::with_capacity(size * size);
    for oy in 0..size {
        let (y0, y1) = span(oy, h);
        for ox in 0..size {
            let (x0, x1) = span(ox, w);
            let mut s = 0i64;
            for y in y0..y1 {
                s += u[y * w + x0..y * w + x1]
                    .iter()
                    .map(|&v| v as i64)
                    .sum::<i64>();
            }
            let n = ((y1 - y0) * (x1 - x0)) as i64;
            // mean · 255 / maxv, rounded.
            let v = (2 * s * 255 + n * maxv) / (2 * n * maxv);
            out.push(v.clamp(0, 255) as u8);
        }
    }
    out
}

/// Bilinear interpolation of a `size × size` 8-bit grid to `w × h` samples
/// of `bits` depth (pixel centres aligned, positions in 1/256 steps).
///
/// Preconditions: `g.len() == size * size`, `size > 0`, `bits` in 1..=16;
/// otherwise all zeros.
pub fn from_grid(g: &[u8], size: usize, w: usize, h: usize, bits: u8) -> Vec<i32> {
    if size == 0 || g.len() != size * size || !(1..=16).contains(&bits) {
        return vec![0; w * h];
    }
    let maxv = (1i64 << bits) - 1;
    // Source coordinate of output index `o` (of `n`), in 1/256 pixel.
    let pos = |o: usize, n: usize| -> (usize, i64) {
        let p = ((2 * o as i64 + 1) * size as i64 * 128) / n as i64 - 128;
        let p = p.clamp(0, (size as i64 - 1) * 256);
        ((p >> 8) as usize, p & 255)
    };
    let xs: Vec<(usize, i64)> = (0..w).map(|x| pos(x, w)).collect();
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let (y0, ty) = pos(y, h);
        let y1 = (y0 + 1).min(size - 1);
        for &(x0, tx) in &xs {
            let x1 = (x0 + 1).min(size - 1);
            let at = |yy: usize, xx: usize| g[yy * size + xx] as i64;
            let top = at(y0, x0) * (256 - tx) + at(y0, x1) * tx;
            let bot = at(y1, x0) * (256 - tx) + at(y1, x1) * tx;
            let v = top * (256 - ty) + bot * ty; // 8-bit value × 65536
            let v = (2 * v * maxv + 255 * 65536) / (2 * 255 * 65536);
            out.push(v.clamp(0, maxv) as i32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_at_grid_size_for_8_bit() {
        let u: Vec<i32> = (0..64 * 64).map(|i| i * 7 % 256).collect();
        let g = to_grid(&u, 64, 64, 8, 64);
        assert_eq!(g.iter().map(|&v| v as i32).collect::<Vec<_>>(), u);
        assert_eq!(from_grid(&g, 64, 64, 64, 8), u);
    }

    #[test]
    fn any_size_and_depth() {
        for (w, h, bits) in [(1, 1, 16), (3, 200, 12), (300, 7, 8), (513, 257, 10)] {
            let maxv = (1i32 << bits) - 1;
            let u: Vec<i32> = (0..w * h).map(|i| (i as i32 * 37) % (maxv + 1)).collect();
            let g = to_grid(&u, w, h, bits, 16);
            assert_eq!(g.len(), 256);
            let r = from_grid(&g, 16, w, h, bits);
            assert_eq!(r.len(), w * h);
            assert!(r.iter().all(|&v| (0..=maxv).contains(&v)));
        }
        // Full scale maps to full scale.
        let g = to_grid(&[65535; 4], 2, 2, 16, 4);
        assert!(g.iter().all(|&v| v == 255));
        assert!(from_grid(&g, 4, 3, 3, 16).iter().all(|&v| v == 65535));
    }
}
