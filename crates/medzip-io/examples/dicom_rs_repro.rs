//! The two dicom-rs 0.10 defects of `docs/UPSTREAM.md`, reproduced with
//! dicom-rs alone (no medzip code): opens each file and decodes its pixel
//! data, printing what dicom-rs does (a panic is caught and printed).
//!
//! ```text
//! cargo run --release -p medzip-io --example dicom_rs_repro -- \
//!     tests/fixtures/dicom/rle_fragments.dcm tests/fixtures/dicom/meta_long_ae.dcm
//! ```

use dicom_pixeldata::PixelDecoder;

fn main() {
    for path in std::env::args().skip(1) {
        let r = std::panic::catch_unwind(|| {
            let obj = dicom_object::open_file(&path).map_err(|e| format!("open_file: {e}"))?;
            let px = obj
                .decode_pixel_data()
                .map_err(|e| format!("decode_pixel_data: {e}"))?;
            Ok::<_, String>(format!(
                "{}×{}, {} frame(s)",
                px.columns(),
                px.rows(),
                px.number_of_frames()
            ))
        });
        match r {
            Ok(Ok(s)) => println!("{path}: decoded, {s}"),
            Ok(Err(e)) => println!("{path}: error: {e}"),
            Err(p) => println!("{path}: PANIC: {}", medzip_io::panic_message(&*p)),
        }
    }
}
