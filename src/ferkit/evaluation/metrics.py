"""Classification and calibration metrics computed from predicted probabilities, in NumPy.

They follow scikit-learn's definitions (`tests/evaluation_metrics_test.py` checks them against a computation by
hand, and against scikit-learn where it is installed); ferkit's plain install does not need scikit-learn.

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

ECE_BINS = 15
NO_PREDICTION = -1
SMALLEST_PROBABILITY = np.finfo(np.float64).eps  # log_loss clips p to [eps, 1 - eps], as scikit-learn does


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
    """Mean −log p(true class), rows renormalised and p clipped away from 0 (as scikit-learn's `log_loss`)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    true_class = np.clip(probabilities[np.arange(len(labels)), labels], SMALLEST_PROBABILITY,
                         1 - SMALLEST_PROBABILITY)
    return float(-np.mean(np.log(true_class)))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class; rows without a prediction are left out."""
    counted = predicted != NO_PREDICTION
    return np.bincount(labels[counted] * num_classes + predicted[counted],
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def top_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of rows whose true class is among the k most probable (ties broken by class order)."""
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == labels[:, None]).any(axis=1)))


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
    occurring = np.union1d(labels, predicted[valid])

    matrix = confusion_matrix(labels, predicted, num_classes)
    true_positive = np.diag(matrix).astype(np.float64)
    support = np.bincount(labels, minlength=num_classes)
    precision = _ratio(true_positive, matrix.sum(axis=0))
    recall = _ratio(true_positive, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    k = min(3, num_classes)
    top3_on_valid = (top_k_accuracy(probabilities[valid], labels[valid], k)
                     if k < num_classes and valid.any() else 1.0)
    metrics = {
        "n": int(len(labels)),
        "n_without_prediction": int((~valid).sum()),
        "accuracy": float(np.mean(predicted == labels)),
        "top3_accuracy": float(top3_on_valid * valid.sum() / len(labels)),
        "macro_f1": float(f1[occurring].mean()),
        "balanced_accuracy": float(recall[np.unique(labels)].mean()),
        "ece": expected_calibration_error(probabilities[valid], labels[valid]) if valid.any() else None,
        "nll": negative_log_likelihood(probabilities[valid], labels[valid]) if valid.any() else None,
        "class_names": list(class_names),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
    }
    return metrics


def accuracy_on(predicted: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> float | None:
    """Accuracy of `predicted` against `labels` on the rows of the bool mask `rows` (None if none)."""
    return float(np.mean(predicted[rows] == labels[rows])) if rows.any() else None
