"""Classification and calibration metrics computed from predicted probabilities (scikit-learn underneath).

Conventions, so the numbers mean the same thing everywhere:

- Rows whose prediction is missing (`valid=False`, e.g. the detector found no face) count as wrong for
  accuracy, top-3, recall and F1; ECE and NLL, which need probabilities, cover the valid rows only.
- Macro-F1 averages over the classes that occur as a true or predicted label (scikit-learn's default);
  balanced accuracy is the mean recall over the classes that occur as a true label.
- ECE uses 15 equal-width confidence bins on the top-1 probability, bin i covering (i/15, (i+1)/15]
  (a confidence of exactly 0 falls in the first bin): ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    recall_score,
    top_k_accuracy_score,
)

ECE_BINS = 15
NO_PREDICTION = -1


@dataclass
class ReliabilityBins:
    """Per-bin counts, accuracy and mean confidence of a reliability diagram (empty bins hold NaN)."""

    edges: np.ndarray
    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> ReliabilityBins:
    """Group rows by top-1 confidence into `bins` equal-width bins (see module docstring)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(which, weights=correct, minlength=bins) / counts
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
    return ReliabilityBins(edges, counts, accuracy, mean_confidence)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE with `bins` equal-width bins; 0 for a perfectly calibrated model."""
    table = reliability_bins(probabilities, labels, bins)
    filled = table.counts > 0
    gaps = np.abs(table.accuracy[filled] - table.confidence[filled])
    return float(np.sum(table.counts[filled] / table.counts.sum() * gaps))


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean −log p(true class) (scikit-learn's `log_loss`, which clips p away from 0)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return float(log_loss(labels, probabilities, labels=np.arange(probabilities.shape[1])))


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str],
                           valid: np.ndarray | None = None) -> dict:
    """Headline, per-class and calibration metrics of predictions against integer labels.

    Args:
        probabilities: (N, K) predicted class probabilities (rows where `valid` is False are ignored).
        labels: (N,) true class indices.
        class_names: the K class names, in index order.
        valid: (N,) bool, False where there is no prediction (counted as wrong); all True by default.
    """
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = len(class_names)
    valid = np.ones(len(labels), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    predicted = np.where(valid, probabilities.argmax(axis=1), NO_PREDICTION)
    all_classes = np.arange(num_classes)
    occurring = np.union1d(labels, predicted[valid])

    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=all_classes, zero_division=0)
    k = min(3, num_classes)
    top3_on_valid = (top_k_accuracy_score(labels[valid], probabilities[valid], k=k, labels=all_classes)
                     if k < num_classes and valid.any() else 1.0)
    metrics = {
        "n": int(len(labels)),
        "n_without_prediction": int((~valid).sum()),
        "accuracy": float(accuracy_score(labels, predicted)),
        "top3_accuracy": float(top3_on_valid * valid.sum() / len(labels)),
        "macro_f1": float(f1_score(labels, predicted, labels=occurring, average="macro", zero_division=0)),
        "balanced_accuracy": float(recall_score(labels, predicted, labels=np.unique(labels), average="macro",
                                                zero_division=0)),
        "ece": expected_calibration_error(probabilities[valid], labels[valid]) if valid.any() else None,
        "nll": negative_log_likelihood(probabilities[valid], labels[valid]) if valid.any() else None,
        "class_names": list(class_names),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=all_classes).tolist(),
    }
    return metrics


def accuracy_on(predicted: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> float | None:
    """Accuracy of `predicted` against `labels` on the rows of the bool mask `rows` (None if none)."""
    return float(np.mean(predicted[rows] == labels[rows])) if rows.any() else None
