//! `medzip info`: what a `.mdz` file holds, as text or JSON, without
//! decoding its pixels.

use crate::jobs::Ctx;
use anyhow::{Context, Result};
use std::path::Path;

pub(crate) fn info(p: &Path, json: bool, ctx: &Ctx) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    let c = medzip_codec::inspect(&bytes, &ctx.decode.limits)?;
    let d = &c.header.desc;
    if d.source == medzip_format::SourceKind::File {
        return Ok(stored(p, &c, bytes.len(), json));
    }
    // The coder, and the fast coder's configuration.
    let fast = medzip_codec::fast_config_of(&c);
    let patterns = medzip_codec::pattern_contexts_of(&c);
    let graphics = medzip_codec::graphics_tools_of(&c);
    let residual = match (medzip_codec::residual_of(&c), fast) {
        (Some(_), Some(cfg)) => cfg.describe(),
        (Some(r), _) if patterns => format!("{} (pattern contexts)", r.name()),
        (Some(r), _) if graphics => format!("{} (graphics tools)", r.name()),
        (Some(r), _) => r.name().to_string(),
        (None, _) => "unknown".to_string(),
    };
    // A recovered JPEG: what was found.
    let jpeg = medzip_codec::jpeg_of(&c);
    let idct = |v: u8| match v {
        medzip_codec::jpeg::ISLOW => "libjpeg islow",
        _ => "unknown",
    };
    let residual = match jpeg {
        Some((v, q)) => format!(
            "{residual} (a decoded JPEG: {} inverse DCT, DC step {}, quality ≈ {})",
            idct(v),
            q[0],
            medzip_codec::jpeg::quality_of_dc(q[0])
        ),
        None => residual,
    };
    let bpp = 8.0 * bytes.len() as f64 / d.pixels() as f64;
    // The model id's entries (tag, length, id), named.
    use medzip_format::model;
    let mut models = Vec::new();
    // (An embedded set as the models it stands for, where this build
    // knows it.)
    let entries = match medzip_codec::model_entries(&c.header.model_id) {
        Ok(e) => e,
        Err(_) => model::entries(&c.header.model_id).context("damaged model id")?,
    };
    for (tag, entry) in entries {
        let kind = model::kind_name(tag)
            .map(str::to_string)
            .unwrap_or_else(|| format!("unknown kind {:?}", tag as char));
        // Embedded models (and a site's) are named.
        let name = match tag {
            model::CONTEXT => ctx.decode.models.state_name(entry),
            model::NETWORK => ctx.decode.models.net_by_id(entry).map(|n| n.name),
            _ => None,
        };
        models.push((kind, medzip_format::hex(entry), name));
    }
    // A DICOM header coded with the header dictionary needs it too.
    if d.source == medzip_format::SourceKind::Dicom {
        if let Some(id) = medzip_io::dicom::header_dictionary_of(&c.source) {
            models.push((
                "DICOM header dictionary".to_string(),
                medzip_format::hex(id),
                None,
            ));
        }
    }
    let model = if models.is_empty() {
        "none".to_string()
    } else {
        models
            .iter()
            .map(|(k, h, n)| match n {
                Some(n) => format!("{k} {n} ({h})"),
                None => format!("{k} {h}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    // What was odd in a DICOM file's structure (kept as it was).
    let notes = match d.source {
        // (A damaged header block is for decoding to report, not `info`.)
        medzip_format::SourceKind::Dicom => {
            medzip_io::dicom::notes(&medzip_codec::Metadata::of(&c)).unwrap_or_default()
        }
        medzip_format::SourceKind::Png => medzip_io::pngfile::notes(&c.source),
        _ => Vec::new(),
    };
    let photometric = d.photometric.name();
    let transform = medzip_codec::transform_of(&c).filter(|_| d.planes > 1);
    if json {
        let v = serde_json::json!({
            "file": p.display().to_string(),
            "format_version": c.version(),
            "width": d.width, "height": d.height,
            "bits_stored": d.bits_stored, "signed": d.signed,
            "photometric": photometric,
            "frames": d.frames, "planes": d.planes, "plane_rows": d.plane_rows(),
            "plane_transform": transform.map(|t| format!("{t:?}")),
            "source": d.source.name(), "container_bits": d.container_bits,
            "residual": medzip_codec::residual_of(&c).map_or("unknown", |r| r.name()),
            "fast_grid_contexts": fast.map(|cfg| cfg.grid),
            "fast_quick_adaptation": fast.map(|cfg| cfg.quick),
            "pattern_contexts": patterns,
            "graphics_tools": graphics,
            "jpeg": jpeg.map(|(v, q)| serde_json::json!({
                "idct": idct(v), "steps": q.to_vec(),
                "quality_estimate": medzip_codec::jpeg::quality_of_dc(q[0]),
            })),
            "model_id": medzip_format::hex(&c.header.model_id),
            "models": models.iter().map(|(k, h, n)| serde_json::json!({"kind": k, "id": h, "name": n})).collect::<Vec<_>>(),
            "bytes": bytes.len(), "bpp": bpp,
            "pixel_sha256": medzip_format::hex(c.pixel_hash()),
            "file_sha256": c.header.file_sha256.map(|h| medzip_format::hex(&h)),
            "source_bytes": c.source.len(), "pixel_bytes": c.pixels.len(),
            "notes": notes,
        });
        return Ok(v.to_string());
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(", notes: {}", notes.join("; "))
    };
    let size = match (d.frames, d.planes) {
        (1, 1) => format!("{}×{}", d.width, d.height),
        (f, pl) => format!(
            "{} frame(s) of {}×{}{}",
            f,
            d.width,
            d.plane_rows(),
            match (pl, transform) {
                (1, _) => String::new(),
                (pl, Some(t)) => format!(" in {pl} planes (coded {t:?})"),
                (pl, None) => format!(" in {pl} planes"),
            }
        ),
    };
    Ok(format!(
        "{}: {} {}-bit {} {}, from {} ({}-bit container), residual {}, models: {}, {} bytes ({:.4} bpp), pixels sha256 {}{notes}",
        p.display(),
        size,
        d.bits_stored,
        if d.signed { "signed" } else { "unsigned" },
        photometric,
        d.source,
        d.container_bits,
        residual,
        model,
        bytes.len(),
        bpp,
        medzip_format::hex(c.pixel_hash())
    ))
}

/// `info` of a file stored whole.
fn stored(p: &Path, c: &medzip_format::Container, bytes: usize, json: bool) -> String {
    let (method, len) = medzip_io::stored::summary(&c.source).unwrap_or(("damaged", 0));
    let sha = c.header.file_sha256.map(|h| medzip_format::hex(&h));
    if json {
        return serde_json::json!({
            "file": p.display().to_string(),
            "format_version": c.version(),
            "source": "file",
            "stored_bytes": len, "stored_method": method,
            "bytes": bytes, "file_sha256": sha,
            // (The stored bytes hold the pixels too: counted as pixel
            // bytes, so that a size measured by them stays honest.)
            "source_bytes": c.source.len(), "pixel_bytes": c.source.len(),
        })
        .to_string();
    }
    format!(
        "{}: a file stored whole (not coded as an image): {len} bytes coded by {method} into {bytes} bytes ({:.1} %), file sha256 {}",
        p.display(),
        100.0 * bytes as f64 / len.max(1) as f64,
        sha.unwrap_or_default()
    )
}
