#!/usr/bin/env python3
"""medzip's margin over deflate on the DICOM files of a folder that it codes
by their pixels: whole files (medzip's .mdz against zlib level 6 of the
file, as Orthanc's StorageCompression stores them) and pixels only
(`pixel_bytes` of `medzip info --json` against zlib level 6 of the Pixel
Data value). Needs pydicom.

    python3 scripts/pixel_margin.py MEDZIP DIR [--all]

With --all, every DICOM file with pixel data counts, those medzip stores
whole too (their pixels counted as the whole stored file, which is how
medzip keeps them), and files without pixel data are summed apart.
"""
import json
import os
import subprocess
import sys
import tempfile
import zlib

import pydicom


def main():
    medzip, root = sys.argv[1], sys.argv[2]
    every = "--all" in sys.argv[3:]
    nopix = dict(n=0, mdz=0, zfile=0)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    tot = dict(n=0, mdz=0, zfile=0, mpix=0, zpix=0)
    out = os.path.join(tempfile.mkdtemp(), "x.mdz")
    for f in files:
        if subprocess.run([medzip, "compress", "-q", "-f", "-j", "1", f, "-o", out], capture_output=True).returncode:
            continue
        info = json.loads(subprocess.run([medzip, "info", "--json", out], capture_output=True, text=True).stdout)
        coded = info.get("source") == "dicom"
        if not coded and not every:  # stored whole, or not DICOM
            continue
        try:
            px = pydicom.dcmread(f, force=True).PixelData
        except Exception:
            px = None
        zfile = len(zlib.compress(open(f, "rb").read(), 6))
        if px is None:
            if every:
                nopix["n"] += 1
                nopix["mdz"] += os.path.getsize(out)
                nopix["zfile"] += zfile
            continue
        tot["n"] += 1
        tot["mdz"] += os.path.getsize(out)
        tot["zfile"] += zfile
        tot["mpix"] += info["pixel_bytes"] if coded else os.path.getsize(out)
        tot["zpix"] += len(zlib.compress(px, 6))
    print(tot)
    what = "with pixel data" if every else "coded by their pixels"
    print(f"{tot['n']} files {what}: whole files medzip/zlib {tot['mdz'] / tot['zfile']:.3f}, "
          f"pixels only medzip/deflate {tot['mpix'] / tot['zpix']:.3f}")
    if nopix["n"]:
        print(f"{nopix['n']} files without pixel data: medzip/zlib {nopix['mdz'] / nopix['zfile']:.3f}")


if __name__ == "__main__":
    main()
