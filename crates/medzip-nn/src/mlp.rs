//! A dense-only network laid out for one small input vector at a time (the
//! context coder runs one per pixel).
//!
//! The AVX2 path broadcasts a pair of inputs and multiplies it with eight
//! outputs' interleaved weight pairs in one `vpmaddwd`, accumulating with
//! wrapping `vpaddd`: per output the same wrapping `i32` sum of the same
//! products as the scalar path and as [`Net::forward`], so the bits are
//! the same. Rounding, LeakyReLU and clamping are shared scalar code.

use crate::{finish, shift, Layer, Net};

/// Most outputs of one layer.
pub const MAX_OUTS: usize = 64;
/// Most inputs of the first layer.
pub const MAX_IN: usize = 64;

struct Packed {
    fan_in: usize,
    outs: usize,
    /// Output blocks of 8 (`outs` rounded up).
    blocks: usize,
    /// `[pair][block][lane]` of `(w[o][2j], w[o][2j+1])` packed in an i32
    /// (the order both paths read them in); padding (odd inputs, missing
    /// outputs) is zero.
    wj: Vec<i32>,
    bias: Vec<i32>,
    shift: Vec<u32>,
    /// For the AVX2 path, padded to `blocks × 8`: `bias` plus the rounding
    /// term `(1 << shift) >> 1` (a wrapping `i32` sum, the same as adding
    /// them one after the other), and `shift`.
    bias_rnd8: Vec<i32>,
    shift8: Vec<i32>,
    leaky: bool,
    bound: i16,
    /// Whether every accumulator, bias, rounding and LeakyReLU product of
    /// this layer provably fits `i32` for inputs within their bound: then
    /// the AVX2 path requantizes eight outputs at once in `i32` lanes, with
    /// the same results as the `i64` scalar code.
    fits_i32: bool,
}

/// Activations of [`Mlp::forward`]: the clamped input and the hidden
/// layers (a block of eight outputs may be written whole). Values left
/// from earlier calls are never read: a layer reads only its input's
/// entries (and an odd input's padding entry, which meets a zero weight).
pub struct Scratch {
    x0: [i16; MAX_IN],
    bufs: [[i16; MAX_OUTS + 8]; 2],
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            x0: [0; MAX_IN],
            bufs: [[0; MAX_OUTS + 8]; 2],
        }
    }
}

/// A checked dense-only network, packed for [`Mlp::forward`]. Its inputs
/// are clamped to `±in_bound` (part of its definition).
pub struct Mlp {
    net: Net,
    layers: Vec<Packed>,
    f_out: u8,
    in_bound: i16,
}

impl Mlp {
    /// Packs `net`: dense layers only, each at most [`MAX_OUTS`] outputs;
    /// inputs will be clamped to `±in_bound`.
    pub fn new(net: Net, in_bound: i16) -> crate::Result<Mlp> {
        let in_bound = in_bound.max(0);
        let mut x_bound = in_bound as i64;
        let (_, f_out) = net.check()?;
        if !net.is_mlp() {
            return Err(crate::Error::BadModel("not a dense-only network".into()));
        }
        let mut f = net.f_in;
        let mut layers = Vec::new();
        for l in &net.layers {
            let Layer::Dense(p) = l else { unreachable!() };
            if p.outs > MAX_OUTS || p.fan_in > MAX_IN {
                return Err(crate::Error::BadModel(format!(
                    "a per-pixel layer has at most {MAX_IN} inputs and {MAX_OUTS} outputs (got {} and {})",
                    p.fan_in, p.outs
                )));
            }
            let pairs = p.fan_in.div_ceil(2);
            let blocks = p.outs.div_ceil(8);
            let mut wj = vec![0i32; pairs * blocks * 8];
            for j in 0..pairs {
                for o in 0..p.outs {
                    let at = |i: usize| {
                        if i < p.fan_in {
                            p.w[o * p.fan_in + i]
                        } else {
                            0
                        }
                    };
                    wj[(j * blocks + o / 8) * 8 + o % 8] =
                        (at(2 * j) as u16 as i32) | ((at(2 * j + 1) as i32) << 16);
                }
            }
            let fits_i32 = (0..p.outs).all(|o| {
                let row = &p.w[o * p.fan_in..(o + 1) * p.fan_in];
                let sum: i64 = row.iter().map(|&w| (w as i64).abs()).sum::<i64>() * x_bound;
                let sh = shift(f, p.w_frac[o], p.f_out);
                let v = sum + (p.bias[o] as i64).abs() + (1i64 << sh);
                v < 1 << 31 && (v >> sh) * (crate::LEAKY_NUM as i64) < 1 << 31
            });
            x_bound = p.bound as i64;
            let shifts: Vec<u32> = p.w_frac.iter().map(|&wf| shift(f, wf, p.f_out)).collect();
            let mut bias_rnd8: Vec<i32> = (p.bias.iter().zip(&shifts))
                .map(|(&b, &s)| b.wrapping_add(((1i64 << s) >> 1) as i32))
                .collect();
            bias_rnd8.resize(blocks * 8, 0);
            let mut shift8: Vec<i32> = shifts.iter().map(|&v| v as i32).collect();
            shift8.resize(blocks * 8, 0);
            layers.push(Packed {
                fan_in: p.fan_in,
                outs: p.outs,
                blocks,
                wj,
                bias: p.bias.clone(),
                shift: shifts,
                bias_rnd8,
                shift8,
                leaky: p.leaky,
                bound: p.bound,
                fits_i32,
            });
            f = p.f_out;
        }
        Ok(Mlp {
            net,
            layers,
            f_out,
            in_bound,
        })
    }

    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outs)
    }

    /// Fraction bits of the outputs.
    pub fn f_out(&self) -> u8 {
        self.f_out
    }

    /// Runs the network on `input` (the network's input length) into
    /// `out` (its output length); `scratch` holds the activations (made
    /// once, reused for every call).
    #[inline]
    pub fn forward(&self, input: &[i16], scratch: &mut Scratch, out: &mut [i16]) {
        self.forward_on(crate::simd::enabled(), input, scratch, out)
    }

    /// [`Mlp::forward`] on the AVX2 path (`avx2`, when the CPU has it) or
    /// the scalar one.
    pub fn forward_on(&self, avx2: bool, input: &[i16], scratch: &mut Scratch, out: &mut [i16]) {
        #[cfg(target_arch = "x86_64")]
        if avx2 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected at run time.
            unsafe { self.forward_avx2(input, scratch, out) };
            return;
        }
        let Scratch { x0, bufs } = scratch;
        for (x, &v) in x0.iter_mut().zip(input) {
            *x = v.clamp(-self.in_bound, self.in_bound);
        }
        let mut acc = [0i32; MAX_OUTS];
        let nl = self.layers.len();
        for (k, l) in self.layers.iter().enumerate() {
            let src: &[i16] = if k == 0 {
                &x0[..l.fan_in]
            } else {
                &bufs[(k - 1) & 1][..l.fan_in]
            };
            sums_scalar(l, src, &mut acc);
            let dst: &mut [i16] = if k + 1 == nl {
                &mut out[..l.outs]
            } else {
                &mut bufs[k & 1][..l.outs]
            };
            for o in 0..l.outs {
                dst[o] = finish(acc[o], l.bias[o], l.shift[o], l.leaky, l.bound);
            }
        }
    }
}

/// Scalar sums of one layer: the same wrapping sums as the AVX2 path (in
/// the same order, which compilers vectorize with the base instruction set).
fn sums_scalar(l: &Packed, x: &[i16], acc: &mut [i32; MAX_OUTS]) {
    let pairs = l.fan_in.div_ceil(2);
    for b in 0..l.blocks {
        let mut s = [0i32; 8];
        for j in 0..pairs {
            let x0 = x[2 * j] as i32;
            let x1 = if 2 * j + 1 < l.fan_in {
                x[2 * j + 1] as i32
            } else {
                0
            };
            let w = &l.wj[(j * l.blocks + b) * 8..(j * l.blocks + b + 1) * 8];
            for (a, &wp) in s.iter_mut().zip(w) {
                *a = a
                    .wrapping_add((wp as i16) as i32 * x0)
                    .wrapping_add((wp >> 16) * x1);
            }
        }
        acc[b * 8..b * 8 + 8].copy_from_slice(&s);
    }
}

impl Mlp {
    /// The whole network on the AVX2 path: the input clamped in vectors,
    /// then per layer [`layer_avx2`] with the layer's output blocks as a
    /// compile-time count, so that its sums stay in registers.
    ///
    /// # Safety
    /// The CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_avx2(&self, input: &[i16], scratch: &mut Scratch, out: &mut [i16]) {
        use std::arch::x86_64::*;
        let Scratch { x0, bufs } = scratch;
        // (As the scalar path: at most MAX_IN inputs are read.)
        let n = input.len().min(MAX_IN);
        x0[..n].copy_from_slice(&input[..n]);
        let (hi, lo) = (
            _mm256_set1_epi16(self.in_bound),
            _mm256_set1_epi16(-self.in_bound),
        );
        for v in x0.chunks_exact_mut(16) {
            // SAFETY: `v` holds 16 i16s. (Entries past the input are
            // clamped too and never read: see `Scratch`.)
            unsafe {
                let p = v.as_mut_ptr() as *mut __m256i;
                _mm256_storeu_si256(
                    p,
                    _mm256_max_epi16(_mm256_min_epi16(_mm256_loadu_si256(p), hi), lo),
                );
            }
        }
        let nl = self.layers.len();
        for (k, l) in self.layers.iter().enumerate() {
            let (done, rest) = bufs.split_at_mut(1);
            let (src, dst) = match (k, k & 1) {
                (0, _) => (&x0[..], &mut done[0]),
                (_, 1) => (&done[0][..], &mut rest[0]),
                _ => (&rest[0][..], &mut done[0]),
            };
            // SAFETY: AVX2 (this function's); `src` holds at least
            // 2 × ⌈fan_in / 2⌉ values (MAX_IN and MAX_OUTS + 8 are even and
            // bound fan_in), `dst` 8 × blocks (≤ MAX_OUTS) values.
            unsafe {
                let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
                match l.blocks {
                    1 => layer_avx2::<1>(l, s, d),
                    2 => layer_avx2::<2>(l, s, d),
                    3 => layer_avx2::<3>(l, s, d),
                    4 => layer_avx2::<4>(l, s, d),
                    5 => layer_avx2::<5>(l, s, d),
                    6 => layer_avx2::<6>(l, s, d),
                    7 => layer_avx2::<7>(l, s, d),
                    _ => layer_avx2::<8>(l, s, d),
                }
            }
            if k + 1 == nl {
                out[..l.outs].copy_from_slice(&dst[..l.outs]);
            }
        }
    }
}

/// One dense layer on the AVX2 path, its `NB` (= `blocks`) blocks of eight
/// outputs at once: every input pair is broadcast and multiplied with the
/// blocks' interleaved weight pairs (`wj`, read in order), the wrapping
/// sums kept in registers; then each block is requantized (`i32` lanes
/// where `fits_i32`, else the scalar [`finish`]) into `dst` as `i16`, all
/// eight lanes (padding lanes hold 0: zero weights and bias). Pairs are
/// read whole: an odd `fan_in`'s extra input meets a zero weight.
///
/// # Safety
/// The CPU has AVX2; `NB == l.blocks`; `src` holds at least
/// `2 × ⌈fan_in / 2⌉` values and `dst` `8 × NB`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn layer_avx2<const NB: usize>(l: &Packed, src: *const i16, dst: *mut i16) {
    use std::arch::x86_64::*;
    debug_assert_eq!(NB, l.blocks);
    let pairs = l.fan_in.div_ceil(2);
    let mut acc = [_mm256_setzero_si256(); NB];
    let mut w = l.wj.as_ptr() as *const __m256i;
    for j in 0..pairs {
        // SAFETY: 2j + 1 < 2 × pairs (the caller's bound on `src`); `wj`
        // holds `pairs × NB` vectors of eight.
        unsafe {
            let x = _mm256_set1_epi32((src.add(2 * j) as *const i32).read_unaligned());
            for (t, a) in acc.iter_mut().enumerate() {
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, _mm256_loadu_si256(w.add(t))));
            }
            w = w.add(NB);
        }
    }
    if l.fits_i32 {
        let slope = _mm256_set1_epi32(crate::LEAKY_NUM);
        let bound = _mm256_set1_epi32(l.bound as i32);
        let nbound = _mm256_set1_epi32(-(l.bound as i32));
        let leaky = _mm256_set1_epi32(-(l.leaky as i32));
        for (t, &a) in acc.iter().enumerate() {
            // SAFETY: `bias_rnd8`/`shift8` hold `blocks × 8` i32s; `dst`
            // holds 8 × NB i16s (the caller's bound).
            unsafe {
                let br = _mm256_loadu_si256(l.bias_rnd8.as_ptr().add(t * 8) as *const __m256i);
                let sh = _mm256_loadu_si256(l.shift8.as_ptr().add(t * 8) as *const __m256i);
                // (acc + bias + ((1 << s) >> 1)) >> s, LeakyReLU, clamp.
                let v = _mm256_srav_epi32(_mm256_add_epi32(a, br), sh);
                let neg = _mm256_srai_epi32(_mm256_mullo_epi32(v, slope), 8);
                let m = _mm256_and_si256(_mm256_srai_epi32(v, 31), leaky);
                let v = _mm256_blendv_epi8(v, neg, m);
                let v = _mm256_max_epi32(_mm256_min_epi32(v, bound), nbound);
                // Eight i16 (values are within ±bound, so packing is exact).
                let p = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0b1000);
                _mm_storeu_si128(dst.add(t * 8) as *mut __m128i, _mm256_castsi256_si128(p));
            }
        }
    } else {
        for (t, &a) in acc.iter().enumerate() {
            let mut y = [0i32; 8];
            // SAFETY: `y` holds 8 i32s.
            unsafe { _mm256_storeu_si256(y.as_mut_ptr() as *mut __m256i, a) };
            for (o, &v) in y.iter().enumerate() {
                let i = t * 8 + o;
                let r = if i < l.outs {
                    finish(v, l.bias[i], l.shift[i], l.leaky, l.bound)
                } else {
                    0
                };
                // SAFETY: i < 8 × NB.
                unsafe { *dst.add(i) = r };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Shape, Weighted};

    /// A dense layer with pseudo-random weights of at most `wmax` in magnitude.
    fn layer(fan_in: usize, outs: usize, leaky: bool, wmax: i32, seed: &mut u32) -> Layer {
        let mut r = || {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (*seed >> 16) as i16 as i32
        };
        Layer::Dense(Weighted {
            fan_in,
            outs,
            f_out: 8,
            leaky,
            bound: 30_000,
            w_frac: (0..outs).map(|o| 10 + (o % 5) as u8).collect(),
            bias: (0..outs).map(|_| r() * 97).collect(),
            w: (0..fan_in * outs)
                .map(|_| (r() * wmax / 32_768) as i16)
                .collect(),
        })
    }

    /// Odd widths (padding), extreme weights and inputs (wrap-around, the
    /// `i64` requantization) and ordinary ones (the `i32` lanes): the packed
    /// network equals the reference `Net::forward` on both paths.
    #[test]
    fn packed_equals_reference_on_both_paths() {
        // An odd input width (its padding input) and the widest (MAX_IN).
        let cases = [
            (31, 32_767, i16::MAX, false),
            (31, 300, 4095, true),
            (MAX_IN, 300, 4095, true),
        ];
        for (nin, wmax, in_bound, lanes) in cases {
            let mut seed = 5u32;
            let net = Net {
                input: Shape { c: nin, h: 1, w: 1 },
                f_in: 8,
                // Output blocks of 8, 5, 2 and 1: every tile width of the
                // AVX2 sums (8, 4 + 1, 2, 1).
                layers: vec![
                    layer(nin, 64, true, wmax, &mut seed),
                    layer(64, 37, true, wmax, &mut seed),
                    layer(37, 9, true, wmax, &mut seed),
                    layer(9, 2, false, wmax, &mut seed),
                ],
            };
            let mlp = Mlp::new(net.clone(), in_bound).unwrap();
            assert!(mlp.layers.iter().all(|l| l.fits_i32 == lanes));
            let mut scratch = Scratch::default();
            for t in 0..300 {
                let input: Vec<i16> = (0..nin)
                    .map(|i| match t % 3 {
                        0 => i16::MIN,
                        _ => ((i * 7919 + t * 104_729) % 65_536) as u16 as i16,
                    })
                    .collect();
                let clamped: Vec<i16> = input
                    .iter()
                    .map(|v| (*v).clamp(-in_bound, in_bound))
                    .collect();
                let want = net.forward(&clamped).unwrap().data;
                for avx2 in [false, true] {
                    let mut out = [0i16; 2];
                    mlp.forward_on(avx2, &input, &mut scratch, &mut out);
                    assert_eq!(&out[..], &want[..], "input {t}, avx2 {avx2}, wmax {wmax}");
                }
            }
        }
    }

    #[test]
    fn wide_or_convolutional_networks_are_refused() {
        let mut seed = 1u32;
        let wide = Net {
            input: Shape { c: 4, h: 1, w: 1 },
            f_in: 8,
            layers: vec![layer(4, MAX_OUTS + 1, false, 100, &mut seed)],
        };
        assert!(Mlp::new(wide, 4095).is_err());
        let Layer::Dense(d) = layer(9, 2, false, 100, &mut seed) else {
            unreachable!()
        };
        let conv = Net {
            input: Shape { c: 1, h: 3, w: 3 },
            f_in: 8,
            layers: vec![Layer::Conv3(d)],
        };
        assert!(
            conv.check().is_ok(),
            "a valid network, but not a per-pixel one"
        );
        assert!(Mlp::new(conv, 4095).is_err());
    }
}
