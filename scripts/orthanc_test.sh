#!/usr/bin/env bash
# The medzip storage plugin inside a real Orthanc, fed by real DICOM clients
# (dcmtk's dcmsend), against Orthanc with its own storage (plain, and zlib
# with StorageCompression) on the same instances. Called by .ci/run; by hand:
#   scripts/orthanc_test.sh [DICOM_DIR]     (default: the committed samples)
#   MEDZIP_EFFORT  the plugin's effort (default 2, the plugin's default)
#   MEDZIP_COPIES  also send this many copies of each file, each with a new
#                  Series and SOP Instance UID (dcmodify), so that a few
#                  hundred instances go through the four clients at once
#                  (default 0; .ci/run sends 75 copies of the samples)
# Checks: every instance each Orthanc accepted comes back through REST
# (/instances/{id}/file) byte for byte as the Orthanc with default storage
# returns it (SHA-256); after a restart, the same; a damaged stored file is
# an error on that instance only; four clients sending at once lose
# nothing; deleting through REST removes the files; the default Orthanc's
# storage, migrated by medzip-orthanc-migrate, is served by the plugin.
# Prints the storage
# bytes (`du`) and store times of the three (Orthanc's storage cache off, so
# that every read reaches the storage area).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/medzip-target}"
DIR="${1:-samples}"
EFFORT="${MEDZIP_EFFORT:-2}"
command -v Orthanc >/dev/null && command -v dcmsend >/dev/null || {
  echo "needs Orthanc and dcmtk (Debian: apt-get install orthanc dcmtk)" >&2; exit 1; }
cargo build --release -q -p medzip-orthanc
PLUGIN="$CARGO_TARGET_DIR/release/libmedzip_orthanc.so"
WORK=$(mktemp -d /tmp/medzip-orthanc-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# name http dicom extra-json
config() {
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/orthanc.json" <<EOF
{ "Name": "$1", "StorageDirectory": "$WORK/$1/storage", "IndexDirectory": "$WORK/$1/index",
  "HttpPort": $2, "DicomPort": $3, "DicomAet": "$1", "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "DicomCheckCalledAet": false, "DicomAlwaysAllowGet": true,
  "ConcurrentJobs": 2,
  "MaximumStorageCacheSize": 0 $4 }
EOF
}
start() { # name port
  Orthanc "$WORK/$1/orthanc.json" > "$WORK/$1/log.txt" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://localhost:$2/system" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "Orthanc $1 did not start:" >&2; tail -20 "$WORK/$1/log.txt" >&2; exit 1
}
config MEDZIP 18142 14342 ", \"Plugins\": [\"$PLUGIN\"], \"Medzip\": {\"Root\": \"$WORK/MEDZIP/mdz\", \"Effort\": $EFFORT, \"Threads\": 2}"
config PLAIN 18143 14343 ""
config ZLIB 18144 14344 ", \"StorageCompression\": true"
start MEDZIP 18142; MEDZIP_PID=${PIDS[-1]}
start PLAIN 18143; PLAIN_PID=${PIDS[-1]}
start ZLIB 18144

# One file per SOP Instance UID (test suites hold one instance in several
# encodings; Orthanc keeps the first it receives, and four clients at once
# would make "first" differ between the three Orthancs).
find "$DIR" -type f | sort | while read -r f; do
  uid=$(dcmdump -q +P 0008,0018 "$f" 2>/dev/null | head -1 | sed 's/.*\[\(.*\)\].*/\1/') || true
  printf '%s\t%s\n' "${uid:-none:$f}" "$f"
done | awk -F'\t' '!seen[$1]++ { print $2 }' > "$WORK/files.txt"
COPIES="${MEDZIP_COPIES:-0}"
if [ "$COPIES" -gt 0 ]; then
  mkdir -p "$WORK/copies"
  n=0
  while read -r f; do
    for c in $(seq "$COPIES"); do
      dst="$WORK/copies/$c-$n-$(basename "$f")"
      cp "$f" "$dst"
      # (Files dcmodify cannot rewrite, such as a PNG, get no copies.)
      if dcmodify -q -nb -gse -gin "$dst" >/dev/null 2>&1; then echo "$dst"; else rm -f "$dst"; fi
    done
    n=$((n + 1))
  done < "$WORK/files.txt" > "$WORK/copies.txt"
  echo "made $(wc -l < "$WORK/copies.txt") copies with new Series and SOP Instance UIDs"
  cat "$WORK/copies.txt" >> "$WORK/files.txt"
fi
echo "sending $(wc -l < "$WORK/files.txt") files from $DIR (one per SOP Instance UID)"
send() { # aet port: four clients at once, each a quarter of the files
  local t0 pids=() k
  t0=$(date +%s%N)
  for k in 0 1 2 3; do
    awk -v k=$k 'NR % 4 == k' "$WORK/files.txt" > "$WORK/part$k.txt"
    # (dcmsend proposes each file's own transfer syntax; files it cannot
    # send or Orthanc refuses are reported below, not counted.)
    xargs -a "$WORK/part$k.txt" -d '\n' -r dcmsend -q --no-halt -aec "$1" localhost "$2" >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
T_MEDZIP=$(send MEDZIP 14342)
T_PLAIN=$(send PLAIN 14343)
T_ZLIB=$(send ZLIB 14344)

python3 - "$WORK" "$DIR" "$T_MEDZIP" "$T_PLAIN" "$T_ZLIB" <<'EOF'
import hashlib, json, os, subprocess, sys, time, urllib.request
work, src = sys.argv[1], sys.argv[2]
t_m, t_p, t_z = (int(a) / 1000 for a in sys.argv[3:])
M, P, Z = "http://localhost:18142", "http://localhost:18143", "http://localhost:18144"

def get(url):
    with urllib.request.urlopen(url, timeout=300) as r:
        return r.read()

def ids(base):
    return set(json.loads(get(base + "/instances")))

def sha(base, i):
    return hashlib.sha256(get(f"{base}/instances/{i}/file")).hexdigest()

def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])

im, ip, iz = ids(M), ids(P), ids(Z)
sent = sum(1 for _ in open(f"{work}/files.txt"))
print(f"instances: medzip {len(im)}, default {len(ip)}, zlib {len(iz)} (of {sent} files; the rest are not DICOM instances a C-STORE carries, or were refused by Orthanc)")
assert im == ip == iz, "the three Orthancs hold different instances"
assert im, "no instance stored"
want = {i: sha(P, i) for i in ip}
bad = [i for i in im if sha(M, i) != want[i]]
assert not bad, f"{len(bad)} instances differ: {bad[:3]}"
assert all(sha(Z, i) == want[i] for i in iz)
print(f"every instance back byte for byte ({len(im)})")
# And through DICOM: C-GET (dcmtk's getscu) of every study, from the medzip
# Orthanc and from the default one: the same files (getscu writes each
# received instance with its own file meta header, so the two are compared).
def getscu(port, aet, study, out):
    os.makedirs(out, exist_ok=True)
    subprocess.run(["getscu", "-q", "-aec", aet, "localhost", str(port), "-S", "-k", "QueryRetrieveLevel=STUDY",
                    "-k", f"StudyInstanceUID={study}", "-od", out], check=True, capture_output=True)
studies = [json.loads(get(f"{P}/studies/{s}"))["MainDicomTags"]["StudyInstanceUID"] for s in json.loads(get(P + "/studies"))]
for k, st in enumerate(studies):
    getscu(14342, "MEDZIP", st, f"{work}/get/m{k}")
    getscu(14343, "PLAIN", st, f"{work}/get/p{k}")
def tree(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            out[os.path.relpath(os.path.join(d, f), root)] = hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
    return out
gm = {f"{k}/{n}": h for k in range(len(studies)) for n, h in tree(f"{work}/get/m{k}").items()} if studies else {}
gp = {f"{k}/{n}": h for k in range(len(studies)) for n, h in tree(f"{work}/get/p{k}").items()} if studies else {}
common = gm.keys() & gp.keys()
assert common and all(gm[k] == gp[k] for k in common), f"C-GET: {sum(gm[k] != gp[k] for k in common)} files differ"
print(f"C-GET of {len(studies)} studies: {len(common)} files received from both, all the same"
      + (f" (medzip {len(gm)}, default {len(gp)}, of {len(im)}: getscu negotiates no transfer syntax for"
         " some encapsulated instances)" if len(common) < len(im) else ""))
if len(im) <= 10:  # the committed samples: every instance, both ways
    assert gm == gp and len(gm) == len(im), f"C-GET: {len(gm)} and {len(gp)} files of {len(im)}"
sizes = {"medzip": du(f"{work}/MEDZIP/mdz"), "default": du(f"{work}/PLAIN/storage"), "zlib": du(f"{work}/ZLIB/storage")}
print("storage bytes (du -sb): " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
stats = json.loads(get(M + "/medzip/statistics"))
files = [os.path.join(d, f) for d, _, fs in os.walk(f"{work}/MEDZIP/mdz") for f in fs]
assert stats["files"] == len(files) and stats["bytes"] == sum(os.path.getsize(f) for f in files), stats
print(f"/medzip/statistics: {stats['files']} files, {stats['bytes']} bytes, as on disk")
print(f"medzip / default {sizes['medzip'] / sizes['default']:.3f}, medzip / zlib {sizes['medzip'] / sizes['zlib']:.3f}")
print(f"store time (4 clients): medzip {t_m:.1f} s, default {t_p:.1f} s, zlib {t_z:.1f} s")
t = time.time(); [get(f"{M}/instances/{i}/file") for i in im]; t_rm = time.time() - t
t = time.time(); [get(f"{P}/instances/{i}/file") for i in ip]; t_rp = time.time() - t
t = time.time(); [get(f"{Z}/instances/{i}/file") for i in iz]; t_rz = time.time() - t
print(f"retrieve time (one client, every instance): medzip {t_rm:.2f} s, default {t_rp:.2f} s, zlib {t_rz:.2f} s")
json.dump({"want": want, "sizes": sizes}, open(f"{work}/state.json", "w"))
EOF

# A restart: everything still served.
kill "$MEDZIP_PID"; wait "$MEDZIP_PID" 2>/dev/null || true
start MEDZIP 18142
python3 - "$WORK" <<'EOF'
import glob, hashlib, json, sys, urllib.error, urllib.request
work = sys.argv[1]
M = "http://localhost:18142"
want = json.load(open(f"{work}/state.json"))["want"]
def get(url, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=300) as r:
        return r.read()
for i, h in want.items():
    assert hashlib.sha256(get(f"{M}/instances/{i}/file")).hexdigest() == h, i
print(f"after a restart: every instance back byte for byte ({len(want)})")
# A damaged stored file: an error on that instance only.
files = sorted(glob.glob(f"{work}/MEDZIP/mdz/*/*/*.mdz"))
victim = max(files, key=lambda f: len(open(f, "rb").read()))
b = bytearray(open(victim, "rb").read()); b[len(b) // 2] ^= 0x40
open(victim, "wb").write(b)
failed = []
for i, h in want.items():
    try:
        ok = hashlib.sha256(get(f"{M}/instances/{i}/file")).hexdigest() == h
        assert ok, f"{i}: other bytes served"
    except urllib.error.HTTPError:
        failed.append(i)
assert len(failed) == 1, f"{len(failed)} instances failed after damaging one file (of the largest stored file)"
print(f"a damaged stored file: {len(failed)} instance refused (HTTP error), the other {len(want) - len(failed)} served")
# Deleting through REST removes the files.
before = len(glob.glob(f"{work}/MEDZIP/mdz/*/*/*.mdz"))
for i in want:
    get(f"{M}/instances/{i}", "DELETE")
after = len(glob.glob(f"{work}/MEDZIP/mdz/*/*/*.mdz"))
assert after == 0, f"{after} files left after deleting every instance (of {before})"
print(f"deleting every instance through REST removed all {before} stored files")
EOF
# Migration: the default Orthanc's storage converted in place (twice: the
# second run finds everything done), then served by that Orthanc with the
# plugin.
kill "$PLAIN_PID"; wait "$PLAIN_PID" 2>/dev/null || true
MIGRATE="$CARGO_TARGET_DIR/release/medzip-orthanc-migrate"
"$MIGRATE" "$WORK/PLAIN/storage" "$WORK/PLAIN/mdz" --effort "$EFFORT"
"$MIGRATE" "$WORK/PLAIN/storage" "$WORK/PLAIN/mdz" --effort "$EFFORT" | grep -q "^0 attachments converted"
config PLAIN 18143 14343 ", \"Plugins\": [\"$PLUGIN\"], \"Medzip\": {\"Root\": \"$WORK/PLAIN/mdz\"}"
start PLAIN 18143
python3 - "$WORK" <<'EOF'
import hashlib, json, sys, urllib.request
work = sys.argv[1]
want = json.load(open(f"{work}/state.json"))["want"]
for i, h in want.items():
    with urllib.request.urlopen(f"http://localhost:18143/instances/{i}/file", timeout=300) as r:
        assert hashlib.sha256(r.read()).hexdigest() == h, i
print(f"after migrating the default Orthanc's storage: every instance back byte for byte ({len(want)})")
EOF
echo "orthanc_test: OK"
