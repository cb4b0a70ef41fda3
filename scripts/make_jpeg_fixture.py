#!/usr/bin/env python3
"""Makes tests/fixtures/jpeg/decoded_q75.png: a synthetic 8-bit grey image
(smooth shapes, an edge, noise; 203×157, sizes not multiples of 8) coded as
a baseline JPEG at quality 75 and decoded again by Pillow (libjpeg-turbo's
default integer inverse DCT), saved as PNG: an image that was once a JPEG,
made here (no third-party pixels).

usage: python3 scripts/make_jpeg_fixture.py OUT.png
"""
import io
import sys

import numpy as np
from PIL import Image

rng = np.random.default_rng(20261201)
h, w = 157, 203
y, x = np.mgrid[0:h, 0:w]
img = 90 + 60 * np.sin(x / 23.0) * np.cos(y / 31.0) + 0.4 * x
img += 50 * (((x - 120) ** 2 + (y - 70) ** 2) < 40 ** 2)
img += rng.normal(0, 4, size=(h, w))
img = np.clip(np.round(img), 0, 255).astype(np.uint8)
buf = io.BytesIO()
Image.fromarray(img, "L").save(buf, "JPEG", quality=75)
dec = Image.open(io.BytesIO(buf.getvalue()))
dec.load()
dec.save(sys.argv[1], optimize=True)
print(f"{sys.argv[1]}: JPEG {len(buf.getvalue())} bytes")
