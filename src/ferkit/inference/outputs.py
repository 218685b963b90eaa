"""Writing prediction outputs atomically: a file appears complete under its name, or not at all."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ferkit.files import atomic_path


def write_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Encode an RGB image by the path's suffix (`.png`, `.jpg`) and write it atomically."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix, np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f"OpenCV cannot encode an image as {path.suffix}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return path
