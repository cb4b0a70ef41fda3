//! Encode and decode speed on named fixtures (`cargo bench -p medzip-codec`),
//! in megapixels per second, at each effort level. The fixtures are the committed samples, read
//! without the I/O crate: an 8-bit 256×256 chest X-ray (PNG) and a synthetic
//! 16-bit 1024×1024 smooth image with noise (several stripes).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medzip_codec::{compress, decompress, Image, Metadata, Options, Residual};

fn kermany256() -> Image {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/kermany256_IM-0199-0001.png"
    );
    let mut dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    dec.set_transformations(png::Transformations::IDENTITY);
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let data = buf[..info.buffer_size()]
        .iter()
        .map(|&v| v as i32)
        .collect();
    Image::new(info.width, info.height, 8, false, data).unwrap()
}

fn synthetic16() -> Image {
    let (w, h) = (1024u32, 1024u32);
    let mut s = 7u64;
    let data = (0..w * h)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (x, y) = ((i % w) as i32, (i / w) as i32);
            (20000 + x * 9 + y * 5 + ((x * y) >> 7) + ((s >> 58) as i32)).min(65535)
        })
        .collect();
    Image::new(w, h, 16, false, data).unwrap()
}

fn bench(c: &mut Criterion) {
    for (name, img) in [
        ("kermany256_8bit", kermany256()),
        ("synthetic_1MP_16bit", synthetic16()),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(img.data.len() as u64));
        g.sample_size(10);
        // Each effort level: the default (with the context network, -e 3),
        // `--no-net` (-e 2) and the fast coder (-e 1).
        for (suffix, net, residual) in [
            ("", true, Residual::Context),
            ("_no_net", false, Residual::Context),
            ("_fast", false, Residual::Fast),
        ] {
            let opts = Options {
                net,
                residual,
                ..Options::default()
            };
            g.bench_function(format!("encode{suffix}"), |b| {
                b.iter(|| compress(&img, &Metadata::raw(), &opts).unwrap())
            });
            let f = compress(&img, &Metadata::raw(), &opts).unwrap();
            g.bench_function(format!("decode{suffix}"), |b| {
                b.iter(|| decompress(&f, &Default::default(), None).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
