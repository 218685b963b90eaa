"""tf.data pipelines: TrainingDS and ValidationDS from a `LabeledData` and a `Configuration`."""

from __future__ import annotations

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


def augmenter(seed: int) -> tf.keras.Sequential:
    """Photometric and geometric augmentation for faces: flips, small rotations, zoom, shifts, light."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.04, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom((-0.15, 0.1), fill_mode="reflect", seed=seed + 2),
            layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=seed + 3),
            layers.RandomBrightness(0.25, value_range=(0, 255), seed=seed + 4),
            layers.RandomContrast(0.3, value_range=(0, 255), seed=seed + 5),
        ],
        name="augment",
    )


def make_dataset(images: np.ndarray, targets: np.ndarray, batch_size: int, training: bool,
                 augment: bool = False, seed: int = 42, repeat: bool | None = None) -> tf.data.Dataset:
    """Batches of (float32 pixels 0..255, float32 targets); shuffled, repeated and augmented for training.

    Images stay uint8 in memory (cached) and are cast per batch, so a large set costs 1 byte per pixel.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, targets)).cache()
    if training:
        dataset = dataset.shuffle(min(len(images), 50_000), seed=seed, reshuffle_each_iteration=True)
    if training if repeat is None else repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=False)
    dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment:
        layer = augmenter(seed)
        dataset = dataset.map(lambda x, y: (tf.clip_by_value(layer(x, training=True), 0, 255), y),
                              num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
