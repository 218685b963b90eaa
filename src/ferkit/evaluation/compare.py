"""Paired comparison of models on the same images: which differences in accuracy are real, and which are noise.

Two models scored on one split are paired observations, so the question "is B better than A?" is answered by
the images on which they disagree about correctness: the exact McNemar test (a two-sided binomial test on
the discordant pairs). On FER-2013's 3,589-image test splits a gain under ~1 point is usually not significant.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ferkit.errors import DataError
from ferkit.evaluation.runner import EvaluationResult, evaluate_model


def mcnemar_exact(only_first_right: int, only_second_right: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts (1.0 when the models never disagree).

    Under the null each discordant pair goes either way with probability 1/2, so the count is Binomial(n, 1/2),
    which is symmetric: the p-value is twice the tail beyond the smaller count (capped at 1), in exact integers.
    """
    discordant = only_first_right + only_second_right
    if discordant == 0:
        return 1.0
    smaller = min(only_first_right, only_second_right)
    tail = sum(math.comb(discordant, count) for count in range(smaller + 1))
    return min(1.0, float(Fraction(2 * tail, 2 ** discordant)))


@dataclass
class ModelScore:
    """One model's accuracy on the split and, against the baseline (the first model), the paired test."""

    model: str
    accuracy: float
    only_baseline_right: int = 0
    only_this_right: int = 0
    p_value: float = 1.0


@dataclass
class Comparison:
    """The split the models were scored on, its size, and one score per model (the baseline first)."""

    split: str
    n: int
    scores: list[ModelScore]

    def to_dict(self) -> dict:
        return asdict(self)


def correct_answers(result: EvaluationResult) -> np.ndarray:
    """Per image: the model found a face (always, without a detector) and its top class is the label."""
    predicted = np.nan_to_num(result.probabilities, nan=-1.0).argmax(axis=1)
    return result.face_found & (predicted == result.labels)


def compare_models(model_paths: list[str | Path], data_path: str | Path, split: str | None = None,
                   tta: bool = False, detector: str = "none", labels: str = "dataset",
                   trust_model: bool = False) -> Comparison:
    """Score every model on one split and test each against the first.

    Args:
        model_paths: two or more model files; the first is the baseline.
        data_path: any dataset `ferkit.data.load_data` reads.
        split: split name or role, as for `ferkit evaluate`.
        tta: score with test-time augmentation instead of single crop.
        detector: as for `ferkit evaluate`.
        labels: as for `ferkit evaluate` ("dataset" or "ferplus").
        trust_model: allow TensorFlow SavedModel folders (see `ferkit.inference.classifier.load_classifier`).
    """
    if len(model_paths) < 2:
        raise DataError(f"compare needs at least two models, got {len(model_paths)}")
    results = [evaluate_model(path, data_path, split=split, tta=tta, detector=detector, labels=labels,
                              trust_model=trust_model)
               for path in model_paths]
    baseline = results[0]
    split_name = baseline.metrics["protocol"]["split"]
    for path, result in zip(model_paths[1:], results[1:], strict=True):
        if sorted(result.metrics["class_names"]) != sorted(baseline.metrics["class_names"]):
            raise DataError(f"{path}: classes {result.metrics['class_names']} differ from the baseline's "
                            f"{baseline.metrics['class_names']}")
    right = [correct_answers(result) for result in results]
    scores = []
    for path, result, correct in zip(model_paths, results, right, strict=True):
        only_baseline = int(np.sum(right[0] & ~correct))
        only_this = int(np.sum(correct & ~right[0]))
        scores.append(ModelScore(str(path), float(result.metrics["accuracy"]), only_baseline, only_this,
                                 mcnemar_exact(only_baseline, only_this)))
    return Comparison(split_name, len(baseline.labels), scores)


def format_comparison(comparison: Comparison) -> str:
    """A table: accuracy, difference to the baseline, discordant counts and the exact McNemar p-value."""
    baseline = comparison.scores[0]
    lines = [f"split {comparison.split} ({comparison.n} images); baseline {baseline.model}",
             f"{'model':<48} {'accuracy':>9} {'diff':>7} {'only base':>9} {'only this':>9} {'p':>7}"]
    for index, score in enumerate(comparison.scores):
        diff = "" if index == 0 else f"{100 * (score.accuracy - baseline.accuracy):+.2f}"
        counts = ("", "", "") if index == 0 else (score.only_baseline_right, score.only_this_right,
                                                  f"{score.p_value:.3g}")
        lines.append(f"{score.model[-48:]:<48} {100 * score.accuracy:>8.2f}% {diff:>7} {counts[0]:>9} "
                     f"{counts[1]:>9} {counts[2]:>7}")
    lines.append("p: two-sided exact McNemar test on the images where exactly one of the pair is right.")
    return "\n".join(lines)
