"""`EmotionRecognizer`: faces in, emotions out.

    recognizer = EmotionRecognizer.load()            # the shipped default model (ONNX), YuNet face detection
    for face in recognizer.predict("photo.jpg"):
        print(face.box, face.landmarks, face.emotion, face.confidence)

Each image goes through detection (boxes and five landmarks in original pixels), alignment or framing (each
face warped or cut the way the model's training faces were framed, see `ferkit.faces`) and one batched
classifier call for all its faces. `predict_many` sends the faces of
many images through the classifier together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.data.images import decode_image, pil_to_rgb
from ferkit.errors import FerkitError
from ferkit.faces import DEFAULT_DETECTOR, LANDMARK_NAMES, MIN_FACE, FaceBox, make_detector
from ferkit.faces.framing import as_rgb, framing_for, model_input
from ferkit.inference.classifier import Classifier, load_classifier
from ferkit.inference.shipped import DEFAULT_MODEL, resolve_model

JSON_DECIMALS = 4
KERAS_FOR_GRADCAM = ("a Keras model file (.keras or .h5): Grad-CAM reads the network's gradients, which "
                     "exported runtimes do not expose")


def load_image(image: Any, name: str | None = None) -> np.ndarray:
    """Any supported image input → (H, W, 3) RGB uint8.

    Accepts a path (str or Path), encoded bytes, a PIL image, or a uint8 numpy array in **RGB** channel order
    ((H, W, 3); (H, W) or (H, W, 1) grayscale; (H, W, 4) RGBA). Arrays from `cv2.imread` are BGR: convert
    them first with `cv2.cvtColor(array, cv2.COLOR_BGR2RGB)`.
    """
    if isinstance(image, str | Path | bytes):
        return decode_image(image, name=name)
    if isinstance(image, np.ndarray):
        return as_rgb(image)
    from PIL import Image

    if isinstance(image, Image.Image):
        return pil_to_rgb(image)
    raise FerkitError(f"cannot read an image from a {type(image).__name__}; pass a path, bytes, a numpy "
                      "array or a PIL image")


def _rounded(value: float) -> float:
    return round(float(value), JSON_DECIMALS)


@dataclass
class Face:
    """One face: where it is and what the model thinks it shows.

    Args:
        box: `[x, y, w, h]` in the original image's pixels.
        emotion: the most probable class.
        confidence: its probability (calibrated with the model's temperature).
        probabilities: every class's probability.
        detector_score: the detector's confidence, when it gives one (YuNet, MTCNN).
        landmarks: `{"right_eye": (x, y), "left_eye", "nose", "mouth_right", "mouth_left"}` in image pixels
            (the subject's right and left), or None for detectors without landmarks (Haar, `none`).
        region: `(x0, y0, x1, y1)` the model's crop was cut from (may reach past the image border).
        track: in a video, the id of the person this face belongs to across frames (None for photos).
        crop: the model input for this face (H, W, C) uint8.
        transform: for an aligned face, the 2×3 similarity transform from image pixels to `crop` pixels.
        heatmap: Grad-CAM map over `region` in [0, 1], once `EmotionRecognizer.explain` has run.
    """

    box: list[int]
    emotion: str
    confidence: float
    probabilities: dict[str, float]
    detector_score: float | None = None
    landmarks: dict[str, tuple[float, float]] | None = None
    region: tuple[int, int, int, int] | None = None
    track: int | None = None
    crop: np.ndarray | None = field(default=None, repr=False)
    transform: np.ndarray | None = field(default=None, repr=False)
    heatmap: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        fields = {
            "box": [int(v) for v in self.box],
            "landmarks": None if self.landmarks is None else {
                name: [round(float(x), 1), round(float(y), 1)] for name, (x, y) in self.landmarks.items()},
            "emotion": self.emotion,
            "confidence": _rounded(self.confidence),
            "probabilities": {name: _rounded(p) for name, p in self.probabilities.items()},
        }
        if self.track is not None:
            fields["track"] = self.track
        return fields


class Prediction(list):
    """The faces found in one image, largest first: a plain list of `Face`, plus JSON output."""

    def __init__(self, faces=(), image_size: tuple[int, int] | None = None):
        super().__init__(faces)
        self.image_size = image_size

    def to_json(self, file: str | None = None, frame: int | None = None) -> dict[str, Any]:
        """`{"file", "frame", "faces": [...], "error": null}`: one line of `ferkit predict`'s output."""
        return record(file, frame, faces=[face.to_json() for face in self])


def record(file: str | None, frame: int | None = None, faces: list | None = None,
           error: str | None = None) -> dict[str, Any]:
    """One output record; a failed input has `"faces": []` and the reason in `"error"`."""
    return {"file": file, "frame": frame, "faces": faces or [], "error": error}


class EmotionRecognizer:
    """Detect faces, frame them like the training faces and classify their emotion.

    Args:
        classifier: a `Classifier` (see `ferkit.inference.classifier.load_classifier`).
        detector: a detector name (`yunet`, `haar`, `mtcnn`, `none`) or object with `name` and `detect(rgb)`.
        min_face: smallest face side, in pixels, a named detector looks for.
        align: warp faces with landmarks upright onto the training faces' landmark template.
    """

    def __init__(self, classifier: Classifier, detector=DEFAULT_DETECTOR, min_face: int = MIN_FACE,
                 align: bool = True):
        self.classifier = classifier
        self.detector = make_detector(detector, min_face) if isinstance(detector, str) else detector
        self.metadata = classifier.metadata
        self.model_path = getattr(classifier, "path", None)
        self.framing = framing_for(self.detector.name, self.metadata)
        self.align = align
        self._gradcam = None

    @classmethod
    def load(cls, model: str | Path | None = DEFAULT_MODEL, detector: str = DEFAULT_DETECTOR,
             runtime: str = "auto", min_face: int = MIN_FACE, align: bool = True, trust_model: bool = False):
        """Load a shipped model by name or a model file, and a face detector.

        Args:
            model: a shipped model's name (`"default"`, see `ferkit.inference.shipped`; None means the
                default) or a `.onnx`, `.keras`, `.h5` or `.tflite` model file.
            detector: `yunet` (default: fast, landmarks), `haar`, `mtcnn` or `none` (each image is one face).
            runtime: "auto" (from the file) or keras / onnx / litert / saved_model; "keras" with a shipped
                name runs the shipped model's Keras source (Grad-CAM needs it; `ferkit[train]`).
            min_face: smallest face side, in pixels, to look for (larger is faster).
            align: warp faces upright by their landmarks (YuNet, MTCNN) before classifying.
            trust_model: allow a TensorFlow SavedModel folder (see `load_classifier`).
        """
        return cls(load_classifier(resolve_model(model, runtime), runtime, trust_model=trust_model), detector,
                   min_face, align)

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata.class_names)

    def predict(self, image: Any) -> Prediction:
        """The faces in one image, largest first (an empty list when there is none).

        Args:
            image: a path, encoded bytes, a PIL image, or a uint8 numpy array in RGB order ((H, W, 3) RGB,
                (H, W) grayscale); see `load_image`.
        """
        return self.predict_many([image])[0]

    def predict_many(self, images: list[Any]) -> list[Prediction]:
        """`predict` for many images, with all their faces classified in one batched call.

        Raises `FerkitError` (e.g. `ImageDecodeError`) for the first input that is not a usable image; decode
        inputs first with `load_image` to handle bad ones one by one, as `ferkit predict` does.
        """
        rgbs = [load_image(image) for image in images]
        found = [self.detector.detect(rgb) for rgb in rgbs]
        inputs = [model_input(rgb, box, self.metadata, self.framing, self.align)
                  for rgb, boxes in zip(rgbs, found, strict=True) for box in boxes]
        crops = [crop for crop, _, _ in inputs]
        probabilities = self.classifier.predict_proba(np.stack(crops)) if crops else np.zeros((0, 0))
        results, start = [], 0
        for rgb, boxes in zip(rgbs, found, strict=True):
            faces = [self._face(box, probabilities[start + i], *inputs[start + i])
                     for i, box in enumerate(boxes)]
            results.append(Prediction(faces, image_size=rgb.shape[:2]))
            start += len(boxes)
        return results

    def _face(self, box: FaceBox, probabilities: np.ndarray, crop: np.ndarray,
              region: tuple[int, int, int, int], transform: np.ndarray | None) -> Face:
        best = int(np.argmax(probabilities))
        return Face(
            box=box.as_list(),
            emotion=self.class_names[best],
            confidence=float(probabilities[best]),
            probabilities={name: float(p) for name, p in zip(self.class_names, probabilities, strict=True)},
            detector_score=box.score,
            landmarks=None if box.landmarks is None else dict(zip(LANDMARK_NAMES, box.landmarks, strict=True)),
            region=region,
            crop=crop,
            transform=transform,
        )

    @property
    def can_explain(self) -> bool:
        """Grad-CAM needs the Keras network's gradients, which exported runtimes (ONNX, LiteRT) do not expose."""
        return getattr(self.classifier, "model", None) is not None

    def explain(self, faces: list[Face]) -> list[Face]:
        """Attach a Grad-CAM heat map (what the model looked at for its answer) to each face; returns them."""
        from ferkit.inference.gradcam import GradCam

        if not self.can_explain:
            raise FerkitError(f"explain() needs {KERAS_FOR_GRADCAM}")
        if not faces:
            return faces
        if self._gradcam is None:
            self._gradcam = GradCam(self.classifier.model, self.metadata)
        classes = [self.class_names.index(face.emotion) for face in faces]
        maps = self._gradcam.heatmaps(np.stack([face.crop for face in faces]), classes)
        for face, heatmap in zip(faces, maps, strict=True):
            face.heatmap = heatmap
        return faces
