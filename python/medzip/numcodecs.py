"""A numcodecs codec, so that zarr and Dask arrays can store their chunks
with medzip::

    import medzip.numcodecs   # registers the codec id "medzip"
    codec = medzip.numcodecs.Medzip(bits=12, effort=1)

Chunks of uint8, int8, uint16 or int16, of any number of dimensions: a
chunk of more than two is coded as one image of its last axis's width
(frames stacked as rows), and its shape is kept beside the medzip bytes
(a 1-byte count and a u32 per axis), so decoding gives the chunk back
exactly.
"""

from __future__ import annotations

import struct
from typing import Optional

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray_like, ndarray_copy
from numcodecs.registry import register_codec

import medzip


class Medzip(Codec):
    """medzip as a numcodecs codec (``codec_id = "medzip"``)."""

    codec_id = "medzip"

    def __init__(self, bits: Optional[int] = None, effort: int = 3):
        self.bits = bits
        self.effort = effort

    def encode(self, buf):
        a = np.asarray(buf)
        if a.ndim == 0:
            a = a.reshape(1, 1)
        shape = a.shape
        img = a.reshape(1, -1) if a.ndim == 1 else a.reshape(-1, shape[-1])
        head = struct.pack("<B", len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
        return head + medzip.encode(img, bits=self.bits, effort=self.effort)

    def decode(self, buf, out=None):
        b = bytes(ensure_contiguous_ndarray_like(buf))
        (nd,) = struct.unpack_from("<B", b, 0)
        shape = struct.unpack_from(f"<{nd}I", b, 1)
        a = medzip.decode(b[1 + 4 * nd :]).reshape(shape)
        return ndarray_copy(a, out)

    def get_config(self):
        return {"id": self.codec_id, "bits": self.bits, "effort": self.effort}


register_codec(Medzip)
