"""Would a model help the default recipe's teacher ensemble? Flip-averaged accuracy of each model and of their
mean on FER-2013 PublicTest, and how often each pair disagrees — the numbers behind "Tried and not shipped" in
docs/model-card.md. Predictions come from `teacher_probabilities`, the function distillation itself uses.
For each ensemble size it prints the mean over all subsets of that size (what a teacher ensemble of that size
reaches without choosing members on this split) and the best subset (chosen on this split, so optimistic).

    .venv/bin/python bench/teacher_ensemble.py runs/fervgg-finetune/model.keras \\
        runs/fervgg-cycle4-finetune/model.keras runs/fervgg-stage1-finetune/model.keras \\
        runs/fervgg-cycle3/model.keras [runs/ferres-finetune/model.keras] [--every-subset]
"""

from __future__ import annotations

import argparse
import itertools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import FER2013  # noqa: E402

from ferkit.data import load_data  # noqa: E402
from ferkit.training.distillation import teacher_probabilities  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model files; the ensemble is their mean")
    parser.add_argument("--data", default=str(FER2013), help="FER-2013 (.npz or .csv)")
    parser.add_argument("--split", default="PublicTest", help="where to measure (not PrivateTest)")
    parser.add_argument("--every-subset", action="store_true", help="also print each subset's accuracy")
    args = parser.parse_args()
    if args.split == "PrivateTest":
        parser.error("this chooses teachers, so it measures on PublicTest; PrivateTest is for final numbers only")
    data = load_data(args.data)
    rows = data.split_indices(args.split)
    labels = data.labels[rows]
    flipped = {path: teacher_probabilities([path], data, rows) for path in args.models}

    def accuracy(probabilities: np.ndarray) -> float:
        return float(np.mean(probabilities.argmax(axis=1) == labels) * 100)

    print(f"{args.split}, n = {len(rows)}, each model flip-averaged (image and mirror)")
    for path, probabilities in flipped.items():
        print(f"{accuracy(probabilities):6.2f} %  {path}")
    for first, second in itertools.combinations(args.models, 2):
        differ = int(np.sum(flipped[first].argmax(axis=1) != flipped[second].argmax(axis=1)))
        print(f"disagree on {differ:4d}: {first} vs {second}")
    print("size  mean over subsets  best subset")
    for size in range(2, len(args.models) + 1):
        scores = {}
        for members in itertools.combinations(args.models, size):
            scores[members] = accuracy(np.mean([flipped[path] for path in members], axis=0))
            if args.every_subset:
                print(f"{scores[members]:6.2f} %  ensemble of {', '.join(members)}")
        best = max(scores, key=scores.get)
        print(f"{size:4d}  {np.mean(list(scores.values())):13.2f} %  {scores[best]:6.2f} %  {', '.join(best)}")


if __name__ == "__main__":
    main()
