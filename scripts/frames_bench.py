#!/usr/bin/env python3
"""Multi-frame and colour DICOM: medzip against JPEG XL and JPEG-LS on the
same pixels (issue "Every file in, the same file back", items 2 and 3).

    python3 scripts/frames_bench.py MEDZIP DIR [--efforts 1,3] [--md out.md]

For every DICOM file under DIR with several frames or samples per pixel
that medzip codes by its pixels (not stored whole; pass
`--extra-args=--transcode` to include encapsulated lossless files), one
row per distinct pixel content (files whose decoded pixels are equal,
such as the explicit big-endian twin of a file, are measured once):

* medzip: `compress -j 1 -e N` for each effort, checked by `verify`;
  its size is `pixel_bytes` of `medzip info --json` (the header is stored
  beside the pixels; the peers code no header);
* JPEG XL (libjxl via imagecodecs, lossless, efforts 7 and 9, one thread)
  and JPEG-LS (CharLS via imagecodecs), each frame coded alone as the
  peers have no multi-frame mode; colour frames as one RGB (or YBR)
  image, so each peer applies its own colour transform;
* what inter-frame prediction could gain: JPEG XL e7 on each frame's
  difference from the previous one (modulo 2^bits, offset to mid-range)
  after the first frame, against e7 on the frames alone.

YBR_FULL_422 pixel data is skipped (pydicom gives it upsampled: the peers
would code other samples than the file holds). Needs numpy, imagecodecs
and pydicom (../shared/bench/install.sh).
"""
import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom


def medzip_bytes(medzip, path, effort, extra, tmp):
    out = Path(tmp) / "x.mdz"
    subprocess.run([medzip, "compress", "-q", "-f", "-j", "1", f"-e{effort}", *extra,
                    str(path), "-o", str(out)], check=True, capture_output=True)
    subprocess.run([medzip, "verify", str(out), str(path)], check=True, capture_output=True)
    info = json.loads(subprocess.run([medzip, "info", "--json", str(out)], check=True,
                                     capture_output=True, text=True).stdout)
    return info


def frames_of(ds):
    a = ds.pixel_array
    nf = int(getattr(ds, "NumberOfFrames", 1) or 1)
    spp = int(getattr(ds, "SamplesPerPixel", 1))
    if nf == 1:
        a = a[None]
    if spp == 1:
        a = a[..., None]
    return a  # (frames, rows, cols, samples)


def jxl(frame, effort, bits):
    f = frame if frame.shape[-1] == 3 else frame[..., 0]
    return len(imagecodecs.jpegxl_encode(f, lossless=True, effort=effort, numthreads=1,
                                          bitspersample=bits))


def jls(frame):
    f = frame if frame.shape[-1] == 3 else frame[..., 0]
    return len(imagecodecs.jpegls_encode(f))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("medzip")
    ap.add_argument("dir")
    ap.add_argument("--efforts", default="1,3")
    ap.add_argument("--extra-args", default="")
    ap.add_argument("--md", help="write the table as Markdown here too")
    args = ap.parse_args()
    efforts = [int(e) for e in args.efforts.split(",")]
    extra = args.extra_args.split()
    seen, rows = set(), []
    for path in sorted(Path(args.dir).rglob("*.dcm")):
        try:
            ds = pydicom.dcmread(path)
            nf = int(getattr(ds, "NumberOfFrames", 1) or 1)
            spp = int(getattr(ds, "SamplesPerPixel", 1))
            pi = str(ds.PhotometricInterpretation)
        except Exception:
            continue
        if (nf == 1 and spp == 1 and pi != "PALETTE COLOR") or pi == "YBR_FULL_422":
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                infos = {e: medzip_bytes(args.medzip, path, e, extra, tmp) for e in efforts}
            except subprocess.CalledProcessError as err:
                print(f"FAILED {path}: {err.stderr}", file=sys.stderr)
                sys.exit(1)
        if any(i.get("source") == "file" for i in infos.values()):
            continue  # stored whole: not coded by its pixels
        try:
            a = frames_of(ds)
        except Exception as err:
            print(f"skip {path}: pydicom cannot decode it ({err})", file=sys.stderr)
            continue
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
        key = hashlib.sha256(a.tobytes()).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        bits = int(ds.BitsStored)
        if a.dtype.kind == "i":  # signed: shifted to unsigned, as medzip's floor does
            a = (a.astype(np.int64) + (1 << (bits - 1))).astype(np.uint16)
        a = a.astype(np.uint8 if bits <= 8 else np.uint16)
        e7 = sum(jxl(f, 7, bits) for f in a)
        e9 = sum(jxl(f, 9, bits) for f in a)
        ls = sum(jls(f) for f in a)
        diff = None
        if len(a) > 1:
            m = (1 << bits) - 1
            d = [(a[k].astype(np.int64) - a[k - 1] + (1 << (bits - 1))) & m for k in range(1, len(a))]
            diff = jxl(a[0], 7, bits) + sum(jxl(x.astype(a.dtype), 7, bits) for x in d)
        samples = a.size
        rows.append({
            "file": str(path.relative_to(args.dir)), "kind": f"{nf}×{a.shape[2]}×{a.shape[1]} {pi} {bits}-bit",
            "samples": samples, "jxl_e7": e7, "jxl_e9": e9, "jpegls": ls, "jxl_e7_diff": diff,
            **{f"medzip_e{e}": infos[e]["pixel_bytes"] for e in efforts},
            "transform": infos[efforts[-1]].get("plane_transform"),
        })
        r = rows[-1]
        print(json.dumps(r), flush=True)
    best = lambda r: min(r["jxl_e7"], r["jxl_e9"])
    head = ["file", "kind"] + [f"medzip -e{e} bpp" for e in efforts] + [
        "JXL e7", "JXL e9", "JPEG-LS", f"medzip -e{efforts[-1]} ÷ best JXL", "JXL e7 on differences ÷ alone"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    tot = {k: 0 for k in ["jxl", "jls", *[f"medzip_e{e}" for e in efforts]]}
    for r in rows:
        bpp = lambda b: f"{8 * b / r['samples']:.3f}"
        tot["jxl"] += best(r)
        tot["jls"] += r["jpegls"]
        for e in efforts:
            tot[f"medzip_e{e}"] += r[f"medzip_e{e}"]
        lines.append("| " + " | ".join([
            f"`{r['file']}`", r["kind"], *[bpp(r[f"medzip_e{e}"]) for e in efforts],
            bpp(r["jxl_e7"]), bpp(r["jxl_e9"]), bpp(r["jpegls"]),
            f"{r[f'medzip_e{efforts[-1]}'] / best(r):.3f}",
            "—" if r["jxl_e7_diff"] is None else f"{r['jxl_e7_diff'] / r['jxl_e7']:.3f}",
        ]) + " |")
    summary = (f"\n{len(rows)} images; total bytes: " + ", ".join(
        f"medzip -e{e} {tot[f'medzip_e{e}']}" for e in efforts)
        + f", best JXL {tot['jxl']}, JPEG-LS {tot['jls']}; medzip -e{efforts[-1]} ÷ best JXL "
        + f"{tot[f'medzip_e{efforts[-1]}'] / max(tot['jxl'], 1):.3f}, ÷ JPEG-LS "
        + f"{tot[f'medzip_e{efforts[-1]}'] / max(tot['jls'], 1):.3f}")
    text = "\n".join(lines) + "\n" + summary + "\n"
    print(text)
    if args.md:
        Path(args.md).write_text(text)


if __name__ == "__main__":
    main()
