"""medzip: lossless compression for medical images, from Python.

Arrays::

    import numpy as np, medzip
    data = medzip.encode(array)            # 2-D uint8, uint16, int8 or int16
    back = medzip.decode(data)             # the same dtype, shape and values

Files (PNG, PGM, TIFF, DICOM), as the ``medzip`` command handles them::

    mdz = medzip.compress_file("scan.dcm", "scan.dcm.mdz")
    medzip.decompress_file("scan.dcm.mdz", "back.dcm")   # byte for byte
    medzip.info(mdz)                                     # a dict

Coding runs without the GIL, so Python threads scale; errors are
``medzip.Error`` (``CorruptError``, ``UnsupportedError``, ``ModelError``)
with the library's message.
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional, Union

import numpy as np

from . import _native
from ._native import CorruptError, Error, ModelError, UnsupportedError

__all__ = [
    "encode",
    "decode",
    "compress",
    "decompress",
    "compress_file",
    "decompress_file",
    "info",
    "verify",
    "Error",
    "CorruptError",
    "UnsupportedError",
    "ModelError",
]
__version__ = _native.__version__

_DTYPES = {
    np.dtype(np.uint8): (1, False),
    np.dtype(np.int8): (1, True),
    np.dtype(np.uint16): (2, False),
    np.dtype(np.int16): (2, True),
}

PathLike = Union[str, "os.PathLike[str]"]


def encode(
    array: np.ndarray,
    *,
    bits: Optional[int] = None,
    effort: Optional[int] = None,
    threads: Optional[int] = None,
) -> bytes:
    """Compresses a 2-D ``uint8``, ``int8``, ``uint16`` or ``int16`` array.

    ``bits``: the significant bits of each sample (default: the dtype's
    size; every value must fit, e.g. 0..4095 for ``bits=12`` unsigned).
    ``effort``: 1 (fast), 2 (default) or 3 (smallest, slowest). ``threads``: worker
    threads for this call (default: one per core).
    """
    a = np.asarray(array)
    if a.ndim != 2:
        raise UnsupportedError(f"expected a 2-D array, got {a.ndim} dimensions")
    dt = a.dtype.newbyteorder("=") if a.dtype.byteorder not in "=|" else a.dtype
    if dt not in _DTYPES:
        raise UnsupportedError(
            f"dtype {a.dtype} (expected uint8, int8, uint16 or int16)"
        )
    size, signed = _DTYPES[dt]
    if bits is not None and not 1 <= int(bits) <= 8 * size:
        raise UnsupportedError(f"bits={bits} for {a.dtype} (expected 1 to {8 * size})")
    little = np.ascontiguousarray(a, dtype=dt.newbyteorder("<"))
    h, w = little.shape
    return _native.encode_raw(
        little.tobytes(),
        w,
        h,
        8 * size if bits is None else int(bits),
        signed,
        size,
        _effort(effort),
        threads,
    )


def decode(data: bytes, *, threads: Optional[int] = None) -> np.ndarray:
    """The array ``encode`` was given: same dtype, shape and values. The
    pixels of a file compressed from an image file too; a multi-frame or
    colour image (DICOM) in pydicom's shape: ``(frames, rows, columns)``,
    ``(rows, columns, 3)``, ``(frames, rows, columns, 3)`` (YBR_FULL_422:
    its two planes first, ``([frames,] 2, rows, columns)``, the second
    holding each row's Cb samples then its Cr samples)."""
    data = bytes(data)
    raw, w, h, _bits, signed, size = _native.decode_raw(data, threads)
    dtype = {(1, False): "<u1", (1, True): "<i1", (2, False): "<u2", (2, True): "<i2"}[
        (size, signed)
    ]
    a = np.frombuffer(raw, dtype=dtype).reshape(h, w).astype(dtype[1:], copy=True)
    meta = _native.info(data)
    frames, planes = meta["frames"], meta["planes"]
    if frames == 1 and planes == 1:
        return a
    a = a.reshape(frames, planes, h // (frames * planes), w)
    if planes == 3:
        a = np.ascontiguousarray(a.transpose(0, 2, 3, 1))
    elif planes == 1:
        a = a[:, 0]
    return a[0] if frames == 1 else a


def compress(
    file: bytes,
    name: Optional[str] = None,
    *,
    effort: Optional[int] = None,
    threads: Optional[int] = None,
    transcode: bool = False,
    exact_file: bool = False,
) -> bytes:
    """The ``.mdz`` bytes of a file's bytes, as ``medzip compress`` writes
    them: an image (``name`` helps tell PNG, PGM, TIFF and DICOM apart) by
    its pixels; any other file (no pixel data, multi-frame, colour,
    damaged, not an image) stored whole, so that it comes back byte for
    byte. An encapsulated DICOM file is stored whole too, unless
    ``transcode``: then it is coded by its pixels and comes back as native
    DICOM with the same pixels. A PNG comes back with the same pixels and
    every chunk; with ``exact_file``, byte for byte."""
    return _native.compress_file(bytes(file), name, _effort(effort), threads, transcode, exact_file)


def decompress(mdz: bytes, *, threads: Optional[int] = None) -> bytes:
    """The file a ``.mdz`` was made from (DICOM byte for byte)."""
    return _native.decompress_file(bytes(mdz), threads)


TMP_PREFIX = ".medzip-tmp-"


def write_atomic(path: PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` without ever leaving a partial file: a
    temporary file of its own in the same folder (named ``.medzip-tmp-*``),
    fsynced, then renamed into place; the folder is fsynced too."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # Like any file a program creates: rw for all, less the umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        tmp = None
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _effort(effort: Optional[int]) -> int:
    if effort is None:
        return 2
    if int(effort) not in (1, 2, 3):
        raise ValueError(f"effort {effort} (expected 1, 2 or 3)")
    return int(effort)


def compress_file(
    src: PathLike,
    dst: Optional[PathLike] = None,
    *,
    effort: Optional[int] = None,
    threads: Optional[int] = None,
    transcode: bool = False,
    exact_file: bool = False,
) -> bytes:
    """Compresses the file ``src`` (as :func:`compress`); writes ``dst``
    (atomically) when given; returns the ``.mdz`` bytes."""
    with open(src, "rb") as f:
        data = f.read()
    mdz = compress(
        data,
        os.path.basename(os.fspath(src)),
        effort=effort,
        threads=threads,
        transcode=transcode,
        exact_file=exact_file,
    )
    if dst is not None:
        write_atomic(dst, mdz)
    return mdz


def decompress_file(
    src: PathLike, dst: Optional[PathLike] = None, *, threads: Optional[int] = None
) -> bytes:
    """Decompresses the ``.mdz`` file ``src``; writes ``dst`` (atomically)
    when given; returns the rebuilt file's bytes."""
    with open(src, "rb") as f:
        data = f.read()
    out = decompress(data, threads=threads)
    if dst is not None:
        write_atomic(dst, out)
    return out


def info(mdz: bytes) -> dict:
    """What a ``.mdz`` holds (size, depth, source kind, coder, models, …),
    without decoding its pixels."""
    return _native.info(bytes(mdz))


def verify(rebuilt: bytes, original: bytes) -> None:
    """Checks that ``rebuilt`` (a decoded file) is ``original``: the same
    kind of file and the same pixels, and the same bytes where medzip
    promises them (DICOM); raises ``medzip.Error`` otherwise."""
    _native.verify(bytes(rebuilt), bytes(original))
