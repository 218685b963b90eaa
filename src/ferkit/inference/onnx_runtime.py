"""ONNX models in onnxruntime's CPU execution provider: the runtime of the shipped models.

The session is set up for a face classifier called with small batches: intra-op threads one per core (at
most 4), no inter-op parallelism, every graph optimisation, and no spinning of idle worker threads (which
would otherwise hold the core the face detector needs next). Exported models have a fixed face size; faces
of another size are resized bilinearly, as the Keras model's own `Resizing` layer would.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ferkit.errors import ModelFileError
from ferkit.inference.classifier import RuntimeClassifier
from ferkit.inference.model_files import METADATA_KEY, exported_metadata
from ferkit.models.saving import ModelMetadata


def default_threads() -> int:
    """Intra-op threads: one per core, at most 4 (a face classifier gains nothing beyond that)."""
    return max(1, min(os.cpu_count() or 1, 4))


def onnx_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """An inference session for `path`; ModelFileError when onnxruntime cannot load it."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: the CLI stays quiet
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelFileError(f"cannot load ONNX model {path}: {str(exc).splitlines()[0]}") from None


def embedded_metadata(session: ort.InferenceSession) -> ModelMetadata | None:
    """The ferkit metadata stored in the ONNX file's `metadata_props`, if any."""
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return ModelMetadata.from_json(text) if text else None


class OnnxClassifier(RuntimeClassifier):
    """An `.onnx` file run by onnxruntime (any batch size in one call)."""

    runtime = "onnx"

    def __init__(self, path: Path, metadata: ModelMetadata | None = None, threads: int | None = None):
        self.session = onnx_session(path, threads)
        super().__init__(metadata or exported_metadata(path, embedded_metadata(self.session)), path)
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        _, height, width, channels = model_input.shape
        self.input_size = (int(height), int(width))
        if int(channels) != self.channels:
            raise ModelFileError(f"{path}: the network takes {channels} channels but its metadata says "
                                 f"{self.metadata.color_mode}")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch.astype(np.float32)})[0]


def load(path: Path, runtime: str, metadata: ModelMetadata | None = None,
         threads: int | None = None) -> OnnxClassifier:
    return OnnxClassifier(path, metadata, threads)
