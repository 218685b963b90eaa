"""People across video frames: each face gets a track id that stays with the person, and each track's class
probabilities are smoothed over time so labels stop flickering.

`FaceTracker` matches the boxes of each new frame to the tracks of the previous ones greedily by overlap
(IoU), falling back to centre distance for fast motion or sparse sampling; a track not seen for `keep_seconds`
ends, so a face lost for a few frames (a blink of the detector, a hand passing) keeps its id.
`ProbabilitySmoother` keeps an exponential moving average per track with a half-life in seconds, so the
smoothing means the same thing whatever the frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_IOU = 0.2
MAX_CENTRE_SHIFT = 0.6  # of the box side, for boxes that no longer overlap enough
KEEP_SECONDS = 1.0
HALF_LIFE_SECONDS = 0.5


def iou(a, b) -> float:
    """Intersection over union of two `[x, y, w, h]` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = width * height
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def similarity(a, b) -> float:
    """How likely two boxes are the same face in consecutive samples: IoU, or a lower score from the centre
    distance when they barely overlap; 0 when they cannot be the same face."""
    overlap = iou(a, b)
    if overlap >= MIN_IOU:
        return overlap
    side = max(a[2], a[3], b[2], b[3])
    shift = np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2) / side
    sizes = max(a[2], b[2]) / max(1, min(a[2], b[2]))
    if shift <= MAX_CENTRE_SHIFT and sizes <= 1.5:
        return MIN_IOU * (1 - shift / MAX_CENTRE_SHIFT)
    return 0.0


@dataclass
class Track:
    id: int
    box: list[int]
    last_seen_s: float


class FaceTracker:
    """Assigns stable ids to faces frame after frame.

    Args:
        keep_seconds: how long a track survives without being seen.
    """

    def __init__(self, keep_seconds: float = KEEP_SECONDS):
        self.keep_seconds = keep_seconds
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: list[list[int]], time_s: float) -> list[int]:
        """The track id of each box of the frame at `time_s` (boxes as `[x, y, w, h]`)."""
        self.tracks = [t for t in self.tracks if time_s - t.last_seen_s <= self.keep_seconds]
        pairs = sorted(((similarity(track.box, box), t_index, b_index)
                        for t_index, track in enumerate(self.tracks) for b_index, box in enumerate(boxes)),
                       reverse=True)
        ids: list[int | None] = [None] * len(boxes)
        used_tracks = set()
        for score, t_index, b_index in pairs:
            if score <= 0:
                break
            if t_index in used_tracks or ids[b_index] is not None:
                continue
            used_tracks.add(t_index)
            track = self.tracks[t_index]
            track.box, track.last_seen_s = list(boxes[b_index]), time_s
            ids[b_index] = track.id
        for b_index, box in enumerate(boxes):
            if ids[b_index] is None:
                track = Track(self._next_id, list(box), time_s)
                self._next_id += 1
                self.tracks.append(track)
                ids[b_index] = track.id
        return ids


class ProbabilitySmoother:
    """Exponential moving average of each track's probabilities, with a half-life in seconds (0: off).

    A sample `dt` seconds after the previous one of its track moves the average by 1 - 0.5 ** (dt / half_life)
    of the way to the new probabilities; the first sample of a track is taken as it is.
    """

    def __init__(self, half_life_s: float = HALF_LIFE_SECONDS):
        if half_life_s < 0:
            raise ValueError(f"half_life_s must be at least 0, got {half_life_s}")
        self.half_life_s = half_life_s
        self._state: dict[int, tuple[float, np.ndarray]] = {}

    def update(self, track: int, probabilities, time_s: float) -> np.ndarray:
        """The smoothed probabilities of `track` after a sample at `time_s`."""
        current = np.asarray(probabilities, np.float64)
        previous = self._state.get(track)
        if previous is None or self.half_life_s == 0:
            smoothed = current
        else:
            last_s, average = previous
            step = 1 - 0.5 ** (max(0.0, time_s - last_s) / self.half_life_s)
            smoothed = average + step * (current - average)
        self._state[track] = (time_s, smoothed)
        return smoothed

    def forget(self, active: set[int]) -> None:
        """Drop the state of tracks that have ended."""
        self._state = {track: state for track, state in self._state.items() if track in active}
