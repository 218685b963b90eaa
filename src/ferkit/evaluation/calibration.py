"""Temperature scaling: one scalar T that makes softmax probabilities honest without changing any prediction.

Models output probabilities p; their log-probabilities act as logits (softmax(log p) = p), so a calibrated
distribution is softmax(log p / T). T > 1 softens over-confident models, T < 1 sharpens under-confident ones;
the argmax, hence accuracy, never changes. T is fitted on a held-out split (the validation split, never the
test split) by one of two objectives:

- "nll": minimise the negative log-likelihood (the classic recipe; a proper scoring rule).
- "ece": minimise the 15-bin expected calibration error itself. NLL weighs the rare confident mistakes
  heavily, so its T can leave the bins people read off a reliability diagram less aligned than this one does.
- "auto": pick between the two by cross-validation inside the split (fit on one random half, ECE on the
  other, repeated), then fit the winner on the whole split. The choice never looks beyond the split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferkit.evaluation.metrics import expected_calibration_error
from ferkit.models.temperature import apply_temperature, log_softmax, softmax, to_logits

__all__ = ["OBJECTIVES", "TemperatureFit", "apply_temperature", "fit_temperature", "held_out_ece", "to_logits"]

OBJECTIVES = ("nll", "ece", "auto")
LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))
ECE_GRID_POINTS = 121
CV_REPEATS = 20


def _nll_at(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    log_probabilities = log_softmax(logits / temperature)
    return float(-np.mean(log_probabilities[np.arange(len(labels)), labels]))


def _ece_at(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    return expected_calibration_error(softmax(logits / temperature), labels)


def _nll_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    from scipy.optimize import minimize_scalar  # fitting (ferkit calibrate) needs SciPy, from ferkit[train]

    result = minimize_scalar(lambda log_t: _nll_at(logits, labels, np.exp(log_t)), bounds=LOG_T_BOUNDS,
                             method="bounded", options={"xatol": 1e-5})
    return float(np.exp(result.x))


def _ece_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Grid search (ECE is piecewise constant in T, so no gradient): a coarse log-spaced pass over the bounds,
    then a fine one around its best point; ties go to the T closest to 1 (the least change)."""
    low, high = LOG_T_BOUNDS
    for _ in range(2):
        grid = np.linspace(low, high, ECE_GRID_POINTS)
        errors = np.array([_ece_at(logits, labels, np.exp(log_t)) for log_t in grid])
        best = np.flatnonzero(errors <= errors.min() + 1e-12)
        best_log_t = grid[best[np.argmin(np.abs(grid[best]))]]
        step = grid[1] - grid[0]
        low, high = best_log_t - 2 * step, best_log_t + 2 * step
    return float(np.exp(best_log_t))


_FITTERS = {"nll": _nll_temperature, "ece": _ece_temperature}


def held_out_ece(probabilities: np.ndarray, labels: np.ndarray, objective: str, repeats: int = CV_REPEATS,
                 seed: int = 0) -> float:
    """Mean ECE on one half of the rows of a T fitted by `objective` on the other half, over `repeats`
    random 2-fold splits (both folds each time)."""
    labels = np.asarray(labels, dtype=np.int64)
    logits = to_logits(probabilities)
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(repeats):
        order = rng.permutation(len(labels))
        halves = (order[: len(order) // 2], order[len(order) // 2:])
        for fit_rows, test_rows in (halves, halves[::-1]):
            temperature = _FITTERS[objective](logits[fit_rows], labels[fit_rows])
            errors.append(_ece_at(logits[test_rows], labels[test_rows], temperature))
    return float(np.mean(errors))


@dataclass
class TemperatureFit:
    """A fitted temperature with the split's NLL and 15-bin ECE before (T = 1) and after.

    `objective` is the one that set T ("nll" or "ece"); for "auto", `held_out_ece` holds each objective's
    cross-validated ECE that made the choice.
    """

    temperature: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    n: int
    objective: str = "nll"
    held_out_ece: dict[str, float] = field(default_factory=dict)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray, objective: str = "nll") -> TemperatureFit:
    """The T in [0.05, 20] minimising `objective` ("nll", "ece" or "auto", see the module docstring)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown calibration objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    labels = np.asarray(labels, dtype=np.int64)
    logits = to_logits(probabilities)
    cross_validated = {}
    if objective == "auto":
        cross_validated = {name: held_out_ece(probabilities, labels, name) for name in _FITTERS}
        objective = min(cross_validated, key=cross_validated.get)
    temperature = _FITTERS[objective](logits, labels)
    return TemperatureFit(
        temperature=temperature,
        nll_before=_nll_at(logits, labels, 1.0),
        nll_after=_nll_at(logits, labels, temperature),
        ece_before=_ece_at(logits, labels, 1.0),
        ece_after=_ece_at(logits, labels, temperature),
        n=len(labels),
        objective=objective,
        held_out_ece=cross_validated,
    )
