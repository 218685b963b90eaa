"""tf.data pipelines: TrainingDS and ValidationDS from a `LabeledData` and a `Configuration`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ferkit.data.sources import LabeledData


def targets_for(data: LabeledData, indices: np.ndarray, soft_label_weight: float = 0.0) -> np.ndarray:
    """One-hot labels, blended with the human vote distribution when the data has one.

    `soft_label_weight` w gives `(1 - w) * one_hot + w * votes`; the labelled class keeps the largest share
    for any w < 0.5, so the task stays the dataset's own.
    """
    one_hot = np.eye(data.num_classes, dtype=np.float32)[data.labels[indices]]
    if soft_label_weight > 0 and data.soft_labels is not None:
        return (1 - soft_label_weight) * one_hot + soft_label_weight * data.soft_labels[indices]
    return one_hot


def augmenter(seed: int, flip_only: bool = False):
    """Photometric and geometric augmentation for faces: flips, small rotations, zoom, shifts, light.

    `flip_only` keeps just the mirror image, for fine-tunes on the test-time framing that should still see
    every face both ways round (a face's expression does not change in a mirror).
    A `keras.layers.Pipeline`, not a `Sequential`: inside `tf.data` it runs its layers as TensorFlow ops on
    any Keras backend (a `Sequential` called there on JAX fails), and on TensorFlow it draws the same numbers.
    """
    from keras import layers

    flip = layers.RandomFlip("horizontal", seed=seed)
    if flip_only:
        return layers.Pipeline([flip], name="augment")
    return layers.Pipeline(
        [
            flip,
            layers.RandomRotation(0.04, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom((-0.15, 0.1), fill_mode="reflect", seed=seed + 2),
            layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=seed + 3),
            layers.RandomBrightness(0.25, value_range=(0, 255), seed=seed + 4),
            layers.RandomContrast(0.3, value_range=(0, 255), seed=seed + 5),
        ],
        name="augment",
    )


LOW_RESOLUTION_SHARE = 0.4
LOW_RESOLUTION_SCALE = (0.3, 0.9)
NOISE_SHARE = 0.3
MAX_NOISE_SIGMA = 10.0


def degrade_quality(images: tf.Tensor, seed: int, low_resolution_share: float = LOW_RESOLUTION_SHARE,
                    noise_share: float = NOISE_SHARE) -> tf.Tensor:
    """Faces as other cameras and detectors deliver them: small or soft, and noisy.

    A random `low_resolution_share` of a batch (float pixels 0..255) is rendered at a lower resolution (area
    down-sampling by a factor drawn from `LOW_RESOLUTION_SCALE` per batch, then bilinear up-sampling back,
    which blurs); independently, a random `noise_share` gets Gaussian noise of a sigma drawn up to
    `MAX_NOISE_SIGMA` per image.
    """
    shape = tf.shape(images)
    side = tf.cast(shape[1:3], tf.float32)
    scale = tf.random.uniform([], *LOW_RESOLUTION_SCALE, seed=seed)
    small_side = tf.maximum(tf.cast(tf.round(scale * side), tf.int32), 1)
    low = tf.image.resize(tf.image.resize(images, small_side, method="area"), shape[1:3], method="bilinear")
    per_image = [shape[0], 1, 1, 1]
    images = tf.where(tf.random.uniform(per_image, seed=seed + 1) < low_resolution_share, low, images)
    sigma = tf.random.uniform(per_image, 0, MAX_NOISE_SIGMA, seed=seed + 2) * tf.cast(
        tf.random.uniform(per_image, seed=seed + 3) < noise_share, tf.float32)
    return tf.clip_by_value(images + sigma * tf.random.normal(shape, seed=seed + 4), 0, 255)


def make_dataset(images: np.ndarray, targets: np.ndarray, batch_size: int, training: bool,
                 augment: bool | str = False, seed: int = 42, repeat: bool | None = None,
                 degrade: bool = False, domain_gap: bool = False,
                 retarget: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
                 start_batch: int = 0) -> tf.data.Dataset:
    """Batches of (float32 pixels 0..255, float32 targets); shuffled, repeated and augmented for training.

    Images stay uint8 in memory (cached) and are cast per batch, so a large set costs 1 byte per pixel.
    `augment` adds geometric and photometric augmentation (`augmenter`; `"flip"` only mirrors), `domain_gap`
    the stronger set of `ferkit.data.augment` instead (colour→grey, exposure, blur, JPEG, occlusion, roll),
    `degrade` lower resolution and noise (`degrade_quality`); all apply to training batches only. Those two maps run
    one batch at a time: their random ops are stateful, and parallel calls would draw the numbers in thread
    order, so the same seed would not give the same run. One thread still augments ≈ 4,000 faces/s here, far
    above what training consumes (≈ 320 faces/s for the shipped network on 2 cores).
    `retarget(images, targets)` (TensorFlow ops) gives each training batch new targets after those maps, from
    the images as the network will see them: online distillation, where teachers predict the augmented faces.
    `start_batch` skips that many batches after the random maps (so their random numbers are drawn as before)
    and before `retarget`: a resumed run continues the data stream exactly where the interrupted one stopped.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, targets)).cache()
    if training:
        dataset = dataset.shuffle(min(len(images), 50_000), seed=seed, reshuffle_each_iteration=True)
    if training if repeat is None else repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=False)
    dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if training and domain_gap:
        from ferkit.data.augment import domain_gap_augmenter

        transform = domain_gap_augmenter(seed)
        dataset = dataset.map(lambda x, y: (transform(x), y))
    elif training and augment:
        layer = augmenter(seed, flip_only=augment == "flip")
        dataset = dataset.map(lambda x, y: (tf.clip_by_value(layer(x, training=True), 0, 255), y))
    if training and degrade:
        dataset = dataset.map(lambda x, y: (degrade_quality(x, seed), y))
    if start_batch:
        dataset = dataset.skip(start_batch)
    if training and retarget is not None:
        dataset = dataset.map(lambda x, y: (x, retarget(x, y)))
    return dataset.prefetch(tf.data.AUTOTUNE)
