//! Export: a trained float model becomes the integer model of `medzip-nn`.
//!
//! Batch norm is folded into the preceding convolution or dense layer;
//! activation ranges are calibrated on training images (largest magnitude
//! seen × 1.5), each layer gets the most fraction bits its range allows in
//! `i16`, each output channel the most weight fraction bits that keep the
//! `i32` accumulator in range (input bound × Σ|w| ≤ 2^30 for the float
//! weights; rounding can add at most ½ per weight). Activations are clamped
//! to their calibrated bound, so an input outside the calibration set
//! cannot overflow either; the sums wrap identically everywhere anyway.

use crate::model::{Block, Coder, Model, Op};
use burn::tensor::{Device, Tensor, TensorData};
use medzip_nn::ae::{AeModel, Output, Stage, LUT_LEN};
use medzip_nn::{Layer, Net, Shape, Weighted};

/// Headroom over the calibrated range.
const HEADROOM: f32 = 1.5;
/// Latent symbols are clamped to ±this.
pub const MAX_SYMBOL: i16 = 127;

fn vec1(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// Float weights of a block with batch norm folded: `(w [out][fan_in], b [out])`.
fn folded(b: &Block) -> (Vec<f32>, Vec<f32>, usize, usize) {
    let (mut w, mut bias, outs, fan_in) = if let Some(c) = &b.conv {
        let [co, ci, kh, kw] = c.weight.val().dims();
        let w = c.weight.val().into_data().try_to_vec::<f32>().expect("f32");
        let bias = c
            .bias
            .as_ref()
            .map(|b| vec1(b.val()))
            .unwrap_or(vec![0.0; co]);
        (w, bias, co, ci * kh * kw)
    } else {
        let l = b.lin.as_ref().expect("dense block");
        let [nin, nout] = l.weight.val().dims();
        // burn stores [in, out]; the integer layer wants [out][in].
        let w = l
            .weight
            .val()
            .transpose()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let bias = l
            .bias
            .as_ref()
            .map(|b| vec1(b.val()))
            .unwrap_or(vec![0.0; nout]);
        (w, bias, nout, nin)
    };
    if let Some(bn) = &b.bn {
        let g = vec1(bn.gamma.val());
        let be = vec1(bn.beta.val());
        let m = vec1(bn.running_mean.value());
        let v = vec1(bn.running_var.value());
        for o in 0..outs {
            let s = g[o] / (v[o] + bn.epsilon as f32).sqrt();
            for x in &mut w[o * fan_in..(o + 1) * fan_in] {
                *x *= s;
            }
            bias[o] = (bias[o] - m[o]) * s + be[o];
        }
    }
    (w, bias, outs, fan_in)
}

/// Fraction bits for values up to `bound` in `i16` (0..=14).
fn frac_for(bound: f32) -> u8 {
    let mut f = 14u8;
    while f > 0 && bound * (1u32 << f) as f32 > 32_000.0 {
        f -= 1;
    }
    f
}

/// Quantizes one weighted layer. `in_bound_q`: largest input magnitude in
/// input units; `f_out`/`bound_q` chosen by the caller.
fn quantize(
    b: &Block,
    f_in: u8,
    in_bound_q: i64,
    f_out: u8,
    bound_q: i16,
    leaky: bool,
) -> Weighted {
    let (w, bias, outs, fan_in) = folded(b);
    let mut w_frac = Vec::with_capacity(outs);
    let mut wq = Vec::with_capacity(w.len());
    let mut bq = Vec::with_capacity(outs);
    for o in 0..outs {
        let row = &w[o * fan_in..(o + 1) * fan_in];
        let maxw = row.iter().fold(0f32, |m, &x| m.max(x.abs())) as f64;
        let sumw: f64 = row.iter().map(|&x| x.abs() as f64).sum();
        let mut s: i32 = 15;
        loop {
            let sc = (1u64 << s) as f64;
            let fits = maxw * sc <= 32_767.0
                && in_bound_q as f64 * sumw * sc <= (1u64 << 30) as f64
                && (bias[o] as f64).abs() * sc * (1u64 << f_in) as f64 <= (1u64 << 30) as f64;
            // (Stops at 0; a layer that does not fit even there is
            // refused when the exported model is parsed back.)
            if fits || s == 0 || s + f_in as i32 <= f_out as i32 {
                break;
            }
            s -= 1;
        }
        // The output shift must be non-negative.
        let s = s.max(f_out as i32 - f_in as i32).max(0) as u8;
        let sc = (1u64 << s) as f64;
        wq.extend(
            row.iter()
                .map(|&x| (x as f64 * sc).round().clamp(-32_767.0, 32_767.0) as i16),
        );
        let bsc = sc * (1u64 << f_in) as f64;
        bq.push(
            (bias[o] as f64 * bsc)
                .round()
                .clamp(-2_147_483_647.0, 2_147_483_647.0) as i32,
        );
        w_frac.push(s);
    }
    Weighted {
        fan_in,
        outs,
        f_out,
        leaky,
        bound: bound_q,
        w_frac,
        bias: bq,
        w: wq,
    }
}

/// Largest magnitude of every weighted op's output over `inputs`.
pub(crate) fn calibrate(coder: &Coder, plan: &[Op], inputs: &[Tensor<4>]) -> Vec<f32> {
    let nblocks = coder.blocks.len();
    let mut maxes = vec![0f32; nblocks];
    for x in inputs {
        coder.forward_tap(plan, x.clone(), &mut |i, y| {
            let m = y.clone().abs().max().into_scalar::<f32>();
            maxes[i] = maxes[i].max(m);
        });
    }
    maxes
}

/// How a coder's output is treated.
#[derive(Clone, Copy)]
pub(crate) enum Tail {
    /// Latent: range from calibration.
    Free,
    /// Sigmoid pre-activation: 8 fraction bits, clamp ±8.
    Sigmoid,
    /// Linear delta: at least 8 fraction bits.
    Delta,
}

pub(crate) fn to_net(
    coder: &Coder,
    plan: &[Op],
    input: Shape,
    f_in: u8,
    in_bound_q: i64,
    maxes: &[f32],
    tail: Tail,
) -> Net {
    let mut layers = Vec::new();
    let (mut f, mut bound) = (f_in, in_bound_q);
    let mut bi = 0;
    let nweighted = coder.blocks.len();
    for op in plan {
        match *op {
            Op::Conv { act, .. } | Op::Dense { act, .. } => {
                let last = bi + 1 == nweighted;
                let range = maxes[bi] * HEADROOM + 1e-3;
                let (f_out, bound_q) = match (last, tail) {
                    (true, Tail::Sigmoid) => (8u8, 2048i16),
                    (true, Tail::Delta) => {
                        let fo = frac_for(range).max(8);
                        (fo, (range * (1u32 << fo) as f32).min(32_767.0) as i16)
                    }
                    _ => {
                        let fo = frac_for(range);
                        (
                            fo,
                            (range * (1u32 << fo) as f32).ceil().min(32_767.0) as i16,
                        )
                    }
                };
                let q = quantize(&coder.blocks[bi], f, bound, f_out, bound_q, act);
                layers.push(if matches!(op, Op::Conv { .. }) {
                    Layer::Conv3(q)
                } else {
                    Layer::Dense(q)
                });
                f = f_out;
                bound = bound_q as i64;
                bi += 1;
            }
            Op::Pool => layers.push(Layer::MaxPool2),
            Op::Up => layers.push(Layer::Upsample2),
            Op::Reshape([c, h, w]) => layers.push(Layer::Reshape(Shape { c, h, w })),
        }
    }
    Net {
        input,
        f_in,
        layers,
    }
}

/// The sigmoid table: pixel `min(255, ⌊256·σ(z)⌋)` for `z = (i − 2048)/256`.
pub fn sigmoid_lut() -> Vec<u8> {
    (0..LUT_LEN)
        .map(|i| {
            let z = (i as f64 - 2048.0) / 256.0;
            ((256.0 / (1.0 + (-z).exp())).floor() as i64).clamp(0, 255) as u8
        })
        .collect()
}

/// Model inputs of a batch of 8-bit grids, as the integer network sees
/// them: stage 1 `(p + ½)/256`, later stages `(p − r)/256`.
pub fn input_tensor(
    imgs: &[&[u8]],
    prev: Option<&[&[u8]]>,
    size: usize,
    device: &Device,
) -> Tensor<4> {
    let mut v = Vec::with_capacity(imgs.len() * size * size);
    for (i, img) in imgs.iter().enumerate() {
        match prev {
            None => v.extend(img.iter().map(|&p| (p as f32 + 0.5) / 256.0)),
            Some(r) => v.extend(
                img.iter()
                    .zip(r[i].iter())
                    .map(|(&p, &q)| (p as f32 - q as f32) / 256.0),
            ),
        }
    }
    Tensor::from_data(TensorData::new(v, [imgs.len(), 1, size, size]), device)
}

/// Input tensors of `imgs` (and the previous stage's reconstructions) in
/// batches of 8.
fn input_batches(imgs: &[Vec<u8>], prev: Option<&[Vec<u8>]>, device: &Device) -> Vec<Tensor<4>> {
    imgs.chunks(8)
        .enumerate()
        .map(|(k, c)| {
            let refs: Vec<&[u8]> = c.iter().map(|v| v.as_slice()).collect();
            let p: Option<Vec<&[u8]>> = prev.map(|p| {
                p[k * 8..k * 8 + c.len()]
                    .iter()
                    .map(|v| v.as_slice())
                    .collect()
            });
            input_tensor(&refs, p.as_deref(), crate::model::SIZE, device)
        })
        .collect()
}

/// Exports the trained stage of `model` (on a plain device, validation
/// mode) to an integer stage, calibrated on `calib` (8-bit grids; for a
/// second stage, with the first stage's reconstructions `prev`).
pub fn export_stage(
    model: &Model,
    calib: &[Vec<u8>],
    prev: Option<&[Vec<u8>]>,
    device: &Device,
) -> crate::Result<Stage> {
    let size = crate::model::SIZE;
    let ae = &model.ae;
    let batches = input_batches(calib, prev, device);
    let emax = calibrate(&ae.encoder, &model.enc_plan, &batches);
    let latents: Vec<Tensor<4>> = batches
        .iter()
        .map(|x| model.encode(ae, x.clone()))
        .collect();
    let dmax = calibrate(&ae.decoder, &model.dec_plan, &latents);
    if emax.iter().chain(&dmax).any(|m| !m.is_finite()) {
        return Err(crate::Error::Data(
            "non-finite activations: the run diverged; nothing exported".into(),
        ));
    }
    let img = Shape {
        c: 1,
        h: size,
        w: size,
    };
    // Stage inputs (2p + 1 or 2(p − r)) stay within ±511 at 9 fraction bits.
    let encoder = to_net(&ae.encoder, &model.enc_plan, img, 9, 511, &emax, Tail::Free);
    let (zshape, zf) = encoder
        .check()
        .map_err(|e| crate::Error::Data(format!("exported encoder: {e}")))?;
    let zbound = match encoder.layers.last() {
        Some(Layer::Dense(p)) | Some(Layer::Conv3(p)) => p.bound as i32,
        _ => 32_767,
    };
    // The learned lossy codec was trained to quantize its latent with step
    // 1; the paper's models get a step that spreads their range over ±127.
    let (step, max_symbol) = if model.ae.log_scale.is_some() {
        let step = 1i32 << zf;
        (step as i16, (32_767 / step).max(1) as i16)
    } else {
        (
            ((zbound + MAX_SYMBOL as i32 - 1) / MAX_SYMBOL as i32).max(1) as i16,
            MAX_SYMBOL,
        )
    };
    let dec_in_bound = (max_symbol as i64 * step as i64).min(32_767);
    let tail = if model.arch.sigmoid_output() {
        Tail::Sigmoid
    } else {
        Tail::Delta
    };
    let decoder = to_net(
        &ae.decoder,
        &model.dec_plan,
        zshape,
        zf,
        dec_in_bound,
        &dmax,
        tail,
    );
    let output = if model.arch.sigmoid_output() {
        Output::Sigmoid(sigmoid_lut())
    } else {
        Output::Delta
    };
    Ok(Stage {
        encoder,
        step,
        max_symbol,
        decoder,
        output,
    })
}

/// Float reconstruction (8-bit grids) by the burn model, for the
/// float-versus-integer report: stage 1 `min(255, ⌊256·y⌋)`, later stages
/// `clamp(r + round(256·d))`.
pub fn float_reconstruct(
    model: &Model,
    imgs: &[Vec<u8>],
    prev: Option<&[Vec<u8>]>,
    device: &Device,
) -> Vec<Vec<u8>> {
    let size = crate::model::SIZE;
    let mut out = Vec::new();
    for x in input_batches(imgs, prev, device) {
        let y = if model.ae.log_scale.is_some() {
            // The learned lossy codec's latent is rounded (step 1).
            model.decode(&model.ae, model.encode(&model.ae, x).round())
        } else {
            model.forward(&model.ae, x)
        };
        let v = y.into_data().try_to_vec::<f32>().expect("f32");
        for chunk in v.chunks(size * size) {
            let i = out.len();
            out.push(match prev {
                None => chunk
                    .iter()
                    .map(|&y| ((y * 256.0).floor() as i32).clamp(0, 255) as u8)
                    .collect(),
                Some(r) => chunk
                    .iter()
                    .zip(r[i].iter())
                    .map(|(&d, &q)| (q as i32 + (d * 256.0).round() as i32).clamp(0, 255) as u8)
                    .collect(),
            });
        }
    }
    out
}

/// Assembles a model file from stages.
pub fn assemble(name: &str, stages: Vec<Stage>) -> AeModel {
    AeModel {
        name: name.to_string(),
        size: crate::model::SIZE,
        stages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, SIZE};
    use burn::module::Module;
    use burn::optim::{AdamConfig, GradientsParams};

    fn images(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|k| {
                (0..SIZE * SIZE)
                    .map(|i| {
                        let (y, x) = (i / SIZE, i % SIZE);
                        ((x * (k + 1) + y * 3 + (x * y) % 17) % 256) as u8
                    })
                    .collect()
            })
            .collect()
    }

    fn trained(arch: Arch, imgs: &[Vec<u8>], prev: Option<&[Vec<u8>]>) -> Model {
        let dev = Device::flex().autodiff();
        dev.seed(3);
        let mut model = Model::new(arch, &dev);
        let mut optim = AdamConfig::new().init();
        let refs: Vec<&[u8]> = imgs.iter().map(|v| v.as_slice()).collect();
        let prefs: Option<Vec<&[u8]>> = prev.map(|p| p.iter().map(|v| v.as_slice()).collect());
        for _ in 0..3 {
            let x = input_tensor(&refs, prefs.as_deref(), SIZE, &dev);
            let y = model.forward(&model.ae, x.clone());
            let d = y - x;
            let l = (d.clone() * d).mean();
            let g = GradientsParams::from_grads(l.backward(), &model.ae);
            model.ae = optim.step(1e-3, model.ae, g);
        }
        model.ae = model.ae.valid();
        model
    }

    fn assert_close(name: &str, int: &[Vec<u8>], fl: &[Vec<u8>]) {
        let mut differing = 0usize;
        for (r, f) in int.iter().zip(fl) {
            for (&a, &b) in r.iter().zip(f) {
                assert!(a.abs_diff(b) <= 3, "{name}: integer {a} vs float {b}");
                differing += (a != b) as usize;
            }
        }
        assert!(
            differing * 20 < int.len() * SIZE * SIZE,
            "{name}: {differing} pixels differ"
        );
    }

    /// A few Adam steps (so batch norm statistics and weights are not at
    /// their initial values), then export: the integer model must track
    /// the float one closely, for a sigmoid first stage and for a delta
    /// second stage trained on the first stage's integer reconstruction.
    #[test]
    fn integer_export_tracks_the_float_model() {
        let imgs = images(4);
        let plain = Device::flex();
        let m1 = trained(Arch::Cnn1, &imgs, None);
        let s1 = assemble(
            "cnn1",
            vec![export_stage(&m1, &imgs, None, &plain).unwrap()],
        );
        let s1 = AeModel::from_bytes(&s1.to_bytes()).expect("exported model parses");
        let r1: Vec<Vec<u8>> = imgs
            .iter()
            .map(|i| s1.decode(&s1.encode(i).unwrap()).unwrap())
            .collect();
        assert_close("cnn1", &r1, &float_reconstruct(&m1, &imgs, None, &plain));

        let m2 = trained(Arch::TwoStage, &imgs, Some(&r1));
        let st2 = export_stage(&m2, &imgs, Some(&r1), &plain).unwrap();
        let both = assemble("two-stage", vec![s1.stages[0].clone(), st2]);
        let both = AeModel::from_bytes(&both.to_bytes()).expect("two-stage model parses");
        let r2: Vec<Vec<u8>> = imgs
            .iter()
            .map(|i| both.decode(&both.encode(i).unwrap()).unwrap())
            .collect();
        assert_close(
            "two-stage",
            &r2,
            &float_reconstruct(&m2, &imgs, Some(&r1), &plain),
        );

        // The learned lossy codec: spatial latent, step-1 quantization.
        let m3 = trained(Arch::Lossy, &imgs, None);
        let lossy = assemble(
            "lossy",
            vec![export_stage(&m3, &imgs, None, &plain).unwrap()],
        );
        let lossy = AeModel::from_bytes(&lossy.to_bytes()).expect("lossy model parses");
        assert_eq!(lossy.stages[0].latent_len(), Arch::Lossy.latent());
        let r3: Vec<Vec<u8>> = imgs
            .iter()
            .map(|i| lossy.decode(&lossy.encode(i).unwrap()).unwrap())
            .collect();
        assert_close("lossy", &r3, &float_reconstruct(&m3, &imgs, None, &plain));
    }
}
