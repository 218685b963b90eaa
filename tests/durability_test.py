"""Training survives being killed anywhere — mid-epoch or inside a save — and ends exactly where an
uninterrupted run ends (bench/durability.py runs the same check with many more kills)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from support.durability import final_weights, history_epochs, kill_repeatedly, run_train, stale_files

from ferkit.data.synthetic import write_image_folder

EPOCHS = 4


@pytest.mark.slow
def test_killed_training_ends_as_an_uninterrupted_run(tmp_path):
    data = write_image_folder(tmp_path / "data", per_class=20, size=48, seed=11)
    started = time.perf_counter()
    assert run_train(data, tmp_path / "straight", EPOCHS) == 0
    whole_run = time.perf_counter() - started
    # Timed kills fall within the run however busy the machine is: a share of what a whole run took just now.
    campaign = kill_repeatedly(data, tmp_path / "killed", EPOCHS, kills=4, seed=2,
                               seconds_range=(0.1 * whole_run, 0.6 * whole_run))
    assert sum(not kill.endswith("(finished first)") for kill in campaign.kills) >= 3, campaign.kills
    assert history_epochs(tmp_path / "killed") == list(range(EPOCHS))
    assert stale_files(tmp_path / "killed") == []
    assert (tmp_path / "killed" / "history.csv").read_text() == (tmp_path / "straight" / "history.csv").read_text()
    for killed, straight in zip(final_weights(tmp_path / "killed"), final_weights(tmp_path / "straight"),
                                strict=True):
        np.testing.assert_array_equal(killed, straight)
