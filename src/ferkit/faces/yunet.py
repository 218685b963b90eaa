"""YuNet: a small CNN face detector with five landmarks, run through OpenCV's `cv2.FaceDetectorYN`.

The model file (`face_detection_yunet_2023mar.onnx`, 232 KB, MIT licence in `LICENSE-yunet.txt` beside it;
source: the OpenCV model zoo) ships inside the package and is checked against its sha256 when first loaded.

Detection runs on a copy resized so that the smallest wanted face is `YUNET_WINDOW` pixels wide (YuNet finds
faces down to about 12-17 px). A face that fills the image (a tight crop, as in SFEW or CK+) leaves the
detector little context; when nothing is found in a small face-shaped image, it is searched again with a grey
border around it (and, on request, taken whole if even that finds nothing; see `YuNetDetector`). Larger
images are not searched twice. Detections YuNet is unsure of get a closer look on enlarged, turned views
(`ferkit.faces.second_look`), so small, blurred and rolled faces are found too; a frame without any
face-like candidate costs no more than the one pass.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from importlib import resources

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces.boxes import FaceBox, detection_scale, effective_min_face, resized, to_original
from ferkit.faces.second_look import CANDIDATE_THRESHOLD, VIEW_FLOOR, second_look

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_WINDOW = 16
YUNET_MAX_SIDE = 1280
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
TOP_K = 5000
RETRY_BORDER = 0.25
TIGHT_CROP_MIN_SIDE = 24
TIGHT_CROP_MAX_SIDE = 320
TIGHT_CROP_ASPECT = (0.5, 2.0)


class DetectorModelError(FerkitError):
    """The vendored detector model file is missing or damaged."""


def yunet_path():
    """Where the vendored YuNet model lives inside the installed package."""
    return resources.files("ferkit.faces") / "data" / YUNET_FILE


@functools.cache
def yunet_model_bytes() -> bytes:
    """The vendored YuNet model's bytes, after checking its sha256 (read once per process)."""
    path = yunet_path()
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DetectorModelError(f"the YuNet face detector model {path} cannot be read ({exc.strerror})") from None
    actual = hashlib.sha256(content).hexdigest()
    if actual != YUNET_SHA256:
        raise DetectorModelError(f"{path} is damaged: its sha256 {actual} is not {YUNET_SHA256}; reinstall ferkit")
    return content


def is_tight_crop_shaped(shape: tuple[int, ...]) -> bool:
    """A small, roughly face-shaped image: probably a pre-cropped face (FER-2013, SFEW, CK+)."""
    height, width = shape[:2]
    low, high = TIGHT_CROP_ASPECT
    return (min(height, width) >= TIGHT_CROP_MIN_SIDE and max(height, width) <= TIGHT_CROP_MAX_SIDE
            and low <= height / width <= high)


class YuNetDetector:
    """YuNet through `cv2.FaceDetectorYN`: boxes with a score and five landmarks.

    Thread-safe: each thread gets its own `cv2.FaceDetectorYN` (one network instance is not safe to share),
    all built from the same checked model bytes.

    Args:
        min_face: smallest face side, in original pixels, to find (larger is faster).
        score_threshold: YuNet scores below this are dropped (or, with `second_look`, checked again).
        second_look: check unsure detections on enlarged, turned views (see `ferkit.faces.second_look`).
        whole_image_fallback: when nothing is found in a small face-shaped image (even with a border), return
            the whole image as the face, as for a pre-cropped face. Off by default: it also turns a small
            image or video frame without a face into a "face".
    """

    name = "yunet"

    def __init__(self, min_face: int = 32, score_threshold: float = SCORE_THRESHOLD,
                 whole_image_fallback: bool = False, second_look: bool = True):
        self.min_face = min_face
        self.score_threshold = score_threshold
        self.whole_image_fallback = whole_image_fallback
        self.second_look = second_look
        self._model = yunet_model_bytes()
        self._local = threading.local()

    def _network(self, role: str, size: tuple[int, int], threshold: float):
        """This thread's network for `role` ("scan" or "view"), set to `size` (width, height)."""
        networks = self._local.__dict__.setdefault("networks", {})
        network, current = networks.get(role, (None, None))
        if network is None:
            network = cv2.FaceDetectorYN.create("onnx", np.frombuffer(self._model, np.uint8), np.zeros(0, np.uint8),
                                                size, threshold, NMS_THRESHOLD, TOP_K)
        elif current != size:
            network.setInputSize(size)
        networks[role] = (network, size)
        return network

    def _run(self, bgr: np.ndarray, role: str = "scan") -> np.ndarray:
        """YuNet's raw N×15 rows (box, five landmarks, score) on a BGR image; a scan keeps the candidates
        for a second look too, a view (of a candidate) whatever scores at least `VIEW_FLOOR`."""
        height, width = bgr.shape[:2]
        if role == "view":
            threshold = VIEW_FLOOR
        else:
            threshold = min(CANDIDATE_THRESHOLD, self.score_threshold) if self.second_look else self.score_threshold
        _, faces = self._network(role, (width, height), threshold).detect(bgr)
        if faces is None:
            return np.zeros((0, 15), np.float32)
        return faces[np.isfinite(faces).all(axis=1)]  # degenerate inputs can yield non-finite rows

    def _view_rows(self, view: np.ndarray) -> np.ndarray:
        return self._run(view, "view")

    def _detect_at(self, bgr: np.ndarray, scale: float, offset: tuple[float, float],
                   shape: tuple[int, ...]) -> list[FaceBox]:
        rows = self._run(bgr)
        if self.second_look:
            smallest = 0.75 * effective_min_face(shape, self.min_face) * scale
            rows = second_look(self._view_rows, bgr, rows, self.score_threshold, smallest, NMS_THRESHOLD)
        return to_original(rows[:, 0:4], scale, shape, scores=rows[:, 14],
                           landmarks=rows[:, 4:14].reshape(-1, 5, 2), offset=offset)

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        scale = detection_scale(rgb.shape, self.min_face, YUNET_WINDOW, max_side=YUNET_MAX_SIDE)
        if min(rgb.shape[:2]) * scale < YUNET_WINDOW:  # a sliver (e.g. 3×500 px) holds no findable face
            return []
        bgr = cv2.cvtColor(resized(rgb, scale), cv2.COLOR_RGB2BGR)
        found = self._detect_at(bgr, scale, (0.0, 0.0), rgb.shape)
        if found or not is_tight_crop_shaped(rgb.shape):
            return self._large_enough(found, rgb.shape)
        # Nothing found in a small face-shaped image: a face filling it may just need context around it.
        border = round(max(bgr.shape[:2]) * RETRY_BORDER)
        padded = cv2.copyMakeBorder(bgr, border, border, border, border, cv2.BORDER_CONSTANT,
                                    value=(127, 127, 127))
        found = self._detect_at(padded, scale, (-border / scale, -border / scale), rgb.shape)
        if found:
            return self._large_enough(found, rgb.shape)
        if self.whole_image_fallback and is_tight_crop_shaped(rgb.shape):
            height, width = rgb.shape[:2]
            return [FaceBox(0, 0, width, height)]
        return []

    def _large_enough(self, boxes: list[FaceBox], shape: tuple[int, ...]) -> list[FaceBox]:
        """Drop faces clearly below the minimum face size (YuNet also reports some smaller ones)."""
        smallest = 0.75 * effective_min_face(shape, self.min_face)
        return [box for box in boxes if max(box.w, box.h) >= smallest]
