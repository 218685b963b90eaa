"""Training curves as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [("loss", "Loss"), ("categorical_accuracy", "Accuracy"), ("top_k_categorical_accuracy", "Top-3 accuracy")]


def plot_history(rows: list[dict[str, float]], path: str | Path) -> Path:
    """Plot train vs validation loss, accuracy and top-3 accuracy per epoch from history rows."""
    epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(rows)]
    figure, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.6))
    for axis, (key, title) in zip(axes, PANELS, strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [row.get(prefix + key) for row in rows]
            if any(v is not None for v in values):
                axis.plot(epochs, values, marker="o", markersize=3, label=label)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return Path(path)
