"""FER+ majority labels and the exclusion of test images duplicated in training."""

from __future__ import annotations

import numpy as np

from ferkit.data.sources import FER2013_CLASSES
from ferkit.evaluation.fer2013 import (
    NOT_LABELLED,
    ferplus_majority,
    read_ferplus_votes,
    rows_duplicated_in,
)

# FER+ columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
VOTES = np.array([
    [1, 7, 0, 0, 0, 0, 0, 0, 2, 0],   # happiness
    [0, 0, 0, 0, 6, 0, 0, 0, 0, 4],   # anger (NF votes but not the majority)
    [4, 4, 0, 0, 0, 0, 0, 0, 2, 0],   # tie neutral/happiness
    [0, 0, 0, 0, 0, 0, 0, 6, 4, 0],   # contempt
    [0, 0, 0, 2, 0, 0, 0, 0, 8, 0],   # unknown
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # NF
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],   # no votes
    [0, 0, 0, 0, 0, 3, 2, 0, 0, 0],   # disgust
])


def test_majority_labels_follow_the_rule():
    majority = ferplus_majority(VOTES, FER2013_CLASSES)
    expected = [FER2013_CLASSES.index("happy"), FER2013_CLASSES.index("angry")] + [NOT_LABELLED] * 5 + [
        FER2013_CLASSES.index("disgust")]
    assert majority.labels.tolist() == expected
    assert majority.excluded == {"tie": 1, "contempt": 1, "unknown": 1, "NF": 1, "no votes": 1}


def test_majority_labels_map_by_class_name():
    reordered = list(reversed(FER2013_CLASSES))
    majority = ferplus_majority(VOTES[:2], reordered)
    assert [reordered[i] for i in majority.labels] == ["happy", "angry"]


def test_rows_duplicated_in_training_are_exact_pixel_copies():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 6, 6, 1), dtype=np.uint8)
    images[7] = images[1]                     # exact copy of a training image
    images[8] = images[2]
    images[8, 0, 0, 0] ^= 1                   # one grey level off: not a duplicate
    images[9] = images[6]                     # copy of another test image only: not a duplicate
    train, test = np.arange(0, 6), np.arange(6, 10)
    assert rows_duplicated_in(images, test, train).tolist() == [False, True, False, False]


def test_read_ferplus_votes_only_from_npz_with_votes(tmp_path):
    with_votes, without = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(with_votes, images=np.zeros((8, 2, 2), np.uint8), labels=np.zeros(8), ferplus_votes=VOTES)
    np.savez(without, images=np.zeros((8, 2, 2), np.uint8), labels=np.zeros(8))
    assert np.array_equal(read_ferplus_votes(with_votes), VOTES)
    assert read_ferplus_votes(without) is None
    assert read_ferplus_votes(tmp_path) is None
