"""Alignment: a face's five landmarks mapped by a similarity transform (rotation, uniform scale, shift) onto
where those landmarks sit in the classifier's training faces, giving an upright crop framed like them.

`FER2013_TEMPLATE` holds the median landmark positions YuNet finds on FER-2013 training faces, in units of the
48×48 frame (measured with `bench/face_framing.py --detectors yunet`, see the numbers beside it). A face
warped onto it is framed as FER-2013 frames faces, whatever its size and roll in the photo.
"""

from __future__ import annotations

import cv2
import numpy as np

# right_eye, left_eye, nose, mouth_right, mouth_left as (x, y) fractions of the frame side. Measured with
# `bench/face_framing.py --detectors yunet --n 2000` on 2026-12-04 (FER-2013 Training, 1,910 of 1,999 faces
# found); medians.
FER2013_TEMPLATE = (
    (0.2907, 0.3789),
    (0.6939, 0.3821),
    (0.4900, 0.5860),
    (0.3325, 0.7666),
    (0.6588, 0.7664),
)


def alignment_matrix(landmarks, size: tuple[int, int], template=FER2013_TEMPLATE) -> np.ndarray:
    """The 2×3 similarity transform taking the five image `landmarks` onto `template` scaled to `size`
    (height, width), by least squares over the five points."""
    height, width = size
    source = np.asarray(landmarks, np.float64).reshape(-1, 2)
    target = np.asarray(template, np.float64).reshape(-1, 2) * (width, height)
    source_mean, target_mean = source.mean(0), target.mean(0)
    source_centred, target_centred = source - source_mean, target - target_mean
    # Closed-form least-squares similarity in complex form: target ≈ a · source, a = scale · e^(i·angle).
    source_complex = source_centred[:, 0] + 1j * source_centred[:, 1]
    target_complex = target_centred[:, 0] + 1j * target_centred[:, 1]
    denominator = float(np.vdot(source_complex, source_complex).real)
    a = np.vdot(source_complex, target_complex) / denominator if denominator > 0 else 1.0 + 0j
    rotation_scale = np.array([[a.real, -a.imag], [a.imag, a.real]])
    shift = target_mean - rotation_scale @ source_mean
    return np.hstack([rotation_scale, shift[:, None]])


def aligned_crop(rgb: np.ndarray, landmarks, size: tuple[int, int], template=FER2013_TEMPLATE) -> np.ndarray:
    """The face warped upright into a (height, width) crop; outside the image, edge pixels are repeated.

    A face larger than the crop is warped at its own resolution first and then shrunk by area averaging, as
    the unaligned path shrinks its crops (a direct bilinear warp would alias)."""
    height, width = size
    scale = float(np.hypot(*alignment_matrix(landmarks, size, template)[:, 0]))
    if scale >= 1.0:
        return cv2.warpAffine(rgb, alignment_matrix(landmarks, size, template), (width, height),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    large = (max(height, round(height / scale)), max(width, round(width / scale)))
    warped = cv2.warpAffine(rgb, alignment_matrix(landmarks, large, template), (large[1], large[0]),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(warped, (width, height), interpolation=cv2.INTER_AREA)


def crop_corners(landmarks, size: tuple[int, int], template=FER2013_TEMPLATE) -> np.ndarray:
    """The aligned crop's four corners in image pixels (4×2), e.g. to outline or bound it."""
    height, width = size
    matrix = alignment_matrix(landmarks, size, template)
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], np.float64)
    return corners @ inverse.T


def roll_degrees(landmarks) -> float:
    """The eye line's angle to the horizontal, in degrees (positive: the subject's left eye is lower)."""
    (right_x, right_y), (left_x, left_y) = np.asarray(landmarks, np.float64)[:2]
    return float(np.degrees(np.arctan2(left_y - right_y, left_x - right_x)))
