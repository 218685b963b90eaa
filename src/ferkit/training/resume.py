"""Resume state of an unfinished run: everything needed to continue at the last finished epoch, exactly.

`backup/latest.weights.h5` holds the model's and the optimizer's variables, `backup/training_metadata.json`
the number of finished epochs, the states of the model's random-number generators (dropout, random crops:
Keras does not store them with the weights) and the sha256 of the weights file it belongs to. The previous
epoch's pair is kept as `*.bkp`. These are Keras BackupAndRestore's names, so a run it backed up resumes too.

Every file is written atomically (`ferkit.files`). A kill can still separate a pair (new weights, old
metadata); the checksum tells, and the previous pair is used. Anything unusable — an empty or malformed
metadata file, a truncated weights file — falls back to the previous pair, then to a clean start, with one
warning line each: damaged resume state never stops a run.

Data order and augmentation are replayed rather than stored: the resumed run skips the batches the finished
epochs consumed (`make_dataset(start_batch=...)`), which draws the same random numbers in the same order.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np

from ferkit.files import atomic_path, copy_file, write_text

WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"
PREVIOUS = ".bkp"
MAX_METADATA_BYTES = 1 << 20


class DamagedResumeState(Exception):
    """A backup that cannot be resumed from (kept internal: it only ever leads to a fallback)."""


@dataclass
class ResumePoint:
    """Where a run continues: `epoch` finished epochs (0: from scratch) and the state saved after them."""

    epoch: int = 0
    weights: Path | None = None
    seed_states: list[list[int]] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_weights_file(path: Path) -> None:
    """Read every array of an HDF5 weights file (a truncated file fails here, not inside Keras)."""
    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError for damaged files
        raise DamagedResumeState(f"{path.name} is damaged ({str(exc).splitlines()[0] or type(exc).__name__})"
                                 ) from None


def _read_point(metadata_path: Path, weights_path: Path) -> ResumePoint:
    if not metadata_path.is_file():
        raise DamagedResumeState(f"{metadata_path.name} is missing")
    if metadata_path.stat().st_size > MAX_METADATA_BYTES:
        raise DamagedResumeState(f"{metadata_path.name} is too large")
    try:
        values = json.loads(metadata_path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise DamagedResumeState(f"{metadata_path.name} is not valid JSON (empty or cut short)") from None
    epoch = values.get("epoch") if isinstance(values, dict) else None
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise DamagedResumeState(f"{metadata_path.name} has no valid 'epoch'")
    if not weights_path.is_file():
        raise DamagedResumeState(f"{weights_path.name} is missing")
    expected = values.get("weights_sha256")
    if expected is not None and expected != _sha256(weights_path):
        raise DamagedResumeState(f"{weights_path.name} does not belong to {metadata_path.name} (a save was cut)")
    _check_weights_file(weights_path)
    seeds = values.get("seed_states", [])
    if not isinstance(seeds, list):
        raise DamagedResumeState(f"{metadata_path.name} has invalid 'seed_states'")
    return ResumePoint(epoch, weights_path, seeds)


def find_resume_point(backup_dir: Path, warn: Callable[[str], None]) -> ResumePoint:
    """The state to resume from: the latest usable pair in `backup_dir`, else a clean start (epoch 0).

    A fallback is reported through `warn` in one line naming what was wrong.
    """
    if not backup_dir.is_dir():
        return ResumePoint()
    problems = []
    for suffix in ("", PREVIOUS):
        try:
            point = _read_point(backup_dir / (METADATA + suffix), backup_dir / (WEIGHTS + suffix))
        except DamagedResumeState as exc:
            problems.append(str(exc))
            continue
        if suffix:
            # Keras loads weights only from a name ending in .weights.h5: promote the previous pair.
            copy_file(point.weights, backup_dir / WEIGHTS)
            copy_file(backup_dir / (METADATA + suffix), backup_dir / METADATA)
            point.weights = backup_dir / WEIGHTS
            warn(f"warning: resume state damaged ({problems[0]}); resuming from the backup before it "
                 f"(after epoch {point.epoch})")
        return point
    if any((backup_dir / name).exists() for name in (WEIGHTS, METADATA)):
        warn(f"warning: resume state in {backup_dir} unusable ({'; '.join(problems)}); starting the run afresh")
    shutil.rmtree(backup_dir, ignore_errors=True)
    return ResumePoint()


def _seed_variables(model: keras.Model) -> list:
    """The state variables of the model's random-number generators, in a stable order."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def restore(model: keras.Model, point: ResumePoint) -> None:
    """Load the weights, optimizer variables and generator states of `point` into a compiled `model`."""
    if point.weights is None:
        return
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(point.weights)
    variables = _seed_variables(model)
    if len(variables) == len(point.seed_states):
        for variable, state in zip(variables, point.seed_states, strict=True):
            variable.assign(np.asarray(state, dtype=variable.dtype))


class ResumeBackup(keras.callbacks.Callback):
    """Writes the resume state at the end of every epoch (the run folder removes it when the run is done)."""

    def __init__(self, backup_dir: Path):
        super().__init__()
        self.backup_dir = Path(backup_dir)

    def on_epoch_end(self, epoch, logs=None):
        weights, metadata = self.backup_dir / WEIGHTS, self.backup_dir / METADATA
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        if weights.is_file() and metadata.is_file():
            copy_file(weights, weights.with_name(WEIGHTS + PREVIOUS))
            copy_file(metadata, metadata.with_name(METADATA + PREVIOUS))
        with atomic_path(weights) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        state = {
            "epoch": epoch + 1,
            "batch": 0,
            "weights_sha256": _sha256(weights),
            "seed_states": [np.asarray(v).tolist() for v in _seed_variables(self.model)],
        }
        write_text(metadata, json.dumps(state))
