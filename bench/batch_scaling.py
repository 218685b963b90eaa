"""Throughput of `ferkit batch` on this machine: local engine vs Ray with 1 and 2 workers, Ray's overhead per
image, memory per worker, and what a cluster of N machines would process per hour.

    nice -n 10 .venv/bin/python bench/batch_scaling.py [--photos 2000]

Photos are generated into a temporary folder: scikit-image's astronaut head (80–220 px, random place) pasted
on a 480×360 photo background (scikit-image's coffee), JPEG quality 90, one face each, fixed seed. Each
configuration runs in a fresh Python process (`ferkit.batch.run`, shipped model, default detector, batch
size 16, a new output folder); the Ray engine starts a local Ray cluster with the machine's CPUs. The
steady-state rate is measured from the first committed part (256 photos, seen in `done.jsonl`) to the end,
so start-up (Ray, actors, model loading) is left out of it and reported apart. Resident memory of the job's
processes is sampled every 0.25 s from /proc (Ray workers are the `ray::MapWorker` processes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import REPO, rss_mb

CONFIGS = (("local", None), ("ray", 1), ("ray", 2))
BACKGROUND_SIZE = (480, 360)
RAY_WORKER = "ray::MapWorker"


def make_photos(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` JPEG photos of one face each on a photo background, deterministic."""
    import cv2
    import numpy as np
    from skimage import data

    rng = np.random.default_rng(seed)
    background = cv2.resize(data.coffee(), BACKGROUND_SIZE, interpolation=cv2.INTER_AREA)
    head = data.astronaut()[0:300, 90:390]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        side = int(rng.integers(80, 221))
        x = int(rng.integers(0, BACKGROUND_SIZE[0] - side))
        y = int(rng.integers(0, BACKGROUND_SIZE[1] - side))
        photo = background.copy()
        photo[y:y + side, x:x + side] = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
        path = folder / f"photo_{index:05d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command line) for every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            found[int(entry.name)] = (ppid, (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return found


class MemorySampler(threading.Thread):
    """Peak resident memory of a process tree: the driver, each Ray worker, and the whole tree."""

    def __init__(self, root: int, manifest: Path):
        super().__init__(daemon=True)
        self.root = root
        self.manifest = manifest
        self.stop = threading.Event()
        self.driver = self.worker = self.total = 0.0
        self.first_commit: tuple[float, int] | None = None  # (time, files in the first committed part)

    def run(self) -> None:
        while not self.stop.is_set():
            processes = _processes()
            tree, frontier = [], [self.root]
            while frontier:
                parent = frontier.pop()
                children = [pid for pid, (ppid, _) in processes.items() if ppid == parent]
                tree += children
                frontier += children
            workers = [rss_mb(pid) for pid in tree if processes[pid][1].startswith(RAY_WORKER)]
            self.driver = max(self.driver, rss_mb(self.root))
            self.worker = max([self.worker, *workers])
            self.total = max(self.total, rss_mb(self.root) + sum(rss_mb(pid) for pid in tree))
            if self.first_commit is None and self.manifest.is_file() and self.manifest.stat().st_size:
                first = json.loads(self.manifest.read_text().splitlines()[0])
                self.first_commit = (time.perf_counter(), len(first["files"]))
            self.stop.wait(0.25)


def measure(engine: str, workers: int | None, inputs: Path, out: Path) -> dict:
    """One `ferkit.batch.run` in a fresh process: wall seconds, files, faces and peak memory."""
    command = [sys.executable, __file__, "--one", engine, str(workers or 0), str(inputs), str(out)]
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sampler = MemorySampler(process.pid, out / "done.jsonl")
    sampler.start()
    stdout, _ = process.communicate()
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{engine} with {workers} workers failed (exit {process.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    commit_time, first_files = sampler.first_commit
    steady = (result["files"] - first_files) / max(start + seconds - commit_time, 1e-9)
    return {**result, "wall_s": seconds, "steady_per_s": steady,
            "startup_s": commit_time - start - first_files / steady, "driver_mb": sampler.driver,
            "worker_mb": sampler.worker, "total_mb": sampler.total}


def one(engine: str, workers: int, inputs: str, out: str) -> None:
    from ferkit.batch import run

    summary = run([inputs], out, engine=engine, workers=workers or None, progress=False)
    print(json.dumps({"files": summary.processed, "faces": summary.faces, "errors": summary.errors,
                      "run_s": summary.seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one[0], int(args.one[1]), args.one[2], args.one[3])
        return
    with tempfile.TemporaryDirectory(prefix="ferkit-batch-bench-") as tmp:
        folder = Path(tmp)
        make_photos(folder / "all", args.photos)
        print(f"{args.photos} photos of {BACKGROUND_SIZE[0]}x{BACKGROUND_SIZE[1]}, {os.cpu_count()} CPUs, "
              f"load average at start {os.getloadavg()[0]:.1f}", flush=True)
        rows = []
        for engine, workers in CONFIGS:
            full = measure(engine, workers, folder / "all", folder / f"out-{engine}-{workers}")
            rows.append({"engine": engine, "workers": workers or 1, "full": full,
                         "marginal_ms": 1000 / full["steady_per_s"]})
            print(f"{engine:5s} workers={workers or 1}: {full['files']} files, {full['faces']} faces, "
                  f"{full['wall_s']:.1f} s wall ({full['files'] / full['wall_s']:.1f} img/s end to end); "
                  f"steady state {full['steady_per_s']:.1f} img/s ({1000 / full['steady_per_s']:.1f} ms/img) "
                  f"after {full['startup_s']:.1f} s of start-up; peak RSS driver {full['driver_mb']:.0f} MB, "
                  f"per worker {full['worker_mb']:.0f} MB, all processes {full['total_mb']:.0f} MB", flush=True)
        report(rows)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


def report(rows: list[dict]) -> None:
    """Ray's overhead against the local engine, the scaling from one to two workers, and a cluster estimate."""
    local, ray1, ray2 = rows
    overhead = ray1["marginal_ms"] - local["marginal_ms"]
    print(f"Ray overhead per image (1 worker vs local, marginal): {overhead:+.1f} ms "
          f"({overhead / local['marginal_ms']:+.0%}); start-up {ray1['full']['startup_s']:.1f} s vs "
          f"{local['full']['startup_s']:.1f} s")
    print(f"two workers vs one: {ray1['marginal_ms'] / ray2['marginal_ms']:.2f}x")
    per_machine = 3600 * 1000 / ray2["marginal_ms"]
    worker_gb = ray2["full"]["worker_mb"] / 1024
    print(f"one worker alone: {1000 / ray1['marginal_ms']:.1f} img/s, {worker_gb:.2f} GB resident")
    for machines in (1, 4, 16, 64):
        print(f"  {machines:3d} machines like this one (2 cores, 2 workers): ~{machines * per_machine:,.0f} img/h")
    per_core_hour = 3600 * 1000 / ray1["marginal_ms"]
    efficiency = ray1["marginal_ms"] / ray2["marginal_ms"] / 2
    for cores, memory_gb in ((16, 64),):
        workers = int(min(cores, memory_gb * 0.8 // worker_gb))
        print(f"  one {cores}-core {memory_gb} GB machine: {workers} workers -> ~"
              f"{workers * per_core_hour * efficiency:,.0f} img/h (two-worker efficiency {efficiency:.0%})")


if __name__ == "__main__":
    main()
