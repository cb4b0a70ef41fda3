//! Training the context coder's network (`medzip train-net`).
//!
//! Samples come from [`medzip_codec::trace_context`]: for a pixel, the
//! [`NF`] integer features the coder computes (Q8, relative to the blended
//! prediction and scaled by the local energy) and the target, the pixel's
//! deviation from that prediction in the same units. The network is a small
//! MLP with two outputs, `μ` and `log2 s` of a logistic distribution, trained
//! on the discretized logistic's negative log-likelihood (bits per pixel).
//! Export reuses the autoencoders' path ([`crate::export`]): calibrated
//! ranges, `i16` weights, `i32` sums, the same `medzip-nn` network format.

use crate::export::{calibrate, to_net, Tail};
use crate::model::{Coder, Op};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use medzip_codec::cm::{Trace, NF};
use medzip_nn::{Net, Shape};

/// Training settings.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NetOptions {
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            hidden: vec![64, 32],
            epochs: 12,
            batch: 1024,
            lr: 2e-3,
            seed: 1,
        }
    }
}

/// The MLP's plan: dense layers with LeakyReLU, a linear 2-output tail.
pub fn plan(hidden: &[usize]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut nin = NF;
    for &h in hidden {
        ops.push(Op::Dense {
            nin,
            nout: h,
            act: true,
            bn: false,
        });
        nin = h;
    }
    ops.push(Op::Dense {
        nin,
        nout: 2,
        act: false,
        bn: false,
    });
    ops
}

/// Samples as tensors: features `[n, NF, 1, 1]` (feature / 256), target and
/// half bin width `[n]` in the same units.
fn tensors(t: &Trace, idx: &[usize], dev: &Device) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let mut f = Vec::with_capacity(idx.len() * NF);
    let mut y = Vec::with_capacity(idx.len());
    let mut h = Vec::with_capacity(idx.len());
    for &i in idx {
        f.extend(t.feats[i].iter().map(|&v| v as f32 / 256.0));
        let (d8, norm8) = t.targets[i];
        y.push(d8 as f32 / norm8 as f32);
        h.push(4.0 / norm8 as f32);
    }
    let n = idx.len();
    (
        Tensor::from_data(TensorData::new(f, [n, NF, 1, 1]), dev),
        Tensor::from_data(TensorData::new(y, [n]), dev),
        Tensor::from_data(TensorData::new(h, [n]), dev),
    )
}

/// Mean negative log2-likelihood of the targets under the network's
/// discretized logistic (`out`: `[n, 2, 1, 1]`).
fn nll(out: Tensor<4>, y: Tensor<1>, h: Tensor<1>) -> Tensor<1> {
    let n = y.dims()[0];
    let out = out.reshape([n, 2]);
    let mu = out.clone().slice([0..n, 0..1]).reshape([n]);
    let ls = out.slice([0..n, 1..2]).reshape([n]).clamp(-7.9, 7.9);
    let inv_s = (ls.neg() * std::f32::consts::LN_2).exp();
    let a = (y.clone() + h.clone() - mu.clone()) * inv_s.clone();
    let b = (y - h - mu) * inv_s;
    // σ(a) − σ(b) computed on the side where both are small (precision).
    let sgn = (a.clone() + b.clone()).sign();
    let p = (sigmoid(b.clone().neg() * sgn.clone()) - sigmoid(a.neg() * sgn.clone())) * sgn;
    (p.clamp_min(1e-9).log() * (-1.0 / std::f32::consts::LN_2)).mean()
}

/// Seeded permutation (SplitMix64 + Fisher–Yates).
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut s = seed;
    for i in (1..n).rev() {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        v.swap(i, (z % (i as u64 + 1)) as usize);
    }
    v
}

/// One epoch's figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean training NLL (bits per sample).
    pub train_bits: f64,
    /// Mean validation NLL (bits per sample).
    pub val_bits: f64,
}

/// Mean NLL of `coder` over a whole trace (inference mode, in chunks).
pub fn evaluate(coder: &Coder, plan: &[Op], t: &Trace, dev: &Device) -> f64 {
    let idx: Vec<usize> = (0..t.feats.len()).collect();
    let mut sum = 0.0;
    for c in idx.chunks(8192) {
        let (x, y, h) = tensors(t, c, dev);
        let l = nll(coder.forward(plan, x), y, h).into_scalar::<f32>() as f64;
        sum += l * c.len() as f64;
    }
    sum / idx.len().max(1) as f64
}

/// Trains the network; `events` sees each epoch's figures.
pub fn train(
    tr: &Trace,
    val: &Trace,
    opts: &NetOptions,
    dev: &Device,
    mut events: impl FnMut(&EpochLog, usize, usize),
) -> (Coder, Vec<EpochLog>) {
    let plan = plan(&opts.hidden);
    let vdev = dev.clone();
    let dev = &dev.clone().autodiff();
    // Seeded initial weights.
    dev.seed(opts.seed);
    let mut coder = Coder::new(&plan, dev);
    let mut optim = AdamConfig::new().init();
    let mut logs = Vec::new();
    for epoch in 1..=opts.epochs {
        let order = permutation(tr.feats.len(), opts.seed.wrapping_add(epoch as u64));
        let batches: Vec<&[usize]> = order.chunks(opts.batch).collect();
        let mut sum = 0.0;
        // Step decay: the last quarter of the epochs at a tenth of the rate.
        let lr = if epoch * 4 > opts.epochs * 3 {
            opts.lr / 10.0
        } else {
            opts.lr
        };
        for (bi, b) in batches.iter().enumerate() {
            let (x, y, h) = tensors(tr, b, dev);
            let l = nll(coder.forward(&plan, x), y, h);
            sum += l.clone().into_scalar::<f32>() as f64 * b.len() as f64;
            let grads = GradientsParams::from_grads(l.backward(), &coder);
            coder = optim.step(lr, coder, grads);
            if bi % 64 == 0 {
                let seen: usize = batches[..=bi].iter().map(|b| b.len()).sum();
                let log = EpochLog {
                    epoch,
                    train_bits: sum / seen as f64,
                    val_bits: f64::NAN,
                };
                events(&log, bi + 1, batches.len());
            }
        }
        let log = EpochLog {
            epoch,
            train_bits: sum / tr.feats.len().max(1) as f64,
            val_bits: evaluate(&coder.valid(), &plan, val, &vdev),
        };
        events(&log, batches.len(), batches.len());
        logs.push(log);
    }
    (coder.valid(), logs)
}

/// The integer network: ranges calibrated on (up to 64k of) `t`'s samples.
pub fn export(coder: &Coder, hidden: &[usize], t: &Trace, dev: &Device) -> Net {
    let plan = plan(hidden);
    let n = t.feats.len().min(65_536);
    let idx: Vec<usize> = (0..n).collect();
    let inputs: Vec<Tensor<4>> = idx.chunks(8192).map(|c| tensors(t, c, dev).0).collect();
    let maxes = calibrate(coder, &plan, &inputs);
    to_net(
        coder,
        &plan,
        Shape { c: NF, h: 1, w: 1 },
        8,
        4095,
        &maxes,
        Tail::Delta,
    )
}

/// Mean NLL of the integer network on `t`, in the coder's own arithmetic
/// (for the export report): `(μ, log2 s)` from the integer outputs.
pub fn evaluate_integer(net: &medzip_codec::cm::CtxNet, t: &Trace) -> f64 {
    let mut bufs = medzip_nn::mlp::Scratch::default();
    let mut sum = 0.0;
    for (f, &(d8, norm8)) in t.feats.iter().zip(&t.targets) {
        let (mu, ls) = net.eval(f, medzip_codec::Simd::Auto, &mut bufs);
        let y = d8 as f64 / norm8 as f64;
        let h = 4.0 / norm8 as f64;
        let (mu, s) = (mu as f64 / 256.0, (ls as f64 / 256.0).exp2());
        let sg = |z: f64| 1.0 / (1.0 + (-z).exp());
        let p = sg((y + h - mu) / s) - sg((y - h - mu) / s);
        sum += -p.max(1e-9).log2();
    }
    sum / t.feats.len().max(1) as f64
}
