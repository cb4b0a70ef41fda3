"""Convert an archive with medzip across a Dask cluster.

    python -m medzip.archive SRC DST [--scheduler ADDRESS|local] [--workers N]
                             [--decompress] [--effort N] [--batch K]
                             [--files-from LIST]

Compresses every file under SRC into DST, mirroring the tree
(``DST/a/b.dcm.mdz``), or with ``--decompress`` every ``.mdz`` back
(``DST/a/b.dcm``); ``--files-from LIST`` takes the files (paths relative
to SRC, one per line) from a list instead of walking SRC. Each output is verified by decoding it and comparing
with its source (``medzip.verify``: the same pixels and kind, DICOM byte
for byte) before it is written, and written atomically (a temporary file
beside it, fsynced, renamed), so that a killed worker or client leaves no
partial file. ``DST/manifest.csv`` records one line per file (path, status,
sizes, SHA-256 of source and output, pixels, bpp, error, seconds); it is
appended as results arrive and rewritten, one line per file, at the end. A
rerun skips the files whose output is there with the recorded size and
hash, and retries the rest. Dask reschedules the tasks of a worker that
dies; its dashboard shows the progress, and the terminal a counter.

``--scheduler local`` (the default) starts a ``LocalCluster`` of
``--workers`` processes; otherwise it is the address of a running
scheduler (``tcp://host:8786``: dask-jobqueue, Kubernetes, ...).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time
from typing import Dict, Iterable, List, Optional

FIELDS = [
    "path",
    "status",
    "in_bytes",
    "out_bytes",
    "in_sha256",
    "out_sha256",
    "pixels",
    "bpp",
    "error",
    "seconds",
]
MANIFEST = "manifest.csv"


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def output_name(rel: str, decompress: bool) -> str:
    """The output's path relative to DST for the source ``rel``."""
    if decompress:
        return rel[: -len(".mdz")] if rel.endswith(".mdz") else rel + ".out"
    return rel + ".mdz"


def convert_one(src_root: str, dst_root: str, rel: str, decompress: bool, effort: int) -> Dict:
    """Converts one file (runs on a worker); never raises: a failure is a
    record with status ``failed`` and the error."""
    import medzip

    t = time.perf_counter()
    rec = {f: "" for f in FIELDS}
    rec["path"] = rel
    try:
        with open(os.path.join(src_root, rel), "rb") as f:
            data = f.read()
        rec["in_bytes"] = len(data)
        rec["in_sha256"] = _sha256(data)
        if decompress:
            # (Decoding checks the pixel hash, and a DICOM file's SHA-256.)
            mdz = data
            out = medzip.decompress(data, threads=1)
        else:
            mdz = out = medzip.compress(data, os.path.basename(rel), effort=effort, threads=1)
            # The check: the .mdz decodes to the source.
            medzip.verify(medzip.decompress(out, threads=1), data)
        info = medzip.info(mdz)
        pixels = info["width"] * info["height"]
        rec["pixels"] = pixels
        # (A file stored whole has no pixels.)
        rec["bpp"] = round(8 * len(mdz) / pixels, 4) if pixels else ""
        medzip.write_atomic(os.path.join(dst_root, output_name(rel, decompress)), out)
        rec["out_bytes"] = len(out)
        rec["out_sha256"] = _sha256(out)
        rec["status"] = "done"
    except Exception as e:  # a bad file never stops the job
        rec["status"] = "failed"
        rec["error"] = f"{type(e).__name__}: {e}"
    rec["seconds"] = round(time.perf_counter() - t, 4)
    return rec


def convert_batch(src_root: str, dst_root: str, rels: List[str], decompress: bool, effort: int) -> List[Dict]:
    return [convert_one(src_root, dst_root, r, decompress, effort) for r in rels]


def walk(src_root: str, decompress: bool) -> List[str]:
    """Every file under ``src_root`` (relative paths, sorted), only
    ``.mdz`` files when decompressing; hidden files and temporaries skipped."""
    out = []
    for d, dirs, files in os.walk(src_root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in sorted(files):
            if f.startswith(".") or f == MANIFEST:
                continue
            if decompress and not f.endswith(".mdz"):
                continue
            out.append(os.path.relpath(os.path.join(d, f), src_root))
    return out


def read_manifest(path: str) -> Dict[str, Dict]:
    """The last record of each file in a manifest (none if it is absent)."""
    recs: Dict[str, Dict] = {}
    if os.path.exists(path):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if r.get("path"):
                    recs[r["path"]] = r
    return recs


def is_done(src_root: str, dst_root: str, rec: Optional[Dict], decompress: bool) -> bool:
    """Whether a manifest record says done, its source is unchanged and
    its output is there, intact."""
    if not rec or rec.get("status") != "done":
        return False
    src = os.path.join(src_root, rec["path"])
    out = os.path.join(dst_root, output_name(rec["path"], decompress))
    try:
        for p, size, sha in ((src, "in_bytes", "in_sha256"), (out, "out_bytes", "out_sha256")):
            if os.path.getsize(p) != int(rec[size]):
                return False
            with open(p, "rb") as f:
                if _sha256(f.read()) != rec[sha]:
                    return False
        return True
    except (OSError, ValueError):
        return False


def remove_temporaries(root: str) -> None:
    """Removes what a killed writer left (``.medzip-tmp-*`` files)."""
    import medzip

    for d, _dirs, files in os.walk(root):
        for f in files:
            if f.startswith(medzip.TMP_PREFIX):
                os.unlink(os.path.join(d, f))


def run(
    src: str,
    dst: str,
    *,
    client=None,
    scheduler: str = "local",
    workers: int = 2,
    decompress: bool = False,
    effort: int = 3,
    batch: int = 8,
    quiet: bool = False,
    files: Optional[List[str]] = None,
) -> Dict[str, int]:
    """Converts ``src`` into ``dst`` (see the module's documentation) on
    ``client`` (a ``dask.distributed.Client``), or on a cluster made from
    ``scheduler`` and ``workers``; returns counts by status. ``files``:
    the paths (relative to ``src``) to convert, instead of every file."""
    from dask.distributed import Client, LocalCluster, as_completed

    os.makedirs(dst, exist_ok=True)
    manifest = os.path.join(dst, MANIFEST)
    old = read_manifest(manifest)
    if files is None:
        files = walk(src, decompress)
    else:
        files = list(dict.fromkeys(os.path.normpath(f.strip()) for f in files if f.strip()))
        outside = [
            f for f in files if os.path.isabs(f) or f == ".." or f.startswith(".." + os.sep)
        ]
        if outside:
            raise ValueError(f"paths must be relative to {src}: {outside[:3]}")
    todo = [r for r in files if not is_done(src, dst, old.get(r), decompress)]
    skipped = len(files) - len(todo)
    own = None
    made = client is None
    if made:
        if scheduler == "local":
            own = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
            client = Client(own)
        else:
            client = Client(scheduler)
    counts = {"done": 0, "failed": 0, "skipped": skipped}
    try:
        batches = [todo[i : i + batch] for i in range(0, len(todo), batch)]
        futures = {
            client.submit(
                convert_batch,
                os.path.abspath(src),
                os.path.abspath(dst),
                b,
                decompress,
                effort,
                pure=False,
            ): b
            for b in batches
        }
        with open(manifest, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            if f.tell() == 0:
                w.writeheader()
            n = 0
            for fut in as_completed(list(futures)):
                try:
                    recs = fut.result()
                except Exception as e:  # the task itself failed (e.g. its workers kept dying)
                    recs = [
                        dict({k: "" for k in FIELDS}, path=r, status="failed", error=f"{type(e).__name__}: {e}")
                        for r in futures[fut]
                    ]
                for rec in recs:
                    w.writerow(rec)
                    old[rec["path"]] = rec
                    counts[rec["status"]] += 1
                    n += 1
                f.flush()
                if not quiet:
                    print(f"\r{n}/{len(todo)} files ({counts['failed']} failed, {skipped} already done)", end="", file=sys.stderr)
        if not quiet:
            print(file=sys.stderr)
    finally:
        if made:
            client.close()
        if own is not None:
            own.close()
    # What killed workers may have left; then the manifest, one line per
    # file: this run's files in order, then those of earlier runs.
    remove_temporaries(dst)
    order = files + sorted(set(old) - set(files))
    tmp = manifest + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in order:
            if r in old:
                w.writerow({k: old[r].get(k, "") for k in FIELDS})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, manifest)
    return counts


def main(argv: Optional[Iterable[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m medzip.archive", description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--scheduler", default="local", help="'local' (a LocalCluster) or a scheduler address")
    ap.add_argument("--workers", type=int, default=2, help="workers of the local cluster")
    ap.add_argument("--decompress", action="store_true", help=".mdz files back to their originals")
    ap.add_argument("--effort", type=int, default=3, choices=[1, 2, 3])
    ap.add_argument("--batch", type=int, default=8, help="files per task")
    ap.add_argument("--files-from", help="a list of files (relative to SRC, one per line)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(None if argv is None else list(argv))
    c = run(
        a.src,
        a.dst,
        scheduler=a.scheduler,
        workers=a.workers,
        decompress=a.decompress,
        effort=a.effort,
        batch=max(1, a.batch),
        quiet=a.quiet,
        files=None if a.files_from is None else open(a.files_from).read().splitlines(),
    )
    print(f"{c['done']} converted, {c['failed']} failed, {c['skipped']} already done; manifest: {os.path.join(a.dst, MANIFEST)}")
    return 1 if c["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
