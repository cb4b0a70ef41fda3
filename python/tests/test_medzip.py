"""Tests of the medzip Python package (run by .ci/run after building the
wheel): round trips of every dtype and odd shapes, the CLI's bytes for the
same files, errors as exceptions, and threads without the GIL."""

import os
import pathlib
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import medzip
import medzip.dicom

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def medzip_bin() -> str:
    """The CLI built from the same tree (MEDZIP_BIN, else the release build)."""
    path = os.environ.get("MEDZIP_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", str(REPO / "target")), "release", "medzip"
    )
    if not os.path.exists(path):
        pytest.fail(f"no medzip CLI at {path}: build it or set MEDZIP_BIN")
    return path


def random_image(shape, dtype, bits, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    signed = info.min < 0
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    # Smooth content plus noise, clipped to the range: like an image, not
    # only noise.
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = (lo + hi) / 2 + (hi - lo) / 4 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    noise = rng.normal(0, (hi - lo) / 64 + 1, size=shape)
    a = np.clip(np.rint(base + noise), lo, hi).astype(dtype)
    a.flat[0] = lo
    a.flat[-1] = hi
    return a


CASES = [
    (np.uint8, 8),
    (np.int8, 8),
    (np.uint16, 16),
    (np.uint16, 12),
    (np.int16, 16),
    (np.int16, 12),
]


@pytest.mark.parametrize("dtype,bits", CASES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (17, 31), (61, 97)])
@pytest.mark.parametrize("effort", [1, 2, 3])
def test_arrays_round_trip_exactly(dtype, bits, shape, effort):
    a = random_image(shape, dtype, bits, seed=shape[0] * 1000 + bits)
    data = medzip.encode(a, bits=bits, effort=effort)
    back = medzip.decode(data)
    assert back.dtype == a.dtype
    assert back.shape == a.shape
    assert np.array_equal(back, a)
    i = medzip.info(data)
    assert (i["width"], i["height"], i["bits"]) == (shape[1], shape[0], bits)
    assert i["signed"] == (np.iinfo(dtype).min < 0)
    # Effort 3 keeps the smaller of the context-mixing coder's file and
    # effort 2's (since 2026-12-03): never larger than effort 2. An image
    # of at most 32 distinct values is also tried with the context coder
    # without its network and the fast coder, at effort 2 and 3.
    few = ("context", "fast") if len(np.unique(a)) <= 32 else ()
    coders = {1: ("fast",), 2: ("logistic",) + few, 3: ("context", "logistic") + few}[effort]
    assert i["coder"].startswith(coders), i["coder"]
    if effort == 3:
        assert len(data) <= len(medzip.encode(a, bits=bits, effort=2))


def test_non_contiguous_and_big_endian_arrays():
    a = random_image((40, 50), np.uint16, 16, seed=5)
    view = a[::2, ::3]
    assert np.array_equal(medzip.decode(medzip.encode(view)), view)
    big = a.astype(">u2")
    assert np.array_equal(medzip.decode(medzip.encode(big)), a)


def test_files_give_the_cli_bytes_and_come_back(tmp_path):
    cli = medzip_bin()
    files = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".dcm"))
    assert len(files) >= 5
    for src in files:
        lib = medzip.compress(src.read_bytes(), src.name)
        out = tmp_path / f"{src.name}.mdz"
        subprocess.run([cli, "compress", "-q", str(src), "-o", str(out)], check=True)
        cli_bytes = out.read_bytes()
        assert lib == cli_bytes, src.name
        back = medzip.decompress(lib)
        if src.suffix == ".dcm":
            # Encapsulated ones too (their samples coded, each stream
            # rebuilt): byte for byte.
            assert back == src.read_bytes(), f"{src.name}: not byte for byte"
        assert medzip.info(lib)["source"] in ("dicom", "png")
        if "jpeg" in src.name:
            assert len(lib) < src.stat().st_size
            # Transcoded: smaller still (no recipe to rebuild the streams),
            # native DICOM with the same pixels.
            t = medzip.compress(src.read_bytes(), src.name, transcode=True)
            assert len(t) < len(lib) and medzip.info(t)["source"] == "dicom"
            medzip.verify(medzip.decompress(t), src.read_bytes())


def test_png_chunks_and_exact_files():
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    # A 16-bit grey PNG made by zlib (as libpng makes them), with text.
    rng = np.random.default_rng(3)
    a = (rng.integers(0, 4096, (29, 45)) + np.arange(45) * 40).astype(">u2")
    rows = b"".join(b"\x00" + r.tobytes() for r in a)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 45, 29, 16, 0, 0, 0, 0))
           + chunk(b"tEXt", b"Comment\x00left lateral") + chunk(b"IDAT", zlib.compress(rows, 6))
           + chunk(b"IEND", b""))
    back = medzip.decompress(medzip.compress(png, "x.png"))
    assert b"left lateral" in back and back != png
    medzip.verify(back, png)
    exact = medzip.compress(png, "x.png", exact_file=True)
    assert medzip.decompress(exact) == png
    assert medzip.info(exact)["source"] == "png"


def test_any_file_is_stored_whole_and_comes_back(tmp_path):
    for data in (b"", b"P5 3 2 255\n\x00", b"not an image", bytes(range(256)) * 50):
        mdz = medzip.compress(data, "x.pgm")
        assert medzip.decompress(mdz) == data
        medzip.verify(medzip.decompress(mdz), data)
        i = medzip.info(mdz)
        assert (i["source"], i["width"], i["stored_bytes"]) == ("file", 0, len(data))
    with pytest.raises(medzip.Error):
        medzip.verify(b"other bytes", b"not an image")
    with pytest.raises(medzip.UnsupportedError):
        medzip.decode(medzip.compress(b"not an image"))
    src = tmp_path / "report.txt"
    src.write_bytes(b"no finding\n" * 500)
    mdz = medzip.compress_file(src, tmp_path / "report.txt.mdz")
    assert len(mdz) < 1000
    assert medzip.decompress_file(tmp_path / "report.txt.mdz") == src.read_bytes()


def test_compress_file_and_decompress_file(tmp_path):
    src = SAMPLES / "mr12_suyashkumar_3.dcm"
    mdz = tmp_path / "a.mdz"
    data = medzip.compress_file(src, mdz, effort=1)
    assert mdz.read_bytes() == data
    back = tmp_path / "back.dcm"
    medzip.decompress_file(mdz, back)
    assert back.read_bytes() == src.read_bytes()
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]


def test_bad_input_raises_never_crashes():
    good = medzip.encode(random_image((9, 11), np.uint8, 8, seed=1))
    with pytest.raises(medzip.CorruptError):
        medzip.decode(b"not a medzip file at all")
    for cut in (0, 10, len(good) // 2, len(good) - 1):
        with pytest.raises(medzip.Error):
            medzip.decode(good[:cut])
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0x55
    with pytest.raises(medzip.Error):
        medzip.decode(bytes(damaged))
    with pytest.raises(medzip.UnsupportedError):
        medzip.encode(np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(medzip.UnsupportedError):
        medzip.encode(np.zeros((2, 3), np.float32))
    with pytest.raises(medzip.UnsupportedError):
        medzip.encode(np.full((2, 3), 5000, np.uint16), bits=12)
    with pytest.raises(medzip.UnsupportedError):
        medzip.encode(np.zeros((2, 3), np.uint8), bits=12)  # would come back as uint16
    for effort in (0, 4):
        with pytest.raises(ValueError):
            medzip.encode(np.zeros((2, 3), np.uint8), effort=effort)
    assert issubclass(medzip.CorruptError, medzip.Error)


def test_threads_without_the_gil_give_the_same_bytes():
    a = random_image((300, 257), np.uint16, 12, seed=9)
    one = medzip.encode(a, bits=12, threads=1)
    assert medzip.encode(a, bits=12, threads=2) == one
    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda _: medzip.encode(a, bits=12, threads=1), range(8)))
    assert all(o == one for o in outs)
    with ThreadPoolExecutor(4) as ex:
        backs = list(ex.map(lambda d: medzip.decode(d, threads=1), outs))
    assert all(np.array_equal(b, a) for b in backs)


def test_pydicom_bridge_gives_the_same_dataset():
    import pydicom

    for name in ["mr12_suyashkumar_3.dcm", "pt16s_suyashkumar_1.dcm", "ct12_jpeglossless_bad_sequence.dcm"]:
        src = SAMPLES / name
        ds = pydicom.dcmread(src)
        back = medzip.dicom.decompress(medzip.dicom.compress(ds, effort=1))
        assert np.array_equal(back.pixel_array, ds.pixel_array), name
        assert back == ds and back.file_meta == ds.file_meta, name
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            # Transcoded, encapsulated pixel data comes back native (the
            # same pixels; every other element the same).
            back = medzip.dicom.decompress(medzip.dicom.compress(ds, transcode=True))
            assert np.array_equal(back.pixel_array, ds.pixel_array), name
            assert not back.file_meta.TransferSyntaxUID.is_compressed
            del back.PixelData, ds.PixelData
            assert back == ds, name
        # From a path: the file itself, byte for byte.
        data = medzip.dicom.compress(src)
        assert medzip.decompress(data) == src.read_bytes(), name


def test_multi_frame_and_colour_dicom_decode_in_pydicoms_shape():
    import pydicom

    fixtures = REPO / "tests" / "fixtures" / "dicom"
    for name in ["emri_small.dcm", "ExplVR_BigEnd.dcm", "SC_rgb_small_odd.dcm"]:
        src = fixtures / name
        data = medzip.compress(src.read_bytes(), name, effort=1)
        info = medzip.info(data)
        assert (info["frames"], info["planes"]) != (1, 1), name
        assert medzip.decompress(data) == src.read_bytes(), name
        assert np.array_equal(medzip.decode(data), pydicom.dcmread(src).pixel_array), name


def test_numcodecs_codec_round_trips_chunks():
    import numcodecs

    import medzip.numcodecs

    codec = numcodecs.get_codec({"id": "medzip", "bits": 12, "effort": 1})
    assert isinstance(codec, medzip.numcodecs.Medzip)
    for shape in [(7,), (5, 9), (3, 4, 6), (2, 3, 5, 7)]:
        a = (np.arange(np.prod(shape)).reshape(shape) * 37 % 4096).astype(np.uint16)
        enc = codec.encode(a)
        assert np.array_equal(codec.decode(enc), a)
        out = np.empty_like(a)
        codec.decode(enc, out=out)
        assert np.array_equal(out, a)
    assert numcodecs.get_codec(codec.get_config()).get_config() == codec.get_config()


def test_real_images_as_arrays():
    seen = 0
    for src in sorted(SAMPLES.iterdir()):
        if src.suffix not in (".png", ".dcm"):
            continue
        # The sample's pixels as an array (decode takes any .mdz of an
        # image; an encapsulated DICOM file is one only when transcoded).
        mdz = medzip.compress(src.read_bytes(), src.name, effort=1, transcode=True)
        a, bits = medzip.decode(mdz), medzip.info(mdz)["bits"]
        seen += 1
        for effort in (1, 3):
            back = medzip.decode(medzip.encode(a, bits=bits, effort=effort))
            assert back.dtype == a.dtype and np.array_equal(back, a), src.name
    assert seen >= 5
