#!/usr/bin/env python3
"""Writes tests/fixtures/dicom/MR_small_j2k_openjpeg.dcm: pydicom's
MR_small.dcm (64×64, 16-bit signed) with its pixels as one lossless JPEG 2000
codestream (reversible 5/3, OpenJPEG's defaults: 6 resolutions, 64×64
code-blocks, LRCP) written by OpenJPEG through imagecodecs, as GDCM and other
OpenJPEG-based writers store JPEG 2000 DICOM. Needs pydicom and imagecodecs
(../shared/bench/install.sh).

    python3 scripts/make_j2k_fixture.py COMPAT_DIR OUT_DIR
"""
import sys

import imagecodecs
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless

src, out = sys.argv[1], sys.argv[2]
ds = pydicom.dcmread(f"{src}/pydicom/MR_small.dcm")
a = ds.pixel_array
cs = imagecodecs.jpeg2k_encode(
    a, level=0, codecformat="J2K", reversible=True, bitspersample=ds.BitsStored, numthreads=1
)
ds.PixelData = encapsulate([cs])
ds["PixelData"].VR = "OB"
ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
ds.save_as(f"{out}/MR_small_j2k_openjpeg.dcm", enforce_file_format=True)
