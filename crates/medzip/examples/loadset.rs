//! Load-test helper (see `scripts/load_test.sh`).
//!
//! `loadset make SAMPLES_DIR OUT_DIR N`: writes N images derived from the
//! sample images: random crops (odd sizes, 1×1 up to the whole image), bit
//! depths 1–16 (shifted or rescaled), signed variants, as PNG, PGM, TIFF or
//! raw-format files, in a fixed pseudo-random mix.
//! `loadset check ORIG_DIR DECODED_DIR`: every original must have a decoded
//! file with exactly the same pixels.

use medzip_codec::{Image, Metadata, SourceKind};
use std::path::Path;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn make(samples: &Path, out: &Path, n: usize) {
    std::fs::create_dir_all(out).unwrap();
    let mut src = Vec::new();
    for e in std::fs::read_dir(samples).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Ok(l) = medzip_io::read(&std::fs::read(&p).unwrap(), Some(&name)) {
            src.push(l.image);
        }
    }
    src.sort_by_key(|i| (i.width, i.height, i.bits));
    let mut r = Rng(2026);
    for k in 0..n {
        let s = &src[r.below(src.len() as u64) as usize];
        let w = 1 + r.below(s.width as u64) as u32;
        let h = 1 + r.below(s.height as u64) as u32;
        let (x0, y0) = (
            r.below((s.width - w + 1) as u64) as u32,
            r.below((s.height - h + 1) as u64) as u32,
        );
        let bits = [1u8, 2, 7, 8, 8, 8, 10, 12, 12, 14, 16, 16][r.below(12) as usize];
        let signed = bits >= 8 && r.below(4) == 0;
        let (slo, shi) = Image::range(s.bits, s.signed);
        let (lo, hi) = Image::range(bits, signed);
        let data: Vec<i32> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| {
                let v = s.data[((y0 + y) * s.width + x0 + x) as usize] as i64 - slo as i64;
                lo + (v * (hi - lo) as i64 / (shi - slo).max(1) as i64) as i32
            })
            .collect();
        let img = Image::new(w, h, bits, signed, data).unwrap();
        let kind = match (signed, bits, r.below(3)) {
            (true, _, _) => SourceKind::Tiff,
            (false, b, 0) if b == 8 || b == 16 => SourceKind::Tiff,
            (false, _, 1) => SourceKind::Pgm,
            _ => SourceKind::Png,
        };
        let meta = Metadata {
            source: kind,
            container_bits: if bits > 8 { 16 } else { 8 },
            source_data: if kind == SourceKind::Pgm {
                let maxval = ((1u32 << bits) - 1) as u16;
                vec![5, maxval as u8, (maxval >> 8) as u8]
            } else {
                vec![]
            },
            ..Metadata::raw()
        };
        // TIFF holds 8 or 16 bits: widen the description accordingly.
        let img = if kind == SourceKind::Tiff {
            Image {
                bits: if bits > 8 { 16 } else { 8 },
                ..img
            }
        } else {
            img
        };
        let bytes = medzip_io::write(&img, &meta).unwrap();
        std::fs::write(out.join(format!("img{k:04}.{}", kind.extension())), bytes).unwrap();
    }
}

fn check(orig: &Path, dec: &Path) {
    let mut n = 0;
    for e in std::fs::read_dir(orig).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let a = medzip_io::read(&std::fs::read(&p).unwrap(), Some(&name)).unwrap();
        let b = medzip_io::read(
            &std::fs::read(dec.join(&name)).unwrap_or_else(|_| panic!("{name} not decoded")),
            Some(&name),
        )
        .unwrap();
        assert_eq!(a.image.data, b.image.data, "{name}");
        assert_eq!(
            (a.image.width, a.image.height),
            (b.image.width, b.image.height),
            "{name}"
        );
        n += 1;
    }
    println!("{n} images decoded to exactly their original pixels");
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(String::as_str) {
        Some("make") => make(Path::new(&a[2]), Path::new(&a[3]), a[4].parse().unwrap()),
        Some("check") => check(Path::new(&a[2]), Path::new(&a[3])),
        _ => eprintln!("usage: loadset make SAMPLES OUT N | loadset check ORIG DECODED"),
    }
}
