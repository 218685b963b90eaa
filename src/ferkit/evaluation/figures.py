"""Evaluation figures (matplotlib, `ferkit[plots]`): the confusion matrix, the reliability diagram and the most
confidently wrong examples, each written atomically as a PNG. `ferkit.evaluation.report` imports this module
only when matplotlib is installed."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from ferkit.evaluation.metrics import reliability_bins
from ferkit.evaluation.runner import EvaluationResult
from ferkit.files import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WRONG_EXAMPLES = 24


def _save_figure(figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str], path: Path, title: str = "") -> None:
    """Counts and row-normalised rates side by side (rows = true class), under `title`."""
    _save_figure(confusion_figure(matrix, class_names, title), path)


def confusion_figure(matrix: np.ndarray, class_names: list[str], title: str = ""):
    """The confusion-matrix figure of `plot_confusion_matrix`."""
    matrix = np.asarray(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.nan_to_num(matrix / matrix.sum(axis=1, keepdims=True))
    size = 1.0 + 0.55 * len(class_names)
    figure, axes = plt.subplots(1, 2, figsize=(2 * size + 2.5, size + 0.8))
    for axis, values, panel, fmt in ((axes[0], matrix, "Counts", "{:d}"),
                                     (axes[1], rates, "Row-normalised (recall on the diagonal)", "{:.2f}")):
        image = axis.imshow(values, cmap="Blues", vmin=0)
        axis.set_title(panel)
        axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
        axis.set_yticks(range(len(class_names)), class_names)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        threshold = values.max() / 2 if values.size else 0
        for row in range(values.shape[0]):
            for column in range(values.shape[1]):
                value = values[row, column]
                axis.text(column, row, fmt.format(value.item()), ha="center", va="center", fontsize=8,
                          color="white" if value > threshold else "black")
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def plot_reliability(probabilities: np.ndarray, labels: np.ndarray, ece: float | None, path: Path) -> None:
    """Reliability diagram: accuracy per confidence bin against the diagonal, with the bins' share of rows."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), height_ratios=(3, 1), sharex=True)
    if len(labels):
        table = reliability_bins(probabilities, labels)
        centres = (table.edges[:-1] + table.edges[1:]) / 2
        width = table.edges[1] - table.edges[0]
        filled = table.counts > 0
        top.bar(centres[filled], table.accuracy[filled], width=width * 0.95, color="tab:blue",
                label="accuracy")
        top.bar(centres[filled], table.confidence[filled] - table.accuracy[filled],
                bottom=table.accuracy[filled], width=width * 0.95, fill=False, edgecolor="tab:red",
                hatch="///", linewidth=0.8, label="gap to confidence")
        bottom.bar(centres, table.counts / table.counts.sum(), width=width * 0.95, color="grey")
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_title(f"Reliability (ECE = {ece:.4f}, 15 bins)" if ece is not None else "Reliability")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend(loc="upper left")
    bottom.set_xlabel("confidence (top-1 probability)")
    bottom.set_ylabel("share of rows")
    figure.tight_layout()
    _save_figure(figure, path)


def most_confident_mistakes(probabilities: np.ndarray, labels: np.ndarray, face_found: np.ndarray,
                            count: int = WRONG_EXAMPLES) -> np.ndarray:
    """Positions of up to `count` wrongly classified rows (with a face), most confident first."""
    wrong = np.flatnonzero(face_found & (np.nan_to_num(probabilities).argmax(axis=1) != labels))
    confidence = probabilities[wrong].max(axis=1)
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def plot_wrong_examples(result: EvaluationResult, class_names: list[str], path: Path) -> None:
    """A grid of the most confidently wrong images, titled with true and predicted class."""
    rows_to_show = most_confident_mistakes(result.probabilities, result.labels, result.face_found)
    columns = 6
    grid_rows = max(1, -(-len(rows_to_show) // columns))
    figure, axes = plt.subplots(grid_rows, columns, figsize=(columns * 1.9, grid_rows * 2.2), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, row in zip(axes.flat, rows_to_show, strict=False):
        image = result.inputs[row]
        predicted = int(result.probabilities[row].argmax())
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
        axis.set_title(f"#{result.indices[row]} true: {class_names[result.labels[row]]}\n"
                       f"pred: {class_names[predicted]} ({result.probabilities[row, predicted]:.2f})",
                       fontsize=7)
    if not len(rows_to_show):
        axes[0, 0].text(0, 0.5, "no wrong predictions", fontsize=10)
    figure.suptitle("Most confidently wrong examples")
    figure.tight_layout()
    _save_figure(figure, path)
