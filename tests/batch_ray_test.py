"""`ferkit batch --engine ray` on a real Ray cluster started here (`ray.init(num_cpus=2)`): the same tables as
the local engine, a killed worker's batches retried, resume across engines. Skipped without Ray."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray engine needs ray[data] (pip install 'ferkit[cluster]')")

import pandas as pd  # noqa: E402
from support.batch import assert_same_faces, read_errors, read_faces  # noqa: E402

from ferkit.batch import run  # noqa: E402

pytestmark = pytest.mark.slow
SETTINGS = {"fps": 5, "progress": False}
RAY_WORKER_TITLE = b"ray::MapWorker"


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs for this module (driver, raylet and workers are processes of their own)."""
    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _descendants(root: int) -> list[int]:
    """Process ids below `root`, from /proc (Linux)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _map_workers() -> list[int]:
    workers = []
    for pid in _descendants(os.getpid()):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(RAY_WORKER_TITLE):
                workers.append(pid)
        except OSError:
            continue
    return workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds Ray's worker processes in /proc")
def test_ray_engine_writes_the_local_tables_even_when_a_worker_is_killed(ray_cluster, batch_collection,
                                                                         batch_local_run, tmp_path):
    root, kinds = batch_collection
    copies = tmp_path / "copies"
    copies.mkdir()
    for i in range(8):  # more work, so that the kill lands mid-run; each copy has the astronaut's one face
        shutil.copy(kinds["astronaut"][i % len(kinds["astronaut"])], copies / f"copy_{i}.jpg")
    out, outcome = tmp_path / "out", {}

    def job():
        outcome["summary"] = run([root, copies], out, engine="ray", workers=2, batch_size=1, commit_every=1,
                                 **SETTINGS)

    thread = threading.Thread(target=job)
    thread.start()
    deadline, killed, committed = time.monotonic() + 120, None, 0
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        manifest = out / "done.jsonl"
        workers = _map_workers()
        if manifest.is_file() and manifest.read_text() and workers:
            committed = sum(1 for _ in manifest.read_text().splitlines())
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=240)
    assert killed is not None and committed < 18, "the job ended before a worker could be killed"
    assert not thread.is_alive() and "summary" in outcome
    local_out, local_summary = batch_local_run
    assert (outcome["summary"].processed, outcome["summary"].errors) == (18, local_summary.errors)
    faces = read_faces(out)
    from_copies = faces["file"].str.startswith(str(copies))
    assert_same_faces(faces[~from_copies].reset_index(drop=True), read_faces(local_out))
    assert sorted(faces.loc[from_copies, "file"]) == sorted(str(p) for p in copies.iterdir())  # none lost or doubled
    pd.testing.assert_frame_equal(read_errors(out), read_errors(local_out))


def test_resume_skips_files_a_local_run_finished(ray_cluster, batch_collection, batch_local_run, tmp_path):
    root, kinds = batch_collection
    first = sorted(str(p) for p in kinds["astronaut"] + kinds["corrupt"])
    manifest = tmp_path / "first.csv"
    manifest.write_text("path\n" + "\n".join(first) + "\n")
    out = tmp_path / "out"
    run([manifest], out, batch_size=4, **SETTINGS)
    resumed = run([root], out, engine="ray", workers=1, batch_size=4, **SETTINGS)
    assert (resumed.skipped, resumed.processed) == (len(first), 10 - len(first))
    assert_same_faces(read_faces(out), read_faces(batch_local_run[0]))
    pd.testing.assert_frame_equal(read_errors(out), read_errors(batch_local_run[0]))
    shutil.rmtree(out)
