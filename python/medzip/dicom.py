"""The pydicom bridge: a DICOM data set (or file) to medzip bytes and back.

    import medzip.dicom
    data = medzip.dicom.compress(ds_or_path)   # a pydicom Dataset, a path, or bytes
    ds = medzip.dicom.decompress(data)         # a pydicom Dataset equal to the original

A path or bytes comes back byte for byte (encapsulated DICOM: as native
DICOM with the same pixels and every other element); a Dataset is stored
as pydicom writes it (``Dataset.save_as``) and comes back equal to it.
"""

from __future__ import annotations

import io
import os
from typing import Optional, Union

import medzip


def compress(
    source: Union["os.PathLike[str]", str, bytes, "object"],
    *,
    effort: Optional[int] = None,
    threads: Optional[int] = None,
    transcode: bool = False,
) -> bytes:
    """The medzip bytes of a DICOM file (path or bytes) or pydicom Dataset
    (as :func:`medzip.compress`: with ``transcode``, encapsulated pixel data
    comes back native)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            data = f.read()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        buf = io.BytesIO()
        source.save_as(buf)
        data = buf.getvalue()
    return medzip.compress(data, "dataset.dcm", effort=effort, threads=threads, transcode=transcode)


def decompress(data: bytes, *, threads: Optional[int] = None):
    """The pydicom Dataset (a ``FileDataset``) that ``compress`` was given."""
    import pydicom

    return pydicom.dcmread(io.BytesIO(medzip.decompress(data, threads=threads)))
