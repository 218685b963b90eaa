"""Evaluation people can trust: metrics with their protocol, FER-2013 caveats, calibration and reports."""

from ferkit.evaluation.calibration import TemperatureFit, apply_temperature, fit_temperature
from ferkit.evaluation.metrics import classification_metrics, expected_calibration_error
from ferkit.evaluation.report import format_table, write_report
from ferkit.evaluation.runner import EvaluationResult, evaluate_model

__all__ = [
    "EvaluationResult",
    "TemperatureFit",
    "apply_temperature",
    "classification_metrics",
    "evaluate_model",
    "expected_calibration_error",
    "fit_temperature",
    "format_table",
    "write_report",
]
