"""Emotions over a video: frames streamed with OpenCV, sampled, batched through the recognizer.

Memory stays flat whatever the video's length: frames are decoded one at a time (skipped frames are only
grabbed, not decoded), `batch_frames` sampled frames at a time go through the recognizer together (all
their faces in one classifier call), and the timeline files are written as the frames come.

With an output folder, each video gives `<name>.annotated.mp4` (the sampled frames, annotated, at the
sampling rate), `<name>.timeline.csv` (one row per sampled frame: the largest face's emotion and
probabilities), `<name>.timeline.json` (every face of every sampled frame) and `<name>.summary.json`
(the share of time per emotion, the dominant emotion and the runs of one emotion over time).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from ferkit.errors import FerkitError
from ferkit.inference.drawing import annotate
from ferkit.inference.outputs import atomic_target, temporary_next_to

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
        raise VideoError("use either --fps or --every, not both")
    if every is not None:
        if every < 1:
            raise VideoError(f"--every must be at least 1, got {every}")
        return every
    if fps is not None:
        if fps <= 0:
            raise VideoError(f"--fps must be positive, got {fps}")
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


class EmotionTimeline:
    """The emotion of each sampled frame's largest face, kept as counts and runs (not per frame, so memory
    grows with the number of changes, not with the video's length).

    Args:
        sample_seconds: time between samples; each sample covers that long.
    """

    def __init__(self, sample_seconds: float):
        self.sample_seconds = sample_seconds
        self.samples = 0
        self.counts: Counter[str] = Counter()
        self.runs: list[dict[str, Any]] = []

    def add(self, time_s: float, emotion: str | None) -> None:
        """One sample: `emotion` of its largest face, None when it has no face."""
        self.samples += 1
        end_s = round(time_s + self.sample_seconds, 3)
        if emotion is not None:
            self.counts[emotion] += 1
        if self.runs and self.runs[-1]["emotion"] == emotion:
            self.runs[-1]["end_s"] = end_s
            self.runs[-1]["samples"] += 1
        else:
            self.runs.append({"start_s": round(time_s, 3), "end_s": end_s, "emotion": emotion, "samples": 1})

    def segments(self) -> list[dict[str, Any]]:
        """Runs of consecutive samples with one emotion, as `{start_s, end_s, emotion, samples}`."""
        return [run for run in self.runs if run["emotion"] is not None]

    def summary(self, name: str, info: VideoInfo, step: int) -> dict[str, Any]:
        """The dominant emotion overall, each emotion's share of the samples with a face, and the runs."""
        with_faces = sum(self.counts.values())
        return {
            "file": name,
            "video_fps": round(info.fps, 3),
            "sample_every": step,
            "samples": self.samples,
            "samples_with_faces": with_faces,
            "dominant_emotion": self.counts.most_common(1)[0][0] if self.counts else None,
            "emotion_share": {emotion: round(count / with_faces, 4) for emotion, count in self.counts.most_common()},
            "segments": self.segments(),
        }


class TimelineWriter:
    """Streams the CSV and JSON timelines and the annotated video into temporary files, which take their final
    names in `finish`; `discard` removes them (an interrupted run leaves no half-written output)."""

    def __init__(self, out_stem: Path, name: str, info: VideoInfo, step: int, class_names: list[str]):
        self.out_stem = out_stem
        self.class_names = class_names
        self.size = (info.width, info.height)
        self.paths = {kind: self._final(kind) for kind in ("annotated.mp4", "timeline.csv", "timeline.json")}
        self.temporary = {kind: temporary_next_to(path) for kind, path in self.paths.items()}
        self._video = cv2.VideoWriter(str(self.temporary["annotated.mp4"]), cv2.VideoWriter_fourcc(*"mp4v"),
                                      max(info.fps / step, 1.0), self.size)
        self._csv_file = self.temporary["timeline.csv"].open("w", newline="")
        self._json_file = self.temporary["timeline.json"].open("w")
        if not self._video.isOpened():
            self.discard()
            raise VideoError(f"OpenCV cannot write an mp4v video into {out_stem.parent}")
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(["frame", "time_s", "faces", "emotion", "confidence", *class_names])
        self._json_file.write(f'{{"file": {json.dumps(name)}, "video_fps": {round(info.fps, 3)}, '
                              f'"sample_every": {step}, "frames": [')
        self._frames_written = 0

    def _final(self, kind: str) -> Path:
        return self.out_stem.with_name(f"{self.out_stem.name}.{kind}")

    def add(self, record: dict[str, Any], time_s: float, rgb: np.ndarray, faces) -> None:
        """One sampled frame: a CSV row (largest face), a JSON entry (all faces), an annotated video frame."""
        largest = record["faces"][0] if record["faces"] else None
        probabilities = [largest["probabilities"][name] for name in self.class_names] if largest else (
            [""] * len(self.class_names))
        self._csv.writerow([record["frame"], round(time_s, 3), len(record["faces"]),
                            largest["emotion"] if largest else "", largest["confidence"] if largest else "",
                            *probabilities])
        separator = ", " if self._frames_written else ""
        self._json_file.write(separator + json.dumps({**record, "time_s": round(time_s, 3)}))
        self._frames_written += 1
        frame = annotate(rgb, faces)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self._video.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def _close_files(self) -> None:
        self._video.release()
        self._csv_file.close()
        self._json_file.close()

    def finish(self, summary: dict[str, Any]) -> None:
        """Close the files, give them their final names and write the summary next to them."""
        self._json_file.write("]}\n")
        self._close_files()
        for kind, path in self.paths.items():
            self.temporary[kind].replace(path)
        with atomic_target(self._final("summary.json")) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")

    def discard(self) -> None:
        """Abandon the outputs: close and remove the temporary files."""
        self._close_files()
        for path in self.temporary.values():
            path.unlink(missing_ok=True)


def predict_video(recognizer, path: str | Path, emit: Callable[[dict[str, Any]], None], *,
                  name: str | None = None, fps: float | None = None, every: int | None = None,
                  out_stem: Path | None = None,
                  explain: bool = False, batch_frames: int = DEFAULT_BATCH_FRAMES,
                  progress: bool | None = None) -> dict[str, Any]:
    """Predict every sampled frame of a video; returns the summary.

    Args:
        recognizer: an `EmotionRecognizer`.
        path: the video file.
        emit: called with each sampled frame's JSON record (`"frame"` = frame index), in order.
        name: how to name the video in records (default: the path).
        fps / every: sample N frames per second, or every N-th frame (default: every frame).
        out_stem: write `<out_stem>.annotated.mp4`, `.timeline.csv`, `.timeline.json`, `.summary.json`.
        explain: add Grad-CAM heat maps to the annotated video.
        batch_frames: sampled frames sent through the recognizer together.
        progress: show a progress bar on stderr (None: only when stderr is a terminal).
    """
    name = name or str(path)
    with open_video(path) as (capture, info):
        step = sample_step(info.fps, fps, every)
        timeline = EmotionTimeline(step / info.fps)
        writer = TimelineWriter(out_stem, name, info, step, recognizer.class_names) if out_stem else None
        total = math.ceil(info.frame_count / step) if info.frame_count else None
        try:
            disable = None if progress is None else not progress
            with tqdm(total=total, desc=Path(name).name, unit="frame", disable=disable, leave=False) as bar:
                for batch in batched(sampled_frames(capture, step), batch_frames):
                    predictions = recognizer.predict_many([rgb for _, rgb in batch])
                    for (index, rgb), faces in zip(batch, predictions, strict=True):
                        if explain:
                            recognizer.explain(faces)
                        time_s = index / info.fps
                        record = faces.to_json(file=name, frame=index)
                        timeline.add(time_s, faces[0].emotion if faces else None)
                        if writer:
                            writer.add(record, time_s, rgb, faces)
                        emit(record)
                    bar.update(len(batch))
            if not timeline.samples:
                raise VideoError(f"{name}: no frame could be decoded")
            summary = timeline.summary(name, info, step)
            if writer:
                writer.finish(summary)
                writer = None
            return summary
        finally:
            if writer:
                writer.discard()
