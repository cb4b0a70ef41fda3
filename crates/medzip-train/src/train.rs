//! The training loop: seeded split and shuffles, Adam, batch 32, a
//! checkpoint every epoch (`--resume` continues from it), the best weights
//! on validation kept, the configuration and history saved beside them.

use crate::data::{Dataset, Rng};
use crate::export::{export_stage, float_reconstruct, input_tensor};
use crate::metrics::{iou, laplace_bits, ms_ssim, mse, quality};
use crate::model::{Arch, Autoencoder, Loss, Model, SIZE};
use crate::{Error, Result};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Distribution, Tensor};
use medzip_nn::ae::AeModel;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `medzip train` asks for.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub arch: Arch,
    pub data: PathBuf,
    pub out: PathBuf,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    pub resume: bool,
    /// For the two-stage model: the exported CNN 2.0 model file.
    pub stage1: Option<PathBuf>,
    /// Use at most this many images (smoke tests).
    pub max_images: Option<usize>,
    /// Use the GPU (wgpu) backend when built with it.
    pub gpu: bool,
}

/// One epoch's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_mse: f64,
    pub val_ms_ssim: f64,
    pub val_iou: f64,
    /// Learned lossy codec: latent bits per pixel under its entropy model.
    #[serde(default)]
    pub val_rate_bpp: f64,
    pub seconds: f64,
}

/// `config.json` beside the weights: everything needed to reproduce the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    pub arch: Arch,
    pub data: String,
    pub data_list_sha256: String,
    pub images: usize,
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    pub parameters: usize,
    pub paper_parameters: usize,
    pub stage1_sha256: Option<String>,
    pub backend: String,
}

/// `state.json`: progress, for `--resume`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub epochs_done: usize,
    pub best_epoch: usize,
    pub best_val_loss: f64,
    pub history: Vec<EpochLog>,
}

/// Progress events for the caller's display.
pub enum Event<'a> {
    Loading {
        done: usize,
        total: usize,
    },
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    Epoch(&'a EpochLog),
    Exported {
        path: &'a Path,
        report: &'a ExportReport,
    },
}

/// How far the integer model strays from the float one (validation set).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportReport {
    pub model_id: String,
    pub bytes: usize,
    pub int_parameters: usize,
    /// PSNR of the integer reconstruction against the float one (dB).
    pub psnr_int_vs_float: f64,
    pub max_abs_diff: u8,
    pub pixels_differing: f64,
    /// The paper's PNG-delta bpp on the validation images with the float
    /// reconstruction and with the integer one (what the codec uses).
    pub png_delta_bpp_float: f64,
    pub png_delta_bpp_int: f64,
    /// Validation metrics of the integer reconstruction.
    pub val_mse: f64,
    pub val_ms_ssim: f64,
    pub val_kl: f64,
    pub val_iou: f64,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::Io(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("serializable")
}

fn load_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    serde_json::from_slice(&read(path)?)
        .map_err(|e| Error::Data(format!("{}: {e}", path.display())))
}

fn save_module(ae: Autoencoder, path: &Path) -> Result<()> {
    let b = ae
        .into_record()
        .into_bytes()
        .map_err(|e| Error::Burn(format!("{e:?}")))?;
    write_atomic(path, &b)
}

/// Loads weights saved by a run (`best.bpk` or `checkpoint.bpk`).
pub fn load_module(ae: Autoencoder, path: &Path) -> Result<Autoencoder> {
    let rec = ModuleRecord::from_bytes(Bytes::from_bytes_vec(read(path)?))
        .map_err(|e| Error::Burn(format!("{}: {e:?}", path.display())))?;
    ae.try_load_record(rec)
        .map_err(|e| Error::Burn(format!("{}: {e:?}", path.display())))
}

/// Device for training.
pub fn device(gpu: bool) -> Result<Device> {
    if gpu {
        #[cfg(feature = "wgpu")]
        return Ok(Device::wgpu(Default::default()));
        #[cfg(not(feature = "wgpu"))]
        return Err(Error::Data(
            "this build has no GPU backend (build with --features wgpu)".into(),
        ));
    }
    Ok(Device::flex())
}

/// Loss of outputs `y` against targets `t`, one value.
fn loss(kind: Loss, y: Tensor<4>, t: Tensor<4>) -> Tensor<1> {
    match kind {
        Loss::Mse => mse(y, t).mean(),
        Loss::MsSsim => ms_ssim(y, t).mean().neg().add_scalar(1.0),
        Loss::Mixed => {
            mse(y.clone(), t.clone()).mean().mul_scalar(0.5)
                + ms_ssim(y, t).mean().neg().add_scalar(1.0).mul_scalar(0.5)
        }
        Loss::Iou => iou(t, y).mean().neg().add_scalar(1.0),
        Loss::RateDistortion => mse(y, t).mean().mul_scalar(LOSSY_LAMBDA),
    }
}

/// λ of the learned lossy codec's loss `λ·MSE + bpp` (MSE on [0, 1]).
const LOSSY_LAMBDA: f32 = 100.0;

/// The model's output and, for the learned lossy codec, its rate in bits
/// per pixel under the learned entropy model: uniform noise on the latent
/// while training, rounding otherwise (what export and the codec do).
fn run_model(
    model: &Model,
    ae: &Autoencoder,
    x: Tensor<4>,
    train: bool,
) -> (Tensor<4>, Option<Tensor<1>>) {
    match &ae.log_scale {
        None => (model.forward(ae, x), None),
        Some(ls) => {
            let z = model.encode(ae, x);
            let zh = if train {
                let noise = Tensor::random(z.dims(), Distribution::Uniform(-0.5, 0.5), &z.device());
                z + noise
            } else {
                z.round()
            };
            let bpp = laplace_bits(zh.clone(), ls.val())
                .mean()
                .div_scalar((SIZE * SIZE) as f32);
            (model.decode(ae, zh), Some(bpp))
        }
    }
}

/// First-stage reconstructions of `images` by an exported model (what the
/// codec will see), for training and exporting a second stage.
pub fn stage1_recon(stage1: &AeModel, images: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    use rayon::prelude::*;
    images
        .par_iter()
        .map(|img| {
            let lat = stage1.encode(img).map_err(|e| Error::Data(e.to_string()))?;
            stage1
                .decode_stages(&lat, 1)
                .map_err(|e| Error::Data(e.to_string()))
        })
        .collect()
}

/// Trains `opts.arch`; returns the final state. Files in `opts.out`:
/// `config.json`, `state.json`, `history.csv`, `checkpoint-<epoch>.bpk` +
/// `optimizer-<epoch>.bin` (last epoch), `best.bpk` (best validation loss).
pub fn train(opts: &TrainOptions, events: &mut dyn FnMut(Event)) -> Result<RunState> {
    let dev = device(opts.gpu)?.autodiff();
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| Error::Io(format!("{}: {e}", opts.out.display())))?;
    let mut ds = Dataset::load(&opts.data, SIZE, &mut |done, total| {
        events(Event::Loading { done, total })
    })?;
    if let Some(m) = opts.max_images {
        ds.images.truncate(m);
        ds.names.truncate(m);
    }
    let (train_idx, val_idx) = ds.split(opts.seed);
    if train_idx.is_empty() || val_idx.is_empty() {
        return Err(Error::Data(
            "need at least two images (train and validation)".into(),
        ));
    }
    let stage1 = match (opts.arch, &opts.stage1) {
        (Arch::TwoStage, Some(p)) => {
            let b = read(p)?;
            let m = AeModel::from_bytes(&b)
                .map_err(|e| Error::Data(format!("{}: {e}", p.display())))?;
            if m.stages.len() != 1 {
                return Err(Error::Data(format!(
                    "{}: a first stage must be a one-stage model (cnn2), this one has {} stages",
                    p.display(),
                    m.stages.len()
                )));
            }
            Some((m, b))
        }
        (Arch::TwoStage, None) => {
            return Err(Error::Data(
                "two-stage training needs --stage1 (an exported cnn2 model)".into(),
            ))
        }
        _ => None,
    };
    let prev: Option<Vec<Vec<u8>>> = match &stage1 {
        Some((m, _)) => Some(stage1_recon(m, &ds.images)?),
        None => None,
    };
    let config = RunConfig {
        arch: opts.arch,
        data: opts.data.display().to_string(),
        data_list_sha256: ds.list_hash.clone(),
        images: ds.images.len(),
        train: train_idx.iter().map(|&i| ds.names[i].clone()).collect(),
        val: val_idx.iter().map(|&i| ds.names[i].clone()).collect(),
        epochs: opts.epochs,
        batch: opts.batch,
        lr: opts.lr,
        seed: opts.seed,
        parameters: opts.arch.parameters(),
        paper_parameters: opts.arch.paper_parameters(),
        stage1_sha256: stage1
            .as_ref()
            .map(|(_, b)| medzip_format::hex(&medzip_format::sha256(b))),
        backend: if opts.gpu {
            "wgpu".into()
        } else {
            "flex (CPU)".into()
        },
    };
    let cfg_path = opts.out.join("config.json");
    let state_path = opts.out.join("state.json");
    // Checkpoints carry their epoch in the name and `state.json` (written
    // last) names the epoch to resume from, so a stop between the writes
    // never pairs weights and optimizer state of different epochs.
    let ck_path = |e: usize| opts.out.join(format!("checkpoint-{e}.bpk"));
    let opt_path = |e: usize| opts.out.join(format!("optimizer-{e}.bin"));
    let best_path = opts.out.join("best.bpk");

    dev.seed(opts.seed);
    let mut model = Model::new(opts.arch, &dev);
    let mut optim = AdamConfig::new().init();
    let mut state = RunState {
        epochs_done: 0,
        best_epoch: 0,
        best_val_loss: f64::INFINITY,
        history: Vec::new(),
    };
    if opts.resume && state_path.exists() {
        let old: RunConfig = load_json(&cfg_path)?;
        if old.arch != config.arch
            || old.data_list_sha256 != config.data_list_sha256
            || old.seed != config.seed
            || old.train != config.train
            || old.val != config.val
            || old.batch != config.batch
            || old.stage1_sha256 != config.stage1_sha256
        {
            return Err(Error::Data(format!(
                "{}: the checkpoint was made with another architecture, data, split, seed, batch size or first stage",
                opts.out.display()
            )));
        }
        state = load_json(&state_path)?;
        let e = state.epochs_done;
        model.ae = load_module(model.ae, &ck_path(e))?;
        optim = optim
            .from_bytes(Bytes::from_bytes_vec(read(&opt_path(e))?))
            .map_err(|err| Error::Burn(format!("{}: {err:?}", opt_path(e).display())))?;
    }
    write_atomic(&cfg_path, &json(&config))?;
    if let Some((_, b)) = &stage1 {
        write_atomic(&opts.out.join("stage1.mzae"), b)?;
    }

    let kind = opts.arch.loss();
    let batch_of = |idx: &[usize], dev: &Device| {
        let imgs: Vec<&[u8]> = idx.iter().map(|&i| ds.images[i].as_slice()).collect();
        let p: Option<Vec<&[u8]>> = prev
            .as_ref()
            .map(|p| idx.iter().map(|&i| p[i].as_slice()).collect());
        input_tensor(&imgs, p.as_deref(), SIZE, dev)
    };
    for epoch in state.epochs_done + 1..=opts.epochs {
        let t0 = Instant::now();
        let mut order = train_idx.clone();
        Rng::new(opts.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64)).shuffle(&mut order);
        let batches: Vec<&[usize]> = order.chunks(opts.batch).collect();
        let mut sum = 0.0;
        for (bi, idx) in batches.iter().enumerate() {
            let x = batch_of(idx, &dev);
            let (y, rate) = run_model(&model, &model.ae, x.clone(), true);
            let mut l = loss(kind, y, x);
            if let Some(r) = rate {
                l = l + r;
            }
            let lv = l.clone().into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(l.backward(), &model.ae);
            model.ae = optim.step(opts.lr, model.ae, grads);
            sum += lv * idx.len() as f64;
            events(Event::Batch {
                epoch,
                batch: bi + 1,
                batches: batches.len(),
                loss: lv,
            });
        }
        // Validation in inference mode (batch norm uses running statistics).
        let valid = model.ae.valid();
        let vdev = device(opts.gpu)?;
        let (mut vl, mut vm, mut vs, mut vi, mut vr) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for idx in val_idx.chunks(opts.batch) {
            let x = batch_of(idx, &vdev);
            let (y, rate) = run_model(&model, &valid, x.clone(), false);
            let n = idx.len() as f64;
            vl += loss(kind, y.clone(), x.clone()).into_scalar::<f32>() as f64 * n;
            if let Some(r) = rate {
                let r = r.into_scalar::<f32>() as f64;
                vl += r * n;
                vr += r * n;
            }
            vm += mse(y.clone(), x.clone()).mean().into_scalar::<f32>() as f64 * n;
            // MS-SSIM of a signed delta: both shifted into [0, 1].
            let (ys, xs) = if opts.arch.sigmoid_output() {
                (y.clone(), x.clone())
            } else {
                (y.clone().add_scalar(0.5), x.clone().add_scalar(0.5))
            };
            vs += ms_ssim(ys, xs).mean().into_scalar::<f32>() as f64 * n;
            vi += iou(x, y).mean().into_scalar::<f32>() as f64 * n;
        }
        let nv = val_idx.len() as f64;
        let log = EpochLog {
            epoch,
            train_loss: sum / train_idx.len() as f64,
            val_loss: vl / nv,
            val_mse: vm / nv,
            val_ms_ssim: vs / nv,
            val_iou: vi / nv,
            val_rate_bpp: vr / nv,
            seconds: t0.elapsed().as_secs_f64(),
        };
        if log.val_loss < state.best_val_loss {
            state.best_val_loss = log.val_loss;
            state.best_epoch = epoch;
            save_module(valid.clone(), &best_path)?;
        }
        save_module(model.ae.clone(), &ck_path(epoch))?;
        write_atomic(
            &opt_path(epoch),
            &optim
                .into_bytes()
                .map_err(|e| Error::Burn(format!("{e:?}")))?,
        )?;
        state.epochs_done = epoch;
        state.history.push(log);
        write_atomic(&state_path, &json(&state))?;
        if epoch > 1 {
            let _ = std::fs::remove_file(ck_path(epoch - 1));
            let _ = std::fs::remove_file(opt_path(epoch - 1));
        }
        write_atomic(
            &opts.out.join("history.csv"),
            history_csv(&state.history).as_bytes(),
        )?;
        events(Event::Epoch(state.history.last().expect("pushed")));
    }
    Ok(state)
}

fn history_csv(h: &[EpochLog]) -> String {
    let mut s = String::from("epoch,train_loss,val_loss,val_mse,val_ms_ssim,val_iou,seconds\n");
    for e in h {
        s += &format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.1}\n",
            e.epoch, e.train_loss, e.val_loss, e.val_mse, e.val_ms_ssim, e.val_iou, e.seconds
        );
    }
    s
}

/// Exports a run's best weights to an integer model file (`.mzae`):
/// calibrated on up to 64 training images, compared with the float model on
/// the validation images.
pub fn export_run(
    run: &Path,
    out: &Path,
    events: &mut dyn FnMut(Event),
) -> Result<(AeModel, ExportReport)> {
    let cfg: RunConfig = load_json(&run.join("config.json"))?;
    let dev = Device::flex();
    let data = PathBuf::from(&cfg.data);
    let load = |names: &[String]| -> Result<Vec<Vec<u8>>> {
        names
            .iter()
            .map(|n| crate::data::load_grid(&data.join(n), SIZE))
            .collect()
    };
    let calib = load(&cfg.train[..cfg.train.len().min(64)])?;
    let val = load(&cfg.val)?;
    let mut model = Model::new(cfg.arch, &dev);
    model.ae = load_module(model.ae, &run.join("best.bpk"))?.valid();
    let stage1 = match (&cfg.stage1_sha256, cfg.arch) {
        (Some(h), Arch::TwoStage) => {
            let p = run.join("stage1.mzae");
            let b = read(&p)?;
            if medzip_format::hex(&medzip_format::sha256(&b)) != *h {
                return Err(Error::Data(format!(
                    "{}: not the first stage this run was trained with",
                    p.display()
                )));
            }
            Some(AeModel::from_bytes(&b).map_err(|e| Error::Data(e.to_string()))?)
        }
        _ => None,
    };
    let (cprev, vprev) = match &stage1 {
        Some(s) => (Some(stage1_recon(s, &calib)?), Some(stage1_recon(s, &val)?)),
        None => (None, None),
    };
    let stage = export_stage(&model, &calib, cprev.as_deref(), &dev)?;
    let mut stages = stage1.map(|s| s.stages).unwrap_or_default();
    stages.push(stage);
    let ae = crate::export::assemble(cfg.arch.name(), stages);
    // Integer versus float on the validation images.
    let fl = float_reconstruct(&model, &val, vprev.as_deref(), &dev);
    let int: Vec<Vec<u8>> = val
        .iter()
        .map(|img| {
            ae.decode(&ae.encode(img).map_err(|e| Error::Data(e.to_string()))?)
                .map_err(|e| Error::Data(e.to_string()))
        })
        .collect::<Result<_>>()?;
    let (mut se, mut maxd, mut ndiff, mut n) = (0f64, 0u8, 0usize, 0usize);
    for (a, b) in fl.iter().zip(&int) {
        for (&p, &q) in a.iter().zip(b) {
            let d = p.abs_diff(q);
            se += (d as f64).powi(2);
            maxd = maxd.max(d);
            ndiff += (d != 0) as usize;
            n += 1;
        }
    }
    let mse_iv = se / n.max(1) as f64;
    let delta_bpp = |recons: &[Vec<u8>]| -> Result<f64> {
        let mut bits = 0.0;
        for (img, r) in val.iter().zip(recons) {
            let u: Vec<i32> = img.iter().map(|&p| p as i32).collect();
            let r: Vec<i32> = r.iter().map(|&p| p as i32).collect();
            let png = medzip_codec::paper::png_encode(&u, Some(&r), SIZE as u32, SIZE as u32, 8)
                .map_err(|e| Error::Data(e.to_string()))?;
            bits += 8.0 * png.len() as f64;
        }
        Ok(bits / (val.len() * SIZE * SIZE).max(1) as f64)
    };
    let flat_x: Vec<u8> = val.concat();
    let flat_r: Vec<u8> = int.concat();
    let q = quality(&flat_x, &flat_r, val.len(), SIZE);
    let nq = q.len().max(1) as f64;
    let bytes = ae.to_bytes();
    // What is written must parse (shapes chain, ranges are sane).
    AeModel::from_bytes(&bytes)
        .map_err(|e| Error::Data(format!("exported model does not check: {e}")))?;
    let report = ExportReport {
        model_id: medzip_format::hex(&ae.id()),
        bytes: bytes.len(),
        int_parameters: ae.parameters(),
        psnr_int_vs_float: if mse_iv == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (255.0 * 255.0 / mse_iv).log10()
        },
        max_abs_diff: maxd,
        pixels_differing: ndiff as f64 / n.max(1) as f64,
        png_delta_bpp_float: delta_bpp(&fl)?,
        png_delta_bpp_int: delta_bpp(&int)?,
        val_mse: q.iter().map(|x| x.mse).sum::<f64>() / nq,
        val_ms_ssim: q.iter().map(|x| x.ms_ssim).sum::<f64>() / nq,
        val_kl: q.iter().map(|x| x.kl).sum::<f64>() / nq,
        val_iou: q.iter().map(|x| x.iou).sum::<f64>() / nq,
    };
    write_atomic(out, &bytes)?;
    // Deflated copy: the form the codec embeds (models/<name>.mzae.z).
    let mut z = out.as_os_str().to_owned();
    z.push(".z");
    write_atomic(
        Path::new(&z),
        &miniz_oxide::deflate::compress_to_vec(&bytes, 9),
    )?;
    write_atomic(&out.with_extension("export.json"), &json(&report))?;
    events(Event::Exported {
        path: out,
        report: &report,
    });
    Ok((ae, report))
}
