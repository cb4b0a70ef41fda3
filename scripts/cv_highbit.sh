#!/bin/sh
# Two-fold cross-validation of the 16-bit context network and state on the
# high-bit dev images: each half is coded by a network and a state trained
# on the other half only (`--context-net/--context-state`), so every image
# is measured by models that never saw it. (The site-model options are
# given by environment: cli_eval passes extra arguments to compress only.)
#   [SAMPLES=N] [MIRROR=1] [EXTRA_DATA=DIR] [NET_ARGS=...] scripts/cv_highbit.sh MEDZIP DATA_DIR OUT_DIR [HIDDEN]
# SAMPLES: the network's training samples (default 4 M); MIRROR=1 adds
# left-right mirrored copies of the training images (Pillow) to its data;
# EXTRA_DATA: a folder of 16-bit PNGs both folds also train on (both the
# network and the state), e.g. scripts/compat_highbit.py's output, which
# leaves out every image of the high-bit set; NET_ARGS: more options of
# train-net (e.g. "--max-per-image 400000").
# HIDDEN: the network's hidden widths, by default 32,16 (the first 16-bit
# network's); the shipped network (ctx16m) is 64,48,16 with MIRROR=1 and
# SAMPLES=8000000: give all three to measure the shipped recipe.
set -eu
M=$1; D=$2; O=$3; H=${4:-32,16}
BENCH=$(dirname "$0")/../../shared/bench
mkdir -p "$O"
(cd "$D/highbit" && find . -name '*.png' | sed 's|^\./||' | sort) > "$O/all.txt"
awk 'NR % 2 == 1' "$O/all.txt" > "$O/fold0.txt"
awk 'NR % 2 == 0' "$O/all.txt" > "$O/fold1.txt"
EXTRA=""
if [ "${MIRROR:-0}" = 1 ]; then
  # Mirrored copies under the same relative names: the fold's exclusion
  # list leaves out the held-out images' copies too.
  [ -d "$O/mirror" ] || python3 "$(dirname "$0")/mirror_set.py" "$D/highbit" "$O/mirror"
  EXTRA="--data $O/mirror"
fi
STATE_EXTRA=""
if [ -n "${EXTRA_DATA:-}" ]; then
  EXTRA="$EXTRA --data $EXTRA_DATA"
  STATE_EXTRA="--data $EXTRA_DATA"
fi
for k in 0 1; do
  [ -e "$O/state$k.z" ] || {
  # shellcheck disable=SC2086
  "$M" -q train-net --data "$D/highbit" $EXTRA --ext png --bits 16 --hidden "$H" \
    --samples "${SAMPLES:-4000000}" ${NET_ARGS:-} --exclude "$O/fold$k.txt" --out "$O/net$k.net"
  # shellcheck disable=SC2086
  "$M" -q train-context --data "$D/highbit" $STATE_EXTRA --ext png --bits 16 \
    --net "$O/net$k.net" --exclude "$O/fold$k.txt" --out "$O/state$k.z"
  }
  rm -rf "$O/data$k"
  while read -r f; do
    mkdir -p "$O/data$k/highbit/$(dirname "$f")"
    ln -s "$(cd "$D/highbit" && pwd)/$f" "$O/data$k/highbit/$f"
  done < "$O/fold$k.txt"
  MEDZIP_CONTEXT_NET="$O/net$k.net" MEDZIP_CONTEXT_STATE="$O/state$k.z" \
    python3 "$BENCH/cli_eval.py" "$M" "$O/data$k" --sets highbit_png16 --json "$O/eval$k.json"
done
