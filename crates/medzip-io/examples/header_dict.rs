//! Builds the DICOM header dictionary and measures what it is worth on
//! files from sources it does not contain.
//!
//! ```text
//! cargo run --release -p medzip-io --example header_dict -- build DATA_ROOT OUT FILE...
//! cargo run --release -p medzip-io --example header_dict -- eval DATA_ROOT MANIFEST_CSV FILE...
//! ```
//!
//! `build` writes the stored headers (`medzip_io::dicom::header_bytes`) of
//! the given DICOM files (relative to DATA_ROOT) one after the other, in
//! the given order (the last 32 KiB prime the whole model, see
//! `medzip_entropy::bytes::Dictionary`).
//! `eval` codes every `.dcm` header under `DATA_ROOT/dev/highbit` (paths
//! as in the manifest) without a dictionary and with one built from the
//! `FILE`s (relative to DATA_ROOT) of **other** source repositories
//! than the file's own: the gain on a source the dictionary never saw.

use medzip_entropy::bytes;
use std::collections::HashMap;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("build") => {
            let root = std::path::Path::new(&args[2]);
            let mut d = Vec::new();
            for f in &args[4..] {
                let b = std::fs::read(root.join(f)).unwrap();
                d.extend_from_slice(&medzip_io::dicom::header_bytes(&b).unwrap());
            }
            std::fs::write(&args[3], &d).unwrap();
            eprintln!(
                "{} bytes from {} files -> {}",
                d.len(),
                args.len() - 4,
                args[3]
            );
        }
        Some("eval") => eval(&args[2], &args[3], &args[4..]),
        _ => eprintln!(
            "usage: header_dict build DATA_ROOT OUT FILE... | eval DATA_ROOT MANIFEST_CSV FILE..."
        ),
    }
}

fn eval(root: &str, manifest: &str, dict_files: &[String]) {
    let root = std::path::PathBuf::from(root);
    // path -> source repository (6th column; no quoted commas before it)
    let repo: HashMap<String, String> = std::fs::read_to_string(manifest)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c.len() > 6).then(|| (c[0].to_string(), c[5].to_string()))
        })
        .collect();
    let header =
        |p: &str| medzip_io::dicom::header_bytes(&std::fs::read(root.join(p)).unwrap()).unwrap();
    let (mut plain_sum, mut dict_sum, mut raw_sum) = (0usize, 0usize, 0usize);
    let mut paths: Vec<&String> = repo.keys().filter(|p| p.ends_with(".dcm")).collect();
    paths.sort();
    let all: Vec<u8> = dict_files.iter().flat_map(|f| header(f)).collect();
    let full = bytes::Dictionary::new(&all);
    for p in paths {
        let h = header(p);
        let mut d = Vec::new();
        for f in dict_files.iter().filter(|f| repo.get(*f) != repo.get(p)) {
            d.extend_from_slice(&header(f));
        }
        let t = std::time::Instant::now();
        let dict = bytes::Dictionary::new(&d);
        let prime = t.elapsed();
        let plain = bytes::compress(&h).len();
        let with = bytes::compress_with(&dict, &h);
        assert_eq!(bytes::decompress_with(&dict, &with, h.len()).unwrap(), h);
        // With the whole dictionary (what medzip does; on a file of a
        // source the dictionary holds, an overly good figure).
        let whole = bytes::compress_with(&full, &h).len();
        println!(
            "{p}: header {} B, coded {plain} B; with a dictionary of {} B from other sources {} B ({:.0} ms to prime); with the whole dictionary {whole} B",
            h.len(),
            d.len(),
            with.len(),
            prime.as_secs_f64() * 1e3
        );
        plain_sum += plain;
        dict_sum += with.len();
        raw_sum += h.len();
    }
    println!("all: headers {raw_sum} B, coded {plain_sum} B, with the dictionary {dict_sum} B");
}
