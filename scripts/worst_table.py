#!/usr/bin/env python3
"""The images where medzip comes closest to (or beyond) JPEG XL, across dev
sets: the floor's table (issue "Never larger than JPEG XL, whatever the
image").

    python3 scripts/worst_table.py PEERS.json [--eval EVAL.json]... [--floor FLOOR.csv]... [-n 20]

`--eval`: a `../shared/bench/cli_eval.py --json` report (per-file bits of
the whole .mdz), set beside the better of JPEG XL e7/e9 of `PEERS.json`
(`../shared/bench/dev_peers.json`, the same files). `--floor`: a
`scripts/jxl_floor.py --csv` table (its own JPEG XL figures). Prints a
markdown table of the `n` largest ratios, largest first, with each
image's size class: images under 64 × 64 have the issue's bar of 1.05,
the others 1.00.
"""
import argparse
import csv
import json

ap = argparse.ArgumentParser()
ap.add_argument("peers")
ap.add_argument("--eval", action="append", default=[])
ap.add_argument("--floor", action="append", default=[])
ap.add_argument("-n", type=int, default=20)
o = ap.parse_args()
peers = json.load(open(o.peers))
rows = []  # (ratio, file, set, pixels, medzip bytes, jxl bytes)
for path in o.eval:
    for name, r in json.load(open(path)).items():
        for rel, (bits, px) in r.get("files", {}).items():
            p = peers.get(rel, {})
            best = min((p[k] for k in ("jxl-e7", "jxl-e9") if k in p), default=None)
            if best:
                rows.append((bits / best, rel, name, px, bits // 8, best // 8))
for path in o.floor:
    for r in csv.DictReader(open(path)):
        best = min(int(r["jxl_e7"]), int(r["jxl_e9"]))
        px = int(r["width"]) * int(r["height"])
        tiny = int(r["width"]) < 64 or int(r["height"]) < 64
        rows.append((int(r["medzip"]) / best, r["file"], "compat" + (" (tiny)" if tiny else ""), px, int(r["medzip"]), best))
rows.sort(reverse=True)
print("| image | set | pixels | medzip bytes | better JPEG XL bytes | ratio |")
print("|---|---|---|---|---|---|")
for ratio, f, s, px, m, j in rows[: o.n]:
    print(f"| `{f}` | {s} | {px:,} | {m:,} | {j:,} | {ratio:.3f} |")
over = [r for r in rows if r[0] > (1.05 if "tiny" in r[2] else 1.0)]
print(f"\n{len(rows)} images; {len(over)} over their bar (1.00, tiny 1.05)")
