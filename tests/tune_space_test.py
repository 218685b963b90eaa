"""Search-space files: ranges and choices over Configuration keys, and one-line errors naming the key."""

from __future__ import annotations

import optuna
import pytest
import yaml

from ferkit.config import load_config
from ferkit.tuning import Choice, Range, SearchSpaceError, load_space, parse_space
from ferkit.tuning.search import StorageError, enqueue_baseline, open_storage

BASE = load_config("configs/lenet.yaml", ["ImageSize=[48,48]"])


def test_the_example_space_parses_and_holds_the_lenet_baseline():
    space = load_space("configs/lenet_space.yaml", BASE)
    assert space.parameters["LearningRate"] == Range("LearningRate", 1e-4, 1e-2, integer=False, log=True)
    assert space.parameters["NoOfFilters"] == Range("NoOfFilters", 4, 16, integer=True, step=2)
    assert space.parameters["NoOfUDense1"] == Choice("NoOfUDense1", (64, 100, 128, 256))
    baseline = space.optuna_params_of(load_config("configs/lenet.yaml"))
    assert baseline is not None and baseline["KernelSize"] == "[3, 3]" and baseline["NoOfFilters"] == 6


def test_suggested_values_are_valid_configurations():
    space = load_space("configs/lenet_space.yaml", BASE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        values = space.suggest(study.ask())
        config = BASE.with_updates(**values)
        assert 1e-4 <= config.LearningRate <= 1e-2
        assert config.NoOfFilters in range(4, 17, 2)
        assert config.KernelSize in ((3, 3), (5, 5))
        assert config.NoOfUDense2 in (10, 32, 64)


def test_stored_parameters_map_back_to_configuration_values():
    space = parse_space({"KernelSize": [[3, 3], [5, 5]], "PoolSize": {"low": 2, "high": 3}}, BASE)
    assert space.values_of({"KernelSize": "[5, 5]", "PoolSize": 3}) == {"KernelSize": [5, 5], "PoolSize": 3}
    assert BASE.with_updates(**space.values_of({"KernelSize": "[5, 5]", "PoolSize": 3})).PoolSize == (3, 3)


def test_a_baseline_outside_the_space_is_not_queued():
    space = parse_space({"NoOfUDense1": [64, 128]}, BASE)
    study = optuna.create_study()
    assert space.optuna_params_of(BASE) is None
    assert not enqueue_baseline(study, space, BASE) and not study.trials
    inside = parse_space({"NoOfUDense1": [100, 128], "LearningRate": {"low": "1e-4", "high": 0.01}}, BASE)
    assert enqueue_baseline(study, inside, BASE)
    study.optimize(lambda trial: float(len(inside.suggest(trial))), n_trials=1)
    assert study.trials[0].params == {"NoOfUDense1": 100, "LearningRate": pytest.approx(1e-3)}


@pytest.mark.parametrize(("spec", "message"), [
    ({"LearningRat": {"low": 1e-4, "high": 1e-2}}, "unknown configuration key 'LearningRat' (did you mean "
                                                   "'LearningRate'?)"),
    ({"NoOfClasses": [7]}, "NoOfClasses cannot be searched"),
    ({"LearningRate": {"low": 1e-2, "high": 1e-4}}, "LearningRate: low 0.01 must be below high 0.0001"),
    ({"LearningRate": {"low": 0, "high": 1e-2, "log": True}}, "LearningRate: a log range needs low > 0"),
    ({"LearningRate": {"low": 1e-4}}, "LearningRate: a range needs both low and high"),
    ({"LearningRate": {"low": 1e-4, "high": 1e-2, "scale": "log"}},
     "LearningRate: unknown range field(s) scale"),
    ({"LearningRate": {"low": "small", "high": 1e-2}}, "LearningRate: low 'small' is not a number"),
    ({"LearningRate": 0.01}, "LearningRate: expected a list of choices or a range"),
    ({"NoOfFilters": {"low": 4.5, "high": 16}}, "NoOfFilters takes whole numbers, but low is 4.5"),
    ({"NoOfFilters": {"low": 0, "high": 16}}, "NoOfFilters low 0 is not valid"),
    ({"Optimizer": {"low": 1, "high": 2}}, "Optimizer is not numeric and cannot take a range"),
    ({"Optimizer": ["adam", "rmsprop"]}, "Optimizer choice 'rmsprop' is not valid"),
    ({"NoOfUDense1": []}, "NoOfUDense1: the list of choices is empty"),
    ({"NoOfUDense1": [64, 64]}, "NoOfUDense1: the choices [64, 64] repeat a value"),
    ({"KernelSize": [[3, 3], [60, 60]]}, "KernelSize choice [60, 60] is not valid"),
    ([1, 2], "must be a mapping"),
])
def test_invalid_spaces_fail_with_one_line_naming_the_key(tmp_path, spec, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SearchSpaceError) as error:
        load_space(path, BASE)
    assert message in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_unreadable_space_files(tmp_path):
    with pytest.raises(SearchSpaceError, match="search space file not found"):
        load_space(tmp_path / "missing.yaml", BASE)
    broken = tmp_path / "broken.yaml"
    broken.write_text("LearningRate: {low: 1\n")
    with pytest.raises(SearchSpaceError, match="is not valid YAML"):
        load_space(broken, BASE)


def test_storage_urls(tmp_path):
    journal = open_storage(f"journal:{tmp_path / 'a' / 'study.journal'}")
    assert isinstance(journal, optuna.storages.JournalStorage)
    assert isinstance(open_storage(f"sqlite:///{tmp_path / 'tune.db'}"), optuna.storages.RDBStorage)
    for bad, message in (("redis://x", "use journal:PATH or a database URL"),
                         ("journal:", "journal file's path"), ("tune.db", "use journal:PATH")):
        with pytest.raises(StorageError, match=message):
            open_storage(bad)
    with pytest.raises(StorageError, match="cannot open the database") as error:
        open_storage("postgresql://nobody@127.0.0.1:1/none")
    assert "\n" not in str(error.value)
