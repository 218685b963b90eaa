"""Callbacks of a run: the spec's EarlyStopping and ModelCheckpoint, made safe to resume and to kill."""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import keras
from tqdm import tqdm

from ferkit.files import atomic_path
from ferkit.models.saving import ModelMetadata, save_model


def _complete(row: dict) -> bool:
    """A history row written in full: every column present, every value a number or empty (a kill can cut
    the last row short)."""
    if None in row or any(value is None for value in row.values()):
        return False
    try:
        [float(value) for value in row.values() if value != ""]
    except ValueError:
        return False
    return True


def previous_epochs(history_csv: Path) -> list[dict[str, float]]:
    """Complete rows of an existing history.csv (empty when there is none)."""
    if not history_csv.is_file():
        return []
    with history_csv.open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)
                if _complete(row)]


def trim_history(history_csv: Path, completed_epochs: int) -> None:
    """Drop history rows of epochs the resume state does not cover (a kill between logging and backup), and a
    row cut short by a kill.

    BackupAndRestore resumes after the last epoch it backed up; a row CSVLogger wrote for a later epoch
    would otherwise appear twice once that epoch is trained again.
    """
    if not history_csv.is_file():
        return
    with history_csv.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames or [], list(reader)
    kept = [row for row in rows if _complete(row) and int(float(row["epoch"])) < completed_epochs]
    if len(kept) == len(rows):
        return
    with atomic_path(history_csv) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(kept)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint that writes the whole model with ferkit metadata, via a temporary file.

    Args:
        metadata: stored inside every checkpoint so it is a usable, self-describing model on its own.
        best: the best monitored value of earlier, interrupted attempts of the same run.
    """

    def __init__(self, filepath, metadata: ModelMetadata, best: float | None = None, **kwargs):
        super().__init__(filepath, **kwargs)
        self.metadata = metadata
        if best is not None:
            self.best = best

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if self._should_save_model(epoch, batch, logs, filepath):
            save_model(self.model, filepath, self.metadata)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping that, on a resumed run, remembers the best epoch of the attempts before.

    Args:
        history: rows of history.csv from earlier attempts.
        best_model_path: checkpoint holding the best weights so far (restored at the end if still best).
    """

    def __init__(self, history: list[dict[str, float]], best_model_path: Path, **kwargs):
        super().__init__(**kwargs)
        self._history = history
        self._best_model_path = Path(best_model_path)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        values = [row.get(self.monitor, math.inf) for row in self._history]
        if not values:
            return
        best_index = min(range(len(values)), key=values.__getitem__)
        self.best = values[best_index]
        self.best_epoch = int(self._history[best_index].get("epoch", best_index))
        self.wait = len(values) - 1 - best_index
        if self.restore_best_weights and self._best_model_path.is_file():
            self.best_weights = keras.saving.load_model(self._best_model_path, compile=False).get_weights()


def stopped_early(history: list[dict[str, float]], monitor: str, patience: int) -> bool:
    """True when EarlyStopping would already have stopped after these history rows."""
    values = [row.get(monitor, math.inf) for row in history]
    if len(values) < 2:
        return False
    best_index = min(range(len(values)), key=values.__getitem__)
    return len(values) - 1 - best_index >= patience


class EpochSummary(keras.callbacks.Callback):
    """One line per epoch (key metrics, seconds, images/s, `best` when val_loss improved) and the throughput.

    With `progress_bar`, a bar of the epoch's batches is drawn on stderr while the epoch runs, only when stderr
    is a terminal, and erased before the epoch's line: logs and pipes get the lines alone, without control
    characters.
    """

    def __init__(self, images_per_epoch: int, total_epochs: int, print_fn=print, progress_bar: bool = False,
                 best: float | None = None):
        super().__init__()
        self.images_per_epoch = images_per_epoch
        self.total_epochs = total_epochs
        self.print_fn = print_fn
        self.progress_bar = progress_bar
        self.best = math.inf if best is None else best
        self.epoch_seconds: list[float] = []
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self.progress_bar and sys.stderr.isatty():
            self._bar = tqdm(total=self.params.get("steps"), desc=f"epoch {epoch + 1}/{self.total_epochs}",
                             unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            if logs and "loss" in logs:
                self._bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        seconds = time.perf_counter() - self._start
        self.epoch_seconds.append(seconds)
        logs = logs or {}
        parts = [f"{key} {logs[key]:.4f}" for key in
                 ("loss", "val_loss", "categorical_accuracy", "val_categorical_accuracy",
                  "val_top_k_categorical_accuracy") if key in logs]
        improved = logs.get("val_loss", math.inf) < self.best
        self.best = min(self.best, logs.get("val_loss", math.inf))
        self.print_fn(f"epoch {epoch + 1}/{self.total_epochs}: " + ", ".join(parts) +
                      f" ({seconds:.1f} s, {self.images_per_epoch / seconds:.0f} img/s)" +
                      (", best so far: checkpoint saved" if improved else ""))

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @property
    def images_per_second(self) -> float:
        return self.images_per_epoch * len(self.epoch_seconds) / max(sum(self.epoch_seconds), 1e-9)


def epoch_learning_rate(base: float, epochs: int, schedule: str, warmup: int):
    """An epoch → learning-rate function: linear warm-up, then constant or cosine decay to 1 % of base."""

    def rate(epoch: int, _current: float | None = None) -> float:
        if warmup and epoch < warmup:
            return base * (epoch + 1) / (warmup + 1)
        if schedule == "cosine":
            progress = (epoch - warmup) / max(epochs - warmup, 1)
            return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))
        return base

    return rate
