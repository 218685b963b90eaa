"""FER+ labels: the ten crowd votes per FER-2013 image (Barsoum et al., 2016) as ferkit classes.

Each FER-2013 image has ten votes over neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown and NF (not a face). ferkit names FER+'s emotions as it names FER-2013's (anger → angry,
happiness → happy, ...) and adds `contempt`, so a FER-2013 model and a FER+ model share seven class names
and weights can move between them by name.

Two readings of the votes:
- `ferplus_majority`: the strict plurality label of each row (the FER+ "majority" truth used to score
  models); rows are left out when the top count is shared (a tie), or is unknown, NF or a class the model
  lacks, or when the row has no votes.
- `ferplus_relabel`: a dataset over the eight emotions with the vote distributions as soft targets, for
  training; rows whose most-voted column is unknown or NF are left out, and single votes are dropped as
  outliers (as in FER+'s own training code) when other votes remain.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ferkit.errors import DataError

FERPLUS_COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                   "unknown", "NF"]
FERPLUS_TO_FERKIT = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                     "sadness": "sad", "surprise": "surprise", "neutral": "neutral", "contempt": "contempt"}
FERPLUS_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"]
NOT_LABELLED = -1
LABEL_CHOICES = ("dataset", "ferplus")


@dataclass
class MajorityLabels:
    """FER+ majority labels as indices into the model's classes (`NOT_LABELLED` where left out).

    `excluded` counts the left-out rows by reason: "tie", "unknown", "NF", "no votes", or the name of a FER+
    emotion the model has no class for (e.g. "contempt" for a FER-2013 model).
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
            name = FERPLUS_TO_FERKIT.get(FERPLUS_COLUMNS[column])
            if name in class_names:
                labels[row] = class_names.index(name)
            else:
                reasons.append(FERPLUS_COLUMNS[column])
    counts = Counter(reasons)
    always = ("tie", "unknown", "NF", "no votes") + (() if "contempt" in class_names else ("contempt",))
    return MajorityLabels(labels, {**{reason: counts.get(reason, 0) for reason in always},
                                   **{reason: n for reason, n in counts.items() if reason not in always}})


def vote_distributions(votes: np.ndarray, class_names: list[str]) -> np.ndarray:
    """Per-row distributions over `class_names` from FER+ vote rows; single votes dropped where others remain.

    Columns of FER+ emotions missing from `class_names`, unknown and NF are ignored; a row without any vote
    for `class_names` gets all zeros.
    """
    columns = [FERPLUS_COLUMNS.index(plus) for name in class_names
               for plus, ferkit_name in FERPLUS_TO_FERKIT.items() if ferkit_name == name]
    if len(columns) != len(class_names):
        unknown = [name for name in class_names if name not in FERPLUS_TO_FERKIT.values()]
        raise DataError(f"classes {', '.join(unknown)} have no FER+ votes")
    counts = np.asarray(votes, dtype=np.float32)[:, columns]
    trimmed = np.where(counts > 1, counts, 0)
    counts = np.where(trimmed.sum(axis=1, keepdims=True) > 0, trimmed, counts)
    totals = counts.sum(axis=1, keepdims=True)
    return np.where(totals > 0, counts / np.maximum(totals, 1), 0).astype(np.float32)


def ferplus_relabel(data, votes: np.ndarray):
    """`data` (a `LabeledData` row-aligned with `votes`) relabelled with FER+'s eight classes.

    Labels are each kept row's most-voted emotion, `soft_labels` its vote distribution; rows whose most-voted
    column is unknown or NF (or that have no emotion votes) are dropped from every split.
    """
    votes = _checked_votes(data, votes)
    soft = vote_distributions(votes, FERPLUS_CLASSES)
    emotion_top = votes[:, :8].max(axis=1)
    keep = (emotion_top > 0) & (emotion_top >= votes[:, 8:].max(axis=1))
    return _keep_rows(data, keep, soft.argmax(axis=1), soft)


def ferplus_majority_data(data, votes: np.ndarray):
    """`data` relabelled with each row's FER+ majority label (`ferplus_majority` over the eight classes), the
    truth FER+ models are scored against; rows without one (ties, unknown, NF, no votes) are dropped."""
    votes = _checked_votes(data, votes)
    labels = ferplus_majority(votes, FERPLUS_CLASSES).labels
    return _keep_rows(data, labels != NOT_LABELLED, labels, vote_distributions(votes, FERPLUS_CLASSES))


def _checked_votes(data, votes: np.ndarray) -> np.ndarray:
    votes = np.asarray(votes, dtype=np.int64)
    if votes.shape != (len(data.labels), len(FERPLUS_COLUMNS)):
        raise DataError(f"{data.source}: ferplus_votes must have shape ({len(data.labels)}, "
                        f"{len(FERPLUS_COLUMNS)}), not {votes.shape}")
    return votes


def _keep_rows(data, keep: np.ndarray, labels: np.ndarray, soft: np.ndarray):
    """`data` with only the rows in the mask `keep`, FER+ classes, and the given labels and soft labels."""
    new_index = np.full(len(keep), -1)
    new_index[keep] = np.arange(keep.sum())
    splits = {name: new_index[rows[keep[rows]]] for name, rows in data.splits.items()}
    return dataclasses.replace(data, images=data.images[keep], labels=labels[keep],
                               class_names=list(FERPLUS_CLASSES), splits=splits, soft_labels=soft[keep])
