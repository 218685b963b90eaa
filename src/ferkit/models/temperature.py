"""The temperature a model file carries, and how it turns the network's softmax into calibrated probabilities.

A model's log-probabilities act as logits (softmax(log p) = p), so the calibrated distribution is
softmax(log p / T); the argmax never changes. `ferkit calibrate` fits T, the model metadata stores it, and
both evaluation and inference apply it through this one function.
"""

from __future__ import annotations

import numpy as np

SMALLEST_PROBABILITY = 1e-12


def to_logits(probabilities: np.ndarray) -> np.ndarray:
    """Log-probabilities (float64), clipped away from log 0 so that a saturated softmax stays finite."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), SMALLEST_PROBABILITY, None))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) per row, in the input's float precision; T = 1 returns the probabilities as given."""
    probabilities = np.asarray(probabilities)
    if float(temperature) == 1.0:
        return probabilities
    logits = to_logits(probabilities) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    calibrated = scaled / scaled.sum(axis=1, keepdims=True)
    return calibrated.astype(np.result_type(probabilities.dtype, np.float32))
