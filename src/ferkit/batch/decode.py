"""Decoding a batch job's files into frames: an image is one frame, a video is sampled at `fps`.

Pixels are decoded where they are classified (inside the worker that owns the file), so only file names
and face rows ever travel between machines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ferkit.data.images import decode_image
from ferkit.inference.video import VideoError, is_video, open_video, sample_step, sampled_frames


@dataclass(frozen=True)
class Frame:
    """One picture to look for faces in: `frame` and `time_s` are None for a still image."""

    file: str
    frame: int | None
    time_s: float | None
    rgb: np.ndarray


def check_fps(fps: float | None) -> None:
    """Reject a non-positive `fps` before any work starts."""
    if fps is not None and not fps > 0:
        raise VideoError(f"fps must be positive, got {fps}")


def video_frames(path: str, fps: float | None) -> Iterator[Frame]:
    """The sampled frames of a video (every frame when `fps` is None); raises `VideoError` when it cannot
    be opened or holds no frame at all."""
    with open_video(path) as (capture, info):
        step = sample_step(info.fps, fps)
        empty = True
        for index, rgb in sampled_frames(capture, step):
            empty = False
            yield Frame(path, index, round(index / info.fps, 6), rgb)
        if empty:
            raise VideoError(f"{path}: no frame could be decoded (empty or corrupt video)")


def frames_of(path: str, fps: float | None = None) -> Iterator[Frame]:
    """Every frame to classify in one file; raises a `FerkitError` naming the file when it is unusable."""
    if is_video(path):
        yield from video_frames(path, fps)
    else:
        yield Frame(path, None, None, decode_image(path))
