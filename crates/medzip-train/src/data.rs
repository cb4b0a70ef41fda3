//! Data pipeline: a folder of images → 256×256 8-bit grids, a seeded
//! 90/10 split, shuffled batches.

use crate::{Error, Result};
use medzip_nn::resample::to_grid;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Image file extensions read by the pipeline.
const EXTS: [&str; 6] = ["png", "pgm", "tif", "tiff", "dcm", "dicom"];

/// Files under `dir` (recursively) with an image extension, sorted.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::Io(format!("{}: {e}", d.display())))?;
        for e in rd {
            let p = e.map_err(|e| Error::Io(e.to_string()))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| EXTS.contains(&x.to_ascii_lowercase().as_str()))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::Data(format!(
            "no images (png/pgm/tiff/dcm) under {}",
            dir.display()
        )));
    }
    Ok(out)
}

/// Reads an image file as the `size × size` 8-bit grid the models see
/// (area average, bit depth scaled to 8; the same function the codec uses).
pub fn load_grid(path: &Path, size: usize) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let l = medzip_io::read(&bytes, path.to_str())
        .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    let img = l.image;
    Ok(to_grid(
        &img.unsigned(),
        img.width as usize,
        img.height as usize,
        img.bits,
        size,
    ))
}

/// A loaded data set.
pub struct Dataset {
    /// Paths relative to the data folder, in load order.
    pub names: Vec<String>,
    /// One `size × size` grid per image.
    pub images: Vec<Vec<u8>>,
    /// SHA-256 over the sorted list of `name  sha256(file)` lines.
    pub list_hash: String,
}

impl Dataset {
    pub fn load(
        dir: &Path,
        size: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Dataset> {
        let files = list_images(dir)?;
        let mut names = Vec::new();
        let mut images = Vec::new();
        let mut list = Sha256::new();
        for (i, f) in files.iter().enumerate() {
            let bytes = std::fs::read(f).map_err(|e| Error::Io(format!("{}: {e}", f.display())))?;
            let name = f
                .strip_prefix(dir)
                .unwrap_or(f)
                .to_string_lossy()
                .replace('\\', "/");
            list.update(format!(
                "{name}  {}\n",
                medzip_format::hex(&medzip_format::sha256(&bytes))
            ));
            images.push(load_grid(f, size)?);
            names.push(name);
            progress(i + 1, files.len());
        }
        Ok(Dataset {
            names,
            images,
            list_hash: medzip_format::hex(&list.finalize()),
        })
    }

    /// Seeded split: a shuffled order, the first `ceil(10 %)` for validation
    /// (at least one image when there are two or more).
    pub fn split(&self, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let mut idx: Vec<usize> = (0..self.images.len()).collect();
        Rng::new(seed).shuffle(&mut idx);
        let n_val = if idx.len() < 2 {
            0
        } else {
            idx.len().div_ceil(10)
        };
        let val = idx[..n_val].to_vec();
        let train = idx[n_val..].to_vec();
        (train, val)
    }
}

/// SplitMix64: a small, seeded, portable generator for shuffles.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}
