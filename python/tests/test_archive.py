"""The archive job on a real Dask LocalCluster (2 worker processes): the
bundled samples and a few hundred generated images, a worker killed in the
middle, the rerun, the manifest, and the way back."""

import csv
import os
import pathlib
import shutil
import signal
import threading
import time

import numpy as np
import pytest

import dask.distributed as distributed
import medzip
from medzip import archive

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "samples"


def pgm(a: np.ndarray) -> bytes:
    maxv = int(a.max()) if a.max() > 0 else 1
    head = f"P5\n{a.shape[1]} {a.shape[0]}\n{maxv if a.dtype == np.uint16 else 255}\n".encode()
    return head + (a.astype(">u2").tobytes() if a.dtype == np.uint16 else a.tobytes())


def make_tree(root: pathlib.Path, n: int) -> list:
    rng = np.random.default_rng(7)
    for s in sorted(SAMPLES.iterdir()):
        if s.suffix in (".png", ".dcm"):
            (root / "samples").mkdir(parents=True, exist_ok=True)
            shutil.copy(s, root / "samples" / s.name)
    for i in range(n):
        d = root / f"gen{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        h, w = 16 + i % 13, 20 + i % 17
        if i % 2:
            a = (rng.integers(0, 64, (h, w)) + np.arange(w) * 50).astype(np.uint16)
        else:
            a = (rng.integers(0, 16, (h, w)) + np.arange(w)[None, :] * 4).astype(np.uint8)
        (d / f"img{i:04d}.pgm").write_bytes(pgm(a))
    # Not an image: stored whole. A link to nothing: cannot be read, fails.
    (root / "gen0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "gen0" / "dangling.png").symlink_to(root / "nowhere.png")
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()
    )


def manifest(dst: pathlib.Path) -> list:
    with open(dst / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_archive_on_a_local_cluster_survives_a_killed_worker(tmp_path):
    src, dst, back = tmp_path / "src", tmp_path / "dst", tmp_path / "back"
    files = make_tree(src, 240)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
    client = distributed.Client(cluster)
    try:
        result = {}
        job = threading.Thread(
            target=lambda: result.update(
                archive.run(str(src), str(dst), client=client, batch=4, quiet=True)
            )
        )
        job.start()
        # Kill one worker once some files are done (its nanny starts another).
        deadline = time.time() + 120
        while time.time() < deadline:
            m = dst / "manifest.csv"
            if m.exists() and m.read_text().count("\n") > 30:
                break
            time.sleep(0.05)
        assert job.is_alive(), "the job ended before a worker could be killed"
        pids = client.run(os.getpid)
        os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
        job.join(300)
        assert not job.is_alive()
        # The rerun finishes whatever the kill left (here, usually nothing:
        # Dask reruns the lost tasks) and converts nothing twice.
        again = archive.run(str(src), str(dst), client=client, batch=4, quiet=True)
        assert again == {"done": 0, "failed": 1, "skipped": len(files) - 1}
        recs = manifest(dst)
        paths = [r["path"] for r in recs]
        assert sorted(paths) == files, "each file once"
        by = {r["path"]: r for r in recs}
        assert by["gen0/dangling.png"]["status"] == "failed"
        assert by["gen0/dangling.png"]["error"]
        assert (by["gen0/broken.png"]["status"], by["gen0/broken.png"]["pixels"]) == ("done", "0")
        done = [r for r in recs if r["status"] == "done"]
        assert len(done) == len(files) - 1
        for r in done:
            out = (dst / (r["path"] + ".mdz")).read_bytes()
            assert len(out) == int(r["out_bytes"])
            medzip.verify(medzip.decompress(out), (src / r["path"]).read_bytes())
        assert not list(dst.rglob("*.medzip-tmp-*"))
        # And back.
        c = archive.run(str(dst), str(back), client=client, decompress=True, quiet=True)
        assert c["done"] == len(done) and c["failed"] == 0
        for r in done:
            rebuilt = (back / r["path"]).read_bytes()
            original = (src / r["path"]).read_bytes()
            medzip.verify(rebuilt, original)
            if r["path"].endswith(".dcm") or "broken" in r["path"]:
                assert rebuilt == original
    finally:
        client.close()
        cluster.close()


def test_the_command_line_with_its_own_cluster(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = make_tree(src, 6)
    # A list of files first: only those are converted.
    first = [f for f in files if "dangling" not in f][:3]
    listed = tmp_path / "list.txt"
    listed.write_text("\n".join(first) + "\n")
    args = [str(src), str(dst), "--workers", "1", "--effort", "1", "-q"]
    assert archive.main(args + ["--files-from", str(listed)]) == 0
    assert [r["path"] for r in manifest(dst)] == first
    capsys.readouterr()
    # Then the whole tree: the three are skipped, dangling.png fails.
    assert archive.main(args) == 1
    out = capsys.readouterr().out
    assert f"{len(files) - 4} converted, 1 failed, 3 already done" in out
    recs = manifest(dst)
    assert sorted(r["path"] for r in recs) == files
    # A list after the whole tree (with a duplicate and a ./ path): nothing
    # is redone, and the manifest keeps every file once.
    listed.write_text("\n".join(first + ["./" + first[0]]) + "\n")
    assert archive.main(args + ["--files-from", str(listed)]) == 0
    assert "0 converted, 0 failed, 3 already done" in capsys.readouterr().out
    assert sorted(r["path"] for r in manifest(dst)) == files
    # A changed source is converted again.
    changed = src / first[0]
    changed.write_bytes(changed.read_bytes()[:-1] + b"\x07")
    assert archive.main(args + ["--files-from", str(listed)]) == 0
    assert "1 converted, 0 failed, 2 already done" in capsys.readouterr().out
