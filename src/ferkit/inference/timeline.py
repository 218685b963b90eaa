"""What a video shows over time: the emotion timeline and summary, per person (track), and the files written
for it (`<name>.annotated.mp4`, `.timeline.csv`, `.timeline.json`, `.timeline.png` (with `ferkit[plots]`),
`.summary.json`)."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferkit.extras import installed, warn_missing
from ferkit.files import atomic_path, commit, temporary_path_for
from ferkit.inference.drawing import annotate
from ferkit.inference.video_encoder import open_video_writer

PLOTTED_TRACKS = 6


class EmotionTimeline:
    """The emotion of each sampled frame's largest face, kept as counts and runs (not per frame, so memory
    grows with the number of changes, not with the video's length), and each track's counts.

    Args:
        sample_seconds: time between samples; each sample covers that long.
    """

    def __init__(self, sample_seconds: float):
        self.sample_seconds = sample_seconds
        self.samples = 0
        self.counts: Counter[str] = Counter()
        self.runs: list[dict[str, Any]] = []
        self.tracks: dict[int, dict[str, Any]] = {}

    def add(self, time_s: float, emotion: str | None, faces=()) -> None:
        """One sample: `emotion` of its largest face (None when it has no face) and its tracked faces."""
        self.samples += 1
        end_s = round(time_s + self.sample_seconds, 3)
        if emotion is not None:
            self.counts[emotion] += 1
        if self.runs and self.runs[-1]["emotion"] == emotion:
            self.runs[-1]["end_s"] = end_s
            self.runs[-1]["samples"] += 1
        else:
            self.runs.append({"start_s": round(time_s, 3), "end_s": end_s, "emotion": emotion, "samples": 1})
        for face in faces:
            if face.track is None:
                continue
            track = self.tracks.setdefault(face.track, {"first_s": round(time_s, 3), "counts": Counter()})
            track["last_s"] = end_s
            track["counts"][face.emotion] += 1

    def segments(self) -> list[dict[str, Any]]:
        """Runs of consecutive samples with one emotion, as `{start_s, end_s, emotion, samples}`."""
        return [run for run in self.runs if run["emotion"] is not None]

    def summary(self, name: str, fps: float, step: int) -> dict[str, Any]:
        """The dominant emotion overall, each emotion's share of the samples with a face, the runs, and per
        track its time span, samples and dominant emotion."""
        with_faces = sum(self.counts.values())
        tracks = {str(track_id): {"first_s": track["first_s"], "last_s": track["last_s"],
                                  "samples": sum(track["counts"].values()),
                                  "dominant_emotion": track["counts"].most_common(1)[0][0]}
                  for track_id, track in self.tracks.items()}
        return {
            "file": name,
            "video_fps": round(fps, 3),
            "sample_every": step,
            "samples": self.samples,
            "samples_with_faces": with_faces,
            "dominant_emotion": self.counts.most_common(1)[0][0] if self.counts else None,
            "emotion_share": {emotion: round(count / with_faces, 4) for emotion, count in self.counts.most_common()},
            "segments": self.segments(),
            "tracks": tracks,
        }


class TimelineWriter:
    """Streams the CSV and JSON timelines and the annotated video into temporary files, which take their final
    names in `finish` (with the per-track plot and the summary); `discard` removes them (an interrupted run
    leaves no half-written output).

    The CSV has one row per face and sampled frame (`track` = the person's id), and a row with an empty track
    for a sampled frame without a face.
    """

    KINDS = ("annotated.mp4", "timeline.csv", "timeline.json")

    def __init__(self, out_stem: Path, name: str, size: tuple[int, int], fps: float, step: int,
                 class_names: list[str]):
        self.out_stem = out_stem
        self.class_names = class_names
        self.size = size
        self.paths = {kind: self._final(kind) for kind in self.KINDS}
        self.temporary = {kind: temporary_path_for(path) for kind, path in self.paths.items()}
        self._csv_file = self.temporary["timeline.csv"].open("w", newline="")
        self._json_file = self.temporary["timeline.json"].open("w")
        try:
            self._video = open_video_writer(self.temporary["annotated.mp4"], size, max(fps / step, 1.0))
        except Exception:
            self._video = None
            self.discard()
            raise
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(["frame", "time_s", "track", "emotion", "confidence", *class_names])
        self._json_file.write(f'{{"file": {json.dumps(name)}, "video_fps": {round(fps, 3)}, '
                              f'"sample_every": {step}, "frames": [')
        self._frames_written = 0
        self._series: dict[int, list[tuple[float, list[float]]]] = defaultdict(list)

    def _final(self, kind: str) -> Path:
        return self.out_stem.with_name(f"{self.out_stem.name}.{kind}")

    def add(self, record: dict[str, Any], time_s: float, rgb: np.ndarray, faces) -> None:
        """One sampled frame: CSV rows (one per face), a JSON entry, an annotated video frame."""
        time_s = round(time_s, 3)
        for face in record["faces"]:
            probabilities = [face["probabilities"][name] for name in self.class_names]
            self._csv.writerow([record["frame"], time_s, face.get("track", ""), face["emotion"],
                                face["confidence"], *probabilities])
            if face.get("track") is not None:
                self._series[face["track"]].append((time_s, probabilities))
        if not record["faces"]:
            self._csv.writerow([record["frame"], time_s, "", "", "", *[""] * len(self.class_names)])
        separator = ", " if self._frames_written else ""
        self._json_file.write(separator + json.dumps({**record, "time_s": time_s}))
        self._frames_written += 1
        frame = annotate(rgb, faces)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self._video.write(frame)

    def _close_files(self) -> None:
        if self._video is not None:
            self._video.close()
        self._csv_file.close()
        self._json_file.close()

    def finish(self, summary: dict[str, Any]) -> None:
        """Close the files, give them their final names and write the plot (when matplotlib is installed) and
        the summary next to them."""
        self._json_file.write("]}\n")
        self._close_files()
        for kind, path in self.paths.items():
            commit(self.temporary[kind], path)
        if installed("matplotlib"):
            with atomic_path(self._final("timeline.png")) as tmp:
                plot_tracks(self._series, self.class_names, tmp)
        else:
            warn_missing("timeline plots (.timeline.png) skipped", "PNG figures", "plots")
        with atomic_path(self._final("summary.json")) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")

    def discard(self) -> None:
        """Abandon the outputs: close and remove the temporary files."""
        self._close_files()
        for path in self.temporary.values():
            path.unlink(missing_ok=True)


def plot_tracks(series: dict[int, list[tuple[float, list[float]]]], class_names: list[str], path: Path) -> None:
    """One panel per person (the `PLOTTED_TRACKS` longest tracks): each class's probability over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ferkit.inference.drawing import EMOTION_COLOURS, OTHER_COLOUR

    longest = sorted(series, key=lambda track: len(series[track]), reverse=True)[:PLOTTED_TRACKS]
    panels = max(1, len(longest))
    figure, axes = plt.subplots(panels, 1, figsize=(9, 1.9 * panels + 0.6), sharex=True, squeeze=False)
    for axis, track in zip(axes[:, 0], sorted(longest), strict=False):
        times = [time_s for time_s, _ in series[track]]
        values = np.array([probabilities for _, probabilities in series[track]])
        for index, name in enumerate(class_names):
            colour = np.array(EMOTION_COLOURS.get(name, OTHER_COLOUR)) / 255
            axis.plot(times, values[:, index], color=colour, label=name, linewidth=1.4)
        axis.set_ylim(0, 1)
        axis.set_ylabel(f"person {track}")
    if not longest:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center", transform=axes[0, 0].transAxes)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].legend(loc="upper center", bbox_to_anchor=(0.5, 1.45), ncol=len(class_names), fontsize=8,
                      frameon=False)
    axes[0, 0].set_title("Emotion probabilities per person", pad=28)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
