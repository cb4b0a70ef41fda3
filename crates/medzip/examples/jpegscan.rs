//! Development tool: how much of each image of a folder comes back as a
//! recovered JPEG (`medzip_codec::jpeg::recover`).
//!
//! cargo run --release -p medzip --example jpegscan -- DIR...

use std::time::Instant;

fn main() {
    for dir in std::env::args().skip(1) {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let img = match medzip_io::read(&bytes, f.to_str()) {
                Ok(l) => l.image,
                Err(e) => {
                    println!("{}: {e}", f.display());
                    continue;
                }
            };
            if img.bits != 8 {
                continue;
            }
            let t = Instant::now();
            let r = medzip_codec::jpeg::recover(&img.data, img.width as usize, img.height as usize);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            match r {
                Some(r) => {
                    let (w, h) = (img.width as usize, img.height as usize);
                    let t = Instant::now();
                    let body = medzip_codec::jpeg::encode(&r, &img.data, w, h);
                    let enc = t.elapsed().as_secs_f64() * 1e3;
                    let t = Instant::now();
                    let back = medzip_codec::jpeg::decode(&body, w, h);
                    let dec = t.elapsed().as_secs_f64() * 1e3;
                    assert!(back.as_deref() == Some(&img.data[..]), "round trip");
                    println!(
                        "{} {}x{} exact {:.4} bpp {:.4} recover {ms:.1} ms encode {enc:.1} ms decode {dec:.1} ms",
                        f.display(),
                        img.width,
                        img.height,
                        r.exact_fraction(),
                        8.0 * body.len() as f64 / (w * h) as f64,
                    )
                }
                None => println!(
                    "{} {}x{} none {ms:.1} ms",
                    f.display(),
                    img.width,
                    img.height
                ),
            }
        }
    }
}
