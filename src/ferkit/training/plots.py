"""Training curves as a PNG, with the best epoch (lowest val_loss, the one the checkpoint holds) marked."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

from ferkit.files import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

PANELS = [("loss", "Loss"), ("categorical_accuracy", "Accuracy"), ("top_k_categorical_accuracy", "Top-3 accuracy")]


def best_epoch(rows: list[dict[str, float]]) -> int | None:
    """1-based epoch with the lowest val_loss (None without validation loss)."""
    scored = [(row["val_loss"], int(row.get("epoch", i)) + 1) for i, row in enumerate(rows)
              if math.isfinite(row.get("val_loss", math.nan))]
    return min(scored)[1] if scored else None


def history_figure(rows: list[dict[str, float]]):
    """Train vs validation loss, accuracy and top-3 accuracy per epoch, the best epoch marked in each panel."""
    epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(rows)]
    best = best_epoch(rows)
    figure, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.6))
    for axis, (key, title) in zip(axes, PANELS, strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [row.get(prefix + key) for row in rows]
            if any(v is not None for v in values):
                axis.plot(epochs, values, marker="o", markersize=3, label=label)
        if best is not None:
            axis.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best})")
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if epochs:  # at least one whole epoch wide, so a short run still gets whole-number ticks
            axis.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return figure


def plot_history(rows: list[dict[str, float]], path: str | Path) -> Path:
    """Write `history_figure(rows)` as a PNG."""
    figure = history_figure(rows)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)
    return Path(path)
