#!/usr/bin/env python3
"""Every file of the dev sets compressed by one build, sizes only (no
decoding, no timing): for comparing two builds' compression on all dev
files quickly. The sets are those of ../shared/bench/cli_eval.py.

    python3 scripts/set_sizes.py MEDZIP DATA_DIR OUT.json [--sets a,b] [--extra-args "..."]
    python3 scripts/set_sizes.py --compare BEFORE.json AFTER.json

The first form runs `MEDZIP -q compress -j 2 --transcode` over each set
(64 files a call, each into a folder of its own: names repeat across
folders) and writes the `.mdz` sizes per file; the second prints a
markdown table of the totals and of the files that grew. Round trips are
cli_eval.py's job.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

# The sets (folder, pattern) are cli_eval.py's own, so both scripts count
# the same files (../shared/bench/install.sh installs what it imports).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "../../shared/bench"))
from cli_eval import SETS  # noqa: E402


def sizes(medzip: str, root: pathlib.Path, sets: list[str], extra: list[str]) -> dict:
    out = {}
    for name in sets:
        sub, pat = SETS[name]
        files = sorted((root / sub).glob(pat))
        per = {}
        with tempfile.TemporaryDirectory() as td:
            links = []
            for i, f in enumerate(files):
                d = pathlib.Path(td) / str(i)
                d.mkdir()
                links.append(d / f.name)
                os.symlink(f.resolve(), links[-1])
            for i in range(0, len(links), 64):
                cmd = [medzip, "-q", "compress", "-j", "2", "--transcode", *extra]
                subprocess.run(cmd + [str(p) for p in links[i:i + 64]], check=True)
            for f, p in zip(files, links):
                per[str(f.relative_to(root))] = p.with_name(p.name + ".mdz").stat().st_size
        out[name] = per
        print(f"{name}: {len(per)} files, {sum(per.values())} bytes", flush=True)
    return out


def compare(before: dict, after: dict) -> None:
    print("| set | files | before (bytes) | after (bytes) | change | files larger |")
    print("|---|---|---|---|---|---|")
    for name, b in before.items():
        if name not in after:
            continue
        a = after[name]
        sb, sa = sum(b.values()), sum(a[f] for f in b)
        grew = [(a[f] - b[f]) / b[f] for f in b if a[f] > b[f]]
        most = f" (at most +{max(grew) * 100:.2f} %)" if grew else ""
        print(f"| {name} | {len(b)} | {sb:,} | {sa:,} | {(sa - sb) / sb * 100:+.2f} % | {len(grew)}{most} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("args", nargs="+")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--extra-args", default="")
    o = ap.parse_args()
    if o.compare:
        if len(o.args) != 2:
            sys.exit(__doc__)
        compare(*(json.load(open(p)) for p in o.args))
        return
    if len(o.args) != 3:
        sys.exit(__doc__)
    medzip, root, out = o.args
    res = sizes(medzip, pathlib.Path(root), o.sets.split(","), o.extra_args.split())
    json.dump(res, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
