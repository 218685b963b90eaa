"""Annotated images: each face's box, label and confidence, a small probability bar chart, and optionally its
Grad-CAM heat map, drawn with OpenCV on a copy of the RGB image."""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
HEATMAP_OPACITY = 0.6
EMOTION_COLOURS = {  # RGB
    "angry": (220, 40, 40),
    "disgust": (120, 160, 40),
    "fear": (150, 70, 200),
    "happy": (250, 200, 30),
    "sad": (40, 110, 230),
    "surprise": (250, 130, 20),
    "neutral": (200, 200, 200),
    "contempt": (160, 110, 70),
}
OTHER_COLOUR = (40, 220, 120)


def _colour(emotion: str) -> tuple[int, int, int]:
    return EMOTION_COLOURS.get(emotion, OTHER_COLOUR)


def _overlay_heatmap(canvas: np.ndarray, heatmap: np.ndarray, region: tuple[int, int, int, int]) -> None:
    """Blend a JET-coloured heat map onto the part of `region` inside the image, more opaque where it is hot
    (cold parts leave the face visible)."""
    height, width = canvas.shape[:2]
    x0, y0, x1, y1 = region
    coloured = cv2.applyColorMap(np.uint8(np.clip(heatmap, 0, 1) * 255), cv2.COLORMAP_JET)[..., ::-1]
    coloured = cv2.resize(coloured, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    weight = cv2.resize(np.clip(heatmap, 0, 1).astype(np.float32), (x1 - x0, y1 - y0))[..., None]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    inside = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    alpha = HEATMAP_OPACITY * np.sqrt(weight[inside])
    target = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    canvas[cy0:cy1, cx0:cx1] = np.round(target * (1 - alpha) + coloured[inside] * alpha).astype(np.uint8)


def _label(canvas: np.ndarray, text: str, x: int, y: int, scale: float, thickness: int,
           colour: tuple[int, int, int]) -> None:
    """`text` on a filled box in `colour`, its bottom-left at (x, y), kept inside the image."""
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(2, thickness)
    x = int(np.clip(x, 0, max(0, canvas.shape[1] - text_w - 2 * pad)))
    y = int(np.clip(y, text_h + baseline + 2 * pad, canvas.shape[0]))
    cv2.rectangle(canvas, (x, y - text_h - baseline - 2 * pad), (x + text_w + 2 * pad, y), colour, -1)
    cv2.putText(canvas, text, (x + pad, y - baseline - pad), FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)


def _probability_bars(canvas: np.ndarray, probabilities: dict[str, float], box: list[int],
                      scale: float) -> None:
    """A small bar per class beside the box (right of it if there is room, else left, else inside), about as
    tall as the box so that neighbouring faces stay visible."""
    height, width = canvas.shape[:2]
    x, y, w, h = box
    row = int(np.clip(h / len(probabilities), 12, 22 * scale))
    bar_length = 3 * row
    text_scale = max(0.3, 0.018 * row)
    label_w = max(cv2.getTextSize(name[:8], FONT, text_scale, 1)[0][0] for name in probabilities) + 4
    panel_w, panel_h = label_w + bar_length + 6, row * len(probabilities) + 4
    left = x + w + 4 if x + w + 4 + panel_w <= width else (x - 4 - panel_w if x - 4 - panel_w >= 0 else x)
    top = int(np.clip(y, 0, max(0, height - panel_h)))
    right, bottom = min(width, left + panel_w), min(height, top + panel_h)
    shade = canvas[top:bottom, left:right]
    canvas[top:bottom, left:right] = (shade * 0.35).astype(np.uint8)
    for index, (name, probability) in enumerate(probabilities.items()):
        base = top + 2 + index * row
        cv2.putText(canvas, name[:8], (left + 2, base + row - 3), FONT, text_scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
        start = left + label_w
        length = round(bar_length * float(np.clip(probability, 0, 1)))
        cv2.rectangle(canvas, (start, base + 2), (start + bar_length, base + row - 2), (90, 90, 90), 1)
        if length:
            cv2.rectangle(canvas, (start, base + 2), (start + length, base + row - 2), _colour(name), -1)


def annotate(rgb: np.ndarray, faces) -> np.ndarray:
    """A copy of the RGB image with every face drawn: box, "emotion NN%", probability bars, heat map if any.

    Args:
        rgb: (H, W, 3) uint8 RGB image the faces were found in.
        faces: `Face` objects (e.g. a `Prediction` from `EmotionRecognizer.predict`).
    """
    canvas = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    scale = float(np.clip(max(canvas.shape[:2]) / 640, 0.5, 3.0))
    thickness = max(1, round(2 * scale))
    for face in faces:
        if face.heatmap is not None and face.region is not None:
            _overlay_heatmap(canvas, face.heatmap, face.region)
    for face in faces:
        x, y, w, h = face.box
        colour = _colour(face.emotion)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
        _label(canvas, f"{face.emotion} {face.confidence:.0%}", x, y - thickness, 0.6 * scale,
               max(1, thickness // 2), colour)
        _probability_bars(canvas, face.probabilities, face.box, scale)
    return canvas
