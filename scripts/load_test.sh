#!/usr/bin/env bash
# Load test: 1,000 images of mixed sizes, bit depths and formats, made from
# the samples, compressed and decompressed with -j 2; prints the peak RSS
# of each run and checks every round trip.   scripts/load_test.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p medzip --bin medzip --example loadset
M=$CARGO_TARGET_DIR/release/medzip; L=$CARGO_TARGET_DIR/release/examples/loadset
$L make samples "$T/in" "$n"
echo "inputs: $(ls "$T/in" | wc -l) files, $(du -sh "$T/in" | cut -f1)"
/usr/bin/time -f "compress -j 2: %e s, peak RSS %M KB" "$M" compress -q -j 2 --out-dir "$T/mdz" "$T"/in/*
/usr/bin/time -f "decompress -j 2: %e s, peak RSS %M KB" "$M" decompress -q -j 2 --out-dir "$T/out" "$T"/mdz/*
echo "compressed: $(du -sh "$T/mdz" | cut -f1)"
$L check "$T/in" "$T/out"
