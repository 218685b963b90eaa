"""Browser-playable annotated video: H.264 (yuv420p, `+faststart`) in MP4 through PyAV, whose wheels ship
FFmpeg with its libx264 encoder (no system FFmpeg needed)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ferkit.errors import FerkitError

CODEC = "libx264"
ENCODER_OPTIONS = {"preset": "veryfast", "crf": "23", "movflags": "+faststart"}


class VideoEncodeError(FerkitError):
    """The annotated video cannot be written."""


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
