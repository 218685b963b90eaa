"""Kill `ferkit train` again and again — at random moments and inside its saves — and check what it leaves.

Used by tests/durability_test.py (a few kills, part of `make test`) and bench/durability.py (many kills).
A run is a subprocess of `ferkit train`; a kill inside a save is planted by wrapping `ferkit.files.commit`
(every file ferkit writes passes through it) so that the process SIGKILLs itself right before or right after
the N-th rename: a finished temporary file never renamed, or a new weights file whose metadata never came.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[2] / "src"
CONFIG = ["ImageSize=[48,48]", "NoOfFilters=4", "NoOfUDense1=16", "NoOfUDense2=16", "BatchSize=16",
          "LearningRate=0.003", "Patience=20"]
RUNNER = """
import os, signal, sys
import ferkit.files as files
kill_at, moment = int(os.environ["KILL_AT_COMMIT"]), os.environ["KILL_MOMENT"]
original, calls = files.commit, [0]
def commit(tmp, path, mode=files.FILE_MODE):
    calls[0] += 1
    if calls[0] == kill_at and moment == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    original(tmp, path, mode)
    if calls[0] == kill_at and moment == "after":
        os.kill(os.getpid(), signal.SIGKILL)
files.commit = commit
from ferkit.cli.main import main
sys.argv = ["ferkit", *sys.argv[1:]]
main()
"""


def train_command(data: Path, out: Path, epochs: int) -> list[str]:
    overrides = sum([["--set", value] for value in [*CONFIG, f"NoOfEpochs={epochs}"]], [])
    return [sys.executable, "-c", RUNNER, "train", "--config", "configs/lenet.yaml", "--data", str(data),
            "--out", str(out), *overrides]


def run_train(data: Path, out: Path, epochs: int, kill_at_commit: int = 0, moment: str = "before",
              kill_after_seconds: float | None = None) -> int:
    """Run `ferkit train`; returns its exit code (-9 when killed)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "KILL_AT_COMMIT": str(kill_at_commit), "KILL_MOMENT": moment, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(train_command(data, out, epochs), env=env, cwd=SRC.parent,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, stderr = process.communicate(timeout=kill_after_seconds if kill_after_seconds else 600)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.communicate()
        return -9
    if process.returncode not in (0, -9):
        raise AssertionError(f"ferkit train failed ({process.returncode}): {stderr.decode()[-2000:]}")
    return process.returncode


def history_epochs(out: Path) -> list[int]:
    path = out / "history.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [int(float(row["epoch"])) for row in csv.DictReader(handle)
                if None not in row and None not in row.values()]


def check_run_folder(out: Path) -> None:
    """What any kill may leave: files that are complete (models load) and a history without repeats."""
    from ferkit.models.saving import load_model

    for name in ("checkpoint.keras", "model.keras"):
        if (out / name).is_file():
            load_model(out / name)
    epochs = history_epochs(out)
    assert epochs == list(range(len(epochs))), f"history epochs {epochs}"


@dataclass
class Campaign:
    """The record of one series of kills."""

    kills: list[str] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0


# Renames in a run: config.yaml, then per epoch up to five (checkpoint when val_loss improves, the two
# previous-state copies from the second epoch on, weights, metadata), then history.png, summary.json and the
# model; four per epoch keeps most kills inside the run.
COMMITS_PER_EPOCH, COMMITS_AROUND = 4, 4


def kill_repeatedly(data: Path, out: Path, epochs: int, kills: int, seed: int,
                    seconds_range: tuple[float, float] = (4.0, 12.0)) -> Campaign:
    """Kill training up to `kills` times (two in three inside a save, the rest after a random delay), checking
    the run folder after each kill, then let it finish. Stops killing once a run has finished."""
    rng = random.Random(seed)
    campaign = Campaign()
    start = time.perf_counter()
    for _ in range(kills):
        if (out / "model.keras").exists():
            break
        if rng.random() < 2 / 3:
            remaining = epochs - len(history_epochs(out))
            commit = rng.randint(1, COMMITS_AROUND + COMMITS_PER_EPOCH * max(remaining, 1))
            moment = rng.choice(["before", "after"])
            code = run_train(data, out, epochs, kill_at_commit=commit, moment=moment)
            label = f"{moment} commit {commit}"
        else:
            delay = rng.uniform(*seconds_range)
            code = run_train(data, out, epochs, kill_after_seconds=delay)
            label = f"after {delay:.1f} s"
        campaign.attempts += 1
        campaign.kills.append(label if code == -9 else f"{label} (finished first)")
        check_run_folder(out)
    while run_train(data, out, epochs) != 0:  # the final run is never killed
        pass
    campaign.attempts += 1
    campaign.seconds = time.perf_counter() - start
    return campaign


def final_weights(out: Path) -> list[np.ndarray]:
    from ferkit.models.saving import load_model

    return load_model(out / "model.keras")[0].get_weights()


def stale_files(out: Path) -> list[str]:
    """Temporaries and resume state that a finished run must not leave behind."""
    return sorted(str(path.relative_to(out)) for path in out.rglob(".*") if path.is_file()) + (
        ["backup/"] if (out / "backup").exists() else [])
