"""The parts of one training attempt: its context, its run folder, its targets and its callbacks.

`ferkit.training.trainer` puts them together; each is small enough to read and test on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from ferkit.config import Configuration, save_config
from ferkit.data.pipeline import targets_for
from ferkit.data.sources import LabeledData
from ferkit.distributed.strategies import SingleProcess
from ferkit.errors import ConfigError
from ferkit.files import remove_stale_temporaries
from ferkit.models.saving import ModelMetadata
from ferkit.training.callbacks import (
    AtomicModelCheckpoint,
    EpochSummary,
    ResumableEarlyStopping,
    epoch_learning_rate,
    trim_history,
)
from ferkit.training.distillation import distilled_targets, teacher_ensemble, teacher_probabilities
from ferkit.training.resume import ResumeBackup, ResumePoint, find_resume_point

log = logging.getLogger("ferkit.train")


@dataclass
class RunContext:
    """One training attempt: what is trained on what, where it is written, and how it reports.

    Args:
        out_dir: the run folder (a rank > 0 of a distributed run uses a private copy).
        model_path: where the final model goes.
        print_fn: receives the lines a user reads (the CLI echoes them).
        verbose: 1 shows a progress bar per epoch on a terminal, 0 only the epoch lines.
        strategy: how the run is spread over processes or devices.
        extra_callbacks: appended to the run's callbacks (e.g. a hyper-parameter search's pruning callback).
    """

    config: Configuration
    data: LabeledData
    out_dir: Path
    model_path: Path
    print_fn: Callable[[str], None] = print
    verbose: int = 1
    strategy: SingleProcess = field(default_factory=SingleProcess)
    extra_callbacks: tuple[keras.callbacks.Callback, ...] = ()

    @property
    def backup_dir(self) -> Path:
        return self.out_dir / "backup"

    @property
    def history_csv(self) -> Path:
        return self.out_dir / "history.csv"

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.keras"


def prepare_run_folder(run: RunContext) -> ResumePoint:
    """Clear what a killed attempt left half-done and find where this attempt starts."""
    for folder in (run.out_dir, run.backup_dir):
        for stale in remove_stale_temporaries(folder, legacy_stems=("checkpoint", run.model_path.stem)):
            log.info("removed %s, left by an interrupted save", stale)
    if run.model_path.parent != run.out_dir:
        remove_stale_temporaries(run.model_path.parent, legacy_stems=(run.model_path.stem,))
    save_config(run.config, run.out_dir / "config.yaml")
    point = find_resume_point(run.backup_dir, run.print_fn)
    if point.epoch:
        trim_history(run.history_csv, point.epoch)
        run.print_fn(f"Resuming after epoch {point.epoch} (state in {run.backup_dir}).")
    else:
        run.history_csv.unlink(missing_ok=True)
        run.checkpoint_path.unlink(missing_ok=True)
    return point


def training_targets(run: RunContext, train_idx: np.ndarray):
    """The training targets (one-hot, soft, or distilled) and the per-batch retarget function, if any."""
    config, data = run.config, run.data
    targets = targets_for(data, train_idx, config.SoftLabelWeight)
    if not config.teacher_paths:
        return targets, None
    run.print_fn(f"Distilling from {', '.join(config.teacher_paths)} (TeacherWeight {config.TeacherWeight}"
                 f"{', on the augmented faces' if config.TeacherSeesAugmented else ''}).")
    if not config.TeacherSeesAugmented:
        teachers = teacher_probabilities(config.teacher_paths, data, train_idx)
        return distilled_targets(targets, teachers, config.TeacherWeight), None
    if keras.backend.backend() != "tensorflow":
        raise ConfigError(f"TeacherSeesAugmented=true runs the teachers inside tf.data, which needs the "
                          f"TensorFlow backend (this is {keras.backend.backend()})")
    ensemble = teacher_ensemble(config.teacher_paths, data)

    def retarget(images, batch_targets):
        return distilled_targets(batch_targets, ensemble(images), config.TeacherWeight)

    return targets, retarget


def run_callbacks(run: RunContext, metadata: ModelMetadata, history: list[dict[str, float]],
               images_per_epoch: int) -> list[keras.callbacks.Callback]:
    """The spec's EarlyStopping and best-only ModelCheckpoint (both resumable), the history, the learning-rate
    schedule, the epoch lines and the resume state."""
    config = run.config
    return [
        ResumableEarlyStopping(history, run.checkpoint_path, monitor="val_loss", patience=config.Patience,
                               restore_best_weights=True),
        AtomicModelCheckpoint(
            run.checkpoint_path, metadata, monitor="val_loss", save_best_only=True, save_weights_only=False,
            best=min((row["val_loss"] for row in history if "val_loss" in row), default=None)),
        keras.callbacks.CSVLogger(str(run.history_csv), append=True),
        keras.callbacks.LearningRateScheduler(
            epoch_learning_rate(config.LearningRate, config.NoOfEpochs, config.LRSchedule, config.WarmupEpochs)),
        EpochSummary(images_per_epoch, config.NoOfEpochs, run.print_fn, progress_bar=run.verbose > 0,
                     best=min((row["val_loss"] for row in history if "val_loss" in row), default=None)),
        ResumeBackup(run.backup_dir),
        *run.extra_callbacks,
    ]


def class_weights(run: RunContext, train_idx: np.ndarray) -> dict[int, float] | None:
    if not run.config.ClassWeights:
        return None
    labels = run.data.labels[train_idx]
    weights = compute_class_weight("balanced", classes=np.arange(run.data.num_classes), y=labels)
    return dict(enumerate(weights.tolist()))
