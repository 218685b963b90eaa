"""FER-2013 specifics that make a reported number trustworthy: FER+ majority labels and duplicate images.

FER+ majority label: each FER-2013 image has ten crowd votes over neutral, happiness, surprise, sadness,
anger, disgust, fear, contempt, unknown and NF (not a face). A row gets the label with strictly the most
votes; rows are left out when that maximum is shared by several columns (a tie), when it is contempt (not a
FER-2013 class), unknown or NF, or when the row has no votes.

Duplicates: hundreds of PublicTest/PrivateTest images are exact pixel copies of Training images, so a model
can score on them by memory. `rows_duplicated_in` finds them by hashing each image's pixel bytes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.data.sources import FERPLUS_COLUMNS, FERPLUS_TO_FER2013

NOT_LABELLED = -1


@dataclass
class MajorityLabels:
    """FER+ majority labels as indices into the model's classes (`NOT_LABELLED` where left out).

    `excluded` counts the left-out rows by reason: "tie", "contempt", "unknown", "NF", "no votes".
    """

    labels: np.ndarray
    excluded: dict[str, int]


def ferplus_majority(votes: np.ndarray, class_names: list[str]) -> MajorityLabels:
    """Majority labels of FER+ vote rows (columns in FER+ order), mapped onto `class_names` by name."""
    votes = np.asarray(votes, dtype=np.int64)
    top = votes.max(axis=1)
    tied = (votes == top[:, None]).sum(axis=1) > 1
    winner = votes.argmax(axis=1)
    labels = np.full(len(votes), NOT_LABELLED, dtype=np.int64)
    reasons: list[str] = []
    for row, column in enumerate(winner):
        if top[row] == 0:
            reasons.append("no votes")
        elif tied[row]:
            reasons.append("tie")
        else:
            name = FERPLUS_TO_FER2013.get(FERPLUS_COLUMNS[column])
            if name in class_names:
                labels[row] = class_names.index(name)
            else:
                reasons.append(FERPLUS_COLUMNS[column])
    counts = Counter(reasons)
    return MajorityLabels(labels, {reason: counts.get(reason, 0)
                                   for reason in ("tie", "contempt", "unknown", "NF", "no votes")})


def read_ferplus_votes(data_source: str | Path) -> np.ndarray | None:
    """The raw `ferplus_votes` array of an npz dataset (row-aligned with its images), or None."""
    path = Path(data_source)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as arrays:
        return arrays["ferplus_votes"] if "ferplus_votes" in arrays.files else None


def pixel_hash(image: np.ndarray) -> bytes:
    """A digest of an image's shape and pixel bytes: equal exactly when the images are identical."""
    image = np.ascontiguousarray(image)
    return hashlib.blake2b(repr(image.shape).encode() + image.tobytes(), digest_size=16).digest()


def rows_duplicated_in(images: np.ndarray, rows: np.ndarray, reference_rows: np.ndarray) -> np.ndarray:
    """Bool mask over `rows`: True where that image is an exact pixel copy of an image in `reference_rows`."""
    reference = {pixel_hash(images[i]) for i in reference_rows}
    return np.array([pixel_hash(images[i]) in reference for i in rows], dtype=bool)
