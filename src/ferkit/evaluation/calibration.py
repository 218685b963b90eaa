"""Temperature scaling: one scalar T that makes softmax probabilities honest without changing any prediction.

Models output probabilities p; their log-probabilities act as logits (softmax(log p) = p), so a calibrated
distribution is softmax(log p / T). T > 1 softens over-confident models, T < 1 sharpens under-confident ones;
the argmax, hence accuracy, never changes. T is fitted by minimising the negative log-likelihood on a held-out
split (the validation split, never the test split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from ferkit.evaluation.metrics import expected_calibration_error
from ferkit.models.temperature import apply_temperature, to_logits

__all__ = ["TemperatureFit", "apply_temperature", "fit_temperature", "to_logits"]

LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))


def _nll_at(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    log_probabilities = log_softmax(logits / temperature, axis=1)
    return float(-np.mean(log_probabilities[np.arange(len(labels)), labels]))


@dataclass
class TemperatureFit:
    """A fitted temperature with the split's NLL and 15-bin ECE before (T = 1) and after."""

    temperature: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    n: int


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> TemperatureFit:
    """The T in [0.05, 20] minimising the NLL of `labels` under softmax(log p / T) (bounded 1-D search)."""
    labels = np.asarray(labels, dtype=np.int64)
    logits = to_logits(probabilities)
    result = minimize_scalar(lambda log_t: _nll_at(logits, labels, np.exp(log_t)), bounds=LOG_T_BOUNDS,
                             method="bounded", options={"xatol": 1e-5})
    temperature = float(np.exp(result.x))
    calibrated = softmax(logits / temperature, axis=1)
    return TemperatureFit(
        temperature=temperature,
        nll_before=_nll_at(logits, labels, 1.0),
        nll_after=_nll_at(logits, labels, temperature),
        ece_before=expected_calibration_error(softmax(logits, axis=1), labels),
        ece_after=expected_calibration_error(calibrated, labels),
        n=len(labels),
    )
