//! Losses and metrics of the paper: MSE, MS-SSIM (Wang, Simoncelli & Bovik
//! 2003), the custom IoU, and the KL divergence between pixel histograms.
//!
//! MS-SSIM follows the reference definition (and TensorFlow's
//! `ssim_multiscale`, which the paper's Keras code used): 11×11 Gaussian
//! window with σ = 1.5, "valid" filtering, K1 = 0.01, K2 = 0.03, dynamic
//! range 1, five scales separated by 2×2 average pooling, weights
//! (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); contrast-structure terms at
//! scales 1–4, luminance × contrast-structure at scale 5; negative terms
//! clamped (to 10⁻⁶, where TensorFlow uses 0, so that gradients stay
//! finite) before the powers.

use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{Device, Tensor, TensorData};

pub const MS_SSIM_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const WIN: usize = 11;
const SIGMA: f64 = 1.5;
const C1: f64 = 0.01 * 0.01;
const C2: f64 = 0.03 * 0.03;

fn gaussian_window(device: &Device) -> Tensor<4> {
    let g: Vec<f64> = (0..WIN)
        .map(|i| {
            let d = i as f64 - (WIN as f64 - 1.0) / 2.0;
            (-d * d / (2.0 * SIGMA * SIGMA)).exp()
        })
        .collect();
    let s: f64 = g.iter().sum();
    let mut w = Vec::with_capacity(WIN * WIN);
    for a in &g {
        for b in &g {
            w.push((a * b / (s * s)) as f32);
        }
    }
    Tensor::from_data(TensorData::new(w, [1, 1, WIN, WIN]), device)
}

fn filter(x: Tensor<4>, win: &Tensor<4>) -> Tensor<4> {
    conv2d(
        x,
        win.clone(),
        None,
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    )
}

/// Per-image means of the SSIM map (l·cs) and of the contrast-structure
/// map (cs) at one scale; inputs `[n, 1, h, w]`, outputs `[n]`.
fn ssim_terms(x: Tensor<4>, y: Tensor<4>, win: &Tensor<4>) -> (Tensor<1>, Tensor<1>) {
    let n = x.dims()[0];
    let mx = filter(x.clone(), win);
    let my = filter(y.clone(), win);
    let sxx = filter(x.clone() * x.clone(), win) - mx.clone() * mx.clone();
    let syy = filter(y.clone() * y.clone(), win) - my.clone() * my.clone();
    let sxy = filter(x * y, win) - mx.clone() * my.clone();
    let l = (mx.clone() * my.clone() * 2.0 + C1) / (mx.clone() * mx + my.clone() * my + C1);
    let cs = (sxy * 2.0 + C2) / (sxx + syy + C2);
    let mean = |t: Tensor<4>| t.reshape([n as i64, -1]).mean_dim(1).reshape([n]);
    (mean(l * cs.clone()), mean(cs))
}

/// MS-SSIM per image (`[n]`) of images in `[0, 1]`, `[n, 1, h, w]` with
/// `h, w ≥ 161` (five scales of an 11-pixel window).
pub fn ms_ssim(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let device = x.device();
    let win = gaussian_window(&device);
    let (mut x, mut y) = (x, y);
    let mut out: Option<Tensor<1>> = None;
    for (i, &wt) in MS_SSIM_WEIGHTS.iter().enumerate() {
        let (full, cs) = ssim_terms(x.clone(), y.clone(), &win);
        let term = if i == MS_SSIM_WEIGHTS.len() - 1 {
            full
        } else {
            cs
        };
        let term = term.clamp_min(1e-6).powf_scalar(wt as f32);
        out = Some(match out {
            None => term,
            Some(o) => o * term,
        });
        if i + 1 < MS_SSIM_WEIGHTS.len() {
            let pool = AvgPoolOptions::new([2, 2]);
            x = avg_pool2d(x, pool.clone());
            y = avg_pool2d(y, pool);
        }
    }
    out.expect("five scales")
}

/// Single-scale SSIM per image (same window and constants).
pub fn ssim(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let win = gaussian_window(&x.device());
    ssim_terms(x, y, &win).0
}

/// Bits per image (`[n]`) of latents `y` (`[n, c, h, w]`, integer-valued
/// or with uniform noise) under a factorized Laplace model with per-channel
/// scale `b = exp(log_scale) + 0.05`: `−log2(F(y + ½) − F(y − ½))` summed.
pub fn laplace_bits(y: Tensor<4>, log_scale: Tensor<1>) -> Tensor<1> {
    let [n, c, h, w] = y.dims();
    let b = log_scale
        .exp()
        .add_scalar(0.05)
        .reshape([1, c, 1, 1])
        .expand([n, c, h, w]);
    let cdf = |x: Tensor<4>| {
        let s = x.clone().sign();
        (x.abs().neg() / b.clone()).exp().neg().add_scalar(1.0) * s * 0.5 + 0.5
    };
    let p = (cdf(y.clone().add_scalar(0.5)) - cdf(y.sub_scalar(0.5))).clamp_min(1e-9);
    p.log()
        .neg()
        .reshape([n as i64, -1])
        .sum_dim(1)
        .reshape([n])
        / std::f32::consts::LN_2
}

/// Mean squared error per image (`[n]`).
pub fn mse(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let n = x.dims()[0];
    let d = x - y;
    (d.clone() * d)
        .reshape([n as i64, -1])
        .mean_dim(1)
        .reshape([n])
}

/// The paper's custom IoU per image: `x·y / (x·x + y·y − x·y)`.
pub fn iou(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let n = x.dims()[0];
    let flat = |t: Tensor<4>| t.reshape([n as i64, -1]);
    let (x, y) = (flat(x), flat(y));
    let xy = (x.clone() * y.clone()).sum_dim(1);
    let xx = (x.clone() * x).sum_dim(1);
    let yy = (y.clone() * y).sum_dim(1);
    (xy.clone() / (xx + yy - xy + 1e-8)).reshape([n])
}

/// KL divergence D(P‖Q) between the 256-bin histograms of two 8-bit
/// images (natural log). Q is add-one smoothed (every bin gets one extra
/// count) so that a reconstruction missing a grey level gives a finite
/// value.
pub fn kl_divergence(p: &[u8], q: &[u8]) -> f64 {
    let hist = |v: &[u8]| {
        let mut h = [0f64; 256];
        for &x in v {
            h[x as usize] += 1.0;
        }
        let n = v.len().max(1) as f64;
        h.map(|c| c / n)
    };
    let hp = hist(p);
    let mut hq = [1f64; 256];
    for &x in q {
        hq[x as usize] += 1.0;
    }
    let nq = q.len() as f64 + 256.0;
    hp.iter()
        .zip(&hq)
        .filter(|(&a, _)| a > 0.0)
        .map(|(&a, &b)| a * (a / (b / nq)).ln())
        .sum()
}

/// Plain-number metrics of one reconstruction of an 8-bit image.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Quality {
    /// MSE on the [0, 1] scale (as the paper reports).
    pub mse: f64,
    pub ms_ssim: f64,
    pub kl: f64,
    pub iou: f64,
    pub psnr: f64,
    pub max_err: u8,
}

/// Metrics of 8-bit reconstructions `r` against originals `x`
/// (`n` images of `size × size`, concatenated).
pub fn quality(x: &[u8], r: &[u8], n: usize, size: usize) -> Vec<Quality> {
    let device = &Device::flex();
    let t = |v: &[u8]| {
        let f: Vec<f32> = v.iter().map(|&p| p as f32 / 255.0).collect();
        Tensor::<4>::from_data(TensorData::new(f, [n, 1, size, size]), device)
    };
    let (tx, tr) = (t(x), t(r));
    let vec = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 data");
    let m = vec(mse(tx.clone(), tr.clone()));
    let s = vec(ms_ssim(tx.clone(), tr.clone()));
    let io = vec(iou(tx, tr));
    (0..n)
        .map(|i| {
            let (a, b) = (
                &x[i * size * size..(i + 1) * size * size],
                &r[i * size * size..(i + 1) * size * size],
            );
            let se: f64 = a
                .iter()
                .zip(b)
                .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
                .sum::<f64>()
                / a.len() as f64;
            Quality {
                mse: m[i] as f64,
                ms_ssim: s[i] as f64,
                kl: kl_divergence(a, b),
                iou: io[i] as f64,
                psnr: if se == 0.0 {
                    f64::INFINITY
                } else {
                    10.0 * (255.0f64 * 255.0 / se).log10()
                },
                max_err: a
                    .iter()
                    .zip(b)
                    .map(|(&p, &q)| p.abs_diff(q))
                    .max()
                    .unwrap_or(0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test pair of `docs/msssim_ref.py` (192×192): a smooth pattern
    /// and a perturbed copy.
    fn pair() -> (Tensor<4>, Tensor<4>) {
        let (h, w) = (192usize, 192usize);
        let mut x = Vec::with_capacity(h * w);
        let mut y = Vec::with_capacity(h * w);
        for i in 0..h {
            for j in 0..w {
                let (fi, fj) = (i as f64, j as f64);
                let a = 0.5 + 0.4 * (fi / 9.0).sin() * (fj / 13.0).cos();
                x.push(a as f32);
                y.push((a + 0.05 * (fi * fj / 50.0).sin()).clamp(0.0, 1.0) as f32);
            }
        }
        let d = Device::flex();
        (
            Tensor::from_data(TensorData::new(x, [1, 1, h, w]), &d),
            Tensor::from_data(TensorData::new(y, [1, 1, h, w]), &d),
        )
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_data().try_to_vec::<f32>().unwrap()[0] as f64
    }

    #[test]
    fn ssim_matches_scikit_image() {
        // skimage.metrics.structural_similarity(x, y, gaussian_weights=True,
        // sigma=1.5, use_sample_covariance=False, data_range=1.0)
        let (x, y) = pair();
        let s = scalar(ssim(x, y));
        assert!((s - 0.740_380_853_4).abs() < 2e-4, "{s}");
    }

    #[test]
    fn ms_ssim_matches_the_reference_definition() {
        // docs/msssim_ref.py (NumPy, Wang et al. 2003 as TensorFlow computes it).
        let (x, y) = pair();
        let s = scalar(ms_ssim(x.clone(), y));
        assert!((s - 0.980_928_979).abs() < 2e-4, "{s}");
        let same = scalar(ms_ssim(x.clone(), x));
        assert!((same - 1.0).abs() < 1e-4, "{same}");
    }

    #[test]
    fn iou_and_mse_match_the_reference() {
        let (x, y) = pair();
        assert!((scalar(iou(x.clone(), y.clone())) - 0.995_795_409).abs() < 1e-5);
        assert!((scalar(mse(x, y)) - 0.001_232_146).abs() < 1e-6);
    }

    #[test]
    fn kl_is_zero_for_equal_histograms_and_positive_otherwise() {
        let a: Vec<u8> = (0..=255).collect();
        let mut b = a.clone();
        b.reverse();
        // Same histogram (smoothing leaves a tiny positive value).
        assert!(kl_divergence(&a, &b) < 1e-9);
        let c = vec![128u8; 256];
        assert!(kl_divergence(&a, &c) > 0.5);
        assert!(kl_divergence(&c, &a) > 1.0);
    }
}
