"""Face detection: OpenCV's Haar cascade (fast, default), MTCNN (accurate) or `none` (the image is the face).

Every detector maps an RGB uint8 image to boxes `[x, y, w, h]` in the image's own pixel coordinates, largest
face first. Faces from `MIN_FACE` pixels up are found, several per image. Detection runs on a resized copy of
the image: photos are shrunk so that the smallest wanted face just fills the detector's window (no detail
is lost, the work drops with the square of the scale), and tiny images (pre-cropped faces) are enlarged so
the detector has room to slide.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from ferkit.errors import FerkitError

DETECTORS = ("haar", "mtcnn", "none")
MIN_FACE = 40
HAAR_CASCADE = "haarcascade_frontalface_default.xml"
HAAR_WINDOW = 24
HAAR_SCALE_STEP = 1.1
HAAR_MIN_NEIGHBORS = 5
MTCNN_MIN_FACE = 20
MTCNN_MIN_CONFIDENCE = 0.9
MIN_DETECTION_SIDE = 160
MAX_DETECTION_SIDE = 1280


class DetectorError(FerkitError):
    """An unknown or unavailable face detector."""


@dataclass(frozen=True)
class FaceBox:
    """One detected face: top-left corner, width and height in original pixels; `score` if the detector
    gives one (MTCNN's confidence; None for Haar and `none`)."""

    x: int
    y: int
    w: int
    h: int
    score: float | None = None

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def _effective_min_face(shape: tuple[int, ...], min_face: int) -> int:
    """`min_face`, but at most half the short side, so a small image can still hold a face."""
    return max(1, min(min_face, min(shape[:2]) // 2))


def detection_scale(shape: tuple[int, ...], min_face: int, window: int) -> float:
    """Resize factor for detection: the smallest wanted face becomes `window` pixels, within side limits."""
    short, long = min(shape[:2]), max(shape[:2])
    scale = window / _effective_min_face(shape, min_face)
    scale = max(scale, MIN_DETECTION_SIDE / short)
    return min(scale, MAX_DETECTION_SIDE / long)


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _to_original(boxes, scale: float, shape: tuple[int, ...], scores=None) -> list[FaceBox]:
    """Boxes found at `scale` → FaceBoxes in original pixels, clipped to the image, largest first."""
    height, width = shape[:2]
    found = []
    for index, (x, y, w, h) in enumerate(boxes):
        x0, y0 = max(0, round(x / scale)), max(0, round(y / scale))
        x1, y1 = min(width, round((x + w) / scale)), min(height, round((y + h) / scale))
        if x1 > x0 and y1 > y0:
            score = None if scores is None else float(scores[index])
            found.append(FaceBox(x0, y0, x1 - x0, y1 - y0, score))
    return sorted(found, key=lambda box: box.area, reverse=True)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade on the grey image (one cascade per thread: it is not thread-safe).

    No histogram equalisation: on photos with large flat areas it stretches the background's grey levels
    and hides faces that the plain grey image shows.
    """

    name = "haar"

    def __init__(self, min_face: int = MIN_FACE):
        self.min_face = min_face
        self._local = threading.local()
        self._cascade()

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + HAAR_CASCADE)
            if cascade.empty():
                raise DetectorError(f"OpenCV has no Haar cascade {HAAR_CASCADE} (opencv 5.x wheels ship "
                                    "none; install opencv-python-headless<5)")
            self._local.cascade = cascade
        return cascade

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        scale = detection_scale(rgb.shape, self.min_face, HAAR_WINDOW)
        gray = cv2.cvtColor(_resized(rgb, scale), cv2.COLOR_RGB2GRAY)
        smallest = max(HAAR_WINDOW, round(_effective_min_face(rgb.shape, self.min_face) * scale))
        boxes = self._cascade().detectMultiScale(
            gray, scaleFactor=HAAR_SCALE_STEP, minNeighbors=HAAR_MIN_NEIGHBORS, minSize=(smallest, smallest))
        return _to_original(boxes, scale, rgb.shape)


class MtcnnDetector:
    """MTCNN from the `mtcnn` package (weights ship in its wheel); faces below 90 % confidence are dropped.

    mtcnn 1.0.0 fails on `min_face_size` values other than its default of 20, so the image is scaled instead
    to make its 20-pixel minimum equal `min_face` original pixels.
    """

    name = "mtcnn"

    def __init__(self, min_face: int = MIN_FACE, min_confidence: float = MTCNN_MIN_CONFIDENCE):
        try:
            from mtcnn import MTCNN
        except ImportError:
            raise DetectorError("the mtcnn detector needs the mtcnn package: "
                                "pip install 'ferkit[detect]'") from None
        self.min_face = min_face
        self.min_confidence = min_confidence
        self._mtcnn = MTCNN()
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        scale = detection_scale(rgb.shape, self.min_face, MTCNN_MIN_FACE)
        with self._lock:
            found = self._mtcnn.detect_faces(np.ascontiguousarray(_resized(rgb, scale)))
        kept = [face for face in found if face["confidence"] >= self.min_confidence]
        return _to_original([face["box"] for face in kept], scale, rgb.shape,
                            scores=[face["confidence"] for face in kept])


class WholeImageDetector:
    """`none`: the whole image is one face (for pre-cropped faces such as FER-2013 or CK+)."""

    name = "none"

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        height, width = rgb.shape[:2]
        return [FaceBox(0, 0, width, height)]


def make_detector(name: str, min_face: int = MIN_FACE):
    """A new detector by name: `haar`, `mtcnn` or `none`."""
    if name == "haar":
        return HaarDetector(min_face)
    if name == "mtcnn":
        return MtcnnDetector(min_face)
    if name == "none":
        return WholeImageDetector()
    raise DetectorError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")


@functools.cache
def shared_detector(name: str):
    """One detector per name for the whole process (MTCNN takes seconds to load)."""
    return make_detector(name)


def crop_largest_face(image: np.ndarray, detector: str, metadata) -> np.ndarray | None:
    """The largest face of `image` framed for the model described by `metadata`, or None if there is none.

    Args:
        image: (H, W, 3) RGB or (H, W)/(H, W, 1) grayscale uint8.
        detector: `haar`, `mtcnn` or `none`.
        metadata: the model's `ModelMetadata` (image size, colour mode, face margin).
    """
    from ferkit.inference.framing import as_rgb, frame_face, framing_for

    rgb = as_rgb(image)
    detector_object = shared_detector(detector)
    boxes = detector_object.detect(rgb)
    if not boxes:
        return None
    return frame_face(rgb, boxes[0], metadata, framing_for(detector_object.name, metadata))
