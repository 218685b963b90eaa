"""Faces in images: detection (YuNet by default, Haar, MTCNN or `none`), five landmarks, alignment and framing
for the classifier, and tracking across video frames.

This package depends only on `ferkit.errors`, `ferkit.data`, numpy and OpenCV, so that both evaluation and
inference can use it.
"""

from ferkit.faces.boxes import LANDMARK_NAMES, FaceBox
from ferkit.faces.detectors import (
    DEFAULT_DETECTOR,
    DETECTORS,
    MIN_FACE,
    DetectorError,
    make_detector,
    shared_detector,
)

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "LANDMARK_NAMES", "MIN_FACE", "DetectorError", "FaceBox",
           "make_detector", "shared_detector"]
