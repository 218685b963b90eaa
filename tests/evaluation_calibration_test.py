"""Temperature scaling recovers a known temperature and never changes a prediction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from ferkit.evaluation.calibration import apply_temperature, fit_temperature


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
