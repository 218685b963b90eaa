"""Training throughput of 1 vs N data-parallel processes on this machine (images per second).

Runs the same short training three ways through the real CLI and prints one line per setup:

- 1 process, TensorFlow backend (ordinary `ferkit train`, the reference);
- 1 process, JAX backend (`KERAS_BACKEND=jax ferkit train`);
- N processes, JAX backend (`ferkit launch --nproc N -- train`, keras.distribution.DataParallel over gloo).

Throughput is the median over epochs 2.. of (training images per epoch / epoch seconds) as rank 0 reports it,
so the first epoch's compilation is left out; epoch seconds include validation and checkpointing, as in real
runs. The data are drawn faces (`ferkit.data.synthetic`) unless --data is given.

    python bench/distributed_scaling.py --images 4096 --epochs 4 --processes 2
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

EPOCH = re.compile(r"^(?:\[rank 0\] )?epoch (\d+)/\d+: .*\(([\d.]+) s, (\d+) img/s\)")


def write_data(path: Path, images: int, size: int) -> Path:
    from ferkit.data.synthetic import make_faces

    validation = max(images // 8, 64)
    faces, labels = make_faces(-(-(images + validation) // 4), size=size, seed=0)
    count = images + validation
    usage = np.array(["Training"] * images + ["PublicTest"] * validation)
    np.savez(path, images=faces[:count, ..., 0], labels=labels[:count].astype(np.int8), usage=usage)
    return path


def run(command: list[str], env: dict[str, str]) -> tuple[float, list[float], float]:
    """Run a ferkit command; return (median img/s of epochs 2.., per-epoch seconds, wall seconds)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ferkit.cli.main", *command], env=env, capture_output=True,
                            text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"failed: ferkit {' '.join(command)}\n{(result.stdout + result.stderr)[-3000:]}")
    epochs = [(int(m.group(1)), float(m.group(2)), float(m.group(3)))
              for m in map(EPOCH.match, result.stdout.splitlines()) if m]
    later = [e for e in epochs if e[0] >= 2] or epochs
    return statistics.median(e[2] for e in later), [e[1] for e in epochs], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="dataset to train on (default: drawn faces)")
    parser.add_argument("--images", type=int, default=4096, help="training images of the drawn-face set")
    parser.add_argument("--size", type=int, default=48, help="image side (ImageSize) in pixels")
    parser.add_argument("--architecture", default="lenet")
    parser.add_argument("--batch", type=int, default=64, help="global BatchSize")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--skip-tensorflow", action="store_true",
                        help="skip the TensorFlow-backend reference")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ferkit-scaling-") as tmp:
        root = Path(tmp)
        data = args.data or str(write_data(root / "faces.npz", args.images, args.size))
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump({
            "Architecture": args.architecture, "ImageSize": [args.size, args.size], "BatchSize": args.batch,
            "NoOfEpochs": args.epochs, "Patience": args.epochs, "Seed": 1}))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("FERKIT_", "KERAS_BACKEND"))}
        common = ["--data", data, "--config", str(config)]
        setups = []
        if not args.skip_tensorflow:
            setups.append(("1 process, TensorFlow", ["train", *common, "--out", str(root / "tf")], {}))
        setups += [
            ("1 process, JAX", ["train", *common, "--out", str(root / "jax1")], {"KERAS_BACKEND": "jax"}),
            (f"{args.processes} processes, JAX DataParallel",
             ["launch", "--nproc", str(args.processes), "--", "train", *common, "--out", str(root / "jaxn")],
             {}),
        ]
        source = args.data or f"{args.images} drawn faces"
        print(f"# {platform.node()}: {os.cpu_count()} CPU(s), {platform.processor() or platform.machine()}; "
              f"{args.architecture} at {args.size}x{args.size}, global batch {args.batch}, "
              f"{args.epochs} epochs, data {source}; load average before: {os.getloadavg()[0]:.1f}")
        results = {}
        for name, command, env in setups:
            images_per_second, epoch_seconds, wall = run(command, {**base_env, **env})
            results[name] = images_per_second
            print(f"{name:<34} {images_per_second:8.0f} img/s   epochs: "
                  f"{', '.join(f'{s:.1f}' for s in epoch_seconds)} s   wall {wall:.0f} s", flush=True)
        single = results["1 process, JAX"]
        many = results[f"{args.processes} processes, JAX DataParallel"]
        print(f"speed-up of {args.processes} processes over 1 (JAX): {many / single:.2f}x; "
              f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
