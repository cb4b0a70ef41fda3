#!/usr/bin/env python3
"""Left-right mirrored copies of every PNG under a folder, under the same
relative names (training data for the context networks: the 16-bit pair
`ctx16m`/`cm16m`, crates/medzip-codec/models/README.md, and
scripts/cv_highbit.sh with MIRROR=1).

    python3 scripts/mirror_set.py SRC DST

Pillow keeps each PNG's mode (16-bit greyscale stays 16-bit); the pixels
are mirrored exactly (ImageOps.mirror moves values, it computes none).
"""
import pathlib
import sys

from PIL import Image, ImageOps


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    if not src.is_dir():
        sys.exit(f"{src}: not a folder")
    n = 0
    for f in sorted(src.rglob("*.png")):
        out = dst / f.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        ImageOps.mirror(Image.open(f)).save(out)
        n += 1
    print(f"{n} images mirrored into {dst}")


if __name__ == "__main__":
    main()
