//! The layers' integer arithmetic: 3×3 convolution and dense layers (one
//! [`dot`] per output), pooling, upsampling, and the rounding shift,
//! LeakyReLU and clamp of each accumulator.

use crate::{dot, Layer, Shape, Tensor, Weighted, LEAKY_NUM};

/// Output shift of a weighted layer (`check` guarantees 0..=31).
#[inline]
pub(crate) fn shift(f_in: u8, w_frac: u8, f_out: u8) -> u32 {
    (f_in as u32 + w_frac as u32).saturating_sub(f_out as u32)
}

/// Rounding shift, LeakyReLU and clamp of one accumulator (branch-free:
/// the sign of a hidden activation is not predictable).
#[inline]
pub(crate) fn finish(acc: i32, bias: i32, shift: u32, leaky: bool, bound: i16) -> i16 {
    let v = acc as i64 + bias as i64;
    let y = (v + ((1i64 << shift) >> 1)) >> shift;
    let neg = (y * LEAKY_NUM as i64) >> 8;
    // All ones where LeakyReLU applies (leaky and y < 0).
    let m = (y >> 63) & -(leaky as i64);
    let y = (neg & m) | (y & !m);
    y.clamp(-(bound as i64), bound as i64) as i16
}

pub(crate) fn apply(l: &Layer, t: &Tensor, avx2: bool) -> Tensor {
    let s = t.shape;
    match l {
        Layer::Conv3(p) => conv3(p, t, avx2),
        Layer::Dense(p) => {
            let data = (0..p.outs)
                .map(|o| {
                    let acc = dot(avx2, &p.w[o * p.fan_in..(o + 1) * p.fan_in], &t.data);
                    let shift = shift(t.frac, p.w_frac[o], p.f_out);
                    finish(acc, p.bias[o], shift, p.leaky, p.bound)
                })
                .collect();
            Tensor {
                shape: Shape {
                    c: p.outs,
                    h: 1,
                    w: 1,
                },
                frac: p.f_out,
                data,
            }
        }
        Layer::MaxPool2 => {
            let (h, w) = (s.h / 2, s.w / 2);
            let mut data = Vec::with_capacity(s.c * h * w);
            for c in 0..s.c {
                let plane = &t.data[c * s.h * s.w..(c + 1) * s.h * s.w];
                for y in 0..h {
                    for x in 0..w {
                        let i = 2 * y * s.w + 2 * x;
                        data.push(
                            plane[i]
                                .max(plane[i + 1])
                                .max(plane[i + s.w])
                                .max(plane[i + s.w + 1]),
                        );
                    }
                }
            }
            Tensor {
                shape: Shape { c: s.c, h, w },
                frac: t.frac,
                data,
            }
        }
        Layer::Upsample2 => {
            let (h, w) = (s.h * 2, s.w * 2);
            let mut data = Vec::with_capacity(s.c * h * w);
            for c in 0..s.c {
                let plane = &t.data[c * s.h * s.w..(c + 1) * s.h * s.w];
                for y in 0..h {
                    let row = &plane[(y / 2) * s.w..(y / 2 + 1) * s.w];
                    for x in 0..w {
                        data.push(row[x / 2]);
                    }
                }
            }
            Tensor {
                shape: Shape { c: s.c, h, w },
                frac: t.frac,
                data,
            }
        }
        Layer::Reshape(n) => Tensor {
            shape: *n,
            frac: t.frac,
            data: t.data.clone(),
        },
    }
}

/// 3×3 convolution with zero padding: builds each output pixel's patch
/// (`[cin][ky][kx]`, the weights' order) and takes one dot product per
/// output channel.
pub(crate) fn conv3(p: &Weighted, t: &Tensor, avx2: bool) -> Tensor {
    let s = t.shape;
    let (h, w, cin) = (s.h, s.w, s.c);
    let k = cin * 9;
    let mut out = vec![0i16; p.outs * h * w];
    let mut patch = vec![0i16; k];
    let shifts: Vec<u32> = p
        .w_frac
        .iter()
        .map(|&wf| shift(t.frac, wf, p.f_out))
        .collect();
    for y in 0..h {
        for x in 0..w {
            for c in 0..cin {
                let plane = &t.data[c * h * w..(c + 1) * h * w];
                for ky in 0..3 {
                    let yy = y as isize + ky as isize - 1;
                    for kx in 0..3 {
                        let xx = x as isize + kx as isize - 1;
                        patch[c * 9 + ky * 3 + kx] =
                            if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                                0
                            } else {
                                plane[yy as usize * w + xx as usize]
                            };
                    }
                }
            }
            for o in 0..p.outs {
                let acc = dot(avx2, &p.w[o * k..(o + 1) * k], &patch);
                out[o * h * w + y * w + x] = finish(acc, p.bias[o], shifts[o], p.leaky, p.bound);
            }
        }
    }
    Tensor {
        shape: Shape { c: p.outs, h, w },
        frac: p.f_out,
        data: out,
    }
}
