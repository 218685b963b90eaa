"""Measure where each face detector's box (and landmarks) lie in a FER-2013 frame, to calibrate
`ferkit.faces.framing` and the alignment template of `ferkit.faces.alignment`.

FER-2013 faces are 48×48 frames around a face. Each image is enlarged 4× (so box coordinates are not rounded
to whole 48-pixel units), gets a grey border of a quarter of its side (so a box larger than the frame can
still be found), goes through the detector exactly as `ferkit predict` runs it, and the largest box is
expressed in frame units. The frame is
recovered from a box by margin = (1 / s - 1) / 2 on each side of the box's longer side s, and a vertical
shift d = (frame centre - box centre) / box height: the medians of both go into `CALIBRATED_FRAMING`. For
detectors with landmarks (YuNet, MTCNN) the median position of each of the five landmarks, in frame units, is
the alignment template (`FER2013_TEMPLATE`).

    .venv/bin/python bench/face_framing.py --data ../shared/datasets/fer2013/fer2013.npz --n 400

With `--model FILE` it also checks the result where it matters: accuracy of that model on PublicTest images
given as the 48×48 frame itself (what the model was trained on) and as detector crops of the enlarged,
bordered image at several margins. The calibrated margin should come close to the frame's own accuracy.

    .venv/bin/python bench/face_framing.py --n 600 --detectors haar --model runs/fervgg/model.keras

With `--model`, the YuNet rows also give the accuracy of aligned crops (warped onto the template).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from common import FER2013  # noqa: E402

from ferkit.faces import make_detector  # noqa: E402
from ferkit.faces.boxes import LANDMARK_NAMES  # noqa: E402

BORDER = 0.25
ENLARGE = 4
MARGINS = (-0.1, -0.05, 0.0, 0.05, 0.1, 0.2, 0.3)


def photo_of(small: np.ndarray) -> np.ndarray:
    """A 48×48 FER frame enlarged 4× with a grey border of a quarter of its side, as RGB."""
    image = cv2.resize(small, None, fx=ENLARGE, fy=ENLARGE, interpolation=cv2.INTER_CUBIC)
    pad = round(image.shape[0] * BORDER)
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(image.mean()))
    return cv2.cvtColor(padded, cv2.COLOR_GRAY2RGB)


def accuracy_by_margin(model_path: str, images: np.ndarray, labels: np.ndarray, detector_name: str) -> dict:
    """Accuracy on the frames themselves and on detector crops framed with each margin (detected rows)."""
    from ferkit.faces.framing import CALIBRATED_FRAMING, Framing, frame_face, model_input
    from ferkit.inference.classifier import load_classifier

    classifier = load_classifier(model_path)
    detector = make_detector(detector_name)
    found = [(index, boxes[0], photo) for index, small in enumerate(images)
             for photo in [photo_of(small)] for boxes in [detected(detector, photo)] if boxes]
    rows = np.array([index for index, _, _ in found])
    truth = labels[rows]
    results = {"detector": detector_name, "rows_with_a_face": f"{len(rows)}/{len(images)}",
               "frame_itself": round(float((classifier.predict_proba(images[rows][..., None]).argmax(1)
                                            == truth).mean()), 4)}
    calibrated = CALIBRATED_FRAMING[detector_name]
    for margin in sorted({*MARGINS, calibrated.margin}):
        framing = Framing(margin=margin, shift=calibrated.shift)
        crops = np.stack([frame_face(photo, box, classifier.metadata, framing) for _, box, photo in found])
        accuracy = float((classifier.predict_proba(crops).argmax(1) == truth).mean())
        results[f"margin {margin:+.3f}" + (" (calibrated)" if margin == calibrated.margin else "")] = round(
            accuracy, 4)
    if all(box.landmarks is not None for _, box, _ in found):
        crops = np.stack([model_input(photo, box, classifier.metadata, calibrated, align=True)[0]
                          for _, box, photo in found])
        results["aligned"] = round(float((classifier.predict_proba(crops).argmax(1) == truth).mean()), 4)
    return results


def detected(detector, photo: np.ndarray) -> list:
    """The detector's boxes, without YuNet's whole-image fallback (a box with no score and no landmarks)."""
    boxes = detector.detect(photo)
    if detector.name == "yunet":
        boxes = [box for box in boxes if box.landmarks is not None]
    return boxes


def measure(images: np.ndarray, detector_name: str) -> dict:
    detector = make_detector(detector_name)
    sides, shifts, widths, heights, points = [], [], [], [], []
    started = time.perf_counter()
    for small in images:
        size = small.shape[0] * ENLARGE
        pad = round(size * BORDER)
        boxes = detected(detector, photo_of(small))
        if not boxes:
            continue
        box = boxes[0]
        if box.landmarks is not None:
            points.append((np.array(box.landmarks) - pad) / size)
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
        "landmark_template": None if not points else {
            name: np.median(np.array(points)[:, index], axis=0).round(4).tolist()
            for index, name in enumerate(LANDMARK_NAMES)},
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(FER2013))
    parser.add_argument("--n", type=int, default=400, help="training images sampled")
    parser.add_argument("--detectors", nargs="+", default=["yunet", "haar", "mtcnn"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="also compare accuracy by margin with this model file")
    args = parser.parse_args()
    arrays = np.load(args.data)
    training = np.flatnonzero(arrays["usage"] == "Training")
    rows = np.random.default_rng(args.seed).choice(training, args.n, replace=False)
    images = arrays["images"][np.sort(rows)]
    images = images[images.std(axis=(1, 2)) > 1]  # FER-2013 has a few blank frames
    for name in args.detectors:
        print(measure(images, name), flush=True)
    if args.model:
        test = np.flatnonzero(arrays["usage"] == "PublicTest")
        rows = np.sort(np.random.default_rng(args.seed).choice(test, args.n, replace=False))
        for name in args.detectors:
            result = accuracy_by_margin(args.model, arrays["images"][rows], arrays["labels"][rows], name)
            print(result, flush=True)


if __name__ == "__main__":
    main()
