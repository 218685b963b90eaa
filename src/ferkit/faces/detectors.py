"""Face detectors by name: YuNet (default: fast, five landmarks), OpenCV's Haar cascade, MTCNN, or `none` (the
image is the face).

Every detector maps an RGB uint8 image to `FaceBox`es in the image's own pixel coordinates, largest face
first, from `min_face` pixels up, several per image; no face is an empty list.
"""

from __future__ import annotations

import functools
import threading

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces.boxes import FaceBox, detection_scale, effective_min_face, resized, to_original

DETECTORS = ("yunet", "haar", "mtcnn", "none")
DEFAULT_DETECTOR = "yunet"
MIN_FACE = 32
HAAR_CASCADE = "haarcascade_frontalface_default.xml"
HAAR_WINDOW = 24
HAAR_SCALE_STEP = 1.1
HAAR_MIN_NEIGHBORS = 5
MTCNN_MIN_FACE = 20
MTCNN_MIN_CONFIDENCE = 0.9


class DetectorError(FerkitError):
    """An unknown or unavailable face detector."""


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
        gray = cv2.cvtColor(resized(rgb, scale), cv2.COLOR_RGB2GRAY)
        smallest = max(HAAR_WINDOW, round(effective_min_face(rgb.shape, self.min_face) * scale))
        boxes = self._cascade().detectMultiScale(
            gray, scaleFactor=HAAR_SCALE_STEP, minNeighbors=HAAR_MIN_NEIGHBORS, minSize=(smallest, smallest))
        return to_original(boxes, scale, rgb.shape)


class MtcnnDetector:
    """MTCNN from the `mtcnn` package (weights ship in its wheel); faces below 90 % confidence are dropped.

    mtcnn 1.0.0 fails on `min_face_size` values other than its default of 20, so the image is scaled instead
    to make its 20-pixel minimum equal `min_face` original pixels.
    """

    name = "mtcnn"
    # mtcnn's keypoint names, in `LANDMARK_NAMES` order (its "right" is the image right: the subject's left).
    KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

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
            found = self._mtcnn.detect_faces(np.ascontiguousarray(resized(rgb, scale)))
        kept = [face for face in found if face["confidence"] >= self.min_confidence]
        landmarks = [[face["keypoints"][name] for name in self.KEYPOINTS] for face in kept]
        return to_original([face["box"] for face in kept], scale, rgb.shape,
                           scores=[face["confidence"] for face in kept], landmarks=landmarks)


class WholeImageDetector:
    """`none`: the whole image is one face (for pre-cropped faces such as FER-2013 or CK+)."""

    name = "none"

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        height, width = rgb.shape[:2]
        return [FaceBox(0, 0, width, height)]


def make_detector(name: str = DEFAULT_DETECTOR, min_face: int = MIN_FACE):
    """A new detector by name: `yunet`, `haar`, `mtcnn` or `none`."""
    if name == "yunet":
        from ferkit.faces.yunet import YuNetDetector

        return YuNetDetector(min_face)
    if name == "haar":
        return HaarDetector(min_face)
    if name == "mtcnn":
        return MtcnnDetector(min_face)
    if name == "none":
        return WholeImageDetector()
    raise DetectorError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")


@functools.cache
def shared_detector(name: str, min_face: int = MIN_FACE):
    """One detector per name and minimum face size for the whole process (MTCNN takes seconds to load)."""
    return make_detector(name, min_face)
