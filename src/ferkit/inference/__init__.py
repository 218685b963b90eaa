"""Prediction on photos and video: the `EmotionRecognizer` (faces found and framed by `ferkit.faces`), Grad-CAM,
annotation, video timelines.

Names are imported on first use, so that importing a light submodule (e.g. `ferkit.inference.video`) does not
load TensorFlow.
"""

from importlib import import_module

_EXPORTS = {
    "EmotionRecognizer": "ferkit.inference.predictor",
    "Face": "ferkit.inference.predictor",
    "Prediction": "ferkit.inference.predictor",
    "load_image": "ferkit.inference.predictor",
    "annotate": "ferkit.inference.drawing",
    "load_classifier": "ferkit.inference.classifier",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ferkit.inference' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
