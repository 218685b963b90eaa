"""Warm starts and self-distillation: a trained model's weights and predictions as a new run's starting point.

`InitialWeights` starts a run from a finished model (a second stage of a recipe); `Teacher` (one model file or
a list of them) blends flip-averaged predictions on the training images into the targets (knowledge
distillation), which passes on what the teachers learned about ambiguous faces that one-hot labels cannot say.
With `TeacherSeesAugmented` the teachers instead predict every augmented training batch as the student sees
it (`teacher_ensemble`), so a shifted, darkened or blurred face is not taught the clean face's answer.

A grey model can start or teach a colour run and the other way round: the first convolution's kernel is
spread over (or summed from) the three channels by the luminance weights, so the warm-started network gives
the source's answers on every image before training moves it; a teacher of the other colour mode sees the
batch converted to its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from ferkit.config.configuration import require_model_file
from ferkit.data.classes import class_positions
from ferkit.data.sources import LabeledData
from ferkit.errors import ConfigError
from ferkit.models.saving import load_model

TEACHER_BATCH = 256
LUMINANCE = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, as OpenCV's and PIL's grey conversion


def _load_matching(path: str, key: str, data: LabeledData) -> tuple[keras.Model, list[int]]:
    """Load the model file named by configuration key `key`, with the position of each of the data's classes
    among the model's outputs (matched by name in any case); a model lacking one of them is refused."""
    require_model_file(key, path)
    model, metadata = load_model(path)
    positions = class_positions(data.class_names, list(metadata.class_names))
    if None in positions or len(metadata.class_names) != data.num_classes:
        raise ConfigError(
            f"configuration key {key}={path!r}: the model's classes ({', '.join(metadata.class_names)}) "
            f"differ from the data's ({', '.join(data.class_names)})"
        )
    return model, positions


def load_initial_weights(model: keras.Model, path: str, data: LabeledData) -> list[str]:
    """Copy the weights of the model file at `path` into `model`, matching output classes by name.

    Every layer but the output layer must have the same weight shapes (same architecture and width). The
    output layer's columns are copied class by class, whatever order either side lists its classes in (folder
    classes sort alphabetically, FER-2013's do not) and in any case (`Happy` is `happy`); a class the source
    model lacks keeps its fresh initialisation. Returns the names of those new classes.
    """
    require_model_file("InitialWeights", path)
    source, metadata = load_model(path)
    source_names = list(metadata.class_names)
    head, source_head = model.layers[-1], source.layers[-1]
    body = [w for w in model.weights if not any(w is h for h in head.weights)]
    source_body = [w for w in source.weights if not any(w is h for h in source_head.weights)]
    source_values = [w.numpy() for w in source_body]
    if source_values and source_values[0].ndim == 4 and body and tuple(body[0].shape) != source_values[0].shape:
        source_values[0] = kernel_for_channels(source_values[0], body[0].shape[-2])
    if [v.shape for v in source_values] != [tuple(w.shape) for w in body] or len(head.weights) != len(
            source_head.weights):
        raise ConfigError(
            f"configuration key InitialWeights={path!r}: its weights do not fit this configuration's network "
            f"({source.count_params():,} parameters there, {model.count_params():,} here)"
        )
    positions = class_positions(data.class_names, source_names)
    to_rows = [row for row, position in enumerate(positions) if position is not None]
    from_rows = [position for position in positions if position is not None]
    if not to_rows:
        raise ConfigError(
            f"configuration key InitialWeights={path!r}: the model's classes ({', '.join(source_names)}) "
            f"share no name with the data's ({', '.join(data.class_names)})"
        )
    for target, value in zip(body, source_values, strict=True):
        target.assign(value)
    for target, origin in zip(head.weights, source_head.weights, strict=True):
        values = np.array(target.numpy())
        values[..., to_rows] = origin.numpy()[..., from_rows]
        target.assign(values)
    return [name for name, position in zip(data.class_names, positions, strict=True) if position is None]


def kernel_for_channels(kernel: np.ndarray, channels: int) -> np.ndarray:
    """A first convolution's (h, w, in, out) kernel for `channels` input channels, answering a grey image the
    same: a grey kernel (in = 1) becomes a colour one weighted by luminance, a colour one is summed into one
    grey channel. Other channel counts are returned unchanged (and then refused as not fitting)."""
    if kernel.shape[-2] == 1 and channels == 3:
        return kernel * LUMINANCE.reshape(1, 1, 3, 1)
    if kernel.shape[-2] == 3 and channels == 1:
        return kernel.sum(axis=-2, keepdims=True)
    return kernel


def images_for_channels(images, channels: int):
    """A batch (N, H, W, C) converted to `channels` channels: colour to grey by luminance, grey repeated."""
    have = images.shape[-1]
    if have == 3 and channels == 1:
        return keras.ops.sum(images * LUMINANCE, axis=-1, keepdims=True)
    if have == 1 and channels == 3:
        return keras.ops.repeat(images, 3, axis=-1)
    return images


def teacher_ensemble(paths: list[str], data: LabeledData) -> Callable[[Any], Any]:
    """A function of a batch of images that averages the probabilities of the teacher model files in `paths`,
    each teacher's outputs put in the data's class order."""
    teachers = [_load_matching(path, "Teacher", data) for path in paths]

    def predict(images):
        return keras.ops.mean(keras.ops.stack([
            keras.ops.take(teacher(images_for_channels(images, teacher.input_shape[-1]), training=False),
                           positions, axis=-1)
            for teacher, positions in teachers]), axis=0)

    return predict


def teacher_probabilities(paths: list[str], data: LabeledData, indices: np.ndarray) -> np.ndarray:
    """Class probabilities for `data.images[indices]`, averaged over the image and its mirror and over the
    teacher model files in `paths` (`Configuration.teacher_paths`; several make an ensemble teacher)."""
    ensemble = teacher_ensemble(paths, data)
    chunks = []
    for start in range(0, len(indices), TEACHER_BATCH):
        batch = data.images[indices[start:start + TEACHER_BATCH]].astype(np.float32)
        chunks.append((np.asarray(ensemble(batch)) + np.asarray(ensemble(batch[:, :, ::-1]))) / 2)
    return np.concatenate(chunks).astype(np.float32)


def distilled_targets(targets, teacher, weight: float):
    """`(1 - weight) * targets + weight * teacher`: each row still sums to one. NumPy arrays or tensors (in a
    `tf.data` map); float32 stays float32."""
    return (1 - weight) * targets + weight * teacher
