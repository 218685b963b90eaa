import csv
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from ferkit.config import load_config
from ferkit.data import load_data
from ferkit.data.synthetic import write_image_folder
from ferkit.errors import ConfigError
from ferkit.models.saving import load_model
from ferkit.training import train_or_load
from ferkit.training.callbacks import epoch_learning_rate

FAST = ["ImageSize=[48,48]", "NoOfFilters=8", "NoOfUDense1=64", "NoOfUDense2=32", "BatchSize=16",
        "LearningRate=0.003", "DropOutRate=0.1"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One short training run on 600 drawn faces, shared by the assertions below.

    The spec's BatchNormalization layers keep Keras' default momentum (0.99), so validation accuracy only
    follows training accuracy once their moving statistics have settled: hence 22 short epochs.
    """
    out = tmp_path_factory.mktemp("run")
    folder = write_image_folder(tmp_path_factory.mktemp("learn") / "data", per_class=150, size=48, seed=3)
    config = load_config("configs/lenet.yaml", [*FAST, "NoOfEpochs=22", "Patience=22"])
    data = load_data(folder, image_size=config.ImageSize, validation_split=0.25, seed=0)
    messages = []
    result = train_or_load(config, data, out, print_fn=messages.append, verbose=0)
    return out, result, data, messages


def test_training_learns_the_drawn_expressions(trained_run):
    out, result, data, _ = trained_run
    rows = list(csv.DictReader((out / "history.csv").open()))
    best_val_accuracy = max(float(row["val_categorical_accuracy"]) for row in rows)
    assert best_val_accuracy >= 0.85, f"4 classes, chance is 0.25; got {best_val_accuracy:.3f}"
    assert result.trained and result.summary["parameters"] == result.model.count_params()


def test_run_folder_holds_every_artifact(trained_run):
    out, result, data, messages = trained_run
    for name in ("config.yaml", "checkpoint.keras", "model.keras", "history.csv", "history.png", "summary.json",
                 "train.log"):
        assert (out / name).is_file(), name
    assert not (out / "backup").exists()
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["NoOfClasses"] == 4 and saved["NoOfEpochs"] == 22
    header = next(csv.reader((out / "history.csv").open()))
    assert {"loss", "val_loss", "categorical_accuracy", "val_top_k_categorical_accuracy"} <= set(header)
    model, metadata = load_model(out / "model.keras")
    assert metadata.class_names == data.class_names and metadata.image_size == (48, 48)
    checkpoint, _ = load_model(out / "checkpoint.keras")
    images = data.images[:8].astype("float32")
    np.testing.assert_allclose(model(images), result.model(images), atol=1e-6)
    assert checkpoint.count_params() == model.count_params()
    assert any(line.startswith("epoch 1/22:") and "img/s" in line for line in messages)


def test_early_stopping_restores_the_best_epoch(trained_run):
    out, result, data, _ = trained_run
    rows = list(csv.DictReader((out / "history.csv").open()))
    best = min(float(row["val_loss"]) for row in rows)
    val = data.split_indices("validation")
    one_hot = np.eye(4)[data.labels[val]]
    probabilities = np.asarray(result.model(data.images[val].astype("float32"), training=False))
    cross_entropy = -np.mean(np.sum(one_hot * np.log(np.clip(probabilities, 1e-7, 1)), axis=1))
    regularisation = float(sum(np.asarray(loss) for loss in result.model.losses))
    assert cross_entropy + regularisation == pytest.approx(best, rel=0.02)


def test_existing_model_is_loaded_not_retrained(trained_run):
    out, _, data, _ = trained_run
    config = load_config("configs/lenet.yaml", [*FAST, "NoOfEpochs=22", "Patience=22"])
    before = (out / "model.keras").stat().st_mtime_ns
    messages = []
    result = train_or_load(config, data, out, print_fn=messages.append, verbose=0)
    assert not result.trained and messages == [f"Model loaded from {out / 'model.keras'}."]
    assert (out / "model.keras").stat().st_mtime_ns == before


def test_loading_over_different_settings_names_the_keys_that_differ(trained_run):
    out, _, data, _ = trained_run
    config = load_config("configs/lenet.yaml", [*FAST, "NoOfEpochs=22", "Patience=22", "LearningRate=0.01"])
    messages = []
    result = train_or_load(config, data, out, print_fn=messages.append, verbose=0)
    assert not result.trained and result.config_differences == "LearningRate 0.003 → 0.01"
    assert messages[1] == (f"warning: {out / 'model.keras'} was trained with a different configuration "
                           f"(LearningRate 0.003 → 0.01); it is loaded as it is, not retrained")


def test_train_again_retrains_and_h5_model_path(tmp_path, faces_folder):
    config = load_config("configs/lenet.yaml", [*FAST, "NoOfEpochs=1", f"ModelPath={tmp_path / 'final.h5'}"])
    data = load_data(faces_folder, image_size=(48, 48))
    first = train_or_load(config, data, tmp_path / "run", verbose=0, print_fn=lambda _: None)
    second = train_or_load(config, data, tmp_path / "run", train_again=True, verbose=0, print_fn=lambda _: None)
    assert first.trained and second.trained
    model, metadata = load_model(tmp_path / "final.h5")
    images = data.images[:4].astype("float32")
    np.testing.assert_allclose(model(images), second.model(images), atol=1e-6)


def test_class_count_mismatch_is_an_error(tmp_path, faces_folder):
    config = load_config("configs/lenet.yaml", [*FAST, "NoOfClasses=7"])
    data = load_data(faces_folder, image_size=(48, 48))
    with pytest.raises(ConfigError, match="NoOfClasses=7 does not match the data"):
        train_or_load(config, data, tmp_path, verbose=0)


def test_learning_rate_schedule():
    cosine = epoch_learning_rate(1e-3, 10, "cosine", warmup=2)
    assert cosine(0) < cosine(1) < cosine(2) == pytest.approx(1e-3)
    assert cosine(9) < cosine(5) < cosine(2)
    assert epoch_learning_rate(1e-3, 10, "constant", 0)(7) == 1e-3


def test_killed_run_resumes_at_the_epoch_it_reached(tmp_path, faces_folder):
    """kill -9 mid-run, run the same command again: it continues, and history has every epoch once."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ferkit.cli.main", "train", "--data", str(faces_folder), "--config",
               "configs/lenet.yaml", "--out", str(out), *sum([["--set", s] for s in FAST], []),
               "--set", "NoOfEpochs=6", "--set", "Patience=10"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = out / "history.csv"
    deadline = time.time() + 240
    while time.time() < deadline:
        if history.is_file() and len(history.read_text().strip().splitlines()) >= 3:
            break
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(history.read_text().strip().splitlines()) - 1
    assert 2 <= done_before < 6, "the run was not killed mid-way"
    assert not (out / "model.keras").exists()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    epochs = [int(row["epoch"]) for row in csv.DictReader(history.open())]
    assert epochs == list(range(6)), epochs
    # The kill may fall between an epoch's history row and its resume state: that epoch is then trained again.
    resumed_after = int(re.search(r"Resuming after epoch (\d+)", finished.stdout).group(1))
    assert done_before - 1 <= resumed_after <= done_before, finished.stdout
    assert f"epoch {resumed_after + 1}/6:" in finished.stdout and f"epoch {resumed_after}/6:" not in finished.stdout
    assert (out / "model.keras").is_file()


def test_augmented_run_is_reproducible(tmp_path, faces_folder, tiny_fervgg):
    """Two runs of one config with augmentation, degradation and dropout end with the same weights."""
    config = load_config(None, [*tiny_fervgg, "BatchSize=16", "NoOfEpochs=2", "Augment=true",
                                "DegradeQuality=true", "Seed=7"])
    data = load_data(faces_folder, image_size=(48, 48))
    runs = [train_or_load(config, data, tmp_path / name, verbose=0, print_fn=lambda _: None).model
            for name in ("first", "second")]
    for one, other in zip(runs[0].get_weights(), runs[1].get_weights(), strict=True):
        np.testing.assert_array_equal(one, other)
