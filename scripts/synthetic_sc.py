#!/usr/bin/env python3
"""Synthetic secondary captures, for watching the floor on content the dev
sets lack (issue "Never larger than JPEG XL"): a shaded surface rendering
on black with burned-in text, as a 3D rendering of a CT is stored.

    python3 scripts/synthetic_sc.py OUT_DIR [--seed 1]
    python3 scripts/jxl_floor.py target/release/medzip OUT_DIR --all

Writes `render12.png`: 512 × 512, a 16-bit PNG of values in steps of 16
up to 1,984 (two shaded blobs, about 72 % black, five rows of glyphs of
6 × 9 pixels), and `render8.png`: the same in 8 bits (steps of 2). Numbers
made from these files are about these files only: they are not dev data.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def render(seed: int) -> np.ndarray:
    h, w = 512, 512
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    img = np.zeros((h, w))
    for cx, cy, r in [(250, 260, 150), (330, 200, 60)]:
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        z = np.sqrt(np.clip(r * r - d2, 0, None)) / r
        light = np.clip(((xx - cx) * -0.5 + (yy - cy) * -0.6) / r + 0.5, 0, 1)
        shade = 0.2 + 0.8 * (0.6 * z + 0.4 * light) + 0.05 * np.sin(xx / 7) * np.cos(yy / 9)
        img = np.where(d2 < r * r, np.maximum(img, shade), img)
    levels = (np.clip(img, 0, 1) * 124).round()
    rng = np.random.default_rng(seed)
    glyphs = [rng.random((9, 6)) > 0.55 for _ in range(12)]
    for row, y0 in enumerate([10, 24, 38, 470, 484]):
        for i in range(30):
            g = glyphs[(i * 7 + row * 3) % 12]
            x0 = 10 + i * 7
            levels[y0:y0 + 9, x0:x0 + 6] = np.where(g, 124, levels[y0:y0 + 9, x0:x0 + 6])
    return levels.astype(np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1)
    o = ap.parse_args()
    out = Path(o.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    levels = render(o.seed)
    Image.fromarray((levels * 16).astype(np.uint16)).save(out / "render12.png")
    Image.fromarray((levels * 2).astype(np.uint8)).save(out / "render8.png")


if __name__ == "__main__":
    main()
