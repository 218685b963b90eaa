"""`FaceBox` (a face's box, score and landmarks in original pixels) and the resizing shared by the detectors.

Detectors run on a resized copy of the image: photos are shrunk so that the smallest wanted face just fills
the detector's smallest reliable window (no detail is lost, the work drops with the square of the scale), huge
images are capped at a longest side, and tiny images (pre-cropped faces) are enlarged so the detector has
room to work. Boxes and landmarks are mapped back to the original pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Five landmarks in the order of the usual alignment template; "right" is the subject's right (image left).
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


@dataclass(frozen=True)
class FaceBox:
    """One detected face in original pixels.

    Args:
        x, y, w, h: top-left corner, width and height.
        score: the detector's confidence when it gives one (YuNet, MTCNN), else None.
        landmarks: five `(x, y)` points in `LANDMARK_NAMES` order, or None for detectors without them.
    """

    x: int
    y: int
    w: int
    h: int
    score: float | None = None
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def effective_min_face(shape: tuple[int, ...], min_face: int) -> int:
    """`min_face`, but at most half the short side, so a small image can still hold a face."""
    return max(1, min(min_face, min(shape[:2]) // 2))


def detection_scale(shape: tuple[int, ...], min_face: int, window: int, min_side: int = 160,
                    max_side: int = 1280) -> float:
    """Resize factor for detection: the smallest wanted face becomes `window` pixels, the short side at least
    `min_side` and the long side at most `max_side` pixels."""
    short, long = min(shape[:2]), max(shape[:2])
    scale = window / effective_min_face(shape, min_face)
    scale = max(scale, min_side / short)
    return min(scale, max_side / long)


def resized(image: np.ndarray, scale: float) -> np.ndarray:
    """`image` resized by `scale` (area averaging when shrinking), or itself when the scale is about 1."""
    if abs(scale - 1.0) < 1e-3:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def to_original(boxes, scale: float, shape: tuple[int, ...], scores=None, landmarks=None,
                offset: tuple[float, float] = (0.0, 0.0)) -> list[FaceBox]:
    """Boxes (and landmarks) found on a copy resized by `scale` whose origin lies at `offset` of the original
    → FaceBoxes in original pixels, clipped to the image, largest first."""
    height, width = shape[:2]
    dx, dy = offset
    found = []
    for index, (x, y, w, h) in enumerate(boxes):
        x0, y0 = max(0, round(x / scale + dx)), max(0, round(y / scale + dy))
        x1, y1 = min(width, round((x + w) / scale + dx)), min(height, round((y + h) / scale + dy))
        if x1 <= x0 or y1 <= y0:
            continue
        points = None
        if landmarks is not None:
            points = tuple((float(px / scale + dx), float(py / scale + dy)) for px, py in landmarks[index])
        score = None if scores is None else float(scores[index])
        found.append(FaceBox(x0, y0, x1 - x0, y1 - y0, score, points))
    return sorted(found, key=lambda box: box.area, reverse=True)
