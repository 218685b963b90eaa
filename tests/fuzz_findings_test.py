"""Crashes the fuzz campaign (bench/fuzz.py) found outside the server, each pinned by the input that found it."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.config import load_config
from ferkit.data.sources import load_data
from ferkit.errors import ConfigError, DataError


def test_a_config_file_that_is_not_utf8_is_a_one_line_config_error(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"Architecture: lenet\nNoOfFilters: \xb3\n")
    with pytest.raises(ConfigError, match=r"config.yaml is not UTF-8 text \(byte 33 cannot be decoded\)"):
        load_config(config)


def fer_npz_without_usage(path, rows: int):
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (rows, 48, 48), dtype=np.uint8), labels=np.arange(rows) % 7)
    return path


def test_a_small_dataset_without_splits_is_split_without_stratifying(tmp_path):
    """21 rows of 7 classes: a stratified 20 % validation part (5 rows) cannot hold every class."""
    data = load_data(fer_npz_without_usage(tmp_path / "small.npz", 21), image_size=(48, 48),
                     validation_split=0.2)
    rows = np.concatenate([data.split_indices("train"), data.split_indices("validation")])
    assert sorted(rows) == list(range(21))
    assert len(data.split_indices("validation")) == 5


def test_a_dataset_too_small_to_split_is_a_one_line_data_error(tmp_path):
    with pytest.raises(DataError, match=r"1 labelled row\(s\) are too few to hold out a validation split of 0.2"):
        load_data(fer_npz_without_usage(tmp_path / "one.npz", 1), image_size=(48, 48), validation_split=0.2)
