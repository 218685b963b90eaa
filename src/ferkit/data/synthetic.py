"""Drawn faces whose brows and mouth encode an expression: a small dataset ferkit can make by itself.

Used by the tests and the demo, so that a model must really learn shape cues (the classes differ only in
brow angle/height and mouth shape, under random position, scale, lighting, blur and noise).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SYNTHETIC_CLASSES = ("angry", "happy", "sad", "surprise")


def _draw_face(rng: np.random.Generator, expression: str, size: int) -> np.ndarray:
    scale = 8  # draw large, then downsample: smooth anti-aliased shapes at any output size
    canvas_size = size * scale
    background = rng.uniform(30, 200)
    canvas = np.full((canvas_size, canvas_size), background, np.float32)
    s = canvas_size * rng.uniform(0.85, 1.0)
    cx = canvas_size / 2 + rng.uniform(-0.06, 0.06) * canvas_size
    cy = canvas_size / 2 + rng.uniform(-0.06, 0.06) * canvas_size
    skin = float(np.clip(background + rng.choice([-1, 1]) * rng.uniform(50, 90), 40, 240))
    ink = float(np.clip(skin - rng.uniform(70, 120), 0, 255))

    def point(dx: float, dy: float) -> tuple[int, int]:
        return int(cx + dx * s), int(cy + dy * s)

    def length(value: float) -> int:
        return max(int(value * s), 1)

    thickness = length(0.025)
    cv2.ellipse(canvas, point(0, 0), (length(0.36), length(0.46)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    eye_y = -0.08 + rng.uniform(-0.02, 0.02)
    for side in (-1, 1):
        cv2.circle(canvas, point(side * 0.14, eye_y), length(0.035), ink, -1, cv2.LINE_AA)

    brow_y = eye_y - {"surprise": 0.16, "angry": 0.07}.get(expression, 0.1) + rng.uniform(-0.01, 0.01)
    tilt = {"angry": 0.06, "sad": -0.06}.get(expression, 0.0) + rng.uniform(-0.01, 0.01)
    for side in (-1, 1):
        inner, outer = point(side * 0.05, brow_y + tilt), point(side * 0.24, brow_y - tilt * 0.3)
        cv2.line(canvas, inner, outer, ink, thickness, cv2.LINE_AA)

    mouth_y = 0.22 + rng.uniform(-0.02, 0.02)
    width = rng.uniform(0.12, 0.17)
    if expression == "happy":
        cv2.ellipse(canvas, point(0, mouth_y - 0.04), (length(width), length(0.08)), 0, 10, 170, ink, thickness,
                    cv2.LINE_AA)
    elif expression == "sad":
        cv2.ellipse(canvas, point(0, mouth_y + 0.05), (length(width), length(0.07)), 0, 190, 350, ink, thickness,
                    cv2.LINE_AA)
    elif expression == "surprise":
        cv2.ellipse(canvas, point(0, mouth_y), (length(0.06), length(0.08)), 0, 0, 360, ink, thickness, cv2.LINE_AA)
    else:
        cv2.line(canvas, point(-width * 0.8, mouth_y), point(width * 0.8, mouth_y), ink, thickness, cv2.LINE_AA)

    gradient = np.linspace(-1, 1, canvas_size, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    canvas += rng.uniform(0, 30) * (np.cos(angle) * gradient[None, :] + np.sin(angle) * gradient[:, None])
    image = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.0))
    image += rng.normal(0, rng.uniform(2, 8), image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_faces(per_class: int, size: int = 48, classes=SYNTHETIC_CLASSES, seed: int = 0,
               color_mode: str = "grayscale") -> tuple[np.ndarray, np.ndarray]:
    """Return `(images uint8 (N, size, size, C), labels int (N,))`, classes interleaved.

    Args:
        per_class: images drawn for each class.
        size: side length in pixels.
        classes: expressions to draw, from `SYNTHETIC_CLASSES`; label i is `classes[i]`.
        seed: the draws are fully determined by it.
        color_mode: "grayscale" (1 channel) or "rgb" (3 channels, tinted).
    """
    unknown = set(classes) - set(SYNTHETIC_CLASSES)
    if unknown:
        raise ValueError(f"unknown synthetic expressions {sorted(unknown)}; choose from {SYNTHETIC_CLASSES}")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(per_class):
        for label, expression in enumerate(classes):
            images.append(_draw_face(rng, expression, size))
            labels.append(label)
    stacked = np.stack(images)[..., None]
    if color_mode == "rgb":
        tint = rng.uniform(0.8, 1.0, size=(len(images), 1, 1, 3))
        stacked = np.clip(stacked * tint, 0, 255).astype(np.uint8)
    return stacked, np.array(labels, dtype=np.int64)


def write_image_folder(root: str | Path, per_class: int, size: int = 48, classes=SYNTHETIC_CLASSES,
                       seed: int = 0, splits: dict[str, float] | None = None) -> Path:
    """Write drawn faces as PNGs: `root/<class>/*.png`, or `root/<split>/<class>/*.png` with `splits`.

    Args:
        splits: split name → fraction of each class, e.g. `{"train": 0.7, "val": 0.15, "test": 0.15}`.
    """
    root = Path(root)
    images, labels = make_faces(per_class, size, classes, seed)
    order = np.argsort(labels, kind="stable")
    for class_index, expression in enumerate(classes):
        rows = order[labels[order] == class_index]
        if splits:
            bounds = np.cumsum([0] + [round(f * len(rows)) for f in splits.values()])
            bounds[-1] = len(rows)
            assignments = {name: rows[bounds[i]:bounds[i + 1]] for i, name in enumerate(splits)}
        else:
            assignments = {None: rows}
        for split, chosen in assignments.items():
            folder = root / split / expression if split else root / expression
            folder.mkdir(parents=True, exist_ok=True)
            for row in chosen:
                cv2.imwrite(str(folder / f"{expression}_{row:05d}.png"), images[row][..., 0])
    return root
