"""`ferkit tune`: two processes share one study through a journal file; the best config trains."""

from __future__ import annotations

import csv

import optuna
import pytest
import yaml
from support.distributed import start, write_config, write_tiny_npz

from ferkit.config import load_config
from ferkit.data import load_data
from ferkit.training import train_or_load
from ferkit.tuning.search import open_storage

pytestmark = pytest.mark.slow  # two `ferkit tune` processes training four tiny trials

SPACE = {
    "LearningRate": {"low": 1e-3, "high": 1e-2, "log": True},
    "NoOfFilters": {"low": 2, "high": 6, "step": 2},
    "NoOfUDense1": [16, 32],
}


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """Two `ferkit tune` processes (started by `ferkit launch`), two 2-epoch trials each, one journal file."""
    root = tmp_path_factory.mktemp("tune")
    data = write_tiny_npz(root / "tiny.npz", train=128, validation=64)
    base = write_config(root / "base.yaml", NoOfEpochs=5)
    space = root / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    journal = root / "study.journal"
    out = root / "out"
    process = start(["launch", "--nproc", "2", "--", "tune", "--config", str(base), "--space", str(space),
                     "--data", str(data), "--trials", "2", "--epochs-per-trial", "2", "--storage",
                     f"journal:{journal}", "--study", "shared", "--out", str(out)])
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-4000:]
    return root, data, journal, out, output


def test_both_processes_complete_trials_of_one_study(search):
    _, _, journal, _, output = search
    study = optuna.load_study(study_name="shared", storage=open_storage(f"journal:{journal}"))
    assert len(study.trials) == 4
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == 2, f"completed trials came from {workers}"
    assert sum(bool(t.user_attrs.get("baseline")) for t in study.trials) == 1
    for trial in finished:
        assert 1e-3 <= trial.params["LearningRate"] <= 1e-2 and trial.params["NoOfFilters"] in (2, 4, 6)
        assert len(trial.intermediate_values) == 2, "val_loss is reported to the pruner after every epoch"
        assert trial.value == pytest.approx(min(trial.intermediate_values.values()))
    assert "[rank 0] [trial " in output and "[rank 1] [trial " in output


def test_results_are_written(search):
    _, _, journal, out, _ = search
    study = optuna.load_study(study_name="shared", storage=open_storage(f"journal:{journal}"))
    with (out / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["number"]) for r in rows] == [t.number for t in study.trials]
    assert {"state", "val_loss", "val_accuracy", "LearningRate", "NoOfFilters", "NoOfUDense1"} <= set(rows[0])
    for name in ("optimization_history.png", "param_importances.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert "Best: trial" in search[4]


def test_best_config_loads_and_trains(search, tmp_path):
    root, data_path, journal, out, _ = search
    study = optuna.load_study(study_name="shared", storage=open_storage(f"journal:{journal}"))
    config = load_config(out / "best_config.yaml", ["NoOfEpochs=1"])
    best = study.best_trial.params
    assert config.LearningRate == pytest.approx(best["LearningRate"])
    assert config.NoOfFilters == best["NoOfFilters"] and config.NoOfUDense1 == best["NoOfUDense1"]
    assert config.ImageSize == (16, 16) and config.Seed == 7, "unsearched keys keep the base values"
    result = train_or_load(config, load_data(data_path), tmp_path / "run", print_fn=lambda _: None, verbose=0)
    assert result.trained and (tmp_path / "run" / "model.keras").is_file()
