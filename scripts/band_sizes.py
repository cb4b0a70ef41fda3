#!/usr/bin/env python3
"""What an image would cost coded in bands of rows, each band on its own
(its own trial between the coders, its own start from the trained state),
against the whole image: how much a per-stripe choice of coder could gain
(docs/RESULTS.md §7, "one coder per image").

    python3 scripts/band_sizes.py MEDZIP IMAGE [--rows 64] [--effort 2]

IMAGE is a grey PNG (or a single-frame grey DICOM file, read with pydicom
and coded as PNG: its pixels only). Prints the whole image's
`pixel_bytes` (`medzip info --json`), the sum over the bands, and the
coders the bands took. Needs numpy and Pillow (pydicom for DICOM).
"""
import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def pixel_bytes(medzip, src, out, effort):
    subprocess.run([medzip, "compress", "-q", "-f", "-e", str(effort), str(src), "-o", str(out)], check=True)
    info = json.loads(subprocess.run([medzip, "info", "--json", str(out)], check=True,
                                     capture_output=True, text=True).stdout)
    return info["pixel_bytes"], info["residual"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("medzip")
    ap.add_argument("image")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--effort", type=int, default=2)
    a = ap.parse_args()
    if a.image.lower().endswith(".dcm"):
        import pydicom

        img = pydicom.dcmread(a.image).pixel_array
    else:
        img = np.array(Image.open(a.image))
    with tempfile.TemporaryDirectory() as t:
        t = Path(t)
        Image.fromarray(img).save(t / "whole.png")
        whole, coder = pixel_bytes(a.medzip, t / "whole.png", t / "whole.mdz", a.effort)
        total, coders = 0, []
        for y in range(0, img.shape[0], a.rows):
            Image.fromarray(np.ascontiguousarray(img[y:y + a.rows])).save(t / "band.png")
            n, c = pixel_bytes(a.medzip, t / "band.png", t / "band.mdz", a.effort)
            total += n
            coders.append(c)
    counts = {c: coders.count(c) for c in sorted(set(coders))}
    print(f"{Path(a.image).name}: whole {whole} bytes ({coder}); {len(coders)} bands of {a.rows} rows "
          f"{total} bytes ({100 * (total / whole - 1):+.1f} %), coders {counts}")


if __name__ == "__main__":
    main()
