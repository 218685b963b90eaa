"""The architecture registry, and the contract every registered architecture keeps.

The contract (docs/architecture.md): a model builds from a configuration, takes pixel values 0..255 of any
spatial size, returns softmax probabilities, and survives a save/load round trip with identical outputs.
"""

import keras
import numpy as np
import pytest

from ferkit.config import load_config
from ferkit.errors import ConfigError
from ferkit.models import available, build_model, registry
from ferkit.models.saving import ModelMetadata, load_model, save_model

CLASSES = ["a", "b", "c"]


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry that a test may add to without leaking into the others."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_registering_a_name_twice_warns_and_keeps_the_newer_builder(scratch_registry):
    def first(config, num_classes):
        return "first"

    def second(config, num_classes):
        return "second"

    registry.register("twice")(first)
    with pytest.warns(UserWarning, match="'twice' is registered again.*second replaces .*first"):
        registry.register("twice")(second)
    assert registry.get("twice").build is second


def test_registering_a_new_name_does_not_warn(scratch_registry, recwarn):
    registry.register("once")(lambda config, num_classes: None)
    assert "once" in available()
    assert not recwarn.list


def test_an_unknown_name_raises_ferkits_error_naming_the_name_and_the_choices():
    with pytest.raises(registry.UnknownArchitectureError) as caught:
        registry.get("resnet9000")
    assert isinstance(caught.value, ConfigError)
    message = str(caught.value)
    assert message == f"unknown architecture 'resnet9000'; available: {', '.join(available())}"
    assert "\n" not in message


def tiny_config(architecture: str, color_mode: str):
    return load_config(None, [f"Architecture={architecture}", "ImageSize=[32,32]", "NoOfFilters=4",
                              "NoOfUDense1=8", "NoOfUDense2=4", f"ColorMode={color_mode}"])


@pytest.mark.parametrize("color_mode", ["grayscale", "rgb"])
@pytest.mark.parametrize("architecture", available())
def test_every_registered_architecture_keeps_the_model_contract(architecture, color_mode, tmp_path):
    config = tiny_config(architecture, color_mode)
    model = build_model(config, len(CLASSES))
    rng = np.random.default_rng(0)
    for height, width in [(32, 32), (20, 45), (64, 48)]:
        images = rng.integers(0, 256, (2, height, width, config.channels)).astype("float32")
        images[0] = 0.0
        images[1, 0, 0] = 255.0
        probabilities = keras.ops.convert_to_numpy(model(images))
        assert probabilities.shape == (2, len(CLASSES)), (height, width)
        assert np.all(probabilities >= 0)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    metadata = ModelMetadata(class_names=CLASSES, image_size=tuple(config.ImageSize), color_mode=color_mode,
                             architecture=architecture, config=config.to_dict())
    loaded, loaded_metadata = load_model(save_model(model, tmp_path / "model.keras", metadata))
    images = rng.uniform(0, 255, (3, 40, 36, config.channels)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(images)),
                                  keras.ops.convert_to_numpy(model(images)))
    assert loaded_metadata == metadata
