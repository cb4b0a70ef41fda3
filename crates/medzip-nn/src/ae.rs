//! Autoencoder model files: one or more stages, each an encoder network, a
//! latent quantizer and a decoder network, and how the decoder's output
//! becomes pixels.
//!
//! Stage 1 sees the 8-bit image `p` as `x = (p + ½) / 256` (input value
//! `2p + 1` with 9 fraction bits) and outputs a sigmoid: pixel
//! `min(255, ⌊256·σ(z)⌋)`, read from a table stored in the file (no `exp`
//! at run time). A later stage sees the previous stage's delta
//! `(p − r) / 256` and outputs a correction `d` (linear): pixel
//! `clamp(r + round(256·d), 0, 255)`. Latents are the encoder's outputs
//! divided by a step and rounded to integers (what a file stores); the
//! decoder receives `symbol × step`.

use crate::simd::Simd;
use crate::{Error, Net, Result, Shape, R, W};
use sha2::{Digest, Sha256};

const AE_MAGIC: &[u8; 4] = b"MZAE";
const AE_VERSION: u8 = 1;
/// Sigmoid table covers `z` in `[-8, 8)` at 8 fraction bits.
pub const LUT_LEN: usize = 4096;

/// How a stage's decoder output becomes pixels.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Pixel = `lut[clamp(q, -2048, 2047) + 2048]`; `q` has 8 fraction bits.
    Sigmoid(Vec<u8>),
    /// Correction of the previous reconstruction by `round(256·d)`.
    Delta,
}

/// One autoencoder stage.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub encoder: Net,
    /// Latent quantization step, in units of the encoder's output.
    pub step: i16,
    /// Latent symbols are clamped to `±max_symbol`.
    pub max_symbol: i16,
    pub decoder: Net,
    pub output: Output,
}

/// A trained autoencoder in integer form.
#[derive(Clone, Debug, PartialEq)]
pub struct AeModel {
    /// Architecture name (`cnn1`, `cnn2`, `two-stage`, `ann`).
    pub name: String,
    /// Side of the square images the model sees.
    pub size: usize,
    pub stages: Vec<Stage>,
}

impl Stage {
    /// Number of latent values.
    pub fn latent_len(&self) -> usize {
        self.encoder.check().map(|(s, _)| s.len()).unwrap_or(0)
    }

    fn encode(&self, input: &[i16], simd: Simd) -> Result<Vec<i16>> {
        let z = self.encoder.forward_with(input, simd)?;
        let step = self.step as i32;
        Ok(z.data
            .iter()
            .map(|&v| {
                let v = v as i32;
                let q = if v >= 0 {
                    (v + step / 2) / step
                } else {
                    -((-v + step / 2) / step)
                };
                q.clamp(-(self.max_symbol as i32), self.max_symbol as i32) as i16
            })
            .collect())
    }

    /// Decodes symbols and applies the output to `prev` (the previous
    /// stage's reconstruction; ignored by a sigmoid stage).
    fn decode(&self, symbols: &[i16], prev: &[u8], simd: Simd) -> Result<Vec<u8>> {
        if symbols.len() != self.latent_len() {
            return Err(Error::Shape(format!(
                "stage expects {} latent values, got {}",
                self.latent_len(),
                symbols.len()
            )));
        }
        let input: Vec<i16> = symbols
            .iter()
            .map(|&s| (s as i32 * self.step as i32).clamp(i16::MIN as i32, i16::MAX as i32) as i16)
            .collect();
        let out = self.decoder.forward_with(&input, simd)?;
        Ok(match &self.output {
            Output::Sigmoid(lut) => out
                .data
                .iter()
                .map(|&q| lut[((q as i32).clamp(-2048, 2047) + 2048) as usize])
                .collect(),
            Output::Delta => {
                if prev.len() != out.data.len() {
                    return Err(Error::Shape(
                        "a correction stage needs the previous reconstruction".into(),
                    ));
                }
                let sh = (out.frac as u32).saturating_sub(8);
                out.data
                    .iter()
                    .zip(prev)
                    .map(|(&q, &r)| {
                        let d = if sh > 0 {
                            (q as i32 + (1 << (sh - 1))) >> sh
                        } else {
                            q as i32
                        };
                        (r as i32 + d).clamp(0, 255) as u8
                    })
                    .collect()
            }
        })
    }
}

impl AeModel {
    /// Model id: the first 16 bytes of the SHA-256 of its serialized form.
    pub fn id(&self) -> [u8; 16] {
        let h = Sha256::digest(self.to_bytes());
        h[..16].try_into().unwrap()
    }

    /// Latent symbols of every stage for a `size × size` 8-bit image.
    pub fn encode(&self, img: &[u8]) -> Result<Vec<Vec<i16>>> {
        self.encode_with(img, Simd::Auto)
    }

    /// [`AeModel::encode`] on the instructions `simd` chooses (the same bits).
    pub fn encode_with(&self, img: &[u8], simd: Simd) -> Result<Vec<Vec<i16>>> {
        self.check_image(img)?;
        let mut latents = Vec::new();
        let mut recon: Vec<u8> = Vec::new();
        for (i, st) in self.stages.iter().enumerate() {
            let input: Vec<i16> = if i == 0 {
                img.iter().map(|&p| 2 * p as i16 + 1).collect()
            } else {
                img.iter()
                    .zip(&recon)
                    .map(|(&p, &r)| 2 * (p as i16 - r as i16))
                    .collect()
            };
            let sym = st.encode(&input, simd)?;
            recon = st.decode(&sym, &recon, simd)?;
            latents.push(sym);
        }
        Ok(latents)
    }

    /// The reconstruction (`size × size`, 8-bit) from every stage's symbols.
    pub fn decode(&self, latents: &[Vec<i16>]) -> Result<Vec<u8>> {
        self.decode_with(latents, Simd::Auto)
    }

    /// [`AeModel::decode`] on the instructions `simd` chooses (the same bits).
    pub fn decode_with(&self, latents: &[Vec<i16>], simd: Simd) -> Result<Vec<u8>> {
        if latents.len() != self.stages.len() {
            return Err(Error::Shape(format!(
                "model has {} stages, got {} latents",
                self.stages.len(),
                latents.len()
            )));
        }
        self.decode_stages_with(latents, self.stages.len(), simd)
    }

    /// Reconstruction after only the first `n` stages (for reports and for
    /// training a later stage).
    pub fn decode_stages(&self, latents: &[Vec<i16>], n: usize) -> Result<Vec<u8>> {
        self.decode_stages_with(latents, n, Simd::Auto)
    }

    fn decode_stages_with(&self, latents: &[Vec<i16>], n: usize, simd: Simd) -> Result<Vec<u8>> {
        if latents.len() < n.min(self.stages.len()) {
            return Err(Error::Shape(format!(
                "{n} stages asked, {} latents given",
                latents.len()
            )));
        }
        let mut recon = Vec::new();
        for (st, sym) in self.stages.iter().zip(latents).take(n) {
            recon = st.decode(sym, &recon, simd)?;
        }
        Ok(recon)
    }

    fn check_image(&self, img: &[u8]) -> Result<()> {
        if img.len() != self.size * self.size {
            return Err(Error::Shape(format!(
                "model sees {0}×{0} images, got {1} pixels",
                self.size,
                img.len()
            )));
        }
        Ok(())
    }

    /// Parameters of all networks (batch norm folded).
    pub fn parameters(&self) -> usize {
        self.stages
            .iter()
            .map(|s| s.encoder.parameters() + s.decoder.parameters())
            .sum()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = W(Vec::new());
        w.0.extend_from_slice(AE_MAGIC);
        w.u8(AE_VERSION);
        w.u32(self.name.len() as u32);
        w.0.extend_from_slice(self.name.as_bytes());
        w.u32(self.size as u32);
        w.u32(self.stages.len() as u32);
        for s in &self.stages {
            s.encoder.write(&mut w);
            w.i16s(&[s.step, s.max_symbol]);
            s.decoder.write(&mut w);
            match &s.output {
                Output::Sigmoid(lut) => {
                    w.u8(1);
                    w.0.extend_from_slice(lut);
                }
                Output::Delta => w.u8(2),
            }
        }
        w.0
    }

    /// Parses and checks a model: shapes must chain (image → encoder →
    /// latent → decoder → image).
    pub fn from_bytes(b: &[u8]) -> Result<AeModel> {
        let mut r = R { b, pos: 0 };
        if r.take(4)? != AE_MAGIC {
            return Err(Error::BadModel("not a medzip autoencoder (magic)".into()));
        }
        let v = r.u8()?;
        if v != AE_VERSION {
            return Err(Error::BadModel(format!(
                "autoencoder format version {v} is not supported"
            )));
        }
        let n = r.count(1)?;
        let name = String::from_utf8(r.take(n)?.to_vec())
            .map_err(|_| Error::BadModel("name is not UTF-8".into()))?;
        let size = r.u32()? as usize;
        let nst = r.count(1)?;
        if size == 0 || size > 4096 || nst == 0 || nst > 4 {
            return Err(Error::BadModel(format!(
                "size {size} / {nst} stages out of range"
            )));
        }
        let img = Shape {
            c: 1,
            h: size,
            w: size,
        };
        let mut stages = Vec::new();
        for i in 0..nst {
            let encoder = Net::read(&mut r)?;
            let sm = r.i16s(2)?;
            let decoder = Net::read(&mut r)?;
            let output = match r.u8()? {
                1 => Output::Sigmoid(r.take(LUT_LEN)?.to_vec()),
                2 => Output::Delta,
                k => return Err(Error::BadModel(format!("unknown output kind {k}"))),
            };
            let (zs, zf) = encoder.check()?;
            let (os, of) = decoder.check()?;
            let ok = encoder.input == img
                && encoder.f_in == 9
                && decoder.input.len() == zs.len()
                && decoder.f_in == zf
                && os == img
                && sm[0] > 0
                && sm[1] > 0
                && (8..=30).contains(&of)
                && matches!((&output, i), (Output::Sigmoid(_), 0) | (Output::Delta, 1..))
                && (!matches!(output, Output::Sigmoid(_)) || of == 8);
            if !ok {
                return Err(Error::BadModel(format!(
                    "stage {} shapes or formats do not chain",
                    i + 1
                )));
            }
            stages.push(Stage {
                encoder,
                step: sm[0],
                max_symbol: sm[1],
                decoder,
                output,
            });
        }
        if r.pos != b.len() {
            return Err(Error::BadModel("trailing bytes".into()));
        }
        Ok(AeModel { name, size, stages })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{lcg, weighted};
    use crate::Layer;

    /// A random two-stage model on 8×8 images (shapes like the real ones).
    pub(crate) fn toy_model(seed: &mut u64) -> AeModel {
        let img = Shape { c: 1, h: 8, w: 8 };
        let stage = |seed: &mut u64, output: Output| {
            let mut enc_last = weighted(2 * 4 * 4, 5, seed, false);
            enc_last.f_out = 8;
            let mut dec_last = weighted(18, 1, seed, false);
            dec_last.f_out = 8;
            Stage {
                encoder: Net {
                    input: img,
                    f_in: 9,
                    layers: vec![
                        Layer::Conv3(weighted(9, 2, seed, true)),
                        Layer::MaxPool2,
                        Layer::Reshape(Shape { c: 32, h: 1, w: 1 }),
                        Layer::Dense(enc_last),
                    ],
                },
                step: 3,
                max_symbol: 100,
                decoder: Net {
                    input: Shape { c: 5, h: 1, w: 1 },
                    f_in: 8,
                    layers: vec![
                        Layer::Dense(weighted(5, 2 * 4 * 4, seed, true)),
                        Layer::Reshape(Shape { c: 2, h: 4, w: 4 }),
                        Layer::Upsample2,
                        Layer::Conv3(dec_last),
                    ],
                },
                output,
            }
        };
        let lut = (0..LUT_LEN).map(|i| (i / 16) as u8).collect();
        AeModel {
            name: "toy".into(),
            size: 8,
            stages: vec![
                stage(seed, Output::Sigmoid(lut)),
                stage(seed, Output::Delta),
            ],
        }
    }

    #[test]
    fn two_stage_round_trip_of_latents_and_file() {
        let mut seed = 9;
        let m = toy_model(&mut seed);
        let b = m.to_bytes();
        let m2 = AeModel::from_bytes(&b).unwrap();
        assert_eq!(m, m2);
        assert_eq!(m.id(), m2.id());
        let img: Vec<u8> = (0..64).map(|_| lcg(&mut seed) as u8).collect();
        let lat = m.encode(&img).unwrap();
        assert_eq!(lat.len(), 2);
        assert_eq!(lat[0].len(), 5);
        let r = m.decode(&lat).unwrap();
        assert_eq!(r.len(), 64);
        assert_eq!(m2.decode(&lat).unwrap(), r);
        // Wrong sizes are errors, not panics.
        assert!(m.encode(&img[..63]).is_err());
        assert!(m.decode(&lat[..1]).is_err());
        assert!(m.decode(&[lat[0].clone(), vec![0; 4]]).is_err());
    }

    #[test]
    fn damaged_model_files_are_refused() {
        let mut seed = 2;
        let b = toy_model(&mut seed).to_bytes();
        for cut in [0, 4, 5, 30, b.len() / 2, b.len() - 1] {
            assert!(AeModel::from_bytes(&b[..cut]).is_err(), "cut {cut}");
        }
        let mut v = b.clone();
        v[4] = 9;
        assert!(AeModel::from_bytes(&v)
            .unwrap_err()
            .to_string()
            .contains("version 9"));
    }
}
