"""Metrics equal a computation by hand from the same predictions."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.evaluation.metrics import (
    classification_metrics,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
)

CLASSES = ["a", "b", "c", "d", "e"]


def _random_predictions(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES)))
    logits[np.arange(n), labels] += 1.2  # better than chance, still many mistakes
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities, labels


def _by_hand(probabilities, labels, valid):
    k = len(CLASSES)
    predicted = [int(np.argmax(p)) if ok else -1 for p, ok in zip(probabilities, valid, strict=True)]
    matrix = np.zeros((k, k), dtype=int)
    for true, guess in zip(labels, predicted, strict=True):
        if guess >= 0:
            matrix[true, guess] += 1
    support = np.array([sum(1 for t in labels if t == c) for c in range(k)])
    predicted_count = np.array([sum(1 for g in predicted if g == c) for c in range(k)])
    true_positive = np.diag(matrix)
    precision = np.where(predicted_count > 0, true_positive / np.maximum(predicted_count, 1), 0.0)
    recall = np.where(support > 0, true_positive / np.maximum(support, 1), 0.0)
    both = precision + recall
    f1 = np.where(both > 0, 2 * precision * recall / np.maximum(both, 1e-300), 0.0)
    occurring = (support > 0) | (predicted_count > 0)
    top3 = sum(1 for p, t, ok in zip(probabilities, labels, valid, strict=True)
               if ok and t in np.argsort(-p)[:3]) / len(labels)
    nll = -np.mean([np.log(p[t]) for p, t, ok in zip(probabilities, labels, valid, strict=True) if ok])
    return {
        "accuracy": np.mean([g == t for g, t in zip(predicted, labels, strict=True)]),
        "top3": top3, "matrix": matrix, "precision": precision, "recall": recall, "f1": f1,
        "support": support, "macro_f1": f1[occurring].mean(), "balanced": recall[support > 0].mean(),
        "nll": nll,
    }


@pytest.mark.parametrize("drop_some", [False, True])
def test_metrics_equal_hand_computation(drop_some):
    probabilities, labels = _random_predictions(seed=1)
    valid = np.ones(len(labels), dtype=bool)
    if drop_some:
        valid[::7] = False
    metrics = classification_metrics(probabilities, labels, CLASSES, valid=valid)
    expected = _by_hand(probabilities, labels, valid)

    assert metrics["n"] == len(labels)
    assert metrics["n_without_prediction"] == int((~valid).sum())
    assert metrics["accuracy"] == pytest.approx(expected["accuracy"])
    assert metrics["top3_accuracy"] == pytest.approx(expected["top3"])
    assert metrics["macro_f1"] == pytest.approx(expected["macro_f1"])
    assert metrics["balanced_accuracy"] == pytest.approx(expected["balanced"])
    assert metrics["nll"] == pytest.approx(expected["nll"], rel=1e-6)
    assert np.array_equal(metrics["confusion_matrix"], expected["matrix"])
    for index, name in enumerate(CLASSES):
        row = metrics["per_class"][name]
        assert row["precision"] == pytest.approx(expected["precision"][index])
        assert row["recall"] == pytest.approx(expected["recall"][index])
        assert row["f1"] == pytest.approx(expected["f1"][index])
        assert row["support"] == expected["support"][index]
    if drop_some:
        assert metrics["accuracy"] < classification_metrics(probabilities, labels, CLASSES)["accuracy"]


def test_confusion_matrix_rows_are_true_classes():
    labels = np.array([0, 0, 0, 1])
    probabilities = np.array([[0.2, 0.8, 0.0]] * 4)  # always predicts class 1
    matrix = np.array(classification_metrics(probabilities, labels, ["x", "y", "z"])["confusion_matrix"])
    assert matrix[0, 1] == 3  # three true "x" predicted as "y"
    assert matrix[1, 1] == 1
    assert matrix[1, 0] == 0
    assert matrix.sum(axis=1).tolist() == [3, 1, 0]


def test_ece_on_a_hand_made_case():
    # Four rows at confidence 0.95 (three right) and two at 0.55 (one right):
    # ECE = 4/6 * |0.75 - 0.95| + 2/6 * |0.5 - 0.55| = 0.15
    probabilities = np.array([[0.95, 0.05]] * 4 + [[0.55, 0.45]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.15)


def test_ece_is_zero_when_confidence_matches_accuracy_and_bins_are_right_closed():
    probabilities = np.array([[0.8, 0.2]] * 5)
    labels = np.array([0, 0, 0, 0, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0, abs=1e-12)
    edges_probability = np.array([[1 / 15 * 9, 1 - 1 / 15 * 9], [1.0, 0.0]])
    table = reliability_bins(edges_probability, np.array([0, 0]))
    assert table.counts[8] == 1  # 9/15 belongs to the bin (8/15, 9/15]
    assert table.counts[14] == 1  # confidence 1.0 belongs to the last bin


def test_nll_of_known_probabilities():
    probabilities = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert negative_log_likelihood(probabilities, np.array([0, 1])) == pytest.approx(
        -(np.log(0.5) + np.log(0.75)) / 2)


@pytest.mark.parametrize("drop_some", [False, True])
def test_metrics_equal_scikit_learns_where_it_is_installed(drop_some):
    """ferkit computes its metrics in NumPy (the plain install has no scikit-learn) with scikit-learn's
    definitions: the same numbers, to rounding."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    probabilities, labels = _random_predictions(seed=3)
    valid = np.ones(len(labels), dtype=bool)
    if drop_some:
        valid[::5] = False
    metrics = classification_metrics(probabilities, labels, CLASSES, valid=valid)
    predicted = np.where(valid, probabilities.argmax(axis=1), -1)
    all_classes = np.arange(len(CLASSES))
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        labels, predicted, labels=all_classes, zero_division=0)
    for i, name in enumerate(CLASSES):
        assert metrics["per_class"][name]["precision"] == pytest.approx(precision[i])
        assert metrics["per_class"][name]["recall"] == pytest.approx(recall[i])
        assert metrics["per_class"][name]["f1"] == pytest.approx(f1[i])
        assert metrics["per_class"][name]["support"] == support[i]
    occurring = np.union1d(labels, predicted[valid])
    assert metrics["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(
        labels, predicted, labels=occurring, average="macro", zero_division=0))
    assert metrics["balanced_accuracy"] == pytest.approx(sklearn_metrics.recall_score(
        labels, predicted, labels=np.unique(labels), average="macro", zero_division=0))
    assert metrics["top3_accuracy"] == pytest.approx(sklearn_metrics.top_k_accuracy_score(
        labels[valid], probabilities[valid], k=3, labels=all_classes) * valid.mean())
    assert metrics["nll"] == pytest.approx(sklearn_metrics.log_loss(labels[valid], probabilities[valid],
                                                                    labels=all_classes))
    assert metrics["confusion_matrix"] == sklearn_metrics.confusion_matrix(
        labels[valid], predicted[valid], labels=all_classes).tolist()
