#!/usr/bin/env python3
"""Makes the training set of the network for downscaled images (`ctx8s`).

usage: scripts/small_set.py DATA_DIR PEERS_JSON OUT_DIR

DATA_DIR is `../shared/data/dev`, PEERS_JSON `../shared/bench/dev_peers.json`.
Writes, under OUT_DIR:

- `other256/`: every `cxr_other` chest X-ray (png8) resized to 256 x 256 the
  way the Kermany `png8_256` set was made (Pillow `resize((256, 256),
  BILINEAR)`, MANIFEST.md), so that the network sees downscaled images of
  more than one source;
- `flipk/`, `flipo/`: the Kermany `png8_256` images and `other256/`
  mirrored left to right (twice the data; a mirrored radiograph is still a
  radiograph, and the network's neighbourhood is not symmetric);
- `exclude.txt`: the file names to leave out of training: those of
  `crates/medzip-codec/models/cm8.exclude.txt` (the evaluated files) and
  every other image of an evaluated patient (the `patient` column of
  `DATA_DIR/../manifest.csv`), so that no evaluated patient is seen in
  training.

Files keep their names, so one exclusion list serves every folder.
"""
import csv
import json
import sys
from pathlib import Path

from PIL import Image, ImageOps


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    data, peers_json, out = (Path(a) for a in sys.argv[1:4])
    repo = Path(__file__).resolve().parent.parent
    for sub in ("other256", "flipk", "flipo"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for f in sorted((data / "cxr_other").glob("*/png8/*.png")):
        im = Image.open(f).convert("L").resize((256, 256), Image.BILINEAR)
        im.save(out / "other256" / f.name)
        ImageOps.mirror(im).save(out / "flipo" / f.name)
    k256 = sorted((data / "cxr_kermany" / "png8_256").glob("*.png"))
    for f in k256:
        ImageOps.mirror(Image.open(f)).save(out / "flipk" / f.name)

    # Patient of every chest X-ray, by its path under DATA_DIR.
    with open(data.parent / "manifest.csv", newline="") as f:
        patient = {
            r["path"].removeprefix("dev/"): r["patient"]
            for r in csv.DictReader(f)
            if r["category"] in ("cxr_kermany", "cxr_other")
        }
    base = (repo / "crates/medzip-codec/models/cm8.exclude.txt").read_text().split()
    peers = json.loads(Path(peers_json).read_text())
    evaluated = {
        patient[k] for k, v in peers.items() if "jxl-e9" in v and k.startswith("cxr_")
    }
    trained = k256 + sorted((data / "cxr_other").glob("*/png8/*.png"))
    extra = [f.name for f in trained if patient[str(f.relative_to(data))] in evaluated]
    names = sorted(set(base) | set(extra))
    (out / "exclude.txt").write_text("\n".join(names) + "\n")
    print(f"{len(names)} names excluded ({len(evaluated)} evaluated patients)")


if __name__ == "__main__":
    main()
