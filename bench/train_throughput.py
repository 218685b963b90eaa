"""Training throughput (images/s) of the spec model at 256x256 and 48x48, and of the default model.

Uses FER-2013 from ../shared when present, else drawn faces. Times `steps` training steps after a warm-up
epoch, through the same tf.data pipeline and compiled model as `ferkit train`.

    .venv/bin/python bench/train_throughput.py [--steps 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from ferkit.config import load_config  # noqa: E402
from ferkit.data import load_data  # noqa: E402
from ferkit.data.pipeline import make_dataset, targets_for  # noqa: E402
from ferkit.data.synthetic import make_faces  # noqa: E402
from ferkit.models import build_model  # noqa: E402
from ferkit.training import compile_model  # noqa: E402

FER = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013" / "fer2013.npz"
CASES = [
    ("lenet (spec) 256x256", "configs/lenet.yaml", []),
    ("lenet (spec) 48x48", "configs/lenet.yaml", ["ImageSize=[48,48]"]),
    ("fervgg (default) 48x48, augmented", "configs/fervgg.yaml", []),
]


def images_and_targets():
    if FER.is_file():
        data = load_data(FER)
        train = data.split_indices("train")
        return data.images[train], targets_for(data, train), "FER-2013 Training"
    images, labels = make_faces(500, size=48, classes=("angry", "happy", "sad", "surprise"), seed=0)
    return images, np.eye(4, dtype="float32")[labels], "drawn faces (FER-2013 not found)"


def measure(config, images, targets, steps: int) -> float:
    dataset = make_dataset(images, targets, config.BatchSize, training=True, augment=config.Augment)
    model = compile_model(build_model(config, targets.shape[1]), config)
    model.fit(dataset, steps_per_epoch=5, epochs=1, shuffle=False, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return steps * config.BatchSize / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per case")
    args = parser.parse_args()
    images, targets, source = images_and_targets()
    print(f"data: {source}; machine: {platform.machine()}, {os.cpu_count()} CPUs; steps: {args.steps}")
    print("| model | batch | images/s |\n|---|---|---|")
    for name, path, overrides in CASES:
        config = load_config(path, overrides)
        print(f"| {name} | {config.BatchSize} | {measure(config, images, targets, args.steps):.0f} |", flush=True)


if __name__ == "__main__":
    main()
