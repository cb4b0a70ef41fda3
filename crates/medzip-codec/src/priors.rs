//! Autoencoder priors: the seed paper's models, run in integer arithmetic
//! (`medzip-nn`), as the reconstruction a residual coder works against.
//!
//! Any image size and depth: the model sees the image area-averaged onto
//! its 256×256 8-bit grid (`medzip_nn::resample::to_grid`); its
//! reconstruction is interpolated back to the image's size and depth
//! (`from_grid`, integer bilinear). The latent symbols (integers, ±127)
//! are zigzagged and coded as an adaptive unary exponent, one modelled
//! mantissa bit and raw low bits (`UintCoder`): a few hundred bytes
//! instead of the paper's 32 bits per float.
//!
//! Embedded models (`models/*.mzae.z`, deflated; commands in `models/README.md`) are
//! found by name (`--model cnn2`) or by the id a file names; a model file
//! can also be loaded at run time ([`AePrior::from_bytes`]).

use crate::{Error, Image, Prior, Result};
use medzip_entropy::{BinDecoder, BinEncoder, UintCoder};
use medzip_nn::ae::AeModel;
use medzip_nn::resample::{from_grid, to_grid};
use std::sync::OnceLock;

/// An autoencoder usable as a prior.
pub struct AePrior {
    pub model: AeModel,
    id: [u8; 16],
    /// The instructions its networks run on (the same bits either way).
    simd: medzip_nn::simd::Simd,
}

impl AePrior {
    /// Parses a model file.
    pub fn from_bytes(b: &[u8]) -> Result<AePrior> {
        let model = AeModel::from_bytes(b).map_err(|e| Error::InvalidModel(e.to_string()))?;
        Ok(AePrior {
            id: model.id(),
            model,
            simd: Default::default(),
        })
    }

    /// This model, running its networks on the instructions `simd` chooses
    /// (the same bits; for comparing the paths).
    pub fn on(&self, simd: medzip_nn::simd::Simd) -> AePrior {
        AePrior {
            model: self.model.clone(),
            id: self.id,
            simd,
        }
    }

    pub fn name(&self) -> &str {
        &self.model.name
    }

    /// The 8-bit grid the model sees for `img`.
    pub fn grid(&self, img: &Image) -> Vec<u8> {
        let s = self.model.size;
        to_grid(
            &img.unsigned(),
            img.width as usize,
            img.height as usize,
            img.bits,
            s,
        )
    }

    /// Latent symbols of every stage for an 8-bit grid.
    pub fn latents(&self, grid: &[u8]) -> Result<Vec<Vec<i16>>> {
        self.model
            .encode_with(grid, self.simd)
            .map_err(|e| Error::InvalidModel(e.to_string()))
    }

    /// Codes latent symbols (zigzag, `UintCoder` fresh per stage).
    pub fn pack_latents(lat: &[Vec<i16>]) -> Vec<u8> {
        let mut enc = BinEncoder::new();
        for stage in lat {
            let mut c = UintCoder::default();
            for &s in stage {
                c.encode(&mut enc, ((s as i32) << 1 ^ (s as i32) >> 31) as u32);
            }
        }
        enc.finish()
    }

    /// Inverse of [`pack_latents`](Self::pack_latents), checking every symbol.
    pub fn unpack_latents(&self, bytes: &[u8]) -> Result<Vec<Vec<i16>>> {
        let mut dec = BinDecoder::new(bytes)?;
        let mut out = Vec::new();
        for st in &self.model.stages {
            let mut c = UintCoder::default();
            let mut v = Vec::with_capacity(st.latent_len());
            for _ in 0..st.latent_len() {
                let z = c.decode(&mut dec);
                if dec.failed() || z > 2 * st.max_symbol as u32 {
                    return Err(Error::Corrupt("latent code does not decode".into()));
                }
                let s = (z >> 1) as i32 ^ -((z & 1) as i32);
                v.push(s as i16);
            }
            out.push(v);
        }
        Ok(out)
    }
}

impl Prior for AePrior {
    fn id(&self) -> Vec<u8> {
        self.id.to_vec()
    }

    fn encode_latent(&self, img: &Image) -> Result<Vec<u8>> {
        Ok(Self::pack_latents(&self.latents(&self.grid(img))?))
    }

    fn reconstruct(&self, latent: &[u8], width: u32, height: u32, bits: u8) -> Result<Vec<i32>> {
        let lat = self.unpack_latents(latent)?;
        let g = self
            .model
            .decode_with(&lat, self.simd)
            .map_err(|e| Error::InvalidModel(e.to_string()))?;
        Ok(from_grid(
            &g,
            self.model.size,
            width as usize,
            height as usize,
            bits,
        ))
    }
}

/// Models embedded in this build: (name, deflated model file).
static EMBEDDED: [(&str, &[u8]); 3] = [
    ("cnn1", include_bytes!("../models/cnn1.mzae.z")),
    ("cnn2", include_bytes!("../models/cnn2.mzae.z")),
    ("two-stage", include_bytes!("../models/two-stage.mzae.z")),
];

/// Every embedded prior, parsed on first use.
pub fn embedded() -> &'static [AePrior] {
    static ALL: OnceLock<Vec<AePrior>> = OnceLock::new();
    ALL.get_or_init(|| {
        EMBEDDED
            .iter()
            .filter_map(|(_, z)| {
                let b = miniz_oxide::inflate::decompress_to_vec_with_limit(z, 64 << 20).ok()?;
                AePrior::from_bytes(&b).ok()
            })
            .collect()
    })
}

/// Names of the embedded models.
pub fn names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|(n, _)| *n).collect()
}

/// An embedded prior by name.
pub fn by_name(name: &str) -> Option<&'static AePrior> {
    embedded().iter().find(|p| p.name() == name)
}

/// An embedded prior by the id a file names.
pub fn by_id(id: &[u8]) -> Option<&'static AePrior> {
    embedded().iter().find(|p| p.id[..] == *id)
}
