"""Emotions over a video: frames streamed with OpenCV, sampled, batched through the recognizer, faces tracked
as people across frames and their probabilities smoothed per person.

Memory stays flat whatever the video's length: frames are decoded one at a time (skipped frames are only
grabbed, not decoded), `batch_frames` sampled frames at a time go through the recognizer together (all
their faces in one classifier call), and the timeline files are written as the frames come.

Every face gets a `track` id that stays with the person while they are in view (`ferkit.faces.tracking`);
its emotion, confidence and probabilities are the track's exponential moving average (half-life
`smooth_seconds`; 0 gives each frame's own answer).

With an output folder, each video gives `<name>.annotated.mp4` (the sampled frames, annotated, at the
sampling rate; H.264, which plays in browsers, with `ferkit[video]`, else mp4v), `<name>.timeline.csv` (one
row per face and sampled frame, with its track), `<name>.timeline.json` (every face of every sampled frame),
`<name>.timeline.png` (each person's probabilities over time, with `ferkit[plots]`) and
`<name>.summary.json` (the share of time per emotion, the dominant emotion, the runs of one emotion over time
and each track's span and dominant emotion).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from ferkit.errors import FerkitError
from ferkit.faces.tracking import HALF_LIFE_SECONDS, FaceTracker, ProbabilitySmoother
from ferkit.inference.timeline import EmotionTimeline, TimelineWriter

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
DEFAULT_BATCH_FRAMES = 16
FALLBACK_FPS = 25.0


class VideoError(FerkitError):
    """A video that cannot be opened or decoded, or impossible sampling settings."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frame_count: int
    width: int
    height: int


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def sample_step(video_fps: float, fps: float | None = None, every: int | None = None) -> int:
    """Frames between samples: `every` N-th frame, or `fps` samples per second (default: every frame)."""
    if fps is not None and every is not None:
        raise VideoError("give either a sampling rate (fps) or a frame step (every), not both")
    if every is not None:
        if every < 1:
            raise VideoError(f"the frame step (every) must be at least 1, got {every}")
        return every
    if fps is not None:
        if fps <= 0:
            raise VideoError(f"the sampling rate (fps) must be positive, got {fps}")
        return max(1, round(video_fps / fps))
    return 1


@contextlib.contextmanager
def open_video(path: str | Path) -> Iterator[tuple[cv2.VideoCapture, VideoInfo]]:
    """An opened `cv2.VideoCapture` and what it reports about the video; released on exit."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(f"{path}: cannot open as a video (missing, unsupported or corrupt)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        info = VideoInfo(
            fps=fps if fps and math.isfinite(fps) and fps > 0 else FALLBACK_FPS,
            frame_count=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        yield capture, info
    finally:
        capture.release()


def sampled_frames(capture: cv2.VideoCapture, step: int) -> Iterator[tuple[int, np.ndarray]]:
    """`(frame index, RGB frame)` for every `step`-th frame; the others are grabbed without decoding."""
    index = 0
    while True:
        if index % step == 0:
            ok, frame = capture.read()
            if not ok:
                return
            yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        elif not capture.grab():
            return
        index += 1


def batched(frames: Iterator[tuple[int, np.ndarray]], size: int) -> Iterator[list[tuple[int, np.ndarray]]]:
    batch = []
    for item in frames:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_video(recognizer, path: str | Path, emit: Callable[[dict[str, Any]], None], *,
                  name: str | None = None, fps: float | None = None, every: int | None = None,
                  out_stem: Path | None = None, explain: bool = False,
                  smooth_seconds: float = HALF_LIFE_SECONDS, batch_frames: int = DEFAULT_BATCH_FRAMES,
                  progress: bool | None = None) -> dict[str, Any]:
    """Predict every sampled frame of a video, with faces tracked and smoothed per person; returns the summary.

    Args:
        recognizer: an `EmotionRecognizer`.
        path: the video file.
        emit: called with each sampled frame's JSON record (`"frame"` = frame index), in order.
        name: how to name the video in records (default: the path).
        fps / every: sample N frames per second, or every N-th frame (default: every frame).
        out_stem: write `<out_stem>.annotated.mp4`, `.timeline.csv`, `.timeline.json`, `.timeline.png` and
            `.summary.json`.
        explain: add Grad-CAM heat maps to the annotated video.
        smooth_seconds: half-life of each track's probability average, in seconds (0: no smoothing).
        batch_frames: sampled frames sent through the recognizer together.
        progress: show a progress bar on stderr (None: only when stderr is a terminal).
    """
    name = name or str(path)
    with open_video(path) as (capture, info):
        step = sample_step(info.fps, fps, every)
        timeline = EmotionTimeline(step / info.fps)
        people = PeopleTracker(recognizer.class_names, smooth_seconds)
        writer = TimelineWriter(out_stem, name, (info.width, info.height), info.fps, step,
                                recognizer.class_names) if out_stem else None
        total = math.ceil(info.frame_count / step) if info.frame_count else None
        try:
            disable = None if progress is None else not progress
            with tqdm(total=total, desc=Path(name).name, unit="frame", disable=disable, leave=False) as bar:
                for batch in batched(sampled_frames(capture, step), batch_frames):
                    predictions = recognizer.predict_many([rgb for _, rgb in batch])
                    for (index, rgb), faces in zip(batch, predictions, strict=True):
                        time_s = index / info.fps
                        people.update(faces, time_s)
                        if explain:
                            recognizer.explain(faces)
                        record = faces.to_json(file=name, frame=index)
                        timeline.add(time_s, faces[0].emotion if faces else None, faces)
                        if writer:
                            writer.add(record, time_s, rgb, faces)
                        emit(record)
                    bar.update(len(batch))
            if not timeline.samples:
                raise VideoError(f"{name}: no frame could be decoded")
            summary = timeline.summary(name, info.fps, step)
            if writer:
                writer.finish(summary)
                writer = None
            return summary
        finally:
            if writer:
                writer.discard()


class PeopleTracker:
    """Gives each face of successive frames its person's track id and that track's smoothed probabilities
    (emotion and confidence follow them)."""

    def __init__(self, class_names: list[str], smooth_seconds: float = HALF_LIFE_SECONDS):
        self.class_names = list(class_names)
        self.tracker = FaceTracker()
        self.smoother = ProbabilitySmoother(smooth_seconds)

    def update(self, faces, time_s: float) -> None:
        """Set `track` on each face of the frame at `time_s` and replace its probabilities by the track's
        smoothed ones."""
        ids = self.tracker.update([face.box for face in faces], time_s)
        for face, track in zip(faces, ids, strict=True):
            face.track = track
            raw = [face.probabilities[name] for name in self.class_names]
            smoothed = self.smoother.update(track, raw, time_s)
            best = int(np.argmax(smoothed))
            face.probabilities = {name: float(p) for name, p in zip(self.class_names, smoothed, strict=True)}
            face.emotion, face.confidence = self.class_names[best], float(smoothed[best])
        self.smoother.forget({track.id for track in self.tracker.tracks})
