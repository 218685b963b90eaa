"""The model behind the service: `build_recognizer` makes it from `ServeSettings`, `ModelService` loads it,
describes it (`/v1/model`) and runs one image through it on the thread pool."""

from __future__ import annotations

import hashlib
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ferkit.data.images import decode_image
from ferkit.serving.settings import ServeSettings

log = logging.getLogger("ferkit.serving")


def build_recognizer(settings: ServeSettings):
    """The `EmotionRecognizer` the settings describe: their classifier file and runtime, their face detector."""
    from ferkit.inference import EmotionRecognizer, load_classifier
    from ferkit.inference.faces import make_detector
    from ferkit.inference.shipped import resolve_model

    classifier = load_classifier(resolve_model(settings.model, settings.runtime), settings.runtime,
                                 trust_model=settings.trust_model)
    detector = make_detector(settings.detector, settings.min_face)
    return EmotionRecognizer(classifier, detector)


class ModelService:
    """The loaded recognizer, its model card, and the thread pool that runs it."""

    def __init__(self, settings: ServeSettings, recognizer=None):
        self.settings = settings
        self.recognizer = recognizer
        self.card: dict[str, Any] | None = _model_card(recognizer, settings.model) if recognizer else None
        self.load_error: str | None = None
        self.executor: ThreadPoolExecutor | None = None

    @property
    def ready(self) -> bool:
        return self.recognizer is not None

    def load(self) -> None:
        """Load the recognizer and run one warm-up prediction, so the first request is not slow."""
        started = time.perf_counter()
        recognizer = build_recognizer(self.settings)
        _warm_up(recognizer)
        self.card = _model_card(recognizer, self.settings.model)
        self.recognizer = recognizer
        log.info("model %s loaded in %.1f s", self.card["name"], time.perf_counter() - started)

    def analyse(self, data: bytes, name: str, annotate: str | None) -> tuple[dict[str, Any], bytes | None]:
        """Decode, detect and classify one image (runs on the thread pool)."""
        started = time.perf_counter()
        rgb = decode_image(data, name=name, max_pixels=self.settings.max_pixels,
                           max_side=self.settings.max_image_side)
        width, height, scale = _original_size(data, rgb)
        decoded = time.perf_counter()
        result = self.recognizer.predict(rgb)
        predicted = time.perf_counter()
        image = None
        if annotate:
            image = _encode(self._annotate(rgb, result), annotate)
        response = {
            **_in_original_pixels(result.to_json(file=name), scale, width, height),
            "image": {"width": width, "height": height},
            "model": {"name": self.card["name"], "version": self.card["version"]},
            "timing_ms": {"decode": milliseconds(decoded - started),
                          "inference": milliseconds(predicted - decoded)},
        }
        return response, image

    def _annotate(self, rgb: np.ndarray, result) -> np.ndarray:
        from ferkit.inference import annotate

        return annotate(rgb, result)


def _warm_up(recognizer) -> None:
    """Run the detector once and trace the classifier for one face and for a few, before serving."""
    height, width = recognizer.metadata.image_size
    channels = 1 if recognizer.metadata.color_mode == "grayscale" else 3
    for count in (1, 2):
        recognizer.classifier.predict_proba(np.zeros((count, height, width, channels), np.uint8))
    recognizer.predict(np.zeros((240, 320, 3), np.uint8))


def _original_size(data: bytes, rgb: np.ndarray) -> tuple[int, int, float]:
    """Width and height of the image before `decode_image` shrank it, and the factor it shrank it by."""
    height, width = rgb.shape[:2]
    with Image.open(io.BytesIO(data)) as image:
        scale = max(image.size) / max(height, width)
    if scale <= 1:
        return width, height, 1.0
    return round(width * scale), round(height * scale), scale


def _in_original_pixels(prediction: dict[str, Any], scale: float, width: int, height: int) -> dict[str, Any]:
    """The prediction's face boxes (and landmarks, if any) scaled from the decoded image back to the original's
    pixels, clipped to it."""
    if scale == 1.0:
        return prediction

    def point(x: float, y: float) -> list[int]:
        return [min(round(x * scale), width), min(round(y * scale), height)]

    def landmarks(value):
        if isinstance(value, dict):
            return {key: landmarks(item) for key, item in value.items()}
        if len(value) == 2 and all(isinstance(item, (int, float)) for item in value):
            return point(*value)
        return [landmarks(item) for item in value]

    faces = []
    for face in prediction["faces"]:
        x, y, w, h = face["box"]
        (x0, y0), (x1, y1) = point(x, y), point(x + w, y + h)
        face = {**face, "box": [x0, y0, x1 - x0, y1 - y0]}
        if face.get("landmarks") is not None:
            face["landmarks"] = landmarks(face["landmarks"])
        faces.append(face)
    return {**prediction, "faces": faces}


def milliseconds(seconds: float) -> float:
    """Seconds → milliseconds rounded to 0.01, as the API reports timings."""
    return round(seconds * 1000, 2)


def _encode(rgb: np.ndarray, fmt: str) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png" if fmt == "png" else ".jpg", rgb[..., ::-1])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the annotated image as {fmt}")
    return encoded.tobytes()


def _model_card(recognizer, model_path: str | Path | None) -> dict[str, Any]:
    """Name, version, classes, input size and metrics of the recognizer's model, for `/v1/model`."""
    metadata = recognizer.metadata
    path = Path(recognizer.model_path) if getattr(recognizer, "model_path", None) else (
        Path(model_path) if model_path else None)
    extra = dict(metadata.extra or {})
    version = extra.get("version")
    if version is None and path is not None and path.is_file():
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return {
        "name": path.stem if path else metadata.architecture,
        "version": str(version or "unknown"),
        "architecture": metadata.architecture,
        "classes": list(metadata.class_names),
        "input_size": list(metadata.image_size),
        "color_mode": metadata.color_mode,
        "temperature": metadata.temperature,
        "detector": {"name": recognizer.detector.name, "min_face": getattr(recognizer.detector, "min_face", None)},
        "metrics": extra.get("metrics", {}),
        "extra": {key: value for key, value in extra.items() if key not in ("metrics", "version")},
    }
