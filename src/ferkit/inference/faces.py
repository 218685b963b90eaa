"""The face front-end as prediction uses it: the names of `ferkit.faces` that the recognizer and the server
build detectors with (the code lives in `ferkit.faces`, which evaluation uses too)."""

from ferkit.faces import DEFAULT_DETECTOR, DETECTORS, MIN_FACE, DetectorError, FaceBox, make_detector

__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "MIN_FACE", "DetectorError", "FaceBox", "make_detector"]
