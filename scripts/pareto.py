#!/usr/bin/env python3
"""Size against decoding speed: one point per codec and medzip level, the
Pareto picture a user chooses from (docs/RESULTS.md §6).

    python3 scripts/pareto.py --peers PEERS.csv --medzip e1=E1.json,e2=E2.json,e3=E3.json \
        --set kermany_png8 --svg docs/pareto_kermany.svg

PEERS.csv comes from ../shared/bench/peer_bench.py --csv (every codec on the
same files), each E*.json from ../shared/bench/cli_eval.py --jxl --dec-ext pgm
--json (one medzip level, with JPEG XL timed in the same run). Speeds are
noisy on shared machines, so each is plotted as a ratio to JPEG XL's decoder
measured in the same run: JPEG XL e7's files for the peers, e9's for medzip
(the two decode at the same speed within noise: ../shared/bench/results-dev.md).
medzip is timed as a whole CLI process (start-up, file reading and writing
included), the peers in-process: the comparison is at medzip's expense.
Prints a markdown table and writes an SVG (no plotting library needed).
"""
import argparse
import csv
import json
import math
import sys
from collections import defaultdict


def peer_points(path):
    """(label, bpp, decode MP/s, ratio to jxl-e7's decoder) per codec."""
    agg = defaultdict(lambda: [0, 0, 0.0])  # bits, pixels, dec seconds
    for r in csv.DictReader(open(path)):
        if r["status"] != "ok":
            continue
        a = agg[r["codec"]]
        a[0] += 8 * int(r["bytes"])
        a[1] += int(r["pixels"])
        a[2] += float(r["dec_cpu_s"] or r["dec_s"])
    jxl = agg.get("jxl-e7")
    ref = jxl[1] / jxl[2] if jxl and jxl[2] else None  # pixels per second
    out = []
    for c, (bits, px, ds) in sorted(agg.items()):
        mps = px / 1e6 / ds if ds else float("nan")
        out.append((c, bits / px, mps, px / 1e6 / ds / (ref / 1e6) if ref and ds else float("nan")))
    return out


def medzip_points(spec, set_name):
    out = []
    for item in spec.split(","):
        label, path = item.split("=", 1)
        r = json.load(open(path))[set_name]
        out.append((f"medzip -{label}", r["bpp"], r["dec_mps"], r["dec_speed_vs_jxl"]))
    return out


def pareto(points):
    """The points no other point beats in both size and speed."""
    best = []
    for p in points:
        if not any(q[1] <= p[1] and q[3] >= p[3] and (q[1], q[3]) != (p[1], p[3]) for q in points):
            best.append(p[0])
    return set(best)


def svg(points, front, title, path):
    W, H, L, R, T, B = 760, 460, 70, 30, 40, 60
    xs = [math.log10(p[3]) for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1
    y0, y1 = min(ys) - 0.1, max(ys) + 0.1
    px = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
    py = lambda y: T + (y1 - y) / (y1 - y0) * (H - T - B)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
         f'<text x="{W / 2}" y="{H - 15}" text-anchor="middle">decoding speed ÷ JPEG XL\'s (same run, log scale; right is faster)</text>',
         f'<text x="18" y="{H / 2}" text-anchor="middle" transform="rotate(-90 18 {H / 2})">bits per pixel (lower is smaller)</text>']
    for v in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20):
        lv = math.log10(v)
        if x0 <= lv <= x1:
            s.append(f'<line x1="{px(lv):.1f}" y1="{H - B}" x2="{px(lv):.1f}" y2="{T}" stroke="#ddd"/>')
            s.append(f'<text x="{px(lv):.1f}" y="{H - B + 15}" text-anchor="middle">{v:g}×</text>')
    y = math.floor(y0 * 10) / 10
    while y <= y1:
        if y >= y0:
            s.append(f'<line x1="{L}" y1="{py(y):.1f}" x2="{W - R}" y2="{py(y):.1f}" stroke="#eee"/>')
            s.append(f'<text x="{L - 5}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.1f}</text>')
        y = round(y + 0.1, 10)
    for (label, bpp, _, ratio), lx in zip(points, xs):
        colour = "#c0392b" if label.startswith("medzip") else "#2c3e50"
        weight = "bold" if label in front else "normal"
        s.append(f'<circle cx="{px(lx):.1f}" cy="{py(bpp):.1f}" r="4" fill="{colour}"/>')
        s.append(f'<text x="{px(lx) + 6:.1f}" y="{py(bpp) - 6:.1f}" fill="{colour}" font-weight="{weight}">{label}</text>')
    s.append("</svg>")
    open(path, "w").write("\n".join(s) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", required=True)
    ap.add_argument("--medzip", required=True, help="LABEL=cli_eval.json,...")
    ap.add_argument("--set", default="kermany_png8")
    ap.add_argument("--svg")
    ap.add_argument("--title", default="")
    o = ap.parse_args()
    points = [p for p in peer_points(o.peers) + medzip_points(o.medzip, o.set) if not math.isnan(p[3])]
    if not points:
        sys.exit("no speed ratios: the peers' CSV needs jxl-e7, the JSONs cli_eval.py --jxl")
    front = pareto(points)
    print("| codec | bpp | decode MP/s | decode ÷ JPEG XL's | on the Pareto front |")
    print("|---|---|---|---|---|")
    for label, bpp, mps, ratio in sorted(points, key=lambda p: p[1]):
        print(f"| {label} | {bpp:.4f} | {mps:.1f} | {ratio:.2f}× | {'yes' if label in front else ''} |")
    if o.svg:
        svg(points, front, o.title or f"Size against decoding speed: {o.set}", o.svg)


if __name__ == "__main__":
    main()
