"""Temperature scaling recovers a known temperature, never changes a prediction, and fits the objective asked for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from ferkit.evaluation.calibration import OBJECTIVES, apply_temperature, fit_temperature, held_out_ece


@pytest.mark.parametrize("true_temperature", [0.6, 2.5])
def test_fit_recovers_a_known_temperature(true_temperature):
    rng = np.random.default_rng(7)
    logits = rng.normal(scale=2.0, size=(20_000, 5))
    calibrated = softmax(logits / true_temperature, axis=1)
    labels = (rng.random((len(logits), 1)) > np.cumsum(calibrated, axis=1)).sum(axis=1)
    fit = fit_temperature(softmax(logits, axis=1), labels)
    assert fit.temperature == pytest.approx(true_temperature, rel=0.05)
    assert fit.nll_after < fit.nll_before
    assert fit.ece_after < fit.ece_before
    assert fit.ece_after < 0.02
    assert fit.n == 20_000


def test_temperature_keeps_predictions_and_softens_or_sharpens():
    rng = np.random.default_rng(0)
    probabilities = softmax(rng.normal(size=(50, 4)) * 3, axis=1)
    for temperature in (0.5, 1.0, 3.0):
        scaled = apply_temperature(probabilities, temperature)
        assert np.allclose(scaled.sum(axis=1), 1.0)
        assert np.array_equal(scaled.argmax(axis=1), probabilities.argmax(axis=1))
    assert np.allclose(apply_temperature(probabilities, 1.0), probabilities, atol=1e-9)
    assert np.all(apply_temperature(probabilities, 3.0).max(axis=1) <= probabilities.max(axis=1) + 1e-12)
    assert np.all(apply_temperature(probabilities, 0.5).max(axis=1) >= probabilities.max(axis=1) - 1e-12)


def _calibrated_but_a_few_confident_mistakes(rng, n=6_000, classes=4):
    """Honest probabilities (labels drawn from them), except 4 % of rows that put 0.994 on a wrong class.
    NLL, dominated by those few rows, asks for a T that over-softens all the others; ECE does not."""
    probabilities = softmax(rng.normal(scale=1.5, size=(n, classes)), axis=1)
    labels = (rng.random((n, 1)) > np.cumsum(probabilities, axis=1)).sum(axis=1)
    mistaken = rng.random(n) < 0.04
    wrong = (labels[mistaken] + 1 + rng.integers(0, classes - 1, mistaken.sum())) % classes
    probabilities[mistaken] = 0.002
    probabilities[mistaken, wrong] = 1 - 0.002 * (classes - 1)
    return probabilities, labels


def test_ece_objective_reaches_a_lower_ece_than_nll_on_the_fitted_rows():
    probabilities, labels = _calibrated_but_a_few_confident_mistakes(np.random.default_rng(3))
    by_nll = fit_temperature(probabilities, labels, "nll")
    by_ece = fit_temperature(probabilities, labels, "ece")
    assert by_ece.objective == "ece" and by_nll.objective == "nll"
    assert by_nll.temperature > 1.3 and by_ece.temperature == pytest.approx(1.0, abs=0.1)
    assert by_ece.ece_after < by_nll.ece_after / 2
    assert by_nll.nll_after <= by_ece.nll_after + 1e-9  # each objective wins on its own measure
    assert by_ece.ece_after <= by_ece.ece_before


def test_auto_fits_the_objective_with_the_lower_held_out_ece():
    probabilities, labels = _calibrated_but_a_few_confident_mistakes(np.random.default_rng(4))
    auto = fit_temperature(probabilities, labels, "auto")
    assert auto.held_out_ece["ece"] < auto.held_out_ece["nll"]
    assert auto.objective == "ece"
    assert auto.temperature == fit_temperature(probabilities, labels, auto.objective).temperature
    assert held_out_ece(probabilities, labels, "ece") == pytest.approx(auto.held_out_ece["ece"])


def test_ece_objective_recovers_a_known_temperature():
    rng = np.random.default_rng(11)
    logits = rng.normal(scale=2.0, size=(20_000, 5))
    labels = (rng.random((len(logits), 1)) > np.cumsum(softmax(logits / 2.0, axis=1), axis=1)).sum(axis=1)
    assert fit_temperature(softmax(logits, axis=1), labels, "ece").temperature == pytest.approx(2.0, rel=0.1)


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="'brier'"):
        fit_temperature(np.full((4, 2), 0.5), np.array([0, 1, 0, 1]), "brier")


def test_cli_choices_match_the_objectives():
    from ferkit.cli.calibrate import Objective

    assert tuple(member.value for member in Objective) == OBJECTIVES
