#!/usr/bin/env python3
"""Python-level speed of the medzip package beside imagecodecs' JPEG XL,
JPEG-LS and PNG on the same arrays, and the archive job's throughput with
1 and 2 Dask workers (docs/RESULTS.md §8).

  python scripts/py_bench.py DIR [--limit 20] [--archive-dir DIR2]

DIR: a folder of PNG images (read with imagecodecs); every codec codes the
same arrays in this process, one thread, and every round trip is checked.
Speeds are the best of --repeat runs (MP/s); ratios are to JPEG XL's in the
same run. --archive-dir: a folder converted by `medzip.archive` on a
LocalCluster of 1, then 2 worker processes (cluster start-up not counted).
"""

import argparse
import os
import pathlib
import shutil
import tempfile
import time

import imagecodecs
import numpy as np

import medzip


def best(f, repeat):
    t_min, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        t_min = min(t_min, time.perf_counter() - t)
    return t_min, out


def codecs():
    return {
        "medzip -e1": (lambda a: medzip.encode(a, effort=1, threads=1), lambda b: medzip.decode(b, threads=1)),
        "medzip -e3": (lambda a: medzip.encode(a, effort=3, threads=1), lambda b: medzip.decode(b, threads=1)),
        "jxl-e7": (lambda a: imagecodecs.jpegxl_encode(a, lossless=True, effort=7, numthreads=1), lambda b: imagecodecs.jpegxl_decode(b, numthreads=1)),
        "jpegls": (imagecodecs.jpegls_encode, imagecodecs.jpegls_decode),
        "png": (lambda a: imagecodecs.png_encode(a, level=9), imagecodecs.png_decode),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--archive-dir")
    o = ap.parse_args()
    files = sorted(pathlib.Path(o.dir).rglob("*.png"))[: o.limit]
    arrays = [imagecodecs.png_decode(f.read_bytes()) for f in files]
    arrays = [a if a.ndim == 2 else a[..., 0] for a in arrays]
    px = sum(a.size for a in arrays)
    print(f"{len(arrays)} images, {px / 1e6:.1f} MP, from {o.dir}")
    rows = {}
    for name, (enc, dec) in codecs().items():
        te = td = 0.0
        nbytes = 0
        for a in arrays:
            t, b = best(lambda: enc(a), o.repeat)
            te += t
            nbytes += len(b)
            t, back = best(lambda: dec(b), o.repeat)
            td += t
            assert np.array_equal(np.asarray(back).reshape(a.shape), a), name
        rows[name] = (8 * nbytes / px, px / te / 1e6, px / td / 1e6)
    jxl = rows["jxl-e7"]
    print("| codec | bpp | encode MP/s | decode MP/s | encode ÷ JXL e7 | decode ÷ JXL e7 |")
    print("|---|---|---|---|---|---|")
    for name, (bpp, e, d) in rows.items():
        print(f"| {name} | {bpp:.4f} | {e:.2f} | {d:.2f} | {e / jxl[1]:.2f}× | {d / jxl[2]:.2f}× |")
    if o.archive_dir:
        from dask.distributed import Client, LocalCluster

        from medzip import archive

        src = pathlib.Path(o.archive_dir)
        nfiles = len(archive.walk(str(src), False))
        print(f"\narchive job on {src} ({nfiles} files)")
        print("| workers | files done | failed | files/s | MP/s | seconds |")
        print("|---|---|---|---|---|---|")
        for workers in (1, 2):
            dst = tempfile.mkdtemp(prefix="medzip-archive-")
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cl, Client(cl) as c:
                t = time.perf_counter()
                counts = archive.run(str(src), dst, client=c, quiet=True)
                dt = time.perf_counter() - t
            recs = archive.read_manifest(os.path.join(dst, archive.MANIFEST))
            mp = sum(int(r["pixels"] or 0) for r in recs.values()) / 1e6
            print(f"| {workers} | {counts['done']} | {counts['failed']} | {nfiles / dt:.2f} | {mp / dt:.2f} | {dt:.1f} |")
            shutil.rmtree(dst)


if __name__ == "__main__":
    main()
