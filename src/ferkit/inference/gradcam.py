"""Grad-CAM: which parts of a face made the model give its answer.

The map is the last convolution's feature maps weighted by the spatially averaged gradient of the
predicted class's log-probability, passed through ReLU and scaled to [0, 1] per face (Selvaraju et al., 2017).
The last `Conv2D` is found by walking the model's layers, so any ferkit architecture (lenet, fervgg) works.
"""

from __future__ import annotations

import cv2
import numpy as np

from ferkit.errors import FerkitError


def last_conv_layer(model):
    """The model's last top-level `Conv2D` layer."""
    import keras

    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise FerkitError(f"model {model.name!r} has no Conv2D layer: Grad-CAM needs a convolutional network")


def _visible_fraction(model, conv) -> tuple[float, float]:
    """Share of the model input's height and width that the convolution sees (a `CenterCrop` cuts borders)."""
    import keras

    height, width = 1.0, 1.0
    for layer in model.layers:
        if layer is conv:
            break
        if isinstance(layer, keras.layers.CenterCrop):
            source = layer.input.shape
            height, width = layer.height / source[1], layer.width / source[2]
    return height, width


def features_and_output(model, conv):
    """A model giving `(conv's feature maps, the model's probabilities)` with the model's own weights.

    A loaded `Sequential` rebuilds its graph, so its layers' recorded outputs are not connected to its
    output; its layers are therefore called again on a fresh input.
    """
    import keras

    if not isinstance(model, keras.Sequential):
        return keras.Model(model.inputs, [conv.output, model.outputs[0]])
    inputs = keras.Input(shape=model.inputs[0].shape[1:])
    features, x = None, inputs
    for layer in model.layers:
        x = layer(x)
        if layer is conv:
            features = x
    return keras.Model(inputs, [features, x])


class GradCam:
    """Grad-CAM heat maps for a Keras model's faces.

    Args:
        model: a ferkit Keras model (0..255 pixels in, softmax probabilities out).
        metadata: its `ModelMetadata` (the face size the heat maps are returned at).
    """

    def __init__(self, model, metadata):
        self.conv = last_conv_layer(model)
        self.visible = _visible_fraction(model, self.conv)
        self.size = tuple(metadata.image_size)
        self._model = features_and_output(model, self.conv)

    def heatmaps(self, faces: np.ndarray, classes: list[int]) -> np.ndarray:
        """(N, H, W, C) uint8 faces and the class to explain for each → (N, H, W) float32 maps in [0, 1]."""
        import tensorflow as tf

        inputs = tf.convert_to_tensor(np.asarray(faces), tf.float32)
        with tf.GradientTape() as tape:
            activations, probabilities = self._model(inputs, training=False)
            chosen = tf.gather(probabilities, tf.constant(classes)[:, None], batch_dims=1)[:, 0]
            score = tf.reduce_sum(tf.math.log(chosen + 1e-12))
        gradients = tape.gradient(score, activations)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cams = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1)).numpy()
        return np.stack([self._to_face(cam) for cam in cams])

    def _to_face(self, cam: np.ndarray) -> np.ndarray:
        """One map laid over the whole face (zero where the model saw nothing), scaled to peak at 1 (all zero
        when no feature counted for the class)."""
        height, width = self.size
        seen_h, seen_w = round(height * self.visible[0]), round(width * self.visible[1])
        face = np.zeros((height, width), np.float32)
        top, left = (height - seen_h) // 2, (width - seen_w) // 2
        face[top:top + seen_h, left:left + seen_w] = cv2.resize(cam.astype(np.float32), (seen_w, seen_h),
                                                                interpolation=cv2.INTER_LINEAR)
        peak = float(face.max())
        return np.clip(face / peak, 0.0, 1.0) if peak > 0 else face
