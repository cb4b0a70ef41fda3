//! The paper's autoencoders as priors: every embedded model loads, every
//! residual coder round-trips with it on 8- and 16-bit, signed and unsigned
//! images of odd sizes, the reconstruction is the same with SIMD on and
//! off and across threads, and a wrong or missing model is refused by name.

use medzip_codec::priors::{self, AePrior};
use medzip_codec::{
    compress_with_prior, decompress, Image, Limits, Metadata, Options, Prior, Residual,
};

fn make(w: u32, h: u32, bits: u8, signed: bool, seed: u32) -> Image {
    let (lo, hi) = Image::range(bits, signed);
    let span = (hi as i64 - lo as i64 + 1) as u64;
    let data = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as u64, (i / w) as u64);
            let smooth = (x * span / (w as u64 + 7) + y * span / (3 * h as u64 + 5)) / 2;
            let noise = ((i as u64 * 2_654_435_761 + seed as u64) >> 7) % (span / 64 + 1);
            (lo as i64 + ((smooth + noise) % span) as i64) as i32
        })
        .collect();
    Image::new(w, h, bits, signed, data).unwrap()
}

fn models() -> &'static [AePrior] {
    let m = priors::embedded();
    assert_eq!(
        m.iter().map(|p| p.name()).collect::<Vec<_>>(),
        ["cnn1", "cnn2", "two-stage"],
        "every embedded model must load"
    );
    m
}

#[test]
fn embedded_models_have_the_papers_shape() {
    let m = models();
    let latents: Vec<usize> = m
        .iter()
        .map(|p| p.model.stages.iter().map(|s| s.latent_len()).sum())
        .collect();
    assert_eq!(latents, [128, 512, 512 + 256]);
    assert_eq!(m[2].model.stages.len(), 2);
    // The two-stage model's first stage is CNN 2.0.
    assert_eq!(m[2].model.stages[0], m[1].model.stages[0]);
    for p in m {
        assert_eq!(priors::by_id(&p.id()).map(|q| q.name()), Some(p.name()));
    }
}

#[test]
fn every_coder_round_trips_with_every_model() {
    let cases = [
        (1, 1, 8, false),
        (37, 21, 8, false),
        (300, 201, 8, true),
        (45, 260, 12, true),
        (129, 67, 16, false),
        (17, 33, 16, true),
    ];
    for p in models() {
        for residual in [Residual::Context, Residual::Huffman, Residual::Png] {
            let opts = Options {
                residual,
                ..Options::default()
            };
            for (k, &(w, h, bits, signed)) in cases.iter().enumerate() {
                let img = make(w, h, bits, signed, k as u32);
                let f = compress_with_prior(&img, &Metadata::raw(), &opts, Some(p)).unwrap();
                // Found by the id the file names, or given explicitly.
                let (back, meta) = decompress(&f, &Limits::default(), None).unwrap();
                assert_eq!(back, img, "{} {:?} {w}×{h} {bits}-bit", p.name(), residual);
                assert_eq!(&meta.model_id[2..18], &p.id()[..]);
                let (back, _) = decompress(&f, &Limits::default(), Some(p)).unwrap();
                assert_eq!(back, img);
            }
        }
    }
}

#[test]
fn wrong_model_is_refused_by_name() {
    let m = models();
    let img = make(64, 48, 8, false, 3);
    let f = compress_with_prior(&img, &Metadata::raw(), &Options::default(), Some(&m[0])).unwrap();
    let e = decompress(&f, &Limits::default(), Some(&m[1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&medzip_format::hex(&m[0].id())), "{e}");
}

#[test]
fn damaged_latents_are_errors_not_panics() {
    let m = &models()[2];
    let lat = AePrior::pack_latents(&m.latents(&vec![100u8; 256 * 256]).unwrap());
    for cut in [0, 1, lat.len() / 2] {
        let _ = m.reconstruct(&lat[..cut], 40, 30, 8);
    }
    let mut bad = lat.clone();
    for b in bad.iter_mut() {
        *b ^= 0x5a;
    }
    let _ = m.reconstruct(&bad, 40, 30, 8);
    assert!(m.reconstruct(&lat, 40, 30, 8).is_ok());
}

#[test]
fn reconstruction_is_the_same_with_and_without_simd_and_across_threads() {
    let img = make(256, 256, 8, false, 9);
    for p in models() {
        let lat = p.encode_latent(&img).unwrap();
        let sp = p.on(medzip_nn::simd::Simd::Scalar);
        let scalar = (
            sp.encode_latent(&img).unwrap(),
            sp.reconstruct(&lat, 256, 256, 8).unwrap(),
        );
        medzip_nn::simd::Simd::note_if_scalar_only(
            "reconstruction_is_the_same_with_and_without_simd",
        );
        let fast = (lat.clone(), p.reconstruct(&lat, 256, 256, 8).unwrap());
        assert_eq!(scalar, fast, "{}", p.name());
        let other = std::thread::spawn(move || p.reconstruct(&lat, 256, 256, 8).unwrap())
            .join()
            .unwrap();
        assert_eq!(other, fast.1);
    }
}
