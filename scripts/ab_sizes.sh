#!/bin/bash
# Sizes of the same files by two builds of medzip (a format or model change
# measured before and after), the second build's files verified against the
# originals; one line per file, then the totals.
#
#   scripts/ab_sizes.sh OLD_MEDZIP NEW_MEDZIP FILE... [> sizes.txt]
#
# Each file is compressed by both (`-j 2 --transcode`, the default level
# unless MEDZIP_ARGS says otherwise) and the new file checked with
# `medzip verify`. Lines: `FILE OLD_BYTES NEW_BYTES ok|FAIL`; last line:
# `total OLD NEW change%`. Exits 1 if a verification failed.
set -u
old=$1 new=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
size() { "$1" compress --force -q -j 2 --transcode ${MEDZIP_ARGS:-} "$2" -o "$3" && stat -c %s "$3"; }
sum_a=0 sum_b=0 failed=0
for f in "$@"; do
    a=$(size "$old" "$f" "$tmp/a.mdz") || a=0
    b=$(size "$new" "$f" "$tmp/b.mdz") || b=0
    if "$new" verify "$tmp/b.mdz" "$f" > /dev/null 2>&1; then ok=ok; else ok=FAIL; failed=1; fi
    echo "$f $a $b $ok"
    sum_a=$((sum_a + a)) sum_b=$((sum_b + b))
done
awk -v a="$sum_a" -v b="$sum_b" 'BEGIN { printf "total %d %d %+.4f%%\n", a, b, a ? (b / a - 1) * 100 : 0 }'
exit $failed
