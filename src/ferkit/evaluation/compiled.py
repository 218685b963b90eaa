"""A Keras model file behind one compiled forward pass, so evaluation avoids `model.predict`'s call cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class CompiledKerasClassifier:
    """`predict_proba(uint8 NHWC) -> (N, K)` raw (uncalibrated) probabilities through one `tf.function`.

    The function is traced for a dynamic batch size, so batches of any size reuse the same graph.
    """

    def __init__(self, path: str | Path):
        import tensorflow as tf

        from ferkit.models.saving import load_model

        self.model, self.metadata = load_model(path)
        channels = 1 if self.metadata.color_mode == "grayscale" else 3
        self._forward = tf.function(
            lambda images: self.model(tf.cast(images, tf.float32), training=False),
            input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8)],
        )

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        return self._forward(np.ascontiguousarray(faces, dtype=np.uint8)).numpy()
