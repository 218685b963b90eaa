"""Training: compile as specified, fit with the spec's callbacks, resume after interruption."""

from ferkit.training.trainer import TrainResult, compile_model, train_or_load

__all__ = ["TrainResult", "compile_model", "train_or_load"]
