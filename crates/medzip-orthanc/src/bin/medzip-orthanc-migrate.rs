//! Converts the storage folder of an Orthanc that used its own storage
//! (uncompressed: `StorageCompression` false) to the medzip plugin's, in
//! place and resumably: each attachment `STORAGE/ab/cd/UUID` becomes
//! `ROOT/ab/cd/UUID.mdz` (verified by decoding before the original is
//! removed), so that the same Orthanc, started with the plugin and
//! `"Medzip": {"Root": ROOT}`, serves every instance as before. Stop
//! Orthanc first. An interrupted run is finished by running it again.
//!
//! ```sh
//! medzip-orthanc-migrate STORAGE_DIR [ROOT] [--effort N]
//! ```
//!
//! ROOT defaults to `STORAGE_DIR/medzip` (the plugin's default root when
//! `StorageDirectory` is STORAGE_DIR). Orthanc's index (its SQLite file) is
//! left alone: attachments keep their UUIDs. With `StorageCompression`
//! true, Orthanc's index marks attachments as zlib-compressed and expects
//! those bytes back: such a storage is refused here (converting it needs
//! the index rewritten, which Orthanc's own tools do when it re-stores the
//! instances).

use medzip_orthanc::Store;
use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut effort = 3u8;
    let mut paths = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--effort" => {
                effort = match it.next().and_then(|e| e.parse().ok()) {
                    Some(e @ 1..=3) => e,
                    _ => usage("--effort takes 1, 2 or 3"),
                }
            }
            "-h" | "--help" => usage(""),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let (storage, root) = match paths.as_slice() {
        [s] => (s.clone(), s.join("medzip")),
        [s, r] => (s.clone(), r.clone()),
        _ => usage("one storage folder, and optionally the plugin's root"),
    };
    match migrate(&storage, &Store::new(root, effort)) {
        Ok(r) => {
            println!(
                "{} attachments converted ({} already), {} bytes -> {} bytes ({:.1} %), {} failed",
                r.converted,
                r.already,
                r.before,
                r.after,
                100.0 * r.after as f64 / r.before.max(1) as f64,
                r.failed
            );
            if r.failed > 0 {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("medzip-orthanc-migrate: {e}");
            std::process::exit(1);
        }
    }
}

fn usage(why: &str) -> ! {
    if !why.is_empty() {
        eprintln!("medzip-orthanc-migrate: {why}");
    }
    eprintln!("usage: medzip-orthanc-migrate STORAGE_DIR [ROOT] [--effort N]");
    std::process::exit(2)
}

#[derive(Default)]
struct Report {
    converted: u64,
    already: u64,
    failed: u64,
    before: u64,
    after: u64,
}

/// Attachments are the files `ab/cd/UUID` (two hex characters per folder).
fn attachments(storage: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let hex2 = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut out = Vec::new();
    for a in std::fs::read_dir(storage)? {
        let a = a?.path();
        if !a.is_dir() || !hex2(&a) {
            continue;
        }
        for b in std::fs::read_dir(&a)? {
            let b = b?.path();
            if !b.is_dir() || !hex2(&b) {
                continue;
            }
            for f in std::fs::read_dir(&b)? {
                let f = f?.path();
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if f.is_file() && name.len() == 36 && !name.contains('.') {
                    out.push((name.to_string(), f));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn migrate(storage: &Path, store: &Store) -> Result<Report, String> {
    let files = attachments(storage).map_err(|e| format!("{}: {e}", storage.display()))?;
    let mut r = Report::default();
    for (uuid, path) in files {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                r.failed += 1;
                continue;
            }
        };
        // Orthanc's zlib attachments: an 8-byte length, then a zlib stream.
        if bytes.len() > 10 && bytes[8] == 0x78 && !bytes.starts_with(b"\0\0\0\0\0\0\0\0") {
            let claimed = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
            if claimed > bytes.len() as u64 && claimed < 1 << 40 {
                return Err(format!(
                    "{} looks zlib-compressed (StorageCompression true): not converted (see --help)",
                    path.display()
                ));
            }
        }
        // Already converted (an earlier, interrupted run): the .mdz gives
        // these bytes back; only the original is left to remove.
        if store.read(&uuid).ok().as_deref() == Some(&bytes[..]) {
            r.already += 1;
        } else {
            match store.create(&uuid, &bytes, true) {
                Ok(_) => r.converted += 1,
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    r.failed += 1;
                    continue;
                }
            }
        }
        r.before += bytes.len() as u64;
        r.after += std::fs::metadata(store.path(&uuid)).map_or(0, |m| m.len());
        if let Err(e) = std::fs::remove_file(&path) {
            eprintln!("{}: converted, but the original stays: {e}", path.display());
        }
    }
    Ok(r)
}
