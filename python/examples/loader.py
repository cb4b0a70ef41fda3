#!/usr/bin/env python3
"""A training-style data loader over .mdz files: worker processes decode,
the main loop takes batches (numpy only; a PyTorch ``DataLoader`` would
call ``medzip.decode`` the same way in its ``Dataset.__getitem__``).

  python python/examples/loader.py DIR [--workers 2] [--epochs 2]

DIR: a folder of PNG images. They are converted once, in memory, to .mdz
(medzip's default level and `effort=1`), JPEG XL (lossless, effort 7) and kept as PNG;
then each format is read for ``--epochs`` epochs by ``--workers``
processes, and the decode throughput (images/s, MP/s) is printed per
format, every image checked against the original.
"""

import argparse
import multiprocessing as mp
import pathlib
import time

import imagecodecs
import numpy as np

import medzip

DECODERS = {
    "medzip": lambda b: medzip.decode(b, threads=1),
    "medzip -e1": lambda b: medzip.decode(b, threads=1),
    "jxl-e7": lambda b: imagecodecs.jpegxl_decode(b, numthreads=1),
    "png": imagecodecs.png_decode,
}


def _decode(job):
    fmt, data = job
    return DECODERS[fmt](data)


def batches(pool, fmt, blobs, batch):
    """Decoded images in batches, in order, decoded by the pool's workers."""
    it = pool.imap(_decode, ((fmt, b) for b in blobs), chunksize=2)
    out = []
    for img in it:
        out.append(img)
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    o = ap.parse_args()
    files = sorted(pathlib.Path(o.dir).rglob("*.png"))[: o.limit]
    images = [imagecodecs.png_decode(f.read_bytes()) for f in files]
    images = [a if a.ndim == 2 else a[..., 0] for a in images]
    encoded = {
        "medzip": [medzip.encode(a) for a in images],
        "medzip -e1": [medzip.encode(a, effort=1) for a in images],
        "jxl-e7": [imagecodecs.jpegxl_encode(a, lossless=True, effort=7) for a in images],
        "png": [f.read_bytes() for f in files],
    }
    px = sum(a.size for a in images)
    print(f"{len(images)} images, {px / 1e6:.1f} MP, {o.workers} decoding processes, {o.epochs} epochs")
    print("| format | bpp | images/s | MP/s |")
    print("|---|---|---|---|")
    with mp.Pool(o.workers) as pool:
        for fmt, blobs in encoded.items():
            t = time.perf_counter()
            seen = 0
            for _ in range(o.epochs):
                for batch in batches(pool, fmt, blobs, o.batch):
                    # (A training step would use the batch here.)
                    for img in batch:
                        assert np.array_equal(np.asarray(img).reshape(images[seen % len(images)].shape), images[seen % len(images)])
                        seen += 1
            dt = time.perf_counter() - t
            bpp = 8 * sum(len(b) for b in blobs) / px
            print(f"| {fmt} | {bpp:.4f} | {seen / dt:.1f} | {o.epochs * px / dt / 1e6:.2f} |")


if __name__ == "__main__":
    main()
