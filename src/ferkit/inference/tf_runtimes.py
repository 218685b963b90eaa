"""The TensorFlow runtimes, from `ferkit[train]`: `.keras`/`.h5` model files behind one compiled Keras
function, and TF SavedModel folders written by `ferkit export --format saved_model`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from ferkit.errors import ModelFileError
from ferkit.inference.classifier import RuntimeClassifier
from ferkit.inference.model_files import SAVED_MODEL_METADATA, exported_metadata, read_json_metadata
from ferkit.models.saving import ModelMetadata, load_model

BATCH_BUCKETS = (1, 4, 16, 64)


class KerasClassifier(RuntimeClassifier):
    """A Keras model behind one compiled inference function.

    Batches are padded to the next of `BATCH_BUCKETS`, so the function is traced at most once per bucket and
    never again, whatever mix of batch sizes arrives. The network resizes faces of any size itself.

    Args:
        model: a ferkit Keras model (takes 0..255 pixels, returns softmax probabilities).
        metadata: its `ModelMetadata`.
        path: the file it came from, if any.
    """

    runtime = "keras"
    max_batch = BATCH_BUCKETS[-1]
    buckets = BATCH_BUCKETS

    def __init__(self, model, metadata: ModelMetadata, path: str | Path | None = None):
        super().__init__(metadata, path)
        self.model = model
        self._forward = tf.function(lambda faces: model(tf.cast(faces, tf.float32), training=False))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._forward(batch))


class SavedModelClassifier(RuntimeClassifier):
    """A TF SavedModel folder (its `serving_default` endpoint)."""

    runtime = "saved_model"

    def __init__(self, path: Path, metadata: ModelMetadata | None = None):
        super().__init__(metadata or exported_metadata(path, read_json_metadata(path / SAVED_MODEL_METADATA)),
                         path)
        try:
            self._loaded = tf.saved_model.load(str(path))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"cannot load SavedModel {path}: {str(exc).splitlines()[0]}") from None
        self._serve = self._loaded.signatures["serving_default"]
        spec = next(iter(self._serve.structured_input_signature[1].values()))
        self.input_name = spec.name
        _, height, width, _ = spec.shape.as_list()
        self.input_size = (height, width)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        outputs = self._serve(**{self.input_name: batch.astype(np.float32)})
        return next(iter(outputs.values())).numpy()


def load(path: Path, runtime: str, metadata: ModelMetadata | None = None,
         threads: int | None = None) -> RuntimeClassifier:
    if runtime == "saved_model":
        return SavedModelClassifier(path, metadata)
    model, stored = load_model(path)
    return KerasClassifier(model, metadata or stored, path)
