"""Test-time augmentation: classify a few slightly different views of each face and combine them.

Views: the image, its horizontal mirror, and the image shifted by `SHIFT_FRACTION` of its side up, down,
left and right (border pixels repeated into the gap). The views' log-probabilities are averaged (a geometric
mean of the probabilities, renormalised), so a stored temperature can be applied after combining exactly as
to a single view.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ferkit.models.temperature import softmax, to_logits

SHIFT_FRACTION = 0.04
SINGLE_CROP_PROTOCOL = "single crop: each image once, as the data provides it"


def shift_pixels(side: int) -> int:
    """How far the shifted views move an image with this (shorter) side, at least one pixel."""
    return max(1, round(SHIFT_FRACTION * side))


def tta_protocol(image_shape: tuple[int, ...]) -> str:
    """The exact TTA protocol for images of (N, H, W, C) `image_shape`, for metrics.json."""
    step = shift_pixels(min(image_shape[1:3]))
    return (f"tta: 6 views (original, horizontal flip, shifts of {step} px up/down/left/right with edge "
            f"padding); log-probabilities averaged, then the model's temperature")


def _shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    height, width = images.shape[1:3]
    padded = np.pad(images, ((0, 0), (abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[:, top:top + height, left:left + width]


def tta_views(images: np.ndarray) -> list[np.ndarray]:
    """The six views of a batch of (N, H, W, C) images, each the same shape and dtype as the input."""
    step = shift_pixels(min(images.shape[1:3]))
    views = [images, images[:, :, ::-1]]
    views += [_shift(images, dy, dx) for dy, dx in ((-step, 0), (step, 0), (0, -step), (0, step))]
    return [np.ascontiguousarray(view) for view in views]


def predict_with_tta(predict_proba: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> np.ndarray:
    """Probabilities of each image from the mean log-probability of its views."""
    mean_logits = np.mean([to_logits(predict_proba(view)) for view in tta_views(images)], axis=0)
    return softmax(mean_logits)
