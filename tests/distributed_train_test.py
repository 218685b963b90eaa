"""Two processes on 127.0.0.1 (JAX DataParallel, gloo) train the spec model like one process would."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from support.distributed import epoch_lines, start, write_config, write_tiny_npz

from ferkit.config import load_config
from ferkit.data import load_data
from ferkit.distributed import DistributedError, ProcessGroup, resolve_process_group, strategy_for
from ferkit.models.saving import load_model

pytest.importorskip("jax")


def _history(path):
    with path.open(newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One 2-epoch run as 2 processes (ferkit launch) and as 1 process on the JAX backend, in parallel."""
    root = tmp_path_factory.mktemp("distributed")
    data = write_tiny_npz(root / "tiny.npz")
    config = write_config(root / "tiny.yaml", NoOfEpochs=2)
    common = ["--data", str(data), "--config", str(config)]
    launched = start(["launch", "--nproc", "2", "--", "train", *common, "--out", str(root / "two")])
    single = start(["train", *common, "--out", str(root / "one")], KERAS_BACKEND="jax")
    outputs = {}
    for name, process in (("two", launched), ("one", single)):
        outputs[name], _ = process.communicate(timeout=900)
        assert process.returncode == 0, f"{name} failed:\n{outputs[name][-3000:]}"
    return root, data, config, outputs


@pytest.mark.slow  # three processes, each importing TensorFlow and JAX
def test_both_ranks_see_identical_losses(runs):
    _, _, _, outputs = runs
    rank0, rank1 = epoch_lines(outputs["two"], rank=0), epoch_lines(outputs["two"], rank=1)
    assert len(rank0) == 2, outputs["two"][-3000:]
    assert rank0 == rank1


@pytest.mark.slow  # three processes, each importing TensorFlow and JAX
def test_only_rank_0_writes_and_the_model_loads_and_predicts(runs):
    root, data_path, config_path, _ = runs
    run = root / "two"
    assert {"config.yaml", "checkpoint.keras", "model.keras", "history.csv", "history.png", "summary.json",
            "train.log"} <= {p.name for p in run.iterdir()}
    assert not (run / "backup").exists()
    assert len(_history(run / "history.csv")) == 2, "rank 1 must not append its own rows"
    model, metadata = load_model(run / "model.keras")
    data = load_data(data_path)
    test_images = data.images[data.split_indices("test")][:8].astype(np.float32)
    probabilities = np.asarray(model(test_images, training=False))
    assert probabilities.shape == (8, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert metadata.class_names == data.class_names
    assert metadata.config["BatchSize"] == load_config(config_path).BatchSize


@pytest.mark.slow  # three processes, each importing TensorFlow and JAX
def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    root, data_path, _, _ = runs
    two, one = _history(root / "two" / "history.csv"), _history(root / "one" / "history.csv")
    for key in ("loss", "val_loss", "categorical_accuracy"):
        np.testing.assert_allclose([r[key] for r in two], [r[key] for r in one], rtol=2e-3, atol=2e-3,
                                   err_msg=key)
    data = load_data(data_path)
    images = data.images[data.split_indices("test")].astype(np.float32)
    two_model, _ = load_model(root / "two" / "model.keras")
    one_model, _ = load_model(root / "one" / "model.keras")
    np.testing.assert_allclose(np.asarray(two_model(images, training=False)),
                               np.asarray(one_model(images, training=False)), atol=5e-3)


def test_process_group_comes_from_flags_or_environment():
    env = {"FERKIT_COORDINATOR": "10.0.0.1:1234", "FERKIT_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
    assert resolve_process_group(environ=env) == ProcessGroup("10.0.0.1:1234", 4, 3)
    assert resolve_process_group(process_id=1, environ=env).process_id == 1
    keras_env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "h0:99,h1:99", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                 "KERAS_DISTRIBUTION_PROCESS_ID": "0"}
    assert resolve_process_group(environ=keras_env) == ProcessGroup("h0:99", 2, 0)


@pytest.mark.parametrize(("flags", "message"), [
    ({}, "needs coordinator"),
    ({"coordinator": "nohost", "num_processes": 2, "process_id": 0}, "HOST:PORT"),
    ({"coordinator": "h:70000", "num_processes": 2, "process_id": 0}, "HOST:PORT"),
    ({"coordinator": "h:1", "num_processes": 2, "process_id": 2}, "outside 0..1"),
    ({"coordinator": "h:1", "num_processes": 0, "process_id": 0}, "at least 1"),
])
def test_bad_topology_is_a_one_line_error(flags, message):
    with pytest.raises(DistributedError, match=message) as error:
        resolve_process_group(environ={}, **flags)
    assert "\n" not in str(error.value)


def test_distributed_refuses_when_keras_already_runs_another_backend(monkeypatch):
    import keras

    if keras.backend.backend() == "jax":
        pytest.skip("this test process already runs Keras on JAX")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.raises(DistributedError, match="already imported with the 'tensorflow' backend"):
        strategy_for(distributed=True, coordinator="127.0.0.1:1", num_processes=1, process_id=0)
    assert "KERAS_BACKEND" not in os.environ


def test_batch_must_divide_over_the_processes():
    from ferkit.distributed import JaxDataParallel
    from ferkit.errors import ConfigError, DataError

    strategy = JaxDataParallel(ProcessGroup("127.0.0.1:1", 3, 0))
    with pytest.raises(ConfigError, match="BatchSize=32"):
        strategy.check(32, 100, 100)
    with pytest.raises(DataError, match="at least BatchSize=33"):
        strategy.check(33, 100, 10)
