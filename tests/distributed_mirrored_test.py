"""`--distribution mirrored`: TensorFlow's MirroredStrategy over this host's GPUs (one replica on a CPU)."""

from __future__ import annotations

import pytest
from support.distributed import write_config, write_tiny_npz

from ferkit.config import load_config
from ferkit.data import load_data
from ferkit.distributed import DistributedError, Mirrored, SingleProcess, strategy_for
from ferkit.models.saving import load_model
from ferkit.training import train_or_load


def test_mirrored_strategy_trains_with_mirrored_variables(tmp_path):
    import tensorflow as tf

    data = load_data(write_tiny_npz(tmp_path / "tiny.npz", train=64, validation=32))
    config = load_config(write_config(tmp_path / "tiny.yaml", NoOfEpochs=1))
    strategy = strategy_for("mirrored")
    assert isinstance(strategy, Mirrored)
    strategy.check(config.BatchSize, 64, 32)
    strategy.start()
    result = train_or_load(config, data, tmp_path / "run", strategy=strategy, verbose=0,
                           print_fn=lambda _: None)
    replicas = max(len(tf.config.list_logical_devices("GPU")), 1)
    assert result.model.distribute_strategy.num_replicas_in_sync == replicas
    assert type(result.model.weights[0].value).__name__ == "MirroredVariable"
    model, metadata = load_model(tmp_path / "run" / "model.keras")
    assert metadata.class_names == data.class_names and model.count_params() == result.model.count_params()


def test_strategy_choice():
    assert type(strategy_for()) is SingleProcess
    with pytest.raises(DistributedError, match="use one of data-parallel, mirrored"):
        strategy_for("horovod")
    with pytest.raises(DistributedError, match="cannot be combined with distribution='mirrored'"):
        strategy_for("mirrored", distributed=True)
