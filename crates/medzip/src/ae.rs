//! `medzip train` (the paper's autoencoders) and its progress display.

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use medzip_train::train::{export_run, train, Event, TrainOptions};
use medzip_train::Arch;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Architecture: ann, cnn1, cnn2, two-stage (the paper's), or lossy (a
    /// small learned lossy codec standing in for the paper's HiFiC).
    #[arg(long, value_parser = ["ann", "cnn1", "cnn2", "two-stage", "lossy"])]
    arch: String,
    /// Folder of training images (any size and depth; seen as 256×256 8-bit).
    #[arg(long)]
    data: PathBuf,
    /// Run folder: config, checkpoints, best weights, history, exported model.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed of the initial weights, the split and the shuffles.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Continue from the run folder's last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Two-stage only: the exported CNN 2.0 model (a run's model.mzae).
    #[arg(long)]
    stage1: Option<PathBuf>,
    /// Use only the first N images (smoke tests).
    #[arg(long)]
    max_images: Option<usize>,
    /// Train on the GPU (builds with `--features wgpu`).
    #[arg(long)]
    gpu: bool,
    /// Only export the run's best weights again (no training).
    #[arg(long)]
    export_only: bool,
}

pub fn run(a: TrainArgs, quiet: bool) -> Result<()> {
    let arch = Arch::parse(&a.arch).expect("clap checked the name");
    if a.batch == 0 || a.epochs == 0 {
        bail!("--batch and --epochs must be at least 1");
    }
    let opts = TrainOptions {
        arch,
        data: a.data,
        out: a.out.clone(),
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        resume: a.resume,
        stage1: a.stage1,
        max_images: a.max_images,
        gpu: a.gpu,
    };
    if !quiet {
        eprintln!(
            "{}: {} trainable parameters (paper: {}), latent {}, loss {:?}",
            arch.name(),
            arch.parameters(),
            match arch.paper_parameters() {
                0 => "none, not in the paper".to_string(),
                n => n.to_string(),
            },
            arch.latent(),
            arch.loss()
        );
    }
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}, ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut events = |e: Event| {
        match e {
        Event::Loading { done, total } => {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
            pb.set_message("loading images");
        }
        Event::Batch { epoch, batch, batches, loss } => {
            if batch == 1 {
                pb.reset();
                pb.set_length(batches as u64);
            }
            pb.set_position(batch as u64);
            pb.set_message(format!("epoch {epoch}/{} loss {loss:.5}", a.epochs));
        }
        Event::Epoch(l) => pb.suspend(|| {
            if !quiet {
                eprintln!(
                    "epoch {}: train loss {:.5}, val loss {:.5}, val MSE {:.5}, MS-SSIM {:.4}, IoU {:.4} ({:.0} s)",
                    l.epoch, l.train_loss, l.val_loss, l.val_mse, l.val_ms_ssim, l.val_iou, l.seconds
                )
            }
        }),
        Event::Exported { path, report } => pb.suspend(|| {
            if !quiet {
                eprintln!(
                    "exported {} ({} bytes, id {}): integer vs float PSNR {:.1} dB, max diff {}, {:.2} % pixels differ, PNG delta {:.4} bpp (float {:.4}); val MSE {:.5}, MS-SSIM {:.4}, KL {:.4}, IoU {:.4}",
                    path.display(),
                    report.bytes,
                    report.model_id,
                    report.psnr_int_vs_float,
                    report.max_abs_diff,
                    100.0 * report.pixels_differing,
                    report.png_delta_bpp_int,
                    report.png_delta_bpp_float,
                    report.val_mse,
                    report.val_ms_ssim,
                    report.val_kl,
                    report.val_iou
                )
            }
        }),
    }
    };
    if !a.export_only {
        let st = train(&opts, &mut events)?;
        pb.finish_and_clear();
        if !quiet {
            eprintln!(
                "best epoch {} (val loss {:.5})",
                st.best_epoch, st.best_val_loss
            );
        }
    }
    export_run(&a.out, &a.out.join("model.mzae"), &mut events)?;
    Ok(())
}
