"""Classifier runtimes: a model file behind `predict_proba(faces uint8 (N, H, W, C)) -> (N, K)`.

`load_classifier` picks the runtime from the file: `.keras`/`.h5` run as a compiled Keras function here;
`.onnx`, `.tflite` and SavedModel folders are handed to `ferkit.export.runtimes.load_runtime` (imported only
then, so onnxruntime and LiteRT stay optional). Every classifier it returns gives *calibrated* probabilities
from `predict_proba` (the model's softmax output with the metadata's temperature applied, softmax(log p / T))
and the model's own output from `raw_proba` (for evaluation and calibration, which apply temperatures
themselves).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferkit.errors import ModelFileError
from ferkit.models.temperature import apply_temperature

KERAS_SUFFIXES = (".keras", ".h5")
RUNTIME_OF_SUFFIX = {".onnx": "onnx", ".tflite": "litert"}
RUNTIMES = ("auto", "keras", "onnx", "litert", "saved_model")
RUNTIME_ALIASES = {"tflite": "litert"}  # LiteRT's former name, as in the `.tflite` suffix
BATCH_BUCKETS = (1, 4, 16, 64)


class KerasClassifier:
    """A Keras model behind one compiled inference function.

    Batches are padded to the next of `BATCH_BUCKETS` (larger ones are split into chunks of the largest), so
    the function is traced at most once per bucket and never again, whatever mix of batch sizes arrives.

    Args:
        model: a ferkit Keras model (takes 0..255 pixels, returns softmax probabilities).
        metadata: its `ModelMetadata`.
        path: the file it came from, if any.
    """

    runtime = "keras"

    def __init__(self, model, metadata, path: str | Path | None = None):
        import tensorflow as tf

        self.model = model
        self.metadata = metadata
        self.path = Path(path) if path else None
        self.channels = 1 if metadata.color_mode == "grayscale" else 3
        self._forward = tf.function(lambda faces: model(tf.cast(faces, tf.float32), training=False))

    def raw_proba(self, faces: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 faces → (N, K) float32 probabilities as the model gives them (uncalibrated)."""
        faces = np.asarray(faces, dtype=np.uint8)
        if faces.ndim == 3 and self.channels == 1:
            faces = faces[..., None]
        if faces.ndim != 4 or faces.shape[-1] != self.channels:
            raise ValueError(f"the model takes faces of shape (N, H, W, {self.channels}), got {faces.shape}")
        if len(faces) == 0:
            return np.zeros((0, len(self.metadata.class_names)), np.float32)
        largest = BATCH_BUCKETS[-1]
        outputs = []
        for start in range(0, len(faces), largest):
            chunk = faces[start:start + largest]
            bucket = next(size for size in BATCH_BUCKETS if size >= len(chunk))
            padded = np.zeros((bucket, *chunk.shape[1:]), np.uint8)
            padded[:len(chunk)] = chunk
            outputs.append(np.asarray(self._forward(padded))[:len(chunk)])
        return np.concatenate(outputs).astype(np.float32)

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 faces → (N, K) calibrated probabilities (the metadata's temperature applied)."""
        return apply_temperature(self.raw_proba(faces), self.metadata.temperature)


class CalibratedRuntime:
    """An exported-model runtime (which returns raw probabilities) with the metadata's temperature applied."""

    def __init__(self, runtime, name: str):
        self.inner = runtime
        self.runtime = name
        self.metadata = runtime.metadata
        self.path = Path(runtime.path)

    def raw_proba(self, faces: np.ndarray) -> np.ndarray:
        return np.asarray(self.inner.predict_proba(faces), dtype=np.float32)

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        return apply_temperature(self.raw_proba(faces), self.metadata.temperature)


def runtime_for(path: Path) -> str:
    """The runtime a model path implies: keras, onnx, litert or saved_model."""
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        return "keras"
    if suffix in RUNTIME_OF_SUFFIX:
        return RUNTIME_OF_SUFFIX[suffix]
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "saved_model"
    raise ModelFileError(f"{path}: not a model file (expected .keras, .h5, .onnx, .tflite or a SavedModel "
                         "folder)")


def load_classifier(path: str | Path, runtime: str = "auto"):
    """Load a model file as a classifier with `predict_proba`, `raw_proba` and `metadata`.

    Args:
        path: `.keras`/`.h5` (Keras), `.onnx` (onnxruntime), `.tflite` (LiteRT) or a SavedModel folder.
        runtime: "auto" (from the path) or the runtime the path must match.
    """
    path = Path(path)
    runtime = RUNTIME_ALIASES.get(runtime, runtime)
    if runtime not in RUNTIMES:
        raise ModelFileError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    implied = runtime_for(path)
    if runtime not in ("auto", implied):
        raise ModelFileError(f"{path} is a {implied} model; it cannot run with --runtime {runtime}")
    if implied == "keras":
        from ferkit.models.saving import load_model

        model, metadata = load_model(path)
        return KerasClassifier(model, metadata, path)
    try:
        from ferkit.export.runtimes import load_runtime

        return CalibratedRuntime(load_runtime(path), implied)
    except ImportError as exc:
        raise ModelFileError(f"{path}: the {implied} runtime is not available ({exc}); "
                             "install ferkit[export]") from None
