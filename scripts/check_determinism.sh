#!/usr/bin/env bash
# Cross-CPU determinism: the release binary encodes and decodes the golden
# files, the samples, three multi-frame and colour DICOM fixtures and a
# decoded JPEG (at every effort level, with the context networks,
# without them, and with each embedded autoencoder prior)
# natively (AVX2 if present), with SIMD off, and under
# QEMU user-mode emulation of CPUs without AVX (Nehalem, qemu64). Every
# encoding must be byte-identical and every decoding must give the same
# output file. Needs Debian's qemu-user (`apt-get install qemu-user`).
#
#   scripts/check_determinism.sh [path/to/medzip]
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:-${CARGO_TARGET_DIR:-target}/release/medzip}
[ -x "$M" ] || { echo "no medzip binary at $M (cargo build --release)"; exit 2; }
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found (apt-get install qemu-user)"; exit 2; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
runs=("native:" "nosimd:env MEDZIP_NO_SIMD=1" "nehalem:qemu-x86_64 -cpu Nehalem" "qemu64:qemu-x86_64 -cpu qemu64")
fail=0
# A large 16-bit image (several stripes, so threads matter) and an 8-bit
# image of text, made here.
python3 - "$T/big16.pgm" "$T/text8.pgm" <<'PY'
import sys, struct
w, h, s = 1531, 1400, 12345
out = bytearray(b"P5\n%d %d\n65535\n" % (w, h))
for y in range(h):
    for x in range(w):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        v = (x * 23 + y * 17 + (x * y >> 6) + (s >> 20)) & 0xFFFF
        out += struct.pack(">H", v)
open(sys.argv[1], "wb").write(out)
# Text on black around a noisy field (the default level's graphics tools),
# 8-bit, odd size.
w, h = 613, 411
out = bytearray(b"P5\n%d %d\n255\n" % (w, h))
for y in range(h):
    for x in range(w):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        gx, gy, letter = x % 8, y % 12, (x // 8 + y // 12 * 3) % 4
        ink = lambda gx: gx < 5 and gy < 7 and (0x1F4A7 * (letter + 1) * (gy + 3)) >> gx & 1
        if w // 4 <= x < 3 * w // 4 and h // 3 <= y < 2 * h // 3:
            v = 96 + (s >> 16) % 64
        elif ink(gx):
            v = 255 - letter % 3 * 16
        else:
            v = 85 if gx > 0 and ink(gx - 1) else 0
        out.append(v)
open(sys.argv[2], "wb").write(out)
PY
inputs=()
# (With multi-frame and colour DICOM: a 10-frame MR, RGB planar, YBR_FULL_422;
# an image that was once a JPEG, whose encoder's search is floating point; and
# JPEG 2000 DICOM, whose tile data openjp2's encoder rewrites in decoding.)
for f in samples/*.png samples/*.dcm "$T/big16.pgm" "$T/text8.pgm" tests/fixtures/dicom/emri_small.dcm \
  tests/fixtures/dicom/ExplVR_BigEnd.dcm tests/fixtures/dicom/SC_ybr_full_422_uncompressed.dcm \
  tests/fixtures/dicom/MR_small_j2k_openjpeg.dcm \
  tests/fixtures/jpeg/decoded_q75.png; do
  # Inputs this build cannot read are left out (none of the bundled samples today).
  if "$M" compress -q "$f" -o "$T/probe.mdz" --force 2>/dev/null; then inputs+=("$f"); else echo "skipping $f (unreadable by this build)"; fi
done
for r in "${runs[@]}"; do
  name=${r%%:*}; pre=${r#*:}
  mkdir -p "$T/$name"
  for f in "${inputs[@]}"; do
    b=$(basename "$f")
    $pre "$M" compress -q -j 2 "$f" -o "$T/$name/$b.mdz"
    $pre "$M" decompress -q -j 2 "$T/$name/$b.mdz" -o "$T/$name/$b"
    $pre "$M" decompress -q -j 1 "$T/$name/$b.mdz" -o "$T/$name/$b.j1"
    cmp -s "$T/$name/$b" "$T/$name/$b.j1" || { echo "$name: $b decodes differently with 1 and 2 threads"; fail=1; }
    rm "$T/$name/$b.j1"
    # Every effort level (the default above is -e 2).
    for e in 1 3; do
      $pre "$M" compress -q -j 2 -e $e "$f" -o "$T/$name/$b.e$e.mdz"
      $pre "$M" decompress -q -j 2 "$T/$name/$b.e$e.mdz" -o "$T/$name/$b.e$e.out"
      $pre "$M" decompress -q -j 1 "$T/$name/$b.e$e.mdz" -o "$T/$name/$b.e$e.j1"
      cmp -s "$T/$name/$b.e$e.out" "$T/$name/$b.e$e.j1" || { echo "$name: $b -e $e decodes differently with 1 and 2 threads"; fail=1; }
      rm "$T/$name/$b.e$e.j1"
    done
  done
  # The paper's autoencoders (integer networks) as priors: same latents,
  # reconstructions and bits on every CPU.
  for f in samples/kermany256_IM-0199-0001.png samples/mr12_suyashkumar_3.dcm; do
    b=$(basename "$f")
    for m in cnn1 cnn2 two-stage; do
      $pre "$M" compress -q -j 2 --model $m "$f" -o "$T/$name/$b.$m.mdz"
      $pre "$M" decompress -q -j 1 "$T/$name/$b.$m.mdz" -o "$T/$name/$b.$m.out"
    done
    # Without the context network (the default codes with it).
    $pre "$M" compress -q -j 2 --no-net "$f" -o "$T/$name/$b.nonet.mdz"
    $pre "$M" decompress -q -j 1 "$T/$name/$b.nonet.mdz" -o "$T/$name/$b.nonet.out"
  done
  for g in tests/golden/*.mdz; do
    b=$(basename "$g")
    $pre "$M" decompress -q -j 1 "$g" -o "$T/$name/$b.out"
  done
  (cd "$T/$name" && sha256sum * | sort -k2) > "$T/$name.sums"
  if [ "$name" != native ]; then
    if diff -u "$T/native.sums" "$T/$name.sums" >/dev/null; then
      echo "$name: identical to native ($(wc -l < "$T/$name.sums") files)"
    else
      echo "$name: DIFFERS from native"; diff -u "$T/native.sums" "$T/$name.sums" || true; fail=1
    fi
  fi
done
# Golden decodes must also match the committed pixel hashes (checked by
# `medzip info`/decode itself: a hash mismatch is a decode error).
exit $fail
