"""Accuracy under image shifts that faces from other datasets bring: light, blur, noise, resolution, pose, framing.

FER-2013 test faces are re-rendered with one deterministic corruption at a time (below) and classified through
the same compiled classifier prediction uses; the table gives top-1 per corruption and the mean over the
corruptions, for each model on the same images. A stand-in for "faces nobody here has seen": it shows whether
a change that helps on clean FER-2013 faces (a training stage, a recipe) costs robustness elsewhere.

    .venv/bin/python bench/robustness.py [MODEL ...] [--data PATH] [--split PublicTest] [--json FILE]

Default models: the shipped model; the `fer` package's default model is scored on the same views when it is
installed (as in `bench/accuracy.py`). Default split: PublicTest (the validation split, so the numbers may steer
choices). Exits 0 without measuring anything when the dataset is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from accuracy import run_fer_worker  # noqa: E402  (bench/accuracy.py)
from common import FER2013, SHIPPED_MODEL, fer_python  # noqa: E402

DEFAULT_MODELS = [SHIPPED_MODEL]
BATCH = 256
SEED = 0


def _per_image(images: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.stack([transform(image) for image in images])


def _affine(images: np.ndarray, angle: float, scale: float) -> np.ndarray:
    height, width = images.shape[1:3]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    return _per_image(images, lambda image: cv2.warpAffine(image, matrix, (width, height),
                                                           flags=cv2.INTER_LINEAR,
                                                           borderMode=cv2.BORDER_REFLECT_101))


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def _low_resolution(images: np.ndarray, side: int) -> np.ndarray:
    height, width = images.shape[1:3]
    return _per_image(images, lambda image: cv2.resize(cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA),
                                                       (width, height), interpolation=cv2.INTER_LINEAR))


def _gamma(images: np.ndarray, gamma: float) -> np.ndarray:
    table = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.uint8)
    return table[images]


def _contrast(images: np.ndarray, factor: float) -> np.ndarray:
    mean = images.reshape(len(images), -1).mean(axis=1)[:, None, None]
    return np.clip((images - mean) * factor + mean, 0, 255).astype(np.uint8)


def _noise(images: np.ndarray, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return np.clip(images + rng.normal(0, sigma, images.shape), 0, 255).astype(np.uint8)


CORRUPTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "darker (gamma 1.8)": lambda x: _gamma(x, 1.8),
    "brighter (gamma 0.55)": lambda x: _gamma(x, 0.55),
    "low contrast (x0.5)": lambda x: _contrast(x, 0.5),
    "high contrast (x1.6)": lambda x: _contrast(x, 1.6),
    "blur (sigma 1.2 px)": lambda x: _per_image(x, lambda image: cv2.GaussianBlur(image, (0, 0), 1.2)),
    "noise (sigma 12)": lambda x: _noise(x, 12.0),
    "JPEG quality 15": lambda x: _per_image(x, lambda image: _jpeg(image, 15)),
    "low resolution (24 px)": lambda x: _low_resolution(x, 24),
    "rotated 12 deg": lambda x: _affine(x, 12.0, 1.0),
    "face smaller (zoom 0.85)": lambda x: _affine(x, 0.0, 0.85),
    "face larger (zoom 1.15)": lambda x: _affine(x, 0.0, 1.15),
}


def corrupted_views(images: np.ndarray) -> dict[str, np.ndarray]:
    """(N, H, W) uint8 faces → the clean faces and each corruption of them, by name."""
    return {"clean": images, **{name: corrupt(images) for name, corrupt in CORRUPTIONS.items()}}


def with_mean(accuracy: dict[str, float]) -> dict[str, float]:
    return {**accuracy, "mean over corruptions": float(np.mean([accuracy[name] for name in CORRUPTIONS]))}


def score(model_path: Path, views: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Top-1 (%) of one ferkit model on each view."""
    from ferkit.evaluation.runner import load_evaluation_classifier, predict_in_batches

    classifier = load_evaluation_classifier(model_path)
    accuracy = {}
    for name, view in views.items():
        probabilities = predict_in_batches(classifier.raw_proba, view[..., None], BATCH, tta=False)
        accuracy[name] = float(100 * np.mean(probabilities.argmax(axis=1) == labels))
    return with_mean(accuracy)


def score_fer(python: str, views: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Top-1 (%) of the `fer` package's default model on each view, classified by `bench/accuracy.py`'s fer
    worker in the interpreter `python` (fer's own preprocessing; its classes are FER-2013's, in order)."""
    with tempfile.TemporaryDirectory() as workdir:
        probabilities, _ = run_fer_worker(python, np.concatenate(list(views.values())), Path(workdir))
    predicted = probabilities.argmax(axis=1).reshape(len(views), -1)
    return with_mean({name: float(100 * np.mean(row == labels)) for name, row in zip(views, predicted,
                                                                                      strict=True)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--data", type=Path, default=FER2013)
    parser.add_argument("--split", default="PublicTest")
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--fer-python", help="an interpreter where the fer package imports (default: this one "
                        "or runs/fer-venv, as bench/accuracy.py; fer's row is left out when none works)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"{args.data} not found: nothing to measure")
        return 0

    from ferkit.evaluation.runner import load_data_for, resolve_split
    from ferkit.models.saving import read_metadata

    metadata = read_metadata(args.models[0])
    data = load_data_for(args.data, metadata)
    split, indices = resolve_split(data, args.split)
    images, labels = data.images[indices][..., 0], data.labels[indices]
    print(f"{split}: {len(indices)} faces, single crop, each corruption applied to every face")

    views = corrupted_views(images)
    table = {f"{path.parent.name}/{path.name}": score(path, views, labels) for path in args.models}
    python = fer_python(args.fer_python)
    if python:
        table["fer package (mini-Xception)"] = score_fer(python, views, labels)
    print(f"{'view':28s}" + "".join(f"{name[-34:]:>36s}" for name in table))
    for row in next(iter(table.values())):
        print(f"{row:28s}" + "".join(f"{scores[row]:35.2f}%" for scores in table.values()))
    if args.json:
        args.json.write_text(json.dumps({"split": split, "top1_percent": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
