//! Training of the seed paper's autoencoders in Rust (burn 0.22.1, `flex`
//! CPU backend; `wgpu` behind a feature), their losses and metrics, and
//! export to the integer model format that the codec runs.
//!
//! * [`model`]: the four architectures (ANN, CNN 1.0, CNN 2.0, two-stage).
//! * [`metrics`]: MSE, MS-SSIM, custom IoU, KL divergence.
//! * [`data`]: folder → 256×256 grids, seeded split, shuffles.
//! * [`train`](mod@train): the loop, checkpoints, resume, best weights.
//! * [`export`]: batch-norm folding, calibration, fixed-point quantization.

pub mod ctxnet;
pub mod data;
pub mod export;
pub mod metrics;
pub mod model;
pub mod train;

pub use model::{Arch, Model};

/// Errors of the training layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Data(String),
    #[error("burn: {0}")]
    Burn(String),
}

pub type Result<T> = std::result::Result<T, Error>;
