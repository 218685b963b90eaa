"""Classifier runtimes for exported models: ONNX (onnxruntime), LiteRT (`.tflite`) and TF SavedModel.

Each runtime has the classifier contract of `ferkit.inference`: `predict_proba(faces uint8 (N, H, W, C)) ->
(N, K)` raw (uncalibrated) probabilities, and `metadata` (a `ModelMetadata`, whose `temperature` the caller
applies). Exported models have a fixed face size; faces of another size are resized bilinearly, as the Keras
model's own `Resizing` layer would.

Metadata travels with the export: inside the ONNX file (`metadata_props["ferkit"]`), in
`<saved_model>/assets.extra/ferkit.json`, and in a `<file>.json` sidecar next to every exported file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import ModelFileError
from ferkit.models.saving import ModelMetadata

METADATA_KEY = "ferkit"
SAVED_MODEL_METADATA = Path("assets.extra") / "ferkit.json"
EXPORTED_SUFFIXES = (".onnx", ".tflite")
LITERT_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
MAX_BATCH = 256


def default_threads() -> int:
    """Intra-op threads: one per core, at most 4 (a face classifier gains nothing beyond that)."""
    return max(1, min(os.cpu_count() or 1, 4))


def sidecar_path(path: str | Path) -> Path:
    """`model.onnx` → `model.onnx.json`: the metadata file written next to an exported model."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def is_saved_model(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / "saved_model.pb").is_file()


def is_exported_model(path: str | Path) -> bool:
    """True for the paths `load_runtime` handles: `.onnx`, `.tflite` files and SavedModel folders."""
    return Path(path).suffix.lower() in EXPORTED_SUFFIXES or is_saved_model(path)


def _read_json_metadata(path: Path) -> ModelMetadata | None:
    if not path.is_file():
        return None
    try:
        return ModelMetadata.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: unreadable ferkit metadata ({exc})") from None


def _onnx_metadata(session) -> ModelMetadata | None:
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return ModelMetadata.from_json(text) if text else None


def _onnx_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads would otherwise spin for a while after each call, taking the core that the face
    # detector needs next in an end-to-end pipeline.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelFileError(f"cannot load ONNX model {path}: {str(exc).splitlines()[0]}") from None


def _require(metadata: ModelMetadata | None, path: Path) -> ModelMetadata:
    if metadata is None:
        raise ModelFileError(f"{path} carries no ferkit metadata (expected {sidecar_path(path)} next to it); "
                             "export models with `ferkit export`")
    return metadata


def read_export_metadata(path: str | Path) -> ModelMetadata:
    """The `ModelMetadata` stored with an exported model; ModelFileError when there is none."""
    path = Path(path)
    metadata = None
    if path.suffix.lower() == ".onnx":
        metadata = _onnx_metadata(_onnx_session(path, threads=1))
    elif path.is_dir():
        metadata = _read_json_metadata(path / SAVED_MODEL_METADATA)
    return _require(metadata or _read_json_metadata(sidecar_path(path)), path)


class ExportedRuntime:
    """Shared input handling: uint8 NHWC faces → float32 batches at the model's fixed size."""

    def __init__(self, path: Path, metadata: ModelMetadata, input_size: tuple[int, int], channels: int):
        self.path = path
        self.metadata = metadata
        self.input_size = input_size
        self.channels = channels

    def _prepare(self, faces: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces)
        if faces.ndim == 3:
            faces = faces[..., None]
        if faces.ndim != 4 or faces.shape[-1] != self.channels:
            raise ValueError(f"{self.path.name} takes faces of shape (N, H, W, {self.channels}), "
                             f"got {faces.shape}")
        height, width = self.input_size
        if faces.shape[1:3] != (height, width):
            faces = np.stack([cv2.resize(face, (width, height), interpolation=cv2.INTER_LINEAR)
                              .reshape(height, width, self.channels) for face in faces])
        return np.ascontiguousarray(faces, dtype=np.float32)

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 faces → (N, K) float32 probabilities, in batches of at most 256."""
        batch = self._prepare(faces)
        if len(batch) == 0:
            return np.zeros((0, len(self.metadata.class_names)), np.float32)
        return np.concatenate([self._run(batch[start:start + MAX_BATCH])
                               for start in range(0, len(batch), MAX_BATCH)])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxRuntime(ExportedRuntime):
    """An `.onnx` file in onnxruntime's CPU execution provider (any batch size in one call)."""

    def __init__(self, path: Path, metadata: ModelMetadata | None = None, threads: int | None = None):
        self.session = _onnx_session(path, threads)
        metadata = metadata or _onnx_metadata(self.session) or _read_json_metadata(sidecar_path(path))
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        _, height, width, channels = model_input.shape
        super().__init__(path, _require(metadata, path), (int(height), int(width)), int(channels))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]


class LiteRTRuntime(ExportedRuntime):
    """A `.tflite` file in the LiteRT interpreter (XNNPACK on CPU).

    LiteRT re-plans its memory whenever the batch size changes, so batches are padded to a few fixed sizes
    and each size keeps its own interpreter: a stream of one-face frames never triggers re-allocation.
    """

    def __init__(self, path: Path, metadata: ModelMetadata, threads: int | None = None):
        self.threads = threads or default_threads()
        self._model = path.read_bytes()
        self._interpreters: dict[int, object] = {}
        self._lock = threading.Lock()
        detail = self._interpreter(1).get_input_details()[0]
        _, height, width, channels = (int(v) for v in detail["shape"])
        super().__init__(path, metadata, (height, width), channels)

    def _interpreter(self, batch_size: int):
        if batch_size not in self._interpreters:
            from ai_edge_litert.interpreter import Interpreter

            try:
                interpreter = Interpreter(model_content=self._model, num_threads=self.threads)
            except ValueError as exc:
                raise ModelFileError(f"cannot load LiteRT model: {str(exc).splitlines()[0]}") from None
            detail = interpreter.get_input_details()[0]
            if batch_size != detail["shape"][0]:
                interpreter.resize_tensor_input(detail["index"], [batch_size, *detail["shape"][1:]])
            interpreter.allocate_tensors()
            self._interpreters[batch_size] = interpreter
        return self._interpreters[batch_size]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        for start in range(0, len(batch), LITERT_BATCH_BUCKETS[-1]):
            chunk = batch[start:start + LITERT_BATCH_BUCKETS[-1]]
            bucket = next(size for size in LITERT_BATCH_BUCKETS if size >= len(chunk))
            padded = np.concatenate([chunk, np.zeros((bucket - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            with self._lock:
                interpreter = self._interpreter(bucket)
                interpreter.set_tensor(interpreter.get_input_details()[0]["index"], padded)
                interpreter.invoke()
                result = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
            outputs.append(result[:len(chunk)].astype(np.float32))
        return np.concatenate(outputs)


class SavedModelRuntime(ExportedRuntime):
    """A TF SavedModel folder written by `ferkit export --format saved_model` (its `serve` endpoint)."""

    def __init__(self, path: Path, metadata: ModelMetadata):
        import tensorflow as tf

        try:
            self._loaded = tf.saved_model.load(str(path))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"cannot load SavedModel {path}: {str(exc).splitlines()[0]}") from None
        self._serve = self._loaded.signatures["serving_default"]
        spec = next(iter(self._serve.structured_input_signature[1].values()))
        self.input_name = spec.name
        _, height, width, channels = spec.shape.as_list()
        super().__init__(path, metadata, (height, width), channels)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        outputs = self._serve(**{self.input_name: batch})
        return next(iter(outputs.values())).numpy()


def load_runtime(path: str | Path, metadata: ModelMetadata | None = None,
                 threads: int | None = None) -> ExportedRuntime:
    """The runtime for an exported model, chosen by its path (`.onnx`, `.tflite` or a SavedModel folder).

    Args:
        path: the exported model.
        metadata: overrides the metadata stored with the export (used while an export is being checked).
        threads: intra-op threads (default: one per core, at most 4).
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in EXPORTED_SUFFIXES and not is_saved_model(path):
        raise ModelFileError(f"{path} is not an exported model (.onnx, .tflite or a SavedModel folder)")
    if suffix == ".onnx":
        return OnnxRuntime(path, metadata, threads)
    metadata = metadata or read_export_metadata(path)
    if suffix == ".tflite":
        return LiteRTRuntime(path, metadata, threads)
    return SavedModelRuntime(path, metadata)
