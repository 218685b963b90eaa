"""The end of a run: history.png, summary.json and the line that tells the user what was trained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ferkit.files import write_text
from ferkit.training.callbacks import EpochSummary, ResumableEarlyStopping, previous_epochs
from ferkit.training.plots import plot_history


def changed_keys(stored: dict[str, Any], requested: dict[str, Any]) -> str:
    """The configuration keys whose value differs, as `Key stored → requested` (empty when none does)."""
    keys = [key for key in requested if key in stored and stored[key] != requested[key]]
    return ", ".join(f"{key} {stored[key]!r} → {requested[key]!r}" for key in keys)


def write_summary(out_dir: Path, model: keras.Model, fit: keras.callbacks.History, wall: float,
                  early_stopping: ResumableEarlyStopping, epoch_lines: EpochSummary,
                  facts: dict[str, Any]) -> dict[str, Any]:
    """Plot the history and write summary.json (the run's headline numbers); returns the summary.

    Args:
        facts: what the trainer knows about the run (architecture, image counts, model path, skipped images).
    """
    rows = previous_epochs(out_dir / "history.csv")
    if rows:
        plot_history(rows, out_dir / "history.png")
    best = min(rows, key=lambda row: row.get("val_loss", np.inf)) if rows else {}
    summary = {
        "architecture": facts["architecture"],
        "parameters": int(model.count_params()),
        "epochs_run": len(rows),
        "stopped_early": bool(early_stopping.stopped_epoch),
        "best_epoch": int(best.get("epoch", -1)) + 1,
        "best_val_loss": best.get("val_loss"),
        "best_val_accuracy": best.get("val_categorical_accuracy"),
        "best_val_top3_accuracy": best.get("val_top_k_categorical_accuracy"),
        "train_images_per_second": round(epoch_lines.images_per_second, 1) if epoch_lines.epoch_seconds else None,
        "wall_seconds_this_attempt": round(wall, 1),
        "epochs_this_attempt": len(fit.history.get("loss", [])),
        **{key: facts[key] for key in ("train_images", "validation_images", "model_path", "skipped_images")},
    }
    write_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    """The run in one line: architecture, best epoch and its validation numbers, speed, where the model is."""
    loss, accuracy = summary["best_val_loss"], summary["best_val_accuracy"]
    return (f"Trained {summary['architecture']} ({summary['parameters']:,} parameters): best epoch "
            f"{summary['best_epoch']}, val_loss {'n/a' if loss is None else f'{loss:.4f}'}, val_accuracy "
            f"{'n/a' if accuracy is None else f'{accuracy:.4f}'}, {summary['train_images_per_second']} img/s, "
            f"{summary['wall_seconds_this_attempt']:.0f} s. Model saved to {summary['model_path']}.")
