#!/usr/bin/env python3
"""Every image of a folder where medzip's file is larger than JPEG XL's:
the floor to watch (issue "Never larger than JPEG XL, whatever the image").

    python3 scripts/jxl_floor.py MEDZIP DIR [--extra-args=-e1] [--csv out.csv] [--all]

For each single-frame grayscale image under DIR (PNG, PGM, TIFF, DICOM;
colour, multi-frame and unreadable files are counted and skipped): medzip
compresses it (`compress -j 1`), the result is decoded and compared with
the original's pixels (a size of a wrong file means nothing), and JPEG XL
(imagecodecs/libjxl, lossless, efforts 7 and 9, one thread) codes the same
pixels at their effective bit depth (8 for 8-bit images; else the bits the
largest value needs, at least 9, or DICOM's BitsStored; signed samples
shifted by 2^(bits-1)); files medzip refuses are listed. medzip's size is the whole .mdz for PNG/PGM/TIFF
sources and `pixel_bytes` of `medzip info --json` for DICOM (the header is
stored beside the pixels; JPEG XL codes no header; a file medzip stores
whole counts whole: pass --extra-args=--transcode so that encapsulated
DICOM is coded by its pixels), as
../shared/bench/cli_eval.py measures. Prints the images where medzip is
larger than the better of JPEG XL e7/e9 (every image with --all), worst
first, and a summary; exits 1 if a round trip differs. Needs numpy, imagecodecs and pydicom
(../shared/bench/install.sh).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import imagecodecs
import numpy as np

EXTS = {".png", ".pgm", ".pnm", ".tif", ".tiff", ".dcm"}


def read_pgm(raw: bytes):
    fields, pos = [], 2
    while len(fields) < 3:
        while raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            pos = raw.index(b"\n", pos)
            continue
        end = pos
        while not raw[end:end + 1].isspace():
            end += 1
        fields.append(int(raw[pos:end]))
        pos = end
    w, h, maxval = fields
    dt = np.uint8 if maxval < 256 else np.dtype(">u2")
    a = np.frombuffer(raw, dtype=dt, count=w * h, offset=pos + 1).reshape(h, w)
    return a.astype(np.uint8 if maxval < 256 else np.uint16)


def is_dicom(path: Path) -> bool:
    with open(path, "rb") as f:
        return path.suffix.lower() == ".dcm" or f.read(132)[128:132] == b"DICM"


def read_pixels(path: Path):
    """(array, bits, is_dicom) of a single-frame grayscale image."""
    if is_dicom(path):
        import pydicom
        ds = pydicom.dcmread(str(path), force=True)
        if int(getattr(ds, "SamplesPerPixel", 1)) != 1 or str(getattr(ds, "PhotometricInterpretation", "")).startswith("PALETTE"):
            raise ValueError("colour")
        if int(getattr(ds, "NumberOfFrames", 1) or 1) != 1:
            raise ValueError("multi-frame")
        a = np.asarray(ds.pixel_array)
        bits = int(ds.BitsStored)
        if a.dtype.kind == "i":
            a = (a.astype(np.int32) + (1 << (bits - 1))).astype(np.uint16 if bits > 8 else np.uint8)
        return a, bits, True
    raw = path.read_bytes()
    a = read_pgm(raw) if raw[:2] == b"P5" else imagecodecs.imread(raw)
    if a.ndim == 3:
        if a.shape[2] == 4:
            a = a[..., :3]
        if not (np.all(a[..., 0] == a[..., 1]) and np.all(a[..., 0] == a[..., 2])):
            raise ValueError("colour")
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError("not a 2-D image")
    if a.dtype == np.uint8:
        return a, 8, False
    if a.dtype.kind == "i":
        a = (a.astype(np.int32) + (1 << 15)).astype(np.uint16)
    return a, max(int(a.max()).bit_length(), 9), False


def decoded_pixels(path: Path):
    a, _, _ = read_pixels(path)
    return a


def jxl_bytes(a, bits, effort):
    enc = imagecodecs.jpegxl_encode(a, lossless=True, effort=effort, numthreads=1, bitspersample=bits)
    back = imagecodecs.jpegxl_decode(enc, numthreads=1)
    if not np.array_equal(back.astype(np.int64), a.astype(np.int64)):
        raise RuntimeError("JPEG XL round trip differs")
    return len(enc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("medzip")
    ap.add_argument("dir")
    ap.add_argument("--extra-args", default="", help="passed to medzip compress, e.g. -e1")
    ap.add_argument("--efforts", default="7,9", help="JPEG XL efforts to take the better of")
    ap.add_argument("--csv")
    ap.add_argument("--all", action="store_true", help="list every image, not only those larger than JPEG XL")
    ap.add_argument("--limit", type=int, default=0)
    o = ap.parse_args()
    efforts = [int(e) for e in o.efforts.split(",")]
    # Images by extension, and DICOM files without one (DICOMDIR folders).
    files = sorted(p for p in Path(o.dir).rglob("*")
                   if p.is_file() and (p.suffix.lower() in EXTS or (p.suffix == "" and is_dicom(p))))
    if o.limit:
        files = files[: o.limit]
    tmp = Path(tempfile.mkdtemp(prefix="mdz-floor-"))
    rows, skipped, refused, failed, stored = [], {}, [], [], []
    for i, f in enumerate(files):
        try:
            a, bits, dicom = read_pixels(f)
        except Exception as e:  # colour, multi-frame, unreadable: counted, not measured
            reason = str(e).split("\n")[0][:60] or type(e).__name__
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        mdz, out = tmp / f"{i}.mdz", tmp / f"{i}.out{'.dcm' if dicom else f.suffix.lower()}"
        p = subprocess.run([o.medzip, "compress", "-q", "-f", "-j", "1", *o.extra_args.split(), str(f), "-o", str(mdz)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            refused.append(f"{f}: {p.stderr.strip()[-160:]}")
            continue
        p = subprocess.run([o.medzip, "decompress", "-q", "-f", "-j", "1", str(mdz), "-o", str(out)],
                           capture_output=True, text=True)
        try:
            same = p.returncode == 0 and np.array_equal(decoded_pixels(out).astype(np.int64), a.astype(np.int64))
        except Exception as e:  # the checker cannot read medzip's output
            same = False
        if not same:
            failed.append(f"{f}: medzip's round trip differs")
            continue
        info = json.loads(subprocess.run([o.medzip, "info", "--json", str(mdz)], capture_output=True, text=True).stdout)
        whole = info.get("source") == "file"  # stored whole (not coded as an image): the whole .mdz counts
        if whole:
            stored.append(str(f))
        size = info["pixel_bytes"] if dicom and not whole else mdz.stat().st_size
        try:
            jxl = {e: jxl_bytes(a, bits, e) for e in efforts}
        except Exception as e:  # JPEG XL cannot code these pixels at these bits
            skipped[f"JPEG XL: {str(e)[:50]}"] = skipped.get(f"JPEG XL: {str(e)[:50]}", 0) + 1
            continue
        best = min(jxl.values())
        rows.append(dict(file=str(f.relative_to(o.dir)), width=a.shape[1], height=a.shape[0], bits=bits,
                         medzip=size, **{f"jxl_e{e}": b for e, b in jxl.items()}, ratio=size / best))
        for q in (mdz, out):
            q.unlink(missing_ok=True)
    rows.sort(key=lambda r: -r["ratio"])
    shown = rows if o.all else [r for r in rows if r["ratio"] > 1.0]
    cols = ["file", "width", "height", "bits", "medzip"] + [f"jxl_e{e}" for e in efforts] + ["ratio"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in shown:
        print("| " + " | ".join(f"{r[c]:.3f}" if c == "ratio" else str(r[c]) for c in cols) + " |")
    larger = sum(r["ratio"] > 1.0 for r in rows)
    print(f"\n{len(rows)} images measured, {larger} larger than the better of JPEG XL e{'/e'.join(map(str, efforts))}"
          f"; skipped (not single-frame grey, or unreadable by pydicom/imagecodecs): {skipped or 'none'}"
          f"; refused by medzip: {len(refused)}; stored whole: {len(stored)}; round trip differs: {len(failed)}",
          file=sys.stderr)
    for m in stored:
        print("stored whole (the whole .mdz measured): " + m, file=sys.stderr)
    for m in refused:
        print("refused: " + m, file=sys.stderr)
    for m in failed:
        print("FAILED: " + m, file=sys.stderr)
    if o.csv:
        with open(o.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
    os.rmdir(tmp) if not any(tmp.iterdir()) else None
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
