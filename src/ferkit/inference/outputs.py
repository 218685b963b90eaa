"""Writing prediction outputs atomically: a file appears complete under its name, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np


def temporary_next_to(path: Path) -> Path:
    """A new empty hidden file in `path`'s folder with the same suffix (so encoders pick the same format)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp_name)


@contextlib.contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path` (same suffix) to write; it replaces `path` only on success."""
    path = Path(path)
    tmp = temporary_next_to(path)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Encode an RGB image by the path's suffix (`.png`, `.jpg`) and write it atomically."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix, np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f"OpenCV cannot encode an image as {path.suffix}")
    with atomic_target(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
    return path
