"""`ferkit tune --trials 0` writes the results of an existing study: best config, trials.csv, table, plots."""

from __future__ import annotations

import csv

import optuna
import pytest
import yaml
from support.distributed import write_config, write_tiny_npz
from typer.testing import CliRunner

from ferkit.cli.main import app
from ferkit.config import load_config
from ferkit.tuning.search import open_storage

SPACE = {"LearningRate": {"low": 1e-3, "high": 1e-2, "log": True}, "KernelSize": [[3, 3], [5, 5]]}
DISTRIBUTIONS = {"LearningRate": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True),
                 "KernelSize": optuna.distributions.CategoricalDistribution(["[3, 3]", "[5, 5]"])}


@pytest.fixture
def files(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    return (write_tiny_npz(tmp_path / "tiny.npz", train=64, validation=32), write_config(tmp_path / "base.yaml"),
            space, tmp_path / "study.journal", tmp_path / "out")


def _add(study, number_value, learning_rate, kernel, state=optuna.trial.TrialState.COMPLETE, **attrs):
    study.add_trial(optuna.trial.create_trial(
        params={"LearningRate": learning_rate, "KernelSize": kernel}, distributions=DISTRIBUTIONS,
        value=number_value if state == optuna.trial.TrialState.COMPLETE else None,
        intermediate_values={0: 2.0, 1: 1.9}, state=state, user_attrs=attrs))


def _tune(files, *extra):
    data, base, space, journal, out = files
    return CliRunner().invoke(app, ["tune", "--config", str(base), "--space", str(space), "--data", str(data),
                                    "--storage", f"journal:{journal}", "--study", "done", "--out", str(out),
                                    "--trials", "0", *extra])


def test_results_of_an_existing_study(files):
    journal, out = files[3], files[4]
    study = optuna.create_study(study_name="done", storage=open_storage(f"journal:{journal}"))
    _add(study, 1.50, 0.003, "[3, 3]", baseline=True, val_accuracy=0.40, epochs=2)
    _add(study, 1.20, 0.007, "[5, 5]", val_accuracy=0.55, epochs=2)
    _add(study, 1.70, 0.002, "[3, 3]", val_accuracy=0.30, epochs=2)
    _add(study, None, 0.009, "[5, 5]", state=optuna.trial.TrialState.PRUNED)

    result = _tune(files)
    assert result.exit_code == 0, result.output
    config = load_config(out / "best_config.yaml")
    assert config.LearningRate == pytest.approx(0.007) and config.KernelSize == (5, 5)
    assert config.ImageSize == (16, 16) and config.NoOfEpochs == 30, "other keys are the base configuration's"
    assert "trial 1, validation loss 1.2000, validation accuracy 0.5500" in (out / "best_config.yaml").read_text()
    with (out / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["number"], r["state"], r["KernelSize"]) for r in rows] == [
        ("0", "complete", "[3, 3]"), ("1", "complete", "[5, 5]"), ("2", "complete", "[3, 3]"),
        ("3", "pruned", "[5, 5]")]
    table = [line.split() for line in result.output.splitlines() if line[:1].isdigit()]
    assert [row[0] for row in table] == ["1", "0*", "2", "3"], result.output
    assert "Best: trial 1, val_loss 1.2000" in result.output
    for name in ("optimization_history.png", "param_importances.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert not (out / "trials").exists(), "--trials 0 trains nothing"


def test_a_study_without_completed_trials_is_a_one_line_error(files):
    study = optuna.create_study(study_name="done", storage=open_storage(f"journal:{files[3]}"))
    _add(study, None, 0.009, "[5, 5]", state=optuna.trial.TrialState.PRUNED)
    result = _tune(files, "--no-baseline")
    assert result.exit_code != 0
    assert "study 'done': no trial has completed" in str(result.exception)


def test_invalid_space_is_reported_before_anything_runs(files):
    files[2].write_text("LearningRate: {low: 1.0e-4, high: 1.0e-2}\nDropoutRate: [0.1, 0.2]\n")
    result = _tune(files)
    assert result.exit_code != 0
    assert "unknown configuration key 'DropoutRate' (did you mean 'DropOutRate'?)" in str(result.exception)
    assert not files[4].exists()
