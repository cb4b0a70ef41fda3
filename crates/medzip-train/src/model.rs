//! The paper's four autoencoders in burn.
//!
//! A network is described by a plan (a list of [`Op`]s) plus a burn module
//! holding one [`Block`] per weighted op, so that the float model, the
//! exporter and the integer network in `medzip-nn` walk the same list.
//! Every guess where the paper is silent is written here (see also
//! `docs/PAPER.md`):
//!
//! * ANN: 65,536 → 1,024 → 512 → 128 → 512 → 1,024 → 65,536, LeakyReLU after
//!   every hidden layer, sigmoid output: exactly the paper's 135,466,112
//!   parameters.
//! * CNNs: 3×3 convolutions (same padding) → batch norm → LeakyReLU → 2×2
//!   max pooling, six times (256 → 4), flatten, dense to the latent; the
//!   decoder mirrors it with dense → reshape → (conv → BN → LeakyReLU → 2×
//!   nearest upsampling) ×6 → 3×3 conv → sigmoid. Channel widths were chosen
//!   to land on the paper's parameter counts (trainable, as Keras counts
//!   them: weights, biases, BN γ and β).
//! * LeakyReLU slope 77/256 ≈ 0.3 (Keras' default, exact in fixed point).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, sigmoid};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use medzip_nn::LEAKY_SLOPE;

/// Side of the images the paper's models see.
pub const SIZE: usize = 256;
/// Latent channels of the learned lossy codec (16×16 each).
pub const LOSSY_LATENT_CH: usize = 4;

/// The four architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    Ann,
    Cnn1,
    Cnn2,
    TwoStage,
    /// Stand-in for the paper's pretrained HiFiC: a small learned lossy
    /// codec (spatial latent, uniform-noise quantization in training, a
    /// factorized Laplace entropy model with learned per-channel scales,
    /// rate–distortion loss; Ballé et al.'s factorized-prior setting
    /// without GDN or hyperprior).
    Lossy,
}

impl Arch {
    pub const ALL: [Arch; 5] = [
        Arch::Ann,
        Arch::Cnn1,
        Arch::Cnn2,
        Arch::TwoStage,
        Arch::Lossy,
    ];
    /// The paper's four.
    pub const PAPER: [Arch; 4] = [Arch::Ann, Arch::Cnn1, Arch::Cnn2, Arch::TwoStage];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Ann => "ann",
            Arch::Cnn1 => "cnn1",
            Arch::Cnn2 => "cnn2",
            Arch::TwoStage => "two-stage",
            Arch::Lossy => "lossy",
        }
    }

    pub fn parse(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == s)
    }

    /// Parameter count the paper reports (for the trained part: the second
    /// stage alone for the two-stage model).
    pub fn paper_parameters(self) -> usize {
        match self {
            Arch::Ann => 135_466_112,
            Arch::Cnn1 => 1_008_449,
            Arch::Cnn2 => 1_795_265,
            Arch::TwoStage => 583_265,
            Arch::Lossy => 0,
        }
    }

    /// Paper's epochs and loss, for reports.
    pub fn paper_epochs(self) -> usize {
        match self {
            Arch::Ann => 48,
            Arch::Cnn1 => 36,
            Arch::Cnn2 => 26,
            Arch::TwoStage => 10,
            Arch::Lossy => 0,
        }
    }

    pub fn loss(self) -> Loss {
        match self {
            Arch::Ann => Loss::Mse,
            Arch::Cnn1 => Loss::MsSsim,
            Arch::Cnn2 => Loss::Mixed,
            Arch::TwoStage => Loss::Iou,
            Arch::Lossy => Loss::RateDistortion,
        }
    }

    /// Encoder and decoder plans of the trained stage.
    pub fn plans(self) -> (Vec<Op>, Vec<Op>) {
        match self {
            Arch::Ann => {
                let dims = [65_536, 1_024, 512, 128];
                let mut enc = vec![Op::Reshape([65_536, 1, 1])];
                for i in 0..3 {
                    enc.push(Op::Dense {
                        nin: dims[i],
                        nout: dims[i + 1],
                        act: i < 2,
                        bn: false,
                    });
                }
                let mut dec = Vec::new();
                for i in (0..3).rev() {
                    dec.push(Op::Dense {
                        nin: dims[i + 1],
                        nout: dims[i],
                        act: i > 0,
                        bn: false,
                    });
                }
                dec.push(Op::Reshape([1, SIZE, SIZE]));
                (enc, dec)
            }
            Arch::Cnn1 => cnn_plans(&[8, 16, 24, 64, 128, 128], 128, &[128, 64, 24, 16, 8, 8]),
            Arch::Cnn2 => cnn_plans(&[8, 32, 32, 48, 64, 96], 512, &[64, 48, 32, 32, 8, 8]),
            Arch::TwoStage => cnn_plans(&[8, 8, 8, 24, 32, 64], 256, &[32, 24, 8, 8, 8, 8]),
            Arch::Lossy => {
                // 256² → 16² × 4 latent channels (1,024 values), and back.
                let mut enc = Vec::new();
                let cin = conv_blocks(&mut enc, 1, &[16, 32, 32, 32], Op::Pool);
                enc.push(plain_conv(cin, LOSSY_LATENT_CH));
                let mut dec = Vec::new();
                let cin = conv_blocks(&mut dec, LOSSY_LATENT_CH, &[32, 32, 16, 8], Op::Up);
                dec.push(plain_conv(cin, 1));
                (enc, dec)
            }
        }
    }

    /// Whether the decoder ends in a sigmoid (stage 1) or is linear (the
    /// second stage predicts a signed delta).
    pub fn sigmoid_output(self) -> bool {
        self != Arch::TwoStage
    }
}

/// Training losses of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Mean squared error (ANN).
    Mse,
    /// 1 − MS-SSIM (CNN 1.0).
    MsSsim,
    /// 0.5·MSE + 0.5·(1 − MS-SSIM) (CNN 2.0).
    Mixed,
    /// 1 − custom IoU (second stage).
    Iou,
    /// λ·MSE + rate (bits per pixel under the learned entropy model).
    RateDistortion,
}

/// Appends, for each width, 3×3 conv → batch norm → LeakyReLU → `then`
/// (pooling or upsampling); returns the last width.
fn conv_blocks(ops: &mut Vec<Op>, mut cin: usize, widths: &[usize], then: Op) -> usize {
    for &c in widths {
        ops.push(Op::Conv {
            cin,
            cout: c,
            act: true,
            bn: true,
        });
        ops.push(then);
        cin = c;
    }
    cin
}

/// A 3×3 conv without batch norm or activation (latent or output layer).
fn plain_conv(cin: usize, cout: usize) -> Op {
    Op::Conv {
        cin,
        cout,
        act: false,
        bn: false,
    }
}

fn cnn_plans(enc_ch: &[usize], latent: usize, dec_ch: &[usize]) -> (Vec<Op>, Vec<Op>) {
    let mut enc = Vec::new();
    let cin = conv_blocks(&mut enc, 1, enc_ch, Op::Pool);
    let side = SIZE >> enc_ch.len();
    let flat = cin * side * side;
    enc.push(Op::Reshape([flat, 1, 1]));
    enc.push(Op::Dense {
        nin: flat,
        nout: latent,
        act: false,
        bn: false,
    });
    let mut dec = vec![
        Op::Dense {
            nin: latent,
            nout: flat,
            act: true,
            bn: false,
        },
        Op::Reshape([cin, side, side]),
    ];
    let cin = conv_blocks(&mut dec, cin, dec_ch, Op::Up);
    dec.push(plain_conv(cin, 1));
    (enc, dec)
}

/// One step of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// 3×3 conv (+ batch norm) (+ LeakyReLU).
    Conv {
        cin: usize,
        cout: usize,
        act: bool,
        bn: bool,
    },
    /// Dense (+ batch norm) (+ LeakyReLU) over a `[n, 1, 1]` input.
    Dense {
        nin: usize,
        nout: usize,
        act: bool,
        bn: bool,
    },
    /// 2×2 max pooling.
    Pool,
    /// 2× nearest upsampling.
    Up,
    /// Reshape to `[c, h, w]`.
    Reshape([usize; 3]),
}

/// Weights of one weighted op.
#[derive(Module, Debug)]
pub struct Block {
    pub conv: Option<Conv2d>,
    pub lin: Option<Linear>,
    pub bn: Option<BatchNorm>,
}

/// A network following a plan.
#[derive(Module, Debug)]
pub struct Coder {
    pub blocks: Vec<Block>,
}

/// Encoder and decoder of one stage.
#[derive(Module, Debug)]
pub struct Autoencoder {
    pub encoder: Coder,
    pub decoder: Coder,
    /// Learned log-scales of the latent channels' Laplace entropy model
    /// (learned lossy codec only).
    pub log_scale: Option<Param<Tensor<1>>>,
}

impl Coder {
    pub fn new(plan: &[Op], device: &Device) -> Coder {
        let blocks = plan
            .iter()
            .filter_map(|op| match *op {
                Op::Conv { cin, cout, bn, .. } => Some(Block {
                    conv: Some(
                        Conv2dConfig::new([cin, cout], [3, 3])
                            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                            .init(device),
                    ),
                    lin: None,
                    bn: bn.then(|| BatchNormConfig::new(cout).init(device)),
                }),
                Op::Dense { nin, nout, bn, .. } => Some(Block {
                    conv: None,
                    lin: Some(LinearConfig::new(nin, nout).init(device)),
                    bn: bn.then(|| BatchNormConfig::new(nout).init(device)),
                }),
                _ => None,
            })
            .collect();
        Coder { blocks }
    }

    /// Runs the plan on `x` (`[batch, c, h, w]`), calling `tap` with every
    /// weighted op's output (after its activation): the exporter calibrates
    /// fixed-point ranges with it.
    pub fn forward_tap(
        &self,
        plan: &[Op],
        mut x: Tensor<4>,
        tap: &mut dyn FnMut(usize, &Tensor<4>),
    ) -> Tensor<4> {
        let mut bi = 0;
        for op in plan {
            x = match *op {
                Op::Conv { act, .. } => {
                    let b = &self.blocks[bi];
                    let mut y = b.conv.as_ref().expect("conv block").forward(x);
                    if let Some(bn) = &b.bn {
                        y = bn.forward(y);
                    }
                    if act {
                        y = leaky_relu(y, LEAKY_SLOPE as f64);
                    }
                    tap(bi, &y);
                    bi += 1;
                    y
                }
                Op::Dense { nout, act, .. } => {
                    let b = &self.blocks[bi];
                    let [n, c, h, w] = x.dims();
                    let mut y = b
                        .lin
                        .as_ref()
                        .expect("dense block")
                        .forward(x.reshape([n, c * h * w]));
                    if let Some(bn) = &b.bn {
                        y = bn.forward(y);
                    }
                    if act {
                        y = leaky_relu(y, LEAKY_SLOPE as f64);
                    }
                    let y = y.reshape([n, nout, 1, 1]);
                    tap(bi, &y);
                    bi += 1;
                    y
                }
                Op::Pool => max_pool2d(x, MaxPoolOptions::new([2, 2])),
                Op::Up => {
                    let [n, c, h, w] = x.dims();
                    x.reshape([n, c, h, 1, w, 1])
                        .repeat_dim(3, 2)
                        .repeat_dim(5, 2)
                        .reshape([n, c, 2 * h, 2 * w])
                }
                Op::Reshape([c, h, w]) => {
                    let n = x.dims()[0];
                    x.reshape([n, c, h, w])
                }
            };
        }
        x
    }

    pub fn forward(&self, plan: &[Op], x: Tensor<4>) -> Tensor<4> {
        self.forward_tap(plan, x, &mut |_, _| {})
    }
}

/// The trainable part of an architecture with its plans.
pub struct Model {
    pub arch: Arch,
    pub enc_plan: Vec<Op>,
    pub dec_plan: Vec<Op>,
    pub ae: Autoencoder,
}

impl Model {
    pub fn new(arch: Arch, device: &Device) -> Model {
        let (enc_plan, dec_plan) = arch.plans();
        let ae = Autoencoder {
            encoder: Coder::new(&enc_plan, device),
            decoder: Coder::new(&dec_plan, device),
            log_scale: (arch == Arch::Lossy)
                .then(|| Param::from_tensor(Tensor::zeros([LOSSY_LATENT_CH], device))),
        };
        Model {
            arch,
            enc_plan,
            dec_plan,
            ae,
        }
    }

    /// Latent (`[batch, latent, 1, 1]`) of inputs `x` (`[batch, 1, 256, 256]`).
    pub fn encode(&self, ae: &Autoencoder, x: Tensor<4>) -> Tensor<4> {
        ae.encoder.forward(&self.enc_plan, x)
    }

    /// Decoder output: sigmoid image in (0, 1) or a linear delta.
    pub fn decode(&self, ae: &Autoencoder, z: Tensor<4>) -> Tensor<4> {
        let y = ae.decoder.forward(&self.dec_plan, z);
        if self.arch.sigmoid_output() {
            sigmoid(y)
        } else {
            y
        }
    }

    pub fn forward(&self, ae: &Autoencoder, x: Tensor<4>) -> Tensor<4> {
        let z = self.encode(ae, x);
        self.decode(ae, z)
    }
}

/// Trainable parameters as Keras counts them (weights, biases, BN γ, β),
/// computed from a plan (independent of burn's own count, which also
/// includes BN running statistics).
pub fn plan_parameters(plan: &[Op]) -> usize {
    plan.iter()
        .map(|op| match *op {
            Op::Conv { cin, cout, bn, .. } => cin * cout * 9 + cout + if bn { 2 * cout } else { 0 },
            Op::Dense { nin, nout, bn, .. } => nin * nout + nout + if bn { 2 * nout } else { 0 },
            _ => 0,
        })
        .sum()
}

impl Arch {
    /// Our trainable parameter count for this architecture's trained stage.
    pub fn parameters(self) -> usize {
        let (e, d) = self.plans();
        plan_parameters(&e) + plan_parameters(&d)
    }

    /// Latent size of the trained stage.
    pub fn latent(self) -> usize {
        let (enc, _) = self.plans();
        let side = SIZE >> enc.iter().filter(|o| matches!(o, Op::Pool)).count();
        match enc.last() {
            Some(Op::Dense { nout, .. }) => *nout,
            Some(Op::Conv { cout, .. }) => cout * side * side,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_are_close_to_the_paper() {
        for a in Arch::PAPER {
            let ours = a.parameters() as f64;
            let paper = a.paper_parameters() as f64;
            assert!(
                (ours / paper - 1.0).abs() < 0.002,
                "{}: {ours} vs {paper}",
                a.name()
            );
        }
        assert_eq!(Arch::Ann.parameters(), 135_466_112);
        assert_eq!(Arch::Cnn1.latent(), 128);
        assert_eq!(Arch::Cnn2.latent(), 512);
        assert_eq!(Arch::TwoStage.latent(), 256);
    }

    #[test]
    fn burn_counts_match_the_plan() {
        let device = Device::flex();
        for a in [Arch::Cnn1, Arch::Cnn2, Arch::TwoStage] {
            let m = Model::new(a, &device);
            // burn also counts BN running mean and variance (2 per channel).
            let bn: usize = m
                .enc_plan
                .iter()
                .chain(&m.dec_plan)
                .map(|op| match *op {
                    Op::Conv { cout, bn: true, .. } => 2 * cout,
                    _ => 0,
                })
                .sum();
            assert_eq!(m.ae.num_params(), a.parameters() + bn, "{}", a.name());
        }
    }

    #[test]
    fn shapes_flow_through_the_cnns() {
        let device = Device::flex();
        let m = Model::new(Arch::TwoStage, &device);
        let x = Tensor::<4>::zeros([2, 1, SIZE, SIZE], &device);
        let z = m.encode(&m.ae, x.clone());
        assert_eq!(z.dims(), [2, 256, 1, 1]);
        assert_eq!(m.decode(&m.ae, z).dims(), [2, 1, SIZE, SIZE]);
    }
}
