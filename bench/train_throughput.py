"""Training throughput (images/s) of the spec model at 256x256 and 48x48, the default model (also at twice its
width, the cost of a larger teacher) and ferres.

Uses FER-2013 from ../shared when present, else drawn faces. Times `steps` training steps after a warm-up
epoch, through the same tf.data pipeline and compiled model as `ferkit train`, each case in its own process.

    .venv/bin/python bench/train_throughput.py [--steps 60] [--only fervgg] [--jit-compile]
    KERAS_BACKEND=jax .venv/bin/python bench/train_throughput.py    # the same on the JAX backend
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import FER2013  # noqa: E402

from ferkit.config import load_config  # noqa: E402
from ferkit.data import load_data  # noqa: E402
from ferkit.data.pipeline import make_dataset, targets_for  # noqa: E402
from ferkit.data.synthetic import make_faces  # noqa: E402
from ferkit.models import build_model  # noqa: E402
from ferkit.training import compile_model  # noqa: E402

CASES = [
    ("lenet (spec) 256x256", "configs/lenet.yaml", []),
    ("lenet (spec) 48x48", "configs/lenet.yaml", ["ImageSize=[48,48]"]),
    ("fervgg (default) 48x48, augmented", "configs/fervgg.yaml", []),
    ("fervgg 64-wide (2x width), 48x48 augmented", "configs/fervgg.yaml", ["NoOfFilters=64"]),
    ("ferres (residual) 48x48, augmented", "configs/ferres.yaml", []),
]


def images_and_targets():
    if FER2013.is_file():
        data = load_data(FER2013)
        train = data.split_indices("train")
        return data.images[train], targets_for(data, train), "FER-2013 Training"
    images, labels = make_faces(500, size=48, classes=("angry", "happy", "sad", "surprise"), seed=0)
    return images, np.eye(4, dtype="float32")[labels], "drawn faces (FER-2013 not found)"


def measure(config, images, targets, steps: int, jit_compile: bool) -> float:
    dataset = make_dataset(images, targets, config.BatchSize, training=True, augment=config.Augment)
    model = compile_model(build_model(config, targets.shape[1]), config)
    model.jit_compile = jit_compile
    model.fit(dataset, steps_per_epoch=5, epochs=1, shuffle=False, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return steps * config.BatchSize / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per case")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the training step with XLA (ferkit train does not: slower on this CPU)")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        name, path, overrides = CASES[args.case]
        images, targets, _ = images_and_targets()
        config = load_config(path, overrides)
        speed = measure(config, images, targets, args.steps, args.jit_compile)
        print(f"| {name} | {config.BatchSize} | {speed:.0f} |", flush=True)
        return
    import keras

    _, _, source = images_and_targets()
    print(f"data: {source}; machine: {platform.machine()}, {os.cpu_count()} CPUs; steps: {args.steps}; "
          f"backend: {keras.backend.backend()}; XLA: {args.jit_compile}")
    print("| model | batch | images/s |\n|---|---|---|", flush=True)
    for index, (name, _, _) in enumerate(CASES):
        if args.only in name:
            # One process per case: a finished case's tf.data threads otherwise slowed the next one by up to 2x.
            command = [sys.executable, __file__, "--case", str(index), "--steps", str(args.steps)]
            subprocess.run(command + (["--jit-compile"] if args.jit_compile else []), check=True)


if __name__ == "__main__":
    main()
