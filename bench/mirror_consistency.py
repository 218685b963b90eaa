"""Does a model read a face and its mirror image alike? Top-1 on FER-2013 faces as given, mirrored and averaged
over both, and how often the two views get the same answer — the numbers behind "mirrored fine-tune" in
docs/model-card.md. Faces go through the compiled classifier that prediction uses.

    .venv/bin/python bench/mirror_consistency.py [MODEL ...] [--data PATH] [--split PublicTest]

Default model: the shipped one. Default split: PublicTest (the validation split, so the numbers may steer
choices). Exits 0 without measuring anything when the dataset is absent.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import FER2013  # noqa: E402

from ferkit.data import load_data  # noqa: E402
from ferkit.evaluation.runner import load_evaluation_classifier, predict_in_batches  # noqa: E402
from ferkit.inference.shipped import shipped_model_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model files (default: the shipped model)")
    parser.add_argument("--data", default=str(FER2013), help="FER-2013 (.npz or .csv)")
    parser.add_argument("--split", default="PublicTest")
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"dataset not found at {args.data}; nothing measured")
        return
    data = load_data(args.data)
    rows = data.split_indices(args.split)
    images, labels = data.images[rows].astype(np.float32), data.labels[rows]
    print(f"{args.split}, n = {len(rows)}: top-1 as given / mirrored / averaged, views agreeing")
    for path in args.models or [str(shipped_model_path())]:
        classifier = load_evaluation_classifier(path)
        given = predict_in_batches(classifier.raw_proba, images, 256, tta=False)
        mirrored = predict_in_batches(classifier.raw_proba, images[:, :, ::-1], 256, tta=False)
        top1 = [np.mean(p.argmax(axis=1) == labels) * 100 for p in (given, mirrored, given + mirrored)]
        agree = np.mean(given.argmax(axis=1) == mirrored.argmax(axis=1)) * 100
        print(f"{top1[0]:6.2f} / {top1[1]:6.2f} / {top1[2]:6.2f} %   agree {agree:6.2f} %   {path}")


if __name__ == "__main__":
    main()
