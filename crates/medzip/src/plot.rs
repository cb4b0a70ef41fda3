//! Figures as PNG files, drawn with the `png` crate and a built-in 3×5
//! pixel font (no system fonts needed): image panels (original |
//! reconstruction | delta, as the paper's Figures 11–14) and training
//! curves from a run's `history.csv`.

use anyhow::{Context, Result};
use std::path::Path;

/// An 8-bit RGB canvas.
pub struct Canvas {
    pub w: usize,
    pub h: usize,
    px: Vec<[u8; 3]>,
}

/// 3×5 glyphs, rows top to bottom, 3 bits per row (MSB left).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        ':' => [0, 2, 0, 2, 0],
        '/' => [1, 1, 2, 4, 4],
        '(' => [2, 4, 4, 4, 2],
        ')' => [2, 1, 1, 1, 2],
        '+' => [0, 2, 7, 2, 0],
        '=' => [0, 7, 0, 7, 0],
        '|' => [2, 2, 2, 2, 2],
        ' ' => [0, 0, 0, 0, 0],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [7, 4, 4, 4, 7],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [7, 4, 5, 5, 7],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 7],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [7, 5, 5, 5, 7],
        'P' => [7, 5, 7, 4, 4],
        'Q' => [7, 5, 5, 7, 1],
        'R' => [6, 5, 6, 5, 5],
        'S' => [7, 4, 7, 1, 7],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        _ => return None,
    })
}

impl Canvas {
    pub fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![[255; 3]; w * h],
        }
    }

    pub fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            self.px[y as usize * self.w + x as usize] = c;
        }
    }

    /// Text at (x, y), glyphs scaled by `s`.
    pub fn text(&mut self, x: i64, y: i64, s: i64, t: &str, c: [u8; 3]) {
        for (i, ch) in t.chars().enumerate() {
            let Some(g) = glyph(ch) else { continue };
            for (row, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits >> (2 - col) & 1 == 1 {
                        for dy in 0..s {
                            for dx in 0..s {
                                self.set(
                                    x + (i as i64 * 4 + col) * s + dx,
                                    y + row as i64 * s + dy,
                                    c,
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Line from (x0, y0) to (x1, y1), 2 pixels thick.
    pub fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: [u8; 3]) {
        let n = ((x1 - x0).abs().max((y1 - y0).abs()) as usize).max(1);
        for i in 0..=n {
            let t = i as f64 / n as f64;
            let (x, y) = (
                (x0 + t * (x1 - x0)).round() as i64,
                (y0 + t * (y1 - y0)).round() as i64,
            );
            self.set(x, y, c);
            self.set(x + 1, y, c);
            self.set(x, y + 1, c);
        }
    }

    #[cfg(feature = "train")]
    pub fn gray(&mut self, x0: usize, y0: usize, size: usize, v: &[u8]) {
        for y in 0..size {
            for x in 0..size {
                let g = v[y * size + x];
                self.set((x0 + x) as i64, (y0 + y) as i64, [g, g, g]);
            }
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header()?;
            w.write_image_data(&self.px.concat())?;
        }
        std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Original | reconstruction | delta (128 + 2 × difference).
#[cfg(feature = "train")]
pub fn write_panel(path: &Path, x: &[u8], r: &[u8], size: usize) -> Result<()> {
    let pad = 8;
    let mut c = Canvas::new(3 * size + 4 * pad, size + 2 * pad + 14);
    c.gray(pad, pad + 14, size, x);
    c.gray(2 * pad + size, pad + 14, size, r);
    let d: Vec<u8> = x
        .iter()
        .zip(r)
        .map(|(&a, &b)| (128 + 2 * (a as i32 - b as i32)).clamp(0, 255) as u8)
        .collect();
    c.gray(3 * pad + 2 * size, pad + 14, size, &d);
    let k = [0, 0, 0];
    c.text(pad as i64, 4, 2, "ORIGINAL", k);
    c.text((2 * pad + size) as i64, 4, 2, "RECONSTRUCTION", k);
    c.text((3 * pad + 2 * size) as i64, 4, 2, "DELTA X2 + 128", k);
    c.save(path)
}

/// Training curves (train and validation loss per epoch) from `history.csv`.
pub fn write_curves(csv: &Path, title: &str, path: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let rows: Vec<(f64, f64, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<f64> = l.split(',').filter_map(|v| v.parse().ok()).collect();
            (f.len() >= 3).then(|| (f[0], f[1], f[2]))
        })
        .collect();
    anyhow::ensure!(!rows.is_empty(), "{}: no epochs", csv.display());
    let (w, h, m) = (640usize, 400usize, 60f64);
    let mut c = Canvas::new(w, h);
    let emax = rows.last().map(|r| r.0).unwrap_or(1.0).max(2.0);
    let lmax = rows.iter().map(|r| r.1.max(r.2)).fold(0.0, f64::max) * 1.05;
    let lmin = rows
        .iter()
        .map(|r| r.1.min(r.2))
        .fold(f64::INFINITY, f64::min)
        .min(lmax)
        * 0.95;
    let sx = |e: f64| m + (e - 1.0) / (emax - 1.0) * (w as f64 - 1.5 * m);
    let sy = |l: f64| h as f64 - m - (l - lmin) / (lmax - lmin).max(1e-12) * (h as f64 - 2.0 * m);
    let k = [0, 0, 0];
    c.line(m, h as f64 - m, w as f64 - m / 2.0, h as f64 - m, k);
    c.line(m, m, m, h as f64 - m, k);
    for i in 0..=4 {
        let l = lmin + (lmax - lmin) * i as f64 / 4.0;
        c.text(4, sy(l) as i64 - 5, 2, &format!("{l:.3}"), k);
        let e = 1.0 + (emax - 1.0) * i as f64 / 4.0;
        c.text(
            sx(e) as i64 - 6,
            h as i64 - m as i64 + 8,
            2,
            &format!("{e:.0}"),
            k,
        );
    }
    let (blue, red) = ([30, 90, 200], [210, 50, 40]);
    for p in rows.windows(2) {
        c.line(sx(p[0].0), sy(p[0].1), sx(p[1].0), sy(p[1].1), blue);
        c.line(sx(p[0].0), sy(p[0].2), sx(p[1].0), sy(p[1].2), red);
    }
    c.text(m as i64, 12, 2, title, k);
    c.text(w as i64 - 200, 12, 2, "TRAIN LOSS", blue);
    c.text(w as i64 - 200, 28, 2, "VAL LOSS", red);
    c.text(w as i64 / 2 - 20, h as i64 - 20, 2, "EPOCH", k);
    c.save(path)
}
