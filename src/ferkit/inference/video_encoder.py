"""The annotated video's writer: browser-playable H.264 (yuv420p, `+faststart`) in MP4 through PyAV
(`ferkit[video]`, whose wheels ship FFmpeg with its libx264 encoder, no system FFmpeg needed), else OpenCV's
own MPEG-4 Part 2 (mp4v) in MP4, which the plain install can write and video players (not browsers) play."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.extras import installed, warn_missing

CODEC = "libx264"
ENCODER_OPTIONS = {"preset": "veryfast", "crf": "23", "movflags": "+faststart"}


class VideoEncodeError(FerkitError):
    """The annotated video cannot be written."""


def open_video_writer(path: Path, size: tuple[int, int], fps: float):
    """An `H264Writer` when PyAV is installed, else an `Mp4vWriter` (with a `MissingExtraWarning`)."""
    if installed("av"):
        return H264Writer(path, size, fps)
    warn_missing("annotated video written as mp4v, which browsers do not play", "H.264", "video")
    return Mp4vWriter(path, size, fps)


class H264Writer:
    """Writes RGB frames of one size into an H.264 MP4 at `fps` (even width and height, as yuv420p needs)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float):
        import av

        width, height = size
        self.size = (width - width % 2 or 2, height - height % 2 or 2)
        try:
            self._container = av.open(str(path), mode="w", format="mp4",
                                      options={"movflags": ENCODER_OPTIONS["movflags"]})
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream(CODEC, rate=rate)
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoEncodeError(f"cannot write an H.264 video into {path}: {exc}") from None
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {key: value for key, value in ENCODER_OPTIONS.items() if key != "movflags"}
        self._frame_type = av.VideoFrame

    def write(self, rgb: np.ndarray) -> None:
        width, height = self.size
        frame = self._frame_type.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


class Mp4vWriter:
    """Writes RGB frames of one size into an MPEG-4 Part 2 (mp4v) MP4 at `fps`, with OpenCV."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float):
        self.size = size
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._writer.isOpened():
            raise VideoEncodeError(f"cannot write an mp4v video into {path}")

    def write(self, rgb: np.ndarray) -> None:
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish and close the file."""
        self._writer.release()
