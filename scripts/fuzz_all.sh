#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 600) and prints one
# line per target: executions, time, crashes. Crashes land in
# fuzz/artifacts/<target>/; copy each into tests/fuzz_regressions/<target>/
# (a plain `cargo test` replays them).
#   cargo install cargo-fuzz; scripts/fuzz_all.sh [SECONDS] [targets...]
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(container decode roundtrip jpeg read_png read_pgm read_tiff read_dicom dicom_parse)
export RUSTC_BOOTSTRAP=1  # cargo-fuzz needs nightly flags; the stable toolchain accepts them with this
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/medzip-fuzz-target}
cargo fuzz build -O >/dev/null 2>&1 || { echo "fuzz build failed"; exit 2; }
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null
  log=$(mktemp)
  cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=20 >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1)
  crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
  echo "$t: rc=$rc ${runs:-no summary} crashes=$crashes"
  [ $rc -ne 0 ] && tail -30 "$log"
  rm -f "$log"
done
