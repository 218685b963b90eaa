"""Domain-gap augmentation: each transformation does what it says, and one seed gives one stream of batches."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ferkit.data import augment
from ferkit.data.pipeline import make_dataset


@pytest.fixture
def faces() -> np.ndarray:
    """Eight 32x32 RGB faces with structure (a gradient and a bright square), float 0..255."""
    ramp = np.linspace(20, 220, 32, dtype=np.float32)
    image = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1)
    image[10:20, 10:20] = [250, 40, 90]
    return np.stack([image] * 8)


def test_grey_uses_varied_channel_weights_and_keeps_grey_input(faces):
    grey = augment.random_grey(tf.constant(faces), seed=1, share=1.0).numpy()
    assert np.allclose(grey[..., 0], grey[..., 1]) and np.allclose(grey[..., 1], grey[..., 2])
    square = grey[:, 15, 15, 0]
    assert square.std() > 1.0, "each face gets its own channel weights"
    single = faces[..., :1]
    assert np.array_equal(augment.random_grey(tf.constant(single), seed=1, share=1.0).numpy(), single)


def test_blur_softens_and_occlusion_covers_a_rectangle(faces):
    blurred = augment.random_blur(tf.constant(faces), seed=2, share=1.0).numpy()
    assert np.abs(np.diff(blurred, axis=1)).max() < np.abs(np.diff(faces, axis=1)).max()
    occluded = augment.random_occlusion(tf.constant(faces), seed=3, share=1.0).numpy()
    for face, original in zip(occluded, faces, strict=True):
        changed = np.any(face != original, axis=-1)
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        assert changed.sum() > 0
        box = face[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert np.ptp(box) == 0, "one constant rectangle"


def test_jpeg_and_gamma_change_pixels_within_range(faces):
    for transformed in (augment.random_jpeg(tf.constant(faces), seed=4, share=1.0),
                        augment.random_gamma(tf.constant(faces), seed=5)):
        values = transformed.numpy()
        assert values.shape == faces.shape and values.min() >= 0 and values.max() <= 255
        assert not np.allclose(values, faces, atol=1.0)
    untouched = augment.random_jpeg(tf.constant(faces), seed=4, share=0.0).numpy()
    assert np.array_equal(untouched, faces)


@pytest.mark.parametrize("channels", [1, 3])
def test_domain_gap_batches_repeat_for_one_seed(faces, channels):
    images = faces[..., :channels].astype(np.uint8)
    targets = np.eye(2, dtype=np.float32)[np.arange(8) % 2]

    def first_batch(seed):
        tf.random.set_seed(seed)
        dataset = make_dataset(images, targets, 8, training=True, domain_gap=True, seed=seed)
        return next(iter(dataset))[0].numpy()

    first, again, other = first_batch(7), first_batch(7), first_batch(8)
    assert first.shape == (8, 32, 32, channels) and first.min() >= 0 and first.max() <= 255
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
