"""The one atomic-write helper: complete files or none, readable by others, stale temporaries cleaned."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from ferkit.config import load_config, save_config
from ferkit.files import atomic_path, remove_stale_temporaries, write_text


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def usual_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "a.json", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_temporaries_keep_the_suffix_keras_needs(tmp_path):
    with atomic_path(tmp_path / "latest.weights.h5") as tmp:
        assert tmp.name.endswith(".weights.h5") and tmp.name.startswith(".latest.weights.h5.tmp-")
        tmp.write_bytes(b"x")


def test_files_for_users_are_readable_by_others(tmp_path, usual_umask):
    from support.inference import write_tiny_model

    from ferkit.inference.outputs import write_image

    written = [
        write_text(tmp_path / "summary.json", "{}"),
        save_config(load_config(None), tmp_path / "config.yaml"),
        write_tiny_model(tmp_path / "model.keras"),
        write_image(tmp_path / "annotated.png", np.zeros((4, 4, 3), np.uint8)),
    ]
    assert {path.name: oct(mode(path)) for path in written} == {path.name: "0o644" for path in written}


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    keep = [write_text(tmp_path / name, "x") for name in ("checkpoint.keras", "history.csv", ".hidden")]
    stale = [tmp_path / ".checkpoint.keras.tmp-abcd1234.keras", tmp_path / ".checkpoint.k2j3h4g5.keras"]
    for path in stale:
        path.write_bytes(b"half")
    removed = remove_stale_temporaries(tmp_path, legacy_stems=("checkpoint",))
    assert sorted(removed) == sorted(stale)
    assert all(path.exists() for path in keep)
