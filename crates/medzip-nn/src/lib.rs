//! Integer neural-network inference for medzip.
//!
//! A network here is a list of layers (3×3 convolution, dense, 2×2 max
//! pooling, 2× nearest upsampling, reshape) over `i16` activations in
//! fixed point. Every layer output has its own number of fraction bits;
//! weights are `i16` with a per-output-channel number of fraction bits;
//! products accumulate in `i32` with wrapping adds (so the sum is the same
//! in any order, on any CPU, with or without SIMD), then a rounding shift,
//! an optional LeakyReLU with slope 77/256 and a clamp bring the result
//! back to `i16`. There is no floating point anywhere on this path: the
//! same model and input give the same bits on every machine.
//!
//! Training happens in float elsewhere (`medzip-train`); its exporter folds
//! batch norm into the weights, calibrates activation ranges and writes
//! the format read by [`Net::from_bytes`]. [`ae`] holds the autoencoder
//! file (encoder, latent quantizer, decoder, output table).

pub mod ae;
mod dot;
mod kernels;
pub mod mlp;
pub mod resample;
mod serial;

pub use dot::{dot, simd};
use kernels::apply;
pub(crate) use kernels::{finish, shift};
pub(crate) use serial::{R, W};

/// Errors of the inference layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model bytes are damaged, truncated or inconsistent.
    #[error("bad model file: {0}")]
    BadModel(String),
    /// The input does not have the shape the network expects.
    #[error("input shape mismatch: {0}")]
    Shape(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Largest activation tensor a network may produce (values).
pub const MAX_ACTIVATIONS: usize = 1 << 26;

/// LeakyReLU slope, as a fraction of 256 (≈ 0.3, Keras' default).
pub const LEAKY_NUM: i32 = 77;
/// LeakyReLU slope as the float used in training (exactly `77/256`).
pub const LEAKY_SLOPE: f32 = LEAKY_NUM as f32 / 256.0;

/// Channel × height × width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Weighted layer (convolution or dense) in fixed point.
#[derive(Clone, Debug, PartialEq)]
pub struct Weighted {
    /// Inputs per output (dense: input length; conv: `cin * 9`).
    pub fan_in: usize,
    /// Outputs (dense: output length; conv: output channels).
    pub outs: usize,
    /// Fraction bits of the output activations.
    pub f_out: u8,
    /// Apply LeakyReLU.
    pub leaky: bool,
    /// Outputs are clamped to `±bound`.
    pub bound: i16,
    /// Fraction bits of each output's weights.
    pub w_frac: Vec<u8>,
    /// Bias per output, in accumulator units (`f_in + w_frac` fraction bits).
    pub bias: Vec<i32>,
    /// Weights, `outs × fan_in`, row-major (conv: `[cout][cin][ky][kx]`).
    pub w: Vec<i16>,
}

/// One layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// 3×3 convolution, stride 1, zero padding 1.
    Conv3(Weighted),
    /// Fully connected over the flattened (CHW) input.
    Dense(Weighted),
    /// 2×2 max pooling, stride 2 (odd trailing row/column dropped).
    MaxPool2,
    /// 2× nearest-neighbour upsampling.
    Upsample2,
    /// Reinterprets the activations with a new shape of the same length.
    Reshape(Shape),
}

/// A network: input shape and fraction bits, then layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    pub input: Shape,
    pub f_in: u8,
    pub layers: Vec<Layer>,
}

/// Activations: values with `frac` fraction bits, CHW.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub shape: Shape,
    pub frac: u8,
    pub data: Vec<i16>,
}

impl Net {
    /// Runs the network on `input` (already in the network's input format).
    pub fn forward(&self, input: &[i16]) -> Result<Tensor> {
        self.forward_with(input, simd::Simd::Auto)
    }

    /// [`Net::forward`] on the instructions `simd` chooses (the same bits).
    pub fn forward_with(&self, input: &[i16], simd: simd::Simd) -> Result<Tensor> {
        let avx2 = simd.avx2();
        self.check()?;
        if input.len() != self.input.len() {
            return Err(Error::Shape(format!(
                "network expects {} inputs, got {}",
                self.input.len(),
                input.len()
            )));
        }
        let mut t = Tensor {
            shape: self.input,
            frac: self.f_in,
            data: input.to_vec(),
        };
        for l in &self.layers {
            t = apply(l, &t, avx2);
        }
        Ok(t)
    }

    /// Whether every layer is dense (a per-pixel network, see [`mlp::Mlp`]).
    pub fn is_mlp(&self) -> bool {
        self.layers.iter().all(|l| matches!(l, Layer::Dense(_)))
    }

    /// Output shape and fraction bits, checking that every layer fits.
    pub fn check(&self) -> Result<(Shape, u8)> {
        let mut s = self.input;
        let mut f = self.f_in;
        for (i, l) in self.layers.iter().enumerate() {
            let bad = |m: String| Error::BadModel(format!("layer {i}: {m}"));
            match l {
                Layer::Conv3(p) => {
                    if p.fan_in != s.c * 9 {
                        return Err(bad(format!(
                            "conv expects {} channels, gets {}",
                            p.fan_in / 9,
                            s.c
                        )));
                    }
                    check_weighted(p, f).map_err(bad)?;
                    s.c = p.outs;
                    f = p.f_out;
                }
                Layer::Dense(p) => {
                    if p.fan_in != s.len() {
                        return Err(bad(format!(
                            "dense expects {} inputs, gets {}",
                            p.fan_in,
                            s.len()
                        )));
                    }
                    check_weighted(p, f).map_err(bad)?;
                    s = Shape {
                        c: p.outs,
                        h: 1,
                        w: 1,
                    };
                    f = p.f_out;
                }
                Layer::MaxPool2 => {
                    if s.h < 2 || s.w < 2 {
                        return Err(bad("pooling below 2×2".into()));
                    }
                    s.h /= 2;
                    s.w /= 2;
                }
                Layer::Upsample2 => {
                    s.h = s.h.saturating_mul(2);
                    s.w = s.w.saturating_mul(2);
                }
                Layer::Reshape(n) => {
                    if n.len() != s.len() {
                        return Err(bad(format!("reshape {} to {}", s.len(), n.len())));
                    }
                    s = *n;
                }
            }
            // Bounded activations: a damaged or hostile model cannot ask for
            // huge buffers.
            if s.c
                .checked_mul(s.h)
                .and_then(|v| v.checked_mul(s.w))
                .is_none_or(|n| n > MAX_ACTIVATIONS)
            {
                return Err(bad(format!(
                    "activations {}×{}×{} too large",
                    s.c, s.h, s.w
                )));
            }
        }
        Ok((s, f))
    }

    /// Number of weights and biases (what a float model counts as parameters
    /// after batch norm is folded).
    pub fn parameters(&self) -> usize {
        self.layers
            .iter()
            .map(|l| match l {
                Layer::Conv3(p) | Layer::Dense(p) => p.w.len() + p.bias.len(),
                _ => 0,
            })
            .sum()
    }
}

fn check_weighted(p: &Weighted, f_in: u8) -> std::result::Result<(), String> {
    if p.w.len() != p.fan_in * p.outs || p.bias.len() != p.outs || p.w_frac.len() != p.outs {
        return Err("weight/bias sizes do not match".into());
    }
    if p.bound <= 0 {
        return Err("non-positive clamp bound".into());
    }
    if p.fan_in == 0 || p.outs == 0 || p.f_out > 30 || f_in > 30 {
        return Err("empty layer or fraction bits out of range".into());
    }
    for &wf in &p.w_frac {
        if wf > 30 {
            return Err(format!("weight fraction bits {wf} out of range"));
        }
        let acc = f_in as i32 + wf as i32;
        if acc < p.f_out as i32 || acc - p.f_out as i32 > 31 {
            return Err(format!("output shift {acc} - {} out of range", p.f_out));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::kernels::conv3;
    use super::*;

    /// Small deterministic pseudo-random source for tests.
    pub(crate) fn lcg(seed: &mut u64) -> i32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as i32
    }

    pub(crate) fn weighted(fan_in: usize, outs: usize, seed: &mut u64, leaky: bool) -> Weighted {
        Weighted {
            fan_in,
            outs,
            f_out: 8,
            leaky,
            bound: 8000,
            w_frac: (0..outs).map(|i| 10 + (i % 3) as u8).collect(),
            bias: (0..outs).map(|_| lcg(seed) % 5000 - 2500).collect(),
            w: (0..fan_in * outs)
                .map(|_| (lcg(seed) % 2001 - 1000) as i16)
                .collect(),
        }
    }

    pub(crate) fn toy_net(seed: &mut u64) -> Net {
        Net {
            input: Shape { c: 1, h: 12, w: 10 },
            f_in: 9,
            layers: vec![
                Layer::Conv3(weighted(9, 4, seed, true)),
                Layer::MaxPool2,
                Layer::Conv3(weighted(36, 3, seed, true)),
                Layer::MaxPool2,
                Layer::Reshape(Shape {
                    c: 3 * 3 * 2,
                    h: 1,
                    w: 1,
                }),
                Layer::Dense(weighted(18, 6, seed, false)),
                Layer::Dense(weighted(6, 18, seed, true)),
                Layer::Reshape(Shape { c: 3, h: 3, w: 2 }),
                Layer::Upsample2,
                Layer::Conv3(weighted(27, 2, seed, true)),
                Layer::Upsample2,
                Layer::Conv3(weighted(18, 1, seed, false)),
            ],
        }
    }

    /// Straightforward reference: every output computed with i64 sums over
    /// explicitly indexed neighbours (no patch buffer, no SIMD).
    fn reference_conv(p: &Weighted, t: &Tensor) -> Vec<i16> {
        let s = t.shape;
        let mut out = Vec::new();
        for o in 0..p.outs {
            for y in 0..s.h as isize {
                for x in 0..s.w as isize {
                    let mut acc = 0i64;
                    for c in 0..s.c {
                        for ky in 0..3isize {
                            for kx in 0..3isize {
                                let (yy, xx) = (y + ky - 1, x + kx - 1);
                                if yy >= 0 && xx >= 0 && yy < s.h as isize && xx < s.w as isize {
                                    let v = t.data[c * s.h * s.w + yy as usize * s.w + xx as usize];
                                    let wt = p.w[o * s.c * 9 + c * 9 + (ky * 3 + kx) as usize];
                                    acc += v as i64 * wt as i64;
                                }
                            }
                        }
                    }
                    let shift = shift(t.frac, p.w_frac[o], p.f_out);
                    out.push(finish(acc as i32, p.bias[o], shift, p.leaky, p.bound));
                }
            }
        }
        out
    }

    #[test]
    fn conv_matches_reference_on_odd_sizes() {
        let mut seed = 7;
        for (c, h, w) in [(1, 1, 1), (2, 5, 3), (3, 7, 9), (5, 4, 13)] {
            let p = weighted(c * 9, 3, &mut seed, true);
            let t = Tensor {
                shape: Shape { c, h, w },
                frac: 8,
                data: (0..c * h * w)
                    .map(|_| (lcg(&mut seed) % 4001 - 2000) as i16)
                    .collect(),
            };
            for avx2 in [false, true] {
                assert_eq!(
                    conv3(&p, &t, avx2).data,
                    reference_conv(&p, &t),
                    "{c}×{h}×{w}"
                );
            }
        }
    }

    #[test]
    fn finish_rounds_leaks_and_clamps() {
        assert_eq!(finish(3 << 4, 0, 4, false, 100), 3);
        assert_eq!(finish((3 << 4) + 8, 0, 4, false, 100), 4); // half rounds up
        assert_eq!(finish(-256 << 4, 0, 4, true, 1000), -77);
        assert_eq!(finish(1 << 30, 0, 0, false, 500), 500);
        assert_eq!(finish(-(1 << 30), 0, 0, false, 500), -500);
        assert_eq!(finish(i32::MAX, i32::MAX, 1, false, i16::MAX), i16::MAX);
    }

    #[test]
    fn pool_and_upsample() {
        let t = Tensor {
            shape: Shape { c: 1, h: 3, w: 5 },
            frac: 0,
            data: (0..15).collect(),
        };
        let p = apply(&Layer::MaxPool2, &t, false);
        assert_eq!(p.shape, Shape { c: 1, h: 1, w: 2 });
        assert_eq!(p.data, vec![6, 8]);
        let u = apply(&Layer::Upsample2, &p, false);
        assert_eq!(u.data, vec![6, 6, 8, 8, 6, 6, 8, 8]);
    }

    #[test]
    fn serialization_round_trips_and_refuses_damage() {
        let mut seed = 1;
        let net = toy_net(&mut seed);
        let b = net.to_bytes();
        assert_eq!(Net::from_bytes(&b).unwrap(), net);
        for cut in [0, 3, 4, 20, b.len() / 2, b.len() - 1] {
            assert!(Net::from_bytes(&b[..cut]).is_err(), "truncated at {cut}");
        }
        let mut bad = b.clone();
        bad[0] ^= 1;
        assert!(Net::from_bytes(&bad).is_err());
        let mut longer = b;
        longer.push(0);
        assert!(Net::from_bytes(&longer).is_err());
    }

    #[test]
    fn forward_is_the_same_with_and_without_simd_and_across_threads() {
        let mut seed = 3;
        let net = toy_net(&mut seed);
        net.check().unwrap();
        let input: Vec<i16> = (0..120).map(|_| (lcg(&mut seed) % 512) as i16).collect();
        let scalar = net.forward_with(&input, simd::Simd::Scalar).unwrap();
        simd::Simd::note_if_scalar_only("forward_is_the_same_with_and_without_simd");
        let fast = net.forward(&input).unwrap();
        assert_eq!(scalar, fast);
        assert_eq!(fast.shape, Shape { c: 1, h: 12, w: 8 });
        let other = std::thread::spawn(move || net.forward(&input).unwrap())
            .join()
            .unwrap();
        assert_eq!(other, fast);
    }

    #[test]
    fn huge_activations_are_refused_before_allocation() {
        let mut seed = 4;
        let net = Net {
            input: Shape {
                c: 1,
                h: 4096,
                w: 4096,
            },
            f_in: 9,
            layers: vec![Layer::Conv3(weighted(9, 8, &mut seed, true))],
        };
        let e = Net::from_bytes(&net.to_bytes()).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
    }

    #[test]
    fn wrong_input_size_is_an_error() {
        let mut seed = 5;
        let net = toy_net(&mut seed);
        assert!(matches!(net.forward(&[0; 7]), Err(Error::Shape(_))));
    }
}
