#!/usr/bin/env python3
"""Centre crops of a few sizes from grey PNG images, for measuring what
medzip's container costs on small images against JPEG XL
(docs/RESULTS.md §7, "Small images").

    python3 scripts/tiny_crops.py OUT IMAGE.png... [--sizes 16,32,64,128,256]

Writes OUT/<stem>_<n>.png, the n × n square at the centre of each image,
at the image's own depth (8 or 16 bits; Pillow). Then
`scripts/jxl_floor.py MEDZIP OUT --all` sets every crop's .mdz beside
JPEG XL e7/e9.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--sizes", default="16,32,64,128,256")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for p in map(Path, a.images):
        img = np.array(Image.open(p))
        if img.ndim != 2:
            raise SystemExit(f"{p}: not a grey image")
        h, w = img.shape
        for n in map(int, a.sizes.split(",")):
            if n > min(h, w):
                continue
            y, x = (h - n) // 2, (w - n) // 2
            crop = np.ascontiguousarray(img[y:y + n, x:x + n])
            Image.fromarray(crop).save(out / f"{p.stem}_{n}.png")


if __name__ == "__main__":
    main()
