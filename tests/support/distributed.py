"""Helpers for the distributed and tuning tests: a tiny FER-2013-like npz and config, ferkit subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from ferkit.data.synthetic import make_faces

TINY_CONFIG = {
    "Architecture": "lenet", "ImageSize": [16, 16], "NoOfFilters": 4, "NoOfUDense1": 32, "NoOfUDense2": 16,
    "BatchSize": 32, "LearningRate": 0.003, "DropOutRate": 0.1, "Patience": 10, "Seed": 7,
}


def write_tiny_npz(path: Path, train: int = 256, validation: int = 64, test: int = 32) -> Path:
    """Drawn 16x16 faces in fer2013.npz's layout (labels use 4 of its 7 classes)."""
    per_class = -(-(train + validation + test) // 4)
    images, labels = make_faces(per_class, size=16, seed=11)
    count = train + validation + test
    usage = np.array(["Training"] * train + ["PublicTest"] * validation + ["PrivateTest"] * test)
    fer_labels = np.array([0, 3, 4, 5])[labels[:count]].astype(np.int8)
    np.savez(path, images=images[:count, ..., 0], labels=fer_labels, usage=usage)
    return path


def write_config(path: Path, **updates) -> Path:
    path.write_text(yaml.safe_dump({**TINY_CONFIG, **updates}))
    return path


def ferkit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ferkit.cli.main", *args]


def environment(**updates: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FERKIT_", "KERAS_BACKEND", "JAX_"))}
    env.update({"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}, **updates)
    return env


def start(args: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen(ferkit_command(*args), env=environment(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


EPOCH_LINE = re.compile(r"^(\[rank \d\] )?(epoch \d+/\d+: .*?) \(\d")


def epoch_lines(output: str, rank: int | None = None) -> list[str]:
    """The metric part of every `epoch i/n: ...` line (of one rank when `rank` is given)."""
    lines = []
    for line in output.splitlines():
        match = EPOCH_LINE.match(line)
        if match and (rank is None or match.group(1) == f"[rank {rank}] "):
            lines.append(match.group(2))
    return lines
