#!/usr/bin/env bash
# Every PNG under DIR through `compress -e1 --exact-file` and back: must
# come back byte for byte (rebuilt by preflate-rs, or stored whole).
#   scripts/exact_png_check.sh MEDZIP DIR
set -uo pipefail
B=${1:?MEDZIP binary}; DIR=${2:?folder}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
n=0; same=0; stored=0; bad=0
while read -r f; do
  n=$((n + 1))
  "$B" compress -q -f -e1 --exact-file "$f" -o "$T/x.mdz" || { bad=$((bad + 1)); echo "FAIL compress $f"; continue; }
  "$B" info --json "$T/x.mdz" | grep -q '"source":"file"' && stored=$((stored + 1))
  "$B" decompress -q -f "$T/x.mdz" -o "$T/x.png" || { bad=$((bad + 1)); echo "FAIL decompress $f"; continue; }
  if cmp -s "$f" "$T/x.png"; then same=$((same + 1)); else bad=$((bad + 1)); echo "DIFFERS $f"; fi
done < <(find "$DIR" -iname "*.png" | sort)
echo "png files: $n, byte for byte: $same (stored whole: $stored), failures: $bad"
[ "$bad" -eq 0 ]
