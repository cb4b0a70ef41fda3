//! Development tool: time one forward pass of each embedded context
//! network (per-pixel cost of the network in the coder).
//!
//! cargo run --release -p medzip-codec --example netbench [NET_FILE...]

use medzip_codec::cm::NF;
use std::time::Instant;

fn main() {
    let mut seed = 1u32;
    let mut rnd = || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((seed >> 16) as i32 % 1024 - 512) as i16
    };
    let feats: Vec<[i16; NF]> = (0..4096).map(|_| std::array::from_fn(|_| rnd())).collect();
    let files: Vec<_> = std::env::args()
        .skip(1)
        .map(|p| medzip_codec::trained::load_net("file", &std::fs::read(p).unwrap()).unwrap())
        .collect();
    let models = medzip_codec::Models::embedded();
    for n in models.nets().into_iter().chain(&files) {
        let mut scratch = medzip_nn::mlp::Scratch::default();
        let mut sum = 0i64;
        let reps = 400;
        let t = Instant::now();
        for _ in 0..reps {
            for f in &feats {
                let (mu, ls) = n.net.eval(f, medzip_codec::Simd::Auto, &mut scratch);
                sum += (mu + ls) as i64;
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / (reps * feats.len()) as f64;
        println!("{}: {ns:.1} ns per pixel (checksum {sum})", n.name);
    }
}
