"""Measure where each face detector's box lies in a FER-2013 frame, to calibrate `ferkit.inference.framing`.

FER-2013 faces are 48×48 frames around a face. Each image is enlarged 4× (so box coordinates are not rounded
to whole 48-pixel units), gets a grey border of a quarter of its side (so a box larger than the frame can
still be found), goes through the detector exactly as `ferkit predict` runs it, and the largest box is
expressed in frame units. The frame is
recovered from a box by margin = (1 / s - 1) / 2 on each side of the box's longer side s, and a vertical
shift d = (frame centre - box centre) / box height: the medians of both go into `CALIBRATED_FRAMING`.

    .venv/bin/python bench/face_framing.py --data ../shared/datasets/fer2013/fer2013.npz --n 400
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ferkit.inference.faces import make_detector  # noqa: E402

BORDER = 0.25
ENLARGE = 4


def measure(images: np.ndarray, detector_name: str) -> dict:
    detector = make_detector(detector_name)
    sides, shifts, widths, heights = [], [], [], []
    started = time.perf_counter()
    for small in images:
        image = cv2.resize(small, None, fx=ENLARGE, fy=ENLARGE, interpolation=cv2.INTER_CUBIC)
        size = image.shape[0]
        pad = round(size * BORDER)
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(image.mean()))
        boxes = detector.detect(cv2.cvtColor(padded, cv2.COLOR_GRAY2RGB))
        if not boxes:
            continue
        box = boxes[0]
        widths.append(box.w / size)
        heights.append(box.h / size)
        sides.append(max(box.w, box.h) / size)
        shifts.append((pad + size / 2 - (box.y + box.h / 2)) / box.h)
    seconds = time.perf_counter() - started
    sides, shifts = np.array(sides), np.array(shifts)
    side = float(np.median(sides))
    return {
        "detector": detector_name,
        "found": f"{len(sides)}/{len(images)}",
        "box_w_median": round(float(np.median(widths)), 3),
        "box_h_median": round(float(np.median(heights)), 3),
        "box_side_quartiles": np.percentile(sides, [25, 50, 75]).round(3).tolist(),
        "shift_quartiles": np.percentile(shifts, [25, 50, 75]).round(3).tolist(),
        "margin": round((1 / side - 1) / 2, 3),
        "shift": round(float(np.median(shifts)), 3),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/fer2013/fer2013.npz")
    parser.add_argument("--n", type=int, default=400, help="training images sampled")
    parser.add_argument("--detectors", nargs="+", default=["haar", "mtcnn"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    arrays = np.load(args.data)
    training = np.flatnonzero(arrays["usage"] == "Training")
    rows = np.random.default_rng(args.seed).choice(training, args.n, replace=False)
    images = arrays["images"][np.sort(rows)]
    images = images[images.std(axis=(1, 2)) > 1]  # FER-2013 has a few blank frames
    for name in args.detectors:
        print(measure(images, name), flush=True)


if __name__ == "__main__":
    main()
