"""Test-time augmentation views and how their predictions are combined."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.evaluation.tta import predict_with_tta, shift_pixels, tta_protocol, tta_views


def test_views_are_the_image_its_mirror_and_four_shifts():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 50, 40, 1), dtype=np.uint8)
    views = tta_views(images)
    step = shift_pixels(40)
    assert step == 2
    assert len(views) == 6
    assert all(view.shape == images.shape and view.dtype == np.uint8 for view in views)
    assert np.array_equal(views[0], images)
    assert np.array_equal(views[1], images[:, :, ::-1])
    up, down, left, right = views[2:]
    assert np.array_equal(up[:, :-step], images[:, step:])
    assert np.array_equal(down[:, step:], images[:, :-step])
    assert np.array_equal(left[:, :, :-step], images[:, :, step:])
    assert np.array_equal(right[:, :, step:], images[:, :, :-step])
    assert np.array_equal(right[:, :, 0], images[:, :, 0])  # the gap repeats the border
    assert f"{step} px" in tta_protocol(images.shape)


def test_views_are_combined_by_mean_log_probability():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(4, 10, 10, 1), dtype=np.uint8)

    def left_half_brightness(batch):
        p = batch[:, :, :5].mean(axis=(1, 2, 3)) / 255 * 0.8 + 0.1
        return np.stack([p, 1 - p], axis=1)

    combined = predict_with_tta(left_half_brightness, images)
    per_view = np.stack([left_half_brightness(view) for view in tta_views(images)])
    geometric = np.exp(np.log(per_view).mean(axis=0))
    assert combined == pytest.approx(geometric / geometric.sum(axis=1, keepdims=True))
    assert not np.allclose(combined, left_half_brightness(images))  # the views did change the answer
