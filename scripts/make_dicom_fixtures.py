#!/usr/bin/env python3
"""Builds the DICOM test fixtures of tests/fixtures/dicom/ from pydicom's
MIT-licensed test files (pydicom/pydicom, src/pydicom/data/test_files, as
copied to ../shared/data/dev/compat/pydicom/ with their commit in its
manifest.csv). Byte-level edits only, so every other byte is the original's.

usage: scripts/make_dicom_fixtures.py COMPAT_DIR OUT_DIR

- dual_tiff_preamble.dcm: MR_small.dcm whose 128-byte preamble holds a
  *valid* little-endian TIFF (a 1x1 8-bit grey image: header, one IFD, the
  pixel inside the preamble), a "dual-personality" file: TIFF readers read
  a 1x1 image, DICOM readers the 64x64 MR.
- rle_fragments.dcm: MR_small_RLE.dcm with its one RLE fragment split into
  three fragments of one frame (pydicom decodes it; dicom-rs 0.10 panics on
  it).
- deflated_zlib.dcm: MR_small.dcm in Deflated Explicit VR Little Endian
  (1.2.840.10008.1.2.1.99): its data set through classic zlib (Python's
  zlib, level 6, raw deflate), as pydicom and DCMTK write such files,
  padded to an even length.
- meta_long_ae.dcm: MR_small.dcm with an 18-byte Source Application Entity
  Title (AE allows 16) in its file meta group, group length updated (dicom-rs
  0.10 refuses the meta group).
- signed_zero_high.dcm: MR_small.dcm declared 12 bits stored (HighBit 11,
  still signed), each pixel word replaced by its value doubled modulo 2^12
  with the high four bits left zero even where bit 11 (the sign) is set,
  as some writers store signed data (pydicom-data's mlut_18.dcm does).
"""
import struct
import sys
import zlib
from pathlib import Path


def tiff_preamble():
    entries = [  # tag, type (3 SHORT, 4 LONG), count, value
        (256, 3, 1, 1),  # ImageWidth
        (257, 3, 1, 1),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation: BlackIsZero
        (273, 4, 1, 0),  # StripOffsets (filled below)
        (278, 3, 1, 1),  # RowsPerStrip
        (279, 4, 1, 1),  # StripByteCounts
    ]
    ifd_len = 2 + 12 * len(entries) + 4
    pixel_at = 8 + ifd_len
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if tag == 273:
            value = pixel_at
        packed = struct.pack("<H", value) + b"\0\0" if typ == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, typ, count) + packed
    out += struct.pack("<I", 0) + b"\x80"
    assert len(out) <= 128
    return out.ljust(128, b"\0")


def item(payload):
    return b"\xfe\xff\x00\xe0" + struct.pack("<I", len(payload)) + payload


def split_rle(b):
    pd = b.rindex(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
    p = pd + 12
    items = []
    while b[p:p + 4] == b"\xfe\xff\x00\xe0":
        n = struct.unpack("<I", b[p + 4:p + 8])[0]
        items.append(b[p + 8:p + 8 + n])
        p += 8 + n
    assert b[p:p + 8] == b"\xfe\xff\xdd\xe0\x00\x00\x00\x00", "sequence delimiter"
    bot, frags = items[0], items[1:]
    assert len(frags) == 1, "one fragment expected"
    f = frags[0]
    # Fragment 1 ends inside the second RLE segment (header offsets 64, 1948):
    # what makes dicom-rs index past a short segment.
    cuts = [0, 4000, 5000, len(f)]  # even lengths, as fragments must be
    parts = [f[a:c] for a, c in zip(cuts, cuts[1:])]
    assert all(len(x) % 2 == 0 for x in parts)
    return b[:pd + 12] + item(bot) + b"".join(item(x) for x in parts) + b[p:]


def long_ae(b):
    tag = b"\x02\x00\x16\x00AE"
    i = b.index(tag, 132)
    n = struct.unpack("<H", b[i + 6:i + 8])[0]
    new = b"CLUNIE1_EXTRA\x01LONG"  # 18 bytes, with a control character
    assert len(new) == 18
    b = b[:i + 6] + struct.pack("<H", len(new)) + new + b[i + 8 + n:]
    # (0002,0000) UL group length, right after 'DICM'.
    assert b[132:140] == b"\x02\x00\x00\x00UL\x04\x00"
    gl = struct.unpack("<I", b[140:144])[0] + len(new) - n
    return b[:140] + struct.pack("<I", gl) + b[144:]


def deflated(b):
    assert b[132:140] == b"\x02\x00\x00\x00UL\x04\x00"
    gl = struct.unpack("<I", b[140:144])[0]
    end = 144 + gl
    old, new = b"1.2.840.10008.1.2.1\x00", b"1.2.840.10008.1.2.1.99"
    i = b.index(b"\x02\x00\x10\x00UI", 132, end)
    assert b[i + 8:i + 8 + len(old)] == old
    meta = b[132:i] + b"\x02\x00\x10\x00UI" + struct.pack("<H", len(new)) + new + b[i + 8 + len(old):end]
    meta = meta[:8] + struct.pack("<I", gl + len(new) - len(old)) + meta[12:]
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = c.compress(b[end:]) + c.flush()
    if len(stream) % 2:
        stream += b"\0"
    return b[:132] + meta + stream


def signed_zero_high(b):
    for n, old, new in [(0x0101, 16, 12), (0x0102, 15, 11)]:
        tag = struct.pack("<HH", 0x0028, n) + b"US\x02\x00"
        i = b.index(tag)
        assert struct.unpack("<H", b[i + 8:i + 10])[0] == old
        b = b[:i + 8] + struct.pack("<H", new) + b[i + 10:]
    assert b.count(b"\x28\x00\x03\x01US\x02\x00\x01\x00") == 1, "signed"
    pd = b.rindex(b"\xe0\x7f\x10\x00OW\x00\x00")
    n = struct.unpack("<I", b[pd + 8:pd + 12])[0]
    words = struct.unpack(f"<{n // 2}H", b[pd + 12:pd + 12 + n])
    new = struct.pack(f"<{n // 2}H", *[(w << 1) & 0x0FFF for w in words])
    assert sum(w & 0x800 != 0 for w in struct.unpack(f"<{n // 2}H", new)) > n // 16
    return b[:pd + 12] + new + b[pd + 12 + n:]


def main():
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    mr = (src / "pydicom/MR_small.dcm").read_bytes()
    rle = (src / "pydicom/MR_small_RLE.dcm").read_bytes()
    (out / "dual_tiff_preamble.dcm").write_bytes(tiff_preamble() + mr[128:])
    (out / "rle_fragments.dcm").write_bytes(split_rle(rle))
    (out / "meta_long_ae.dcm").write_bytes(long_ae(mr))
    (out / "deflated_zlib.dcm").write_bytes(deflated(mr))
    (out / "signed_zero_high.dcm").write_bytes(signed_zero_high(mr))


if __name__ == "__main__":
    main()
