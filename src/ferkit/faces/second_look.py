"""A second, closer look at YuNet's unsure detections: small, blurred and rolled faces it nearly missed.

YuNet runs on a copy shrunk so that the smallest wanted face is 16 px wide. Small, blurred or rolled faces there
often score below the acceptance threshold while still standing out from the background. Each such candidate
(score ≥ `CANDIDATE_THRESHOLD`, at most `MAX_CANDIDATES` per image, best first) is cut out with as much
context again around it, enlarged to a `VIEW_SIDE`-px view (the face about 64 px wide, where YuNet is surest)
and detected again: upright, then (unless the upright view shows nothing face-like at its centre) turned by
±25° (YuNet's scores and landmarks fall with roll). The candidate becomes a face when a view finds one at its
centre with a high score: the view shows more detail, so the bar is higher than the first pass's (0.8
upright, 0.9 turned), which keeps face-free photos free of faces.
Landmarks found in a turned view are mapped back, so they follow the face's roll.

Frames with no candidate cost nothing more. Measured (found faces, false faces on face-free photos, CPU per
frame) in `docs/experiments/2026-12-04-face-front-end.md`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

CANDIDATE_THRESHOLD = 0.2
VIEW_FLOOR = 0.2  # a view without even this near its centre is not turned
MAX_CANDIDATES = 4
VIEW_SIDE = 128
VIEW_CONTEXT = 2.0  # view side / candidate side
UPRIGHT_THRESHOLD = 0.8
TURNED_THRESHOLD = 0.9
TURNS = (25.0, -25.0)
CENTRE_TOLERANCE = 0.5  # how far (in candidate sides) the view's face may lie from the candidate's centre
GREY = (127, 127, 127)


def view_matrix(row: np.ndarray, turn: float) -> np.ndarray:
    """The 2×3 transform from image pixels to the view of a YuNet `row` (x, y, w, h, ...): the candidate's
    centre at the view's centre, its longer side `VIEW_SIDE / VIEW_CONTEXT` px, turned by `turn` degrees
    (counter-clockwise)."""
    x, y, w, h = (float(v) for v in row[:4])
    centre = (x + w / 2, y + h / 2)
    matrix = cv2.getRotationMatrix2D(centre, turn, VIEW_SIDE / (VIEW_CONTEXT * max(w, h)))
    matrix[:, 2] += (VIEW_SIDE / 2 - centre[0], VIEW_SIDE / 2 - centre[1])
    return matrix


def mapped_back(row: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """A YuNet row found in a view mapped back to image pixels: landmarks exactly, the box (upright in the view)
    as an upright box of the same size around the mapped centre."""
    inverse = cv2.invertAffineTransform(matrix)
    scale = float(np.hypot(*inverse[:, 0]))
    x, y, w, h = row[:4]
    centre = inverse @ (x + w / 2, y + h / 2, 1.0)
    landmarks = np.hstack([row[4:14].reshape(5, 2), np.ones((5, 1))]) @ inverse.T
    width, height = w * scale, h * scale
    box = (centre[0] - width / 2, centre[1] - height / 2, width, height)
    return np.concatenate([box, landmarks.ravel(), row[14:15]]).astype(np.float32)


def closer_look(detect_view: Callable[[np.ndarray], np.ndarray], bgr: np.ndarray, row: np.ndarray,
                score_threshold: float = 0.0) -> np.ndarray | None:
    """The face behind the unsure YuNet `row` on `bgr`, confirmed on enlarged (and turned) views, as a row in
    `bgr` pixels; None when no view confirms it. `detect_view` runs YuNet on a `VIEW_SIDE`-square BGR view
    and returns its rows scoring at least `VIEW_FLOOR`; a view's face must also reach the caller's
    `score_threshold` when that is higher."""
    for turn in (0.0, *TURNS):
        matrix = view_matrix(row, turn)
        view = cv2.warpAffine(bgr, matrix, (VIEW_SIDE, VIEW_SIDE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=GREY)
        rows = detect_view(view)
        distances = np.hypot(rows[:, 0] + rows[:, 2] / 2 - VIEW_SIDE / 2, rows[:, 1] + rows[:, 3] / 2 - VIEW_SIDE / 2)
        rows = rows[distances <= CENTRE_TOLERANCE * VIEW_SIDE / VIEW_CONTEXT]
        if turn == 0.0 and not len(rows):  # nothing face-like even enlarged: not worth turning
            return None
        rows = rows[rows[:, 14] >= max(score_threshold, UPRIGHT_THRESHOLD if turn == 0.0 else TURNED_THRESHOLD)]
        if len(rows):
            return mapped_back(rows[np.argmax(rows[:, 14])], matrix)
    return None


def second_look(detect_view: Callable[[np.ndarray], np.ndarray], bgr: np.ndarray, rows: np.ndarray,
                score_threshold: float, smallest: float, nms_threshold: float) -> np.ndarray:
    """YuNet's `rows` on `bgr` with the unsure ones (below `score_threshold`) replaced by the faces a closer
    look confirms; candidates whose longer side is below `smallest` pixels are dropped unseen. Overlapping
    results are merged by non-maximum suppression at `nms_threshold`."""
    sure = rows[rows[:, 14] >= score_threshold]
    unsure = rows[(rows[:, 14] < score_threshold) & (rows[:, 2:4].max(axis=1) >= smallest)]
    unsure = unsure[np.argsort(-unsure[:, 14], kind="stable")][:MAX_CANDIDATES]
    looks = (closer_look(detect_view, bgr, row, score_threshold) for row in unsure)
    confirmed = [face for face in looks if face is not None]
    if not confirmed:
        return sure
    combined = np.vstack([sure, *confirmed])
    keep = cv2.dnn.NMSBoxes(combined[:, :4].tolist(), combined[:, 14].tolist(), 0.0, nms_threshold)
    return combined[np.asarray(keep, int).ravel()]
