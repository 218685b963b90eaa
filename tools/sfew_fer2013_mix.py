"""Write a folder dataset that mixes SFEW Train with FER-2013 Training faces, for a real-photos fine-tune.

    python tools/sfew_fer2013_mix.py --sfew ../shared/datasets/sfew --fer2013 ../shared/datasets/fer2013/fer2013.npz \
        --per-class 500 --out runs/mix

Layout written (class folders in lower case, SFEW files linked, FER-2013 faces as PNG):
- train/<class>/: the SFEW Train faces that `ferkit train --data <sfew with train/ and test/>` trains on (its
  stratified 80 %, `--seed`, `--validation-split`), each linked `--sfew-repeat` times so that a few hundred
  film faces still weigh in beside FER-2013, plus up to `--per-class` random FER-2013 Training faces a class
  (`--per-class 0`: all of them);
- val/<class>/: the other 20 % of SFEW Train (the same hold-out, so choices stay comparable);
- test/<class>/: SFEW Val, for reporting only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from ferkit.data.images import IMAGE_SUFFIXES
from ferkit.data.sources import FER2013_CLASSES, _stratified_split


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _link(files, labels, classes, destination: Path, repeat: int = 1) -> None:
    for file, label in zip(files, labels, strict=True):
        for copy in range(repeat):
            name = file.name if copy == 0 else f"{file.stem}-copy{copy}{file.suffix}"
            target = destination / classes[label].lower() / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(file.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sfew", type=Path, required=True)
    parser.add_argument("--fer2013", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=500, help="FER-2013 faces a class; 0 for all")
    parser.add_argument("--sfew-repeat", type=int, default=1, help="links to each SFEW training face")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--validation-split", type=float, default=0.2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    classes = sorted(p.name for p in (args.sfew / "Train").iterdir() if p.is_dir())
    files, labels = [], []
    for index, name in enumerate(classes):
        found = _files(args.sfew / "Train" / name)
        files += found
        labels += [index] * len(found)
    split = _stratified_split(np.array(labels), args.validation_split, args.seed)[0]
    for role, rows, repeat in (("train", split["train"], args.sfew_repeat), ("val", split["validation"], 1)):
        _link([files[i] for i in rows], [labels[i] for i in rows], classes, args.out / role, repeat)
    for index, name in enumerate(classes):
        found = _files(args.sfew / "Val" / name)
        _link(found, [index] * len(found), classes, args.out / "test")

    with np.load(args.fer2013) as arrays:
        images, fer_labels, usage = arrays["images"], arrays["labels"], arrays["usage"]
    training = np.flatnonzero(usage == "Training")
    rng = np.random.default_rng(args.seed)
    for index, name in enumerate(FER2013_CLASSES):
        rows = training[fer_labels[training] == index]
        size = len(rows) if args.per_class == 0 else min(args.per_class, len(rows))
        for row in rng.choice(rows, size=size, replace=False):
            target = args.out / "train" / name / f"fer2013-{row}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), images[row])
    print(f"wrote {args.out}: SFEW train {len(split['train'])}, SFEW val {len(split['validation'])}, "
          f"(each {args.sfew_repeat}×), FER-2013 {'all' if args.per_class == 0 else f'up to {args.per_class}'} a class")


if __name__ == "__main__":
    main()
