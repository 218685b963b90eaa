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
    calibrated = softmax(to_logits(probabilities) / float(temperature))
    return calibrated.astype(np.result_type(probabilities.dtype, np.float32))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (float64), shifted by each row's maximum so that it never overflows."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    scaled = np.exp(shifted)
    return scaled / scaled.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax (float64), computed stably."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
