"""A FER+ model on FER+'s test split (FER-2013 PrivateTest) under both majority rules, with its speed.

- ferkit's rule (`ferkit evaluate --labels ferplus`): the class with strictly the most of the ten votes; ties,
  unknown, NF left out.
- FER+'s own "majority" rule (Barsoum et al. 2016, the rule behind the published 83.85 % of VGG13): single
  votes dropped as outliers, then the class with more than half of the remaining votes; rows without one,
  or whose winner is unknown or NF, left out.
Also contempt recall under each rule and batched faces/s through `load_classifier` (batch 256, best of 3).

    .venv/bin/python bench/ferplus_accuracy.py MODEL [--data PATH] [--split PrivateTest]

Exits 0 without measuring when the dataset is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import FER2013  # noqa: E402

from ferkit.data.classes import class_positions  # noqa: E402
from ferkit.data.ferplus import FERPLUS_CLASSES, FERPLUS_COLUMNS, FERPLUS_TO_FERKIT, ferplus_majority  # noqa: E402
from ferkit.inference.classifier import load_classifier  # noqa: E402

BATCH = 256


def ferplus_paper_majority(votes: np.ndarray) -> np.ndarray:
    """FER+'s own majority label (index into FERPLUS_CLASSES) or -1, as its reference code computes it."""
    counts = np.where(votes > 1, votes, 0).astype(float)
    totals = counts.sum(axis=1)
    winner = counts.argmax(axis=1)
    labels = np.full(len(votes), -1)
    for row, column in enumerate(winner):
        name = FERPLUS_TO_FERKIT.get(FERPLUS_COLUMNS[column])
        if totals[row] > 0 and counts[row, column] > 0.5 * totals[row] and name is not None:
            labels[row] = FERPLUS_CLASSES.index(name)
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=FER2013)
    parser.add_argument("--split", default="PrivateTest")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"{args.data} not found: nothing measured")
        return
    with np.load(args.data) as arrays:
        rows = np.flatnonzero(arrays["usage"] == args.split)
        images, votes = arrays["images"][rows][..., None], arrays["ferplus_votes"][rows].astype(np.int64)
    classifier = load_classifier(args.model)
    names = list(classifier.metadata.class_names)
    order = class_positions(FERPLUS_CLASSES, names)
    if None in order:
        sys.exit(f"{args.model}: classes {names} are not FER+'s eight")
    probabilities = np.concatenate([classifier.predict_proba(images[i:i + BATCH])
                                    for i in range(0, len(images), BATCH)])[:, order]
    predicted = probabilities.argmax(axis=1)
    contempt = FERPLUS_CLASSES.index("contempt")
    for rule, labels in (("ferkit (strict plurality)", ferplus_majority(votes, FERPLUS_CLASSES).labels),
                         ("FER+ paper (> half after outliers)", ferplus_paper_majority(votes))):
        kept = labels >= 0
        is_contempt = labels == contempt
        print(f"{args.split}, {rule}: top-1 {100 * np.mean(predicted[kept] == labels[kept]):.2f} % on "
              f"{kept.sum()} rows; contempt recall {int((predicted[is_contempt] == contempt).sum())}/"
              f"{int(is_contempt.sum())}")
    best = np.inf
    batch = np.resize(images, (BATCH, *images.shape[1:]))
    classifier.predict_proba(batch)
    for _ in range(3):
        start = time.perf_counter()
        classifier.predict_proba(batch)
        best = min(best, time.perf_counter() - start)
    print(f"throughput: {BATCH / best:.0f} faces/s (batch {BATCH}, best of 3); "
          f"file {args.model.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
