"""The faces an export is checked (and int8-calibrated) on: from a dataset, the model's own training data
if it is still there, else generated faces (which allow a parity check but no accuracy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferkit.models.saving import ModelMetadata

PARITY_IMAGES = 300
CALIBRATION_IMAGES = 300


@dataclass
class CheckImages:
    """Faces at the model's input size used to check (and calibrate) an export.

    Args:
        parity: a few hundred faces whose probabilities must match the Keras model's.
        calibration: faces from the training split for int8 calibration.
        evaluation: the held-out split whose accuracy change is reported for quantised exports.
        evaluation_labels: its labels in the model's class order, or None when the data has none.
        description: where the faces came from, for the report.
    """

    parity: np.ndarray
    calibration: np.ndarray
    evaluation: np.ndarray
    evaluation_labels: np.ndarray | None
    description: str


def _fit_size(images: np.ndarray, metadata: ModelMetadata) -> np.ndarray:
    """Faces resized to exactly the model's `image_size` (the exported input shape)."""
    height, width = metadata.image_size
    channels = images.shape[-1]
    if images.shape[1:3] != (height, width):
        images = np.stack([cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                           .reshape(height, width, channels) for image in images])
    return np.ascontiguousarray(images, dtype=np.uint8)


def _spread(indices: np.ndarray, count: int, seed: int | None = None) -> np.ndarray:
    """`count` rows of `indices`: evenly spaced, or a seeded random sample."""
    if len(indices) <= count:
        return indices
    if seed is None:
        return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]
    return np.sort(np.random.default_rng(seed).choice(indices, count, replace=False))


def check_images(metadata: ModelMetadata, data_path: str | Path | None) -> CheckImages:
    """The faces that check an export: from `data_path`, else the model's training data if it is still
    there, else generated faces (which allow a parity check but no accuracy)."""
    from ferkit.data import load_data
    from ferkit.errors import DataError

    source = data_path or metadata.extra.get("data")
    if source is not None and (data_path is not None or Path(source).exists()):
        # A model trained on FER+ labels (config key `Labels`) is checked against the same labels.
        data = load_data(source, image_size=metadata.image_size, color_mode=metadata.color_mode,
                         labels=metadata.config.get("Labels", "dataset"))
        if sorted(data.class_names) != sorted(metadata.class_names):
            raise DataError(f"{source}: classes {', '.join(data.class_names)} do not match the model's "
                            f"classes {', '.join(metadata.class_names)}")
        order = np.array([metadata.class_names.index(name) for name in data.class_names])
        held_out_role = "validation" if "validation" in data.roles else "test"
        held_out = data.split_indices(held_out_role)
        train = data.split_indices("train")
        return CheckImages(
            parity=_fit_size(data.images[_spread(held_out, PARITY_IMAGES)], metadata),
            calibration=_fit_size(data.images[_spread(train, CALIBRATION_IMAGES, seed=0)], metadata),
            evaluation=_fit_size(data.images[held_out], metadata),
            evaluation_labels=order[data.labels[held_out]],
            description=f"{source} ({data.roles[held_out_role]}, {len(held_out)} faces; calibration from "
                        f"{data.roles['train']})",
        )
    from ferkit.data.synthetic import make_faces

    per_class = PARITY_IMAGES // 4
    parity, _ = make_faces(per_class, size=max(metadata.image_size), seed=11, color_mode=metadata.color_mode)
    calibration, _ = make_faces(per_class, size=max(metadata.image_size), seed=12,
                                color_mode=metadata.color_mode)
    parity = _fit_size(parity, metadata)
    return CheckImages(parity=parity, calibration=_fit_size(calibration, metadata), evaluation=parity,
                       evaluation_labels=None, description="generated faces (no labelled data found)")
