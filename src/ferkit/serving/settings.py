"""How the web service loads its model and protects itself: `ServeSettings`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferkit.data.images import MAX_PIXELS
from ferkit.inference.faces import MIN_FACE

MEGABYTE = 1024 * 1024
SERVE_MAX_PIXELS = min(MAX_PIXELS, 25_000_000)  # a 24-megapixel camera photo passes; a bomb does not


@dataclass(frozen=True)
class ServeSettings:
    """How the service loads its model and protects itself.

    Args:
        model: model file (.keras/.h5/.onnx/.tflite); None = the model shipped with ferkit.
        detector: face detector name passed to the recognizer.
        min_face: smallest face side, in pixels, the detector looks for; detection cost falls with its square.
        runtime: classifier runtime passed to the recognizer ("auto" picks by file type).
        max_body_bytes: request bodies above this are refused with 413 while they stream in.
        max_pixels: decoded images above this many pixels are refused with 413 (decompression bombs).
        threads: size of the thread pool that decodes images and runs inference.
        body_timeout: seconds a client may take to send its whole body before getting 408.
        drain_max_bytes: after refusing a body (413 and other early answers) the server reads and discards up
            to this many of its bytes, so clients that send everything before reading still get the answer.
        max_image_side: larger images are decoded at a reduced size (boxes are still reported in the original
            pixels), which bounds the time and memory a huge but valid image costs.
        trust_model: allow a TensorFlow SavedModel folder (see `ferkit.inference.classifier.load_classifier`).
    """

    model: str | Path | None = None
    detector: str = "yunet"
    min_face: int = MIN_FACE
    runtime: str = "auto"
    max_body_bytes: int = 10 * MEGABYTE
    max_pixels: int = SERVE_MAX_PIXELS
    threads: int = 2
    body_timeout: float = 30.0
    drain_max_bytes: int = 64 * MEGABYTE
    max_image_side: int = 4096
    trust_model: bool = False
