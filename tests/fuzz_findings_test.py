"""Crashes the fuzz campaign (bench/fuzz.py) found outside the server, each pinned by the input that found it."""

from __future__ import annotations

import pytest

from ferkit.config import load_config
from ferkit.errors import ConfigError


def test_a_config_file_that_is_not_utf8_is_a_one_line_config_error(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"Architecture: lenet\nNoOfFilters: \xb3\n")
    with pytest.raises(ConfigError, match=r"config.yaml is not UTF-8 text \(byte 33 cannot be decoded\)"):
        load_config(config)
