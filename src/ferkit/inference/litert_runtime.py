"""`.tflite` models in the LiteRT interpreter (XNNPACK on CPU), from `ferkit[export]`.

LiteRT re-plans its memory whenever the batch size changes, so batches are padded to a few fixed sizes and
each size keeps its own interpreter: a stream of one-face frames never triggers re-allocation.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from ferkit.errors import ModelFileError
from ferkit.inference.classifier import RuntimeClassifier
from ferkit.inference.model_files import exported_metadata
from ferkit.inference.onnx_runtime import default_threads
from ferkit.models.saving import ModelMetadata
from ferkit.quiet import output_discarded

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class LiteRTClassifier(RuntimeClassifier):
    """A `.tflite` file; its metadata comes from the `<file>.json` sidecar `ferkit export` writes."""

    runtime = "litert"
    max_batch = BATCH_BUCKETS[-1]
    buckets = BATCH_BUCKETS

    def __init__(self, path: Path, metadata: ModelMetadata | None = None, threads: int | None = None):
        super().__init__(metadata or exported_metadata(path), path)
        self.threads = threads or default_threads()
        self._model = path.read_bytes()
        self._interpreters: dict[int, Interpreter] = {}
        self._lock = threading.Lock()
        _, height, width, _ = (int(v) for v in self._interpreter(1).get_input_details()[0]["shape"])
        self.input_size = (height, width)

    def _interpreter(self, batch_size: int) -> Interpreter:
        if batch_size not in self._interpreters:
            try:
                with output_discarded():  # LiteRT prints a notice when it applies its XNNPACK delegate
                    interpreter = Interpreter(model_content=self._model, num_threads=self.threads)
                    detail = interpreter.get_input_details()[0]
                    if batch_size != detail["shape"][0]:
                        interpreter.resize_tensor_input(detail["index"], [batch_size, *detail["shape"][1:]])
                    interpreter.allocate_tensors()
            except ValueError as exc:
                raise ModelFileError(f"cannot load LiteRT model {self.path}: {str(exc).splitlines()[0]}"
                                     ) from None
            self._interpreters[batch_size] = interpreter
        return self._interpreters[batch_size]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            interpreter = self._interpreter(len(batch))
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], batch.astype(np.float32))
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()


def load(path: Path, runtime: str, metadata: ModelMetadata | None = None,
         threads: int | None = None) -> LiteRTClassifier:
    return LiteRTClassifier(path, metadata, threads)
