"""FER+ labels as a dataset: eight classes, vote distributions as soft labels, majority labels as truth."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.data import load_data
from ferkit.data.ferplus import (
    FERPLUS_CLASSES,
    NOT_LABELLED,
    ferplus_majority,
    ferplus_majority_data,
    ferplus_relabel,
    vote_distributions,
)
from ferkit.data.sources import LabeledData
from ferkit.errors import DataError

# FER+ columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
VOTES = np.array([
    [1, 7, 0, 0, 0, 0, 0, 0, 2, 0],   # happy; the single neutral vote is an outlier
    [0, 0, 0, 0, 0, 0, 0, 6, 4, 0],   # contempt
    [4, 4, 0, 0, 0, 0, 0, 0, 2, 0],   # tie neutral/happy: trained on, not scored
    [0, 0, 0, 2, 0, 0, 0, 0, 8, 0],   # unknown majority: dropped
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # NF: dropped
    [0, 0, 0, 0, 1, 0, 0, 0, 0, 0],   # one anger vote only: kept, not trimmed away
])


def _data(votes=VOTES) -> LabeledData:
    n = len(votes)
    images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 1), np.uint8)
    return LabeledData(images, np.zeros(n, dtype=np.int64), ["angry", "disgust", "fear", "happy", "sad",
                                                             "surprise", "neutral"],
                       {"Training": np.arange(0, n, 2), "PublicTest": np.arange(1, n, 2)},
                       {"train": "Training", "validation": "PublicTest"}, "votes.npz")


def test_vote_distributions_drop_single_votes_when_others_remain():
    soft = vote_distributions(VOTES, FERPLUS_CLASSES)
    assert soft[0, FERPLUS_CLASSES.index("happy")] == 1.0
    np.testing.assert_allclose(soft[2, [FERPLUS_CLASSES.index("neutral"), FERPLUS_CLASSES.index("happy")]],
                               [0.5, 0.5])
    assert soft[5, FERPLUS_CLASSES.index("angry")] == 1.0
    assert soft[4].sum() == 0


def test_relabel_keeps_emotion_rows_with_eight_classes_and_remaps_splits():
    data = ferplus_relabel(_data(), VOTES)
    assert data.class_names == FERPLUS_CLASSES
    kept_images = data.images[:, 0, 0, 0].tolist()
    assert kept_images == [0, 1, 2, 5]
    assert [data.class_names[i] for i in data.labels] == ["happy", "contempt", "happy", "angry"]  # tie: first class
    np.testing.assert_allclose(data.soft_labels.sum(axis=1), 1.0)
    assert data.images[data.splits["Training"], 0, 0, 0].tolist() == [0, 2]
    assert data.images[data.splits["PublicTest"], 0, 0, 0].tolist() == [1, 5]


def test_majority_data_scores_only_rows_with_a_strict_majority():
    data = ferplus_majority_data(_data(), VOTES)
    assert data.images[:, 0, 0, 0].tolist() == [0, 1, 5]
    assert [data.class_names[i] for i in data.labels] == ["happy", "contempt", "angry"]


def test_majority_counts_contempt_only_for_models_without_it():
    assert ferplus_majority(VOTES, FERPLUS_CLASSES).labels[1] == FERPLUS_CLASSES.index("contempt")
    seven = ferplus_majority(VOTES, FERPLUS_CLASSES[:7])
    assert seven.labels[1] == NOT_LABELLED and seven.excluded["contempt"] == 1
    assert "contempt" not in ferplus_majority(VOTES, FERPLUS_CLASSES).excluded


def test_load_data_reads_ferplus_labels_from_the_npz(fer_npz):
    data = load_data(fer_npz, labels="ferplus")
    votes = np.load(fer_npz)["ferplus_votes"].astype(int)
    expected = (votes[:, :8].max(1) > 0) & (votes[:, :8].max(1) >= votes[:, 8:].max(1))
    assert data.class_names == FERPLUS_CLASSES
    assert len(data.labels) == expected.sum()
    assert sum(len(rows) for rows in data.splits.values()) == expected.sum()
    np.testing.assert_allclose(data.soft_labels.sum(axis=1), 1.0, atol=1e-6)


def test_ferplus_labels_need_votes(faces_folder):
    with pytest.raises(DataError, match="ferplus_votes"):
        load_data(faces_folder, image_size=(48, 48), labels="ferplus")
    with pytest.raises(DataError, match="labels='fer'"):
        load_data(faces_folder, image_size=(48, 48), labels="fer")
