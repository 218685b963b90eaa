import json

import pytest

from ferkit.config import Configuration, load_config, parse_override, save_config
from ferkit.errors import ConfigError

SPEC_KEYS = ["NoOfFilters", "KernelSize", "NoOfStrides", "RegularizationRate", "PoolSize", "DropOutRate",
             "NoOfUDense1", "NoOfUDense2", "NoOfClasses", "LearningRate", "NoOfEpochs", "BatchSize"]


def test_every_spec_key_exists_with_spec_spelling():
    assert set(SPEC_KEYS) <= set(Configuration.model_fields)
    defaults = Configuration()
    assert defaults.ImageSize == (256, 256) and defaults.Patience == 5


def test_shipped_lenet_yaml_matches_lenet_defaults():
    config = load_config("configs/lenet.yaml")
    assert config.NoOfFilters == 6 and config.KernelSize == (3, 3) and config.NoOfStrides == 1
    assert config.PoolSize == (2, 2) and (config.NoOfUDense1, config.NoOfUDense2) == (100, 10)
    assert config.LearningRate == 1e-3 and config.BatchSize == 32 and config.Architecture == "lenet"


def test_overrides_parse_yaml_values():
    config = load_config("configs/lenet.yaml", ["LearningRate=1e-4", "ImageSize=[48,48]", "KernelSize=5",
                                                "ColorMode=rgb"])
    assert config.LearningRate == pytest.approx(1e-4)
    assert config.ImageSize == (48, 48) and config.KernelSize == (5, 5) and config.ColorMode == "rgb"
    assert parse_override("Augment=true") == ("Augment", True)
    assert load_config(None, ["Augment=flip"]).Augment == "flip"


def test_json_round_trip(tmp_path):
    config = load_config(None, ["ImageSize=[64,48]", "DropOutRate=0.5"])
    assert Configuration(**json.loads(json.dumps(config.to_dict()))) == config
    path = save_config(config, tmp_path / "config.yaml")
    assert load_config(path) == config


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("LearningRate=-1", "LearningRate=-1"),
        ("DropOutRate=1.0", "DropOutRate=1.0"),
        ("NoOfFilters=abc", "NoOfFilters='abc'"),
        ("ColorMode=cmyk", "ColorMode='cmyk'"),
        ("Augment=flop", "Augment='flop': must be true (full augmentation), false or 'flip'"),
        ("TeacherSeesAugmented=true", "TeacherSeesAugmented=true needs a Teacher"),
        ("LearnigRate=0.1", "unknown configuration key 'LearnigRate' (did you mean 'LearningRate'?)"),
        ("Architecture=resnet9000", "unknown architecture 'resnet9000'"),
        ("BatchSize", "not of the form Key=Value"),
        ("ImageSize=[100000,100000]",
         "ImageSize=[100000, 100000]: images larger than 1024 pixels a side are not supported"),
        ("CropSize=[2000,2000]", "CropSize=[2000, 2000]: images larger than 1024"),
    ],
)
def test_bad_values_name_key_and_value(override, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_feature_map_shrunk_to_nothing_is_rejected():
    with pytest.raises(ConfigError, match="shrink the feature map to nothing after MaxPool2D 2"):
        load_config(None, ["ImageSize=[16,16]", "KernelSize=5", "PoolSize=3"])
    with pytest.raises(ConfigError, match="after Conv2D 1"):
        load_config(None, ["ImageSize=[4,4]", "KernelSize=5"])


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(bad)
