#!/usr/bin/env python3
"""Extra 10-16-bit training images from a folder of DICOM files (the
`dev/compat` test files): every grayscale image with BitsStored > 8 is
written as a 16-bit PNG under the conventions of `dev/highbit` (stored
values; signed samples shifted by 2^(BitsStored-1)), and every image whose
pixels already occur in the reference folder (`dev/highbit`) or earlier in
the list, up to a constant or as a near copy (correlation above 0.98), is
left out, so that a held-out fold never sees its own pixels.
Multi-frame files give their first and middle frames.

    python3 scripts/compat_highbit.py COMPAT_DIR HIGHBIT_DIR OUT_DIR

Prints one line per image written and a summary. Needs numpy, Pillow and
pydicom with its JPEG plugins (../shared/bench/install.sh).
"""
import sys
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image


def near(a: np.ndarray, b: np.ndarray) -> bool:
    """The same picture, up to a constant or coded another way (693_J2KR
    is 693_UNCI rescaled); flat images only when equal."""
    if a.shape != b.shape:
        return False
    if a.std() == 0 or b.std() == 0:
        return bool(np.array_equal(a - a.min(), b - b.min()))
    return np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.98


def main():
    src, ref, out = (Path(p) for p in sys.argv[1:4])
    kept = [np.asarray(Image.open(f)).astype(np.int64) for f in sorted(ref.rglob("*.png"))]
    written = skipped = 0
    for f in sorted(src.rglob("*")):
        if not f.is_file():
            continue
        try:
            ds = pydicom.dcmread(f)
            if int(ds.get("SamplesPerPixel", 1)) != 1 or int(ds.BitsStored) <= 8:
                continue
            bits, signed = int(ds.BitsStored), int(ds.PixelRepresentation) == 1
            frames = ds.pixel_array
        except Exception:  # not an image, unreadable, no pixel data
            continue
        frames = frames if int(ds.get("NumberOfFrames", 1) or 1) > 1 else frames[None]
        picks = sorted({0, len(frames) // 2})
        for k in picks:
            a = frames[k].astype(np.int64)
            if signed:
                a = a + (1 << (bits - 1))
            if a.ndim != 2 or min(a.shape) < 32 or a.min() < 0 or a.max() >= 1 << 16:
                skipped += 1
                continue
            if any(near(a, b) for b in kept):
                skipped += 1
                continue
            kept.append(a)
            name = out / f.relative_to(src).parent / f"{f.stem}_{k}.png"
            name.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(a.astype(np.uint16)).save(name)
            written += 1
            print(f"{name.relative_to(out)}\t{a.shape[1]}x{a.shape[0]}\t{bits} bits")
    print(f"{written} images written, {skipped} duplicates or unusable frames left out")


if __name__ == "__main__":
    main()
