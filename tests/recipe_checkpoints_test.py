"""`tools/recipe_checkpoints.py`: a finished stage saved without optimizer state and restored into a run folder
is loaded by the next `ferkit train` with the same weights, never overwriting a finished run."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ferkit.config import load_config
from ferkit.data import load_data
from ferkit.models.saving import load_model
from ferkit.training import train_or_load

TOOL = Path(__file__).resolve().parents[1] / "tools" / "recipe_checkpoints.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("recipe_checkpoints", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def finished_stage(tmp_path_factory, faces_folder, tiny_fervgg):
    """runs/stage1 of a one-epoch tiny fervgg run, as `ferkit train` leaves it (optimizer state included)."""
    runs = tmp_path_factory.mktemp("runs")
    config = load_config(None, [*tiny_fervgg, "NoOfEpochs=1", "BatchSize=32", "Seed=1"])
    data = load_data(faces_folder, image_size=(48, 48), validation_split=0.2, seed=1)
    train_or_load(config, data, runs / "stage1", print_fn=lambda message: None, verbose=0)
    return runs, config, data


def test_save_drops_the_optimizer_and_keeps_the_weights(tool, finished_stage, tmp_path):
    runs, _, _ = finished_stage
    checkpoint = tool.save("stage1", runs=runs, checkpoints=tmp_path)
    assert checkpoint == tmp_path / "stage1.keras"
    assert checkpoint.stat().st_size < (runs / "stage1" / "model.keras").stat().st_size
    original, saved = load_model(runs / "stage1" / "model.keras")[0], load_model(checkpoint)[0]
    for kept, expected in zip(saved.get_weights(), original.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, expected)


def test_restored_stage_is_loaded_not_retrained(tool, finished_stage, tmp_path):
    runs, config, data = finished_stage
    checkpoints = tmp_path / "checkpoints"
    tool.save("stage1", runs=runs, checkpoints=checkpoints)
    fresh_runs = tmp_path / "runs"
    assert tool.restore(runs=fresh_runs, checkpoints=checkpoints) == [fresh_runs / "stage1" / "model.keras"]
    assert load_config(fresh_runs / "stage1" / "config.yaml").to_dict() == load_model(
        checkpoints / "stage1.keras")[1].config
    result = train_or_load(config, data, fresh_runs / "stage1", print_fn=lambda message: None, verbose=0)
    assert not result.trained
    for restored, expected in zip(result.model.get_weights(),
                                  load_model(runs / "stage1" / "model.keras")[0].get_weights(), strict=True):
        np.testing.assert_array_equal(restored, expected)


def test_restore_never_overwrites_a_finished_run(tool, finished_stage, tmp_path):
    runs, _, _ = finished_stage
    tool.save("stage1", runs=runs, checkpoints=tmp_path / "checkpoints")
    existing = tmp_path / "runs" / "stage1" / "model.keras"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"a finished run of the user's")
    assert tool.restore(runs=tmp_path / "runs", checkpoints=tmp_path / "checkpoints") == []
    assert existing.read_bytes() == b"a finished run of the user's"


def test_missing_run_is_a_one_line_error(tool, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert tool.main(["save", "absent"]) == 2
    error = capsys.readouterr().err
    assert error.strip().count("\n") == 0 and "runs/absent/model.keras" in error
