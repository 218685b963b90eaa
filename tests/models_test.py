import keras
import numpy as np
import pytest

from ferkit.config import load_config
from ferkit.errors import ConfigError, ModelFileError
from ferkit.models import available, build_model
from ferkit.models.saving import ModelMetadata, load_model, read_metadata, save_model

LENET_LAYERS = ["Resizing", "Rescaling", "Conv2D", "BatchNormalization", "MaxPooling2D", "Dropout", "Conv2D",
                "BatchNormalization", "MaxPooling2D", "Flatten", "Dense", "BatchNormalization", "Dropout", "Dense",
                "BatchNormalization", "Dense"]


def test_registry_has_spec_and_default_models():
    assert {"lenet", "fervgg", "ferres"} <= set(available())


@pytest.mark.parametrize(
    ("overrides", "classes"),
    [
        (["ImageSize=[64,64]"], 7),
        (["ImageSize=[96,80]", "NoOfFilters=4", "KernelSize=5", "NoOfStrides=2", "PoolSize=3",
          "RegularizationRate=0.01", "DropOutRate=0.4", "NoOfUDense1=32", "NoOfUDense2=8", "ColorMode=rgb"], 4),
    ],
)
def test_lenet_follows_the_spec_layer_by_layer(overrides, classes):
    config = load_config(None, overrides)
    model = build_model(config, classes)
    assert [type(layer).__name__ for layer in model.layers] == LENET_LAYERS
    resize, rescale, conv1, _, pool1, drop1, conv2, _, pool2, _, dense1, _, drop2, dense2, _, out = model.layers
    assert (resize.height, resize.width) == config.ImageSize
    assert rescale.scale == pytest.approx(1 / 255)
    assert conv1.filters == config.NoOfFilters and conv2.filters == config.NoOfFilters * 2 + 4
    for conv in (conv1, conv2):
        assert conv.kernel_size == config.KernelSize and conv.strides == (config.NoOfStrides,) * 2
        assert conv.padding == "valid" and conv.activation.__name__ == "relu"
        assert conv.kernel_regularizer.l2 == pytest.approx(config.RegularizationRate)
    for pool in (pool1, pool2):
        assert pool.pool_size == config.PoolSize and pool.strides == (2 * config.NoOfStrides,) * 2
    assert drop1.rate == drop2.rate == pytest.approx(config.DropOutRate)
    assert dense1.units == config.NoOfUDense1 and dense2.units == config.NoOfUDense2
    for dense in (dense1, dense2):
        assert dense.activation.__name__ == "relu"
        assert dense.kernel_regularizer.l2 == pytest.approx(config.RegularizationRate)
    assert out.units == classes and out.activation.__name__ == "softmax"
    images = np.random.default_rng(0).uniform(0, 255, (3, 30, 20, config.channels)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(model(images))
    assert probabilities.shape == (3, classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_fervgg_builds_and_crops():
    config = load_config("configs/fervgg.yaml")
    model = build_model(config, 7)
    assert model.get_layer("center_crop").output.shape[1:3] == (44, 44)
    assert model.count_params() < 5_000_000
    out = keras.ops.convert_to_numpy(model(np.zeros((2, 48, 48, 1), "float32")))
    assert out.shape == (2, 7)


def test_ferres_is_residual_gated_and_crops():
    config = load_config("configs/ferres.yaml")
    model = build_model(config, 7)
    assert model.get_layer("center_crop").output.shape[1:3] == (44, 44)
    assert model.get_layer("block3_out").output.shape[1:] == (6, 6, 256)
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)] == [
        "block1_add", "block2_add", "block3_add"]
    assert model.count_params() < 5_000_000
    images = np.random.default_rng(2).uniform(0, 255, (3, 48, 48, 1)).astype("float32")
    gate = keras.Model(model.input, model.get_layer("block2_se_excite").output)(images)
    gate = keras.ops.convert_to_numpy(gate)
    assert gate.shape == (3, 1, 1, 128) and 0 < gate.min() and gate.max() < 1
    probabilities = keras.ops.convert_to_numpy(model(images))
    assert probabilities.shape == (3, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(("architecture", "needed"), [("fervgg", 16), ("ferres", 8)])
def test_too_small_inputs_are_refused_when_configured(architecture, needed):
    load_config(None, [f"Architecture={architecture}", f"ImageSize=[{needed},{needed}]"])
    with pytest.raises(ConfigError, match=f"too small.*at least {needed} pixels"):
        load_config(None, [f"Architecture={architecture}", f"ImageSize=[{needed + 4},{needed + 4}]",
                           f"CropSize=[{needed - 1},{needed}]"])


# The .keras round trip of every architecture is part of the contract test in models_registry_test.py.
@pytest.mark.parametrize(("suffix", "architecture"), [(".h5", "lenet")])
def test_save_load_round_trip_gives_identical_predictions(tmp_path, suffix, architecture):
    config = load_config(None, ["ImageSize=[32,32]", f"Architecture={architecture}", "NoOfFilters=4"])
    model = build_model(config, 4)
    metadata = ModelMetadata(class_names=["a", "b", "c", "d"], image_size=(32, 32), config=config.to_dict())
    path = save_model(model, tmp_path / f"model{suffix}", metadata)
    loaded, loaded_metadata = load_model(path)
    images = np.random.default_rng(1).uniform(0, 255, (5, 32, 32, 1)).astype("float32")
    np.testing.assert_array_equal(loaded(images), model(images))
    assert loaded_metadata == metadata
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left behind"


def test_interrupted_save_keeps_the_previous_model(tmp_path, monkeypatch):
    config = load_config(None, ["ImageSize=[32,32]"])
    model = build_model(config, 3)
    metadata = ModelMetadata(class_names=["a", "b", "c"], image_size=(32, 32))
    path = save_model(model, tmp_path / "model.keras", metadata)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path, metadata)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_load_errors_are_one_line(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found"):
        load_model(tmp_path / "nope.keras")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="cannot read model file"):
        load_model(broken)
    plain = tmp_path / "plain.keras"
    build_model(load_config(None, ["ImageSize=[32,32]"]), 2).save(plain)
    assert read_metadata(plain) is None
    with pytest.raises(ModelFileError, match="without ferkit metadata"):
        load_model(plain)
