#!/usr/bin/env python3
"""Best-of-N wall time of `medzip compress` and `medzip decompress` (-j 1) on
one file, for comparing two builds (or options) on the same machine in the
same minute: the minimum is the least disturbed run of a shared machine.

  python3 scripts/time_cli.py FILE MEDZIP [MEDZIP2 ...] [--runs 9] [--extra "--no-net"]
"""
import argparse, os, subprocess, tempfile, time


def best(cmd, runs):
    t_min = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        t_min = min(t_min, time.perf_counter() - t)
    return t_min


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("medzip", nargs="+")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--extra", default="", help="extra compress options, e.g. --no-net")
    o = ap.parse_args()
    d = tempfile.mkdtemp()
    mdz, back = os.path.join(d, "a.mdz"), os.path.join(d, "back" + os.path.splitext(o.file)[1])
    for m in o.medzip:
        enc = best([m, "compress", "-q", "-j1", *o.extra.split(), o.file, "-o", mdz, "--force"], o.runs)
        dec = best([m, "decompress", "-q", "-j1", mdz, "-o", back, "--force"], o.runs)
        print(f"{m} {o.extra}: encode {enc * 1e3:.0f} ms, decode {dec * 1e3:.0f} ms, {os.path.getsize(mdz)} bytes")


if __name__ == "__main__":
    main()
