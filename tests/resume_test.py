"""Resuming: an interrupted run continues exactly as if it had never stopped, and damaged resume state never
stops a run (it falls back to the backup before it, or to a clean start, with one warning line)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from ferkit.config import load_config
from ferkit.data import load_data
from ferkit.training import train_or_load
from ferkit.training.resume import METADATA, PREVIOUS, WEIGHTS

EPOCHS = 4


class Interrupted(Exception):
    """Stands for a kill: the run stops between two epochs."""


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupted


@pytest.fixture(scope="module")
def setup(faces_folder, tiny_fervgg):
    """Augmentation, degradation, dropout and random crops: every source of randomness a run has."""
    config = load_config(None, [*tiny_fervgg, "BatchSize=16", f"NoOfEpochs={EPOCHS}", "Augment=true",
                                "DegradeQuality=true", "Seed=5", "Patience=10"])
    return config, load_data(faces_folder, image_size=(48, 48))


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory):
    config, data = setup
    out = tmp_path_factory.mktemp("straight")
    return out, train_or_load(config, data, out, verbose=0, print_fn=lambda _: None)


def interrupt(config, data, out: Path, at_epoch: int) -> None:
    with pytest.raises(Interrupted):
        train_or_load(config, data, out, verbose=0, print_fn=lambda _: None, extra_callbacks=(StopAt(at_epoch),))
    assert json.loads((out / "backup" / METADATA).read_text())["epoch"] == at_epoch


def assert_same_run(result, reference) -> None:
    for mine, theirs in zip(result.model.get_weights(), reference.model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def history(out: Path) -> list[str]:
    return (out / "history.csv").read_text().splitlines()


@pytest.mark.slow
def test_a_resumed_run_is_bit_identical_to_an_uninterrupted_one(setup, uninterrupted, tmp_path):
    config, data = setup
    reference_out, reference = uninterrupted
    interrupt(config, data, tmp_path, at_epoch=2)
    messages = []
    resumed = train_or_load(config, data, tmp_path, verbose=0, print_fn=messages.append)
    assert f"Resuming after epoch 2 (state in {tmp_path / 'backup'})." in messages
    assert resumed.summary["epochs_this_attempt"] == EPOCHS - 2
    assert_same_run(resumed, reference)
    assert history(tmp_path) == history(reference_out)  # every epoch once, with the same numbers


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["empty-metadata", "truncated-weights", "torn-pair"])
def test_damaged_latest_state_falls_back_to_the_backup_before_it(setup, uninterrupted, tmp_path, damage):
    config, data = setup
    reference_out, reference = uninterrupted
    interrupt(config, data, tmp_path, at_epoch=3)
    backup = tmp_path / "backup"
    if damage == "empty-metadata":  # what a power loss can leave
        (backup / METADATA).write_text("")
    elif damage == "truncated-weights":
        (backup / WEIGHTS).write_bytes((backup / WEIGHTS).read_bytes()[:3000])
    else:  # killed between renaming the new weights and the new metadata into place
        (backup / METADATA).write_bytes((backup / (METADATA + PREVIOUS)).read_bytes())
    messages = []
    resumed = train_or_load(config, data, tmp_path, verbose=0, print_fn=messages.append)
    warning = next(m for m in messages if m.startswith("warning:"))
    assert "resume state damaged" in warning and "resuming from the backup before it (after epoch 2)" in warning
    assert "Resuming after epoch 2" in " ".join(messages)
    assert_same_run(resumed, reference)
    assert history(tmp_path) == history(reference_out)


@pytest.mark.slow
def test_unusable_resume_state_starts_afresh_with_a_warning(setup, uninterrupted, tmp_path):
    config, data = setup
    _, reference = uninterrupted
    interrupt(config, data, tmp_path, at_epoch=2)
    backup = tmp_path / "backup"
    for name in (METADATA, METADATA + PREVIOUS):
        (backup / name).write_text("")
    for name in (WEIGHTS, WEIGHTS + PREVIOUS):
        (backup / name).write_bytes(b"\0" * 100)
    (tmp_path / ".checkpoint.a1b2c3d4.keras").write_bytes(b"half a model")  # a kill during a save
    messages = []
    resumed = train_or_load(config, data, tmp_path, train_again=True, verbose=0, print_fn=messages.append)
    warning = next(m for m in messages if m.startswith("warning:"))
    assert warning.startswith(f"warning: resume state in {backup} unusable (training_metadata.json is not valid")
    assert warning.endswith("; starting the run afresh") and "\n" not in warning
    assert resumed.summary["epochs_this_attempt"] == EPOCHS
    assert_same_run(resumed, reference)
    assert not (tmp_path / ".checkpoint.a1b2c3d4.keras").exists()
    assert not backup.exists()
