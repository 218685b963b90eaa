"""Annotated images: each face's box, five landmark dots, a label with emotion and confidence, a small
probability bar chart, and optionally its Grad-CAM heat map, drawn with OpenCV on a copy of the RGB image.

Labels and probability panels are placed where they cover no other face (and no other label or panel):
above or below the box for the label; right, left, below or above for the panel; a panel that fits nowhere
is drawn smaller, and left out if even that covers a face. Text is black or white, whichever reads better on
its background colour, and boxes and dots have a dark outline so they show on light and dark images.
"""

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
OUTLINE = (20, 20, 20)
LANDMARK_COLOUR = (0, 255, 255)
PANEL_SCALES = (1.0, 0.7, 0.5)


def _colour(emotion: str) -> tuple[int, int, int]:
    return EMOTION_COLOURS.get(emotion, OTHER_COLOUR)


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones (by relative luminance)."""
    red, green, blue = background
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else (255, 255, 255)


def _overlay_heatmap(canvas: np.ndarray, face) -> None:
    """Blend a JET-coloured heat map onto the face's crop region, more opaque where it is hot (cold parts leave
    the face visible). An aligned face's map is warped back through its transform, so it lies on the face
    as the model saw it, rotation included."""
    height, width = canvas.shape[:2]
    x0, y0, x1, y1 = face.region
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    heat = np.clip(face.heatmap, 0, 1).astype(np.float32)
    if face.transform is None:
        heat = cv2.resize(heat, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        heat = heat[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    else:
        # image pixel (cx0 + u, cy0 + v) → crop pixel via the transform → heat-map pixel by the size ratio
        crop_h, crop_w = face.crop.shape[:2]
        to_heat = np.diag([heat.shape[1] / crop_w, heat.shape[0] / crop_h]) @ face.transform
        to_heat[:, 2] += to_heat[:, :2] @ np.array([cx0, cy0], np.float64)
        heat = cv2.warpAffine(heat, to_heat, (cx1 - cx0, cy1 - cy0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    coloured = cv2.applyColorMap(np.uint8(heat * 255), cv2.COLORMAP_JET)[..., ::-1]
    alpha = HEATMAP_OPACITY * np.sqrt(heat)[..., None]
    target = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    canvas[cy0:cy1, cx0:cx1] = np.round(target * (1 - alpha) + coloured * alpha).astype(np.uint8)


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two `(x0, y0, x1, y1)` rectangles share any pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Layout:
    """Free places on the canvas: rectangles that leave every face box and earlier label or panel uncovered."""

    def __init__(self, shape: tuple[int, ...], boxes: list[list[int]]):
        self.height, self.width = shape[:2]
        self.taken = [(x, y, x + w, y + h) for x, y, w, h in boxes]

    def place(self, candidates: list[tuple[int, int]], size: tuple[int, int], own: int | None = None):
        """The first top-left corner of `candidates` where a `size` (w, h) rectangle fits inside the image
        and covers nothing taken except face `own`; it is then taken. None when none fits."""
        width, height = size
        for x, y in candidates:
            rect = (x, y, x + width, y + height)
            if x < 0 or y < 0 or rect[2] > self.width or rect[3] > self.height:
                continue
            if any(_overlaps(rect, other) for index, other in enumerate(self.taken) if index != own):
                continue
            self.taken.append(rect)
            return x, y
        return None


def _label(canvas: np.ndarray, layout: _Layout, index: int, text: str, box: list[int], scale: float,
           thickness: int, colour: tuple[int, int, int]) -> None:
    """`text` on a filled box in `colour`: above the face box, else below it, else inside its top edge;
    smaller when it fits nowhere at full size."""
    x, y, w, h = box
    for shrink in PANEL_SCALES:
        text_scale = max(0.3, scale * shrink)
        (text_w, text_h), baseline = cv2.getTextSize(text, FONT, text_scale, thickness)
        pad = max(2, thickness)
        size = (text_w + 2 * pad, text_h + baseline + 2 * pad)
        spot = layout.place([(x, y - size[1] - 1), (x, y + h + 1), (x + w - size[0], y - size[1] - 1),
                             (x + w - size[0], y + h + 1)], size)
        if spot is None:
            spot = layout.place([(x + 1, y + 1)], size, own=index)
        if spot is not None:
            break
    else:
        return
    left, top = spot
    cv2.rectangle(canvas, (left, top), (left + size[0], top + size[1]), colour, -1)
    cv2.putText(canvas, text, (left + pad, top + size[1] - baseline - pad), FONT, text_scale,
                _text_colour(colour), thickness, cv2.LINE_AA)


def _probability_bars(canvas: np.ndarray, layout: _Layout, probabilities: dict[str, float], box: list[int],
                      scale: float) -> None:
    """A small bar per class beside the box (right, left, below or above; smaller if it fits nowhere)."""
    x, y, w, h = box
    for shrink in PANEL_SCALES:
        row = max(9, round(float(np.clip(h / len(probabilities), 12, 22 * scale)) * shrink))
        bar_length = 3 * row
        text_scale = max(0.28, 0.018 * row)
        label_w = max(cv2.getTextSize(name[:8], FONT, text_scale, 1)[0][0] for name in probabilities) + 4
        size = (label_w + bar_length + 6, row * len(probabilities) + 4)
        spot = layout.place([(x + w + 4, y), (x - 4 - size[0], y), (x + w + 4, y + h - size[1]),
                             (x - 4 - size[0], y + h - size[1]), (x, y + h + 4), (x, y - 4 - size[1])], size)
        if spot is not None:
            break
    else:
        return
    left, top = spot
    right, bottom = left + size[0], top + size[1]
    canvas[top:bottom, left:right] = (canvas[top:bottom, left:right] * 0.3).astype(np.uint8)
    for index, (name, probability) in enumerate(probabilities.items()):
        base = top + 2 + index * row
        cv2.putText(canvas, name[:8], (left + 2, base + row - 3), FONT, text_scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
        start = left + label_w
        length = round(bar_length * float(np.clip(probability, 0, 1)))
        cv2.rectangle(canvas, (start, base + 2), (start + bar_length, base + row - 2), (110, 110, 110), 1)
        if length:
            cv2.rectangle(canvas, (start, base + 2), (start + length, base + row - 2), _colour(name), -1)


def _landmarks(canvas: np.ndarray, landmarks: dict, box: list[int]) -> None:
    radius = max(1, round(max(box[2], box[3]) / 60))
    for px, py in landmarks.values():
        centre = (round(px), round(py))
        cv2.circle(canvas, centre, radius + 1, OUTLINE, -1, cv2.LINE_AA)
        cv2.circle(canvas, centre, radius, LANDMARK_COLOUR, -1, cv2.LINE_AA)


def annotate(rgb: np.ndarray, faces) -> np.ndarray:
    """A copy of the RGB image with every face drawn: box, landmarks, "emotion NN%" (and the person's track
    in a video), probability bars, heat map if any.

    Args:
        rgb: (H, W, 3) uint8 RGB image the faces were found in.
        faces: `Face` objects (e.g. a `Prediction` from `EmotionRecognizer.predict`), largest first.
    """
    canvas = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    scale = float(np.clip(max(canvas.shape[:2]) / 640, 0.5, 3.0))
    thickness = max(1, round(2 * scale))
    for face in faces:
        if face.heatmap is not None and face.region is not None:
            _overlay_heatmap(canvas, face)
    for face in faces:
        x, y, w, h = face.box
        colour = _colour(face.emotion)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), OUTLINE, thickness + 2)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
        if face.landmarks is not None:
            _landmarks(canvas, face.landmarks, face.box)
    layout = _Layout(canvas.shape, [face.box for face in faces])
    for index, face in enumerate(faces):  # largest first: big faces get the best places
        person = f"#{face.track} " if getattr(face, "track", None) is not None else ""
        _label(canvas, layout, index, f"{person}{face.emotion} {face.confidence:.0%}", face.box, 0.6 * scale,
               max(1, thickness // 2), _colour(face.emotion))
    for face in faces:
        _probability_bars(canvas, layout, face.probabilities, face.box, scale)
    return canvas
