"""Warm starts (InitialWeights) and self-distillation (Teacher) in training runs."""

import dataclasses

import numpy as np
import pytest

from ferkit.config import load_config
from ferkit.data import load_data
from ferkit.errors import ConfigError
from ferkit.models import build_model
from ferkit.models.saving import load_model
from ferkit.training import train_or_load
from ferkit.training.distillation import (
    distilled_targets,
    images_for_channels,
    kernel_for_channels,
    load_initial_weights,
    teacher_ensemble,
    teacher_probabilities,
)

FAST = ["ImageSize=[48,48]", "NoOfFilters=4", "NoOfUDense1=32", "NoOfUDense2=16", "BatchSize=16",
        "LearningRate=0.003"]


@pytest.fixture(scope="module")
def stage_one(tmp_path_factory, faces_folder):
    """A model trained for two epochs on the drawn faces: the teacher and starting point below."""
    config = load_config("configs/lenet.yaml", [*FAST, "NoOfEpochs=2"])
    data = load_data(faces_folder, image_size=config.ImageSize, validation_split=0.25, seed=0)
    out = tmp_path_factory.mktemp("stage1")
    train_or_load(config, data, out, print_fn=lambda _: None, verbose=0)
    return config, data, out / "model.keras"


def test_initial_weights_reproduce_the_source_model(stage_one):
    config, data, model_path = stage_one
    source, _ = load_model(model_path)
    model = build_model(config.with_updates(NoOfClasses=data.num_classes), data.num_classes)
    images = data.images[:6].astype("float32")
    assert not np.allclose(model(images, training=False), source(images, training=False), atol=1e-3)
    load_initial_weights(model, str(model_path), data)
    np.testing.assert_allclose(model(images, training=False), source(images, training=False), atol=1e-6)


def test_a_grey_model_starts_a_colour_run_with_the_same_answers(stage_one, faces_folder):
    config, data, model_path = stage_one
    source, _ = load_model(model_path)
    colour_data = load_data(faces_folder, image_size=config.ImageSize, color_mode="rgb", validation_split=0.25,
                            seed=0)
    model = build_model(config.with_updates(ColorMode="rgb", NoOfClasses=data.num_classes), data.num_classes)
    load_initial_weights(model, str(model_path), colour_data)
    colour_images = colour_data.images[:6].astype("float32")
    grey_images = data.images[:6].astype("float32")  # the same faces, converted to grey when read
    expected = source(grey_images, training=False)
    np.testing.assert_allclose(model(images_for_channels(grey_images, 3), training=False), expected, atol=1e-5)
    np.testing.assert_allclose(model(colour_images, training=False), expected, atol=2e-2)  # grey rounded to uint8


def test_first_convolutions_convert_between_grey_and_colour_input():
    grey = np.random.default_rng(0).normal(size=(3, 3, 1, 4)).astype(np.float32)
    colour = kernel_for_channels(grey, 3)
    assert colour.shape == (3, 3, 3, 4)
    np.testing.assert_allclose(kernel_for_channels(colour, 1), grey, atol=1e-6)
    assert kernel_for_channels(grey, 2) is grey


def test_a_grey_teacher_teaches_a_colour_run(stage_one, faces_folder):
    config, data, model_path = stage_one
    colour_data = load_data(faces_folder, image_size=config.ImageSize, color_mode="rgb", validation_split=0.25,
                            seed=0)
    indices = np.arange(5)
    from_colour = teacher_probabilities([str(model_path)], colour_data, indices)
    from_grey = teacher_probabilities([str(model_path)], data, indices)
    np.testing.assert_allclose(from_colour, from_grey, atol=2e-2)
    assert from_colour.shape == (5, data.num_classes)


def test_initial_weights_match_output_classes_by_name(stage_one):
    config, data, model_path = stage_one
    source, _ = load_model(model_path)
    renamed = dataclasses.replace(data, class_names=["extra", *(name.title() for name in reversed(data.class_names))])
    model = build_model(config.with_updates(NoOfClasses=renamed.num_classes), renamed.num_classes)
    fresh_column = np.array(model.layers[-1].weights[0].numpy()[:, 0])
    assert load_initial_weights(model, str(model_path), renamed) == ["extra"]
    kernel, source_kernel = model.layers[-1].weights[0].numpy(), source.layers[-1].weights[0].numpy()
    for index, name in enumerate(data.class_names):
        np.testing.assert_array_equal(kernel[:, renamed.class_names.index(name.title())], source_kernel[:, index])
    np.testing.assert_array_equal(kernel[:, 0], fresh_column)
    for layer, source_layer in zip(model.layers[:-1], source.layers[:-1], strict=True):
        for weight, source_weight in zip(layer.get_weights(), source_layer.get_weights(), strict=True):
            np.testing.assert_array_equal(weight, source_weight)


def test_initial_weights_sharing_no_class_are_refused(stage_one):
    config, data, model_path = stage_one
    other = dataclasses.replace(data, class_names=[f"other{i}" for i in range(data.num_classes)])
    with pytest.raises(ConfigError, match=r"InitialWeights=.*share no name"):
        load_initial_weights(build_model(config.with_updates(NoOfClasses=other.num_classes), other.num_classes),
                             str(model_path), other)


def test_initial_weights_of_another_network_are_refused(stage_one):
    config, data, model_path = stage_one
    wider = config.with_updates(NoOfFilters=6, NoOfClasses=data.num_classes)
    with pytest.raises(ConfigError, match=r"InitialWeights=.*do not fit"):
        load_initial_weights(build_model(wider, data.num_classes), str(model_path), data)


def test_teacher_with_other_classes_or_missing_file_is_refused(stage_one, fer_npz, tmp_path):
    _, _, model_path = stage_one
    fer = load_data(fer_npz)
    with pytest.raises(ConfigError, match=r"Teacher=.*classes .*differ"):
        teacher_probabilities([str(model_path)], fer, np.arange(4))
    with pytest.raises(ConfigError, match=r"Teacher=.*not found"):
        teacher_probabilities([str(tmp_path / "none.keras")], fer, np.arange(4))


def test_teacher_probabilities_average_the_image_and_its_mirror(stage_one):
    _, data, model_path = stage_one
    teacher, _ = load_model(model_path)
    indices = np.arange(0, 40, 3)
    probabilities = teacher_probabilities([str(model_path)], data, indices)
    images = data.images[indices].astype("float32")
    expected = (np.asarray(teacher(images, training=False)) + np.asarray(teacher(images[:, :, ::-1],
                                                                                 training=False))) / 2
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_teacher_outputs_follow_the_data_class_order(stage_one):
    _, data, model_path = stage_one
    indices = np.arange(6)
    reordered = dataclasses.replace(data, class_names=[name.upper() for name in reversed(data.class_names)])
    straight = teacher_probabilities([str(model_path)], data, indices)
    np.testing.assert_allclose(teacher_probabilities([str(model_path)], reordered, indices), straight[:, ::-1],
                               atol=1e-6)


def test_distilled_targets_blend_and_stay_distributions():
    one_hot = np.eye(3, dtype=np.float32)[[0, 2]]
    teacher = np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]], dtype=np.float32)
    blended = distilled_targets(one_hot, teacher, 0.4)
    assert blended.dtype == np.float32
    np.testing.assert_allclose(blended, [[0.8, 0.1, 0.1], [0.08, 0.08, 0.84]], atol=1e-6)
    np.testing.assert_allclose(distilled_targets(one_hot, teacher, 0.0), one_hot)


def test_second_stage_run_starts_from_and_distils_the_first(stage_one, tmp_path):
    config, data, model_path = stage_one
    stage_two = config.with_updates(NoOfEpochs=1, LearningRate=1e-6, InitialWeights=str(model_path),
                                    Teacher=str(model_path), TeacherWeight=0.5)
    messages = []
    result = train_or_load(stage_two, data, tmp_path, print_fn=messages.append, verbose=0)
    assert any(m.startswith(f"Starting from the weights of {model_path}") for m in messages)
    assert any(m.startswith(f"Distilling from {model_path}") for m in messages)
    source, _ = load_model(model_path)
    val = data.split_indices("validation")
    images = data.images[val].astype("float32")
    agreement = np.mean(np.argmax(result.model(images, training=False), 1)
                        == np.argmax(source(images, training=False), 1))
    assert agreement >= 0.9, f"a tiny learning rate keeps stage 1's answers; agreement {agreement:.2f}"


def test_several_teachers_are_averaged(stage_one, tmp_path):
    config, data, model_path = stage_one
    other = tmp_path / "other"
    train_or_load(config.with_updates(Seed=7), data, other, print_fn=lambda _: None, verbose=0)
    indices = np.arange(10)
    first = teacher_probabilities([str(model_path)], data, indices)
    second = teacher_probabilities([str(other / "model.keras")], data, indices)
    assert not np.allclose(first, second, atol=1e-3)
    ensemble = teacher_probabilities([str(model_path), str(other / "model.keras")], data, indices)
    np.testing.assert_allclose(ensemble, (first + second) / 2, atol=1e-5)


def test_teacher_ensemble_averages_the_models_on_the_batch_given(stage_one, tmp_path):
    config, data, model_path = stage_one
    other = tmp_path / "other"
    train_or_load(config.with_updates(Seed=8), data, other, print_fn=lambda _: None, verbose=0)
    images = data.images[:10].astype("float32")
    models = [load_model(path)[0] for path in (model_path, other / "model.keras")]
    expected = np.mean([np.asarray(model(images, training=False)) for model in models], axis=0)
    ensemble = teacher_ensemble([str(model_path), str(other / "model.keras")], data)
    np.testing.assert_allclose(np.asarray(ensemble(images)), expected, atol=1e-5)


def test_teacher_that_sees_the_augmented_faces_trains_a_second_stage(stage_one, tmp_path):
    config, data, model_path = stage_one
    stage_two = config.with_updates(NoOfEpochs=1, LearningRate=1e-6, InitialWeights=str(model_path),
                                    Teacher=str(model_path), TeacherWeight=0.5, Augment="flip",
                                    TeacherSeesAugmented=True)
    messages = []
    result = train_or_load(stage_two, data, tmp_path, print_fn=messages.append, verbose=0)
    assert any(m.startswith(f"Distilling from {model_path}") and "on the augmented faces" in m for m in messages)
    assert load_config(tmp_path / "config.yaml").TeacherSeesAugmented is True
    assert result.summary["epochs_run"] == 1 and np.isfinite(result.summary["best_val_loss"])


def test_teacher_that_sees_the_augmented_faces_is_refused_off_tensorflow(stage_one, tmp_path, monkeypatch):
    import keras

    config, data, model_path = stage_one
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ConfigError, match=r"TeacherSeesAugmented=true .* TensorFlow backend \(this is jax\)"):
        train_or_load(config.with_updates(Teacher=str(model_path), TeacherSeesAugmented=True), data, tmp_path,
                      print_fn=lambda _: None, verbose=0)


def test_teacher_key_takes_a_path_or_a_list_of_paths():
    assert load_config("configs/lenet.yaml", ["Teacher=[a.keras, b.keras]"]).Teacher == ["a.keras", "b.keras"]
    assert load_config("configs/lenet.yaml", ["Teacher=a.keras"]).Teacher == "a.keras"
    with pytest.raises(ConfigError, match="Teacher"):
        load_config("configs/lenet.yaml", ["Teacher=3"])
    with pytest.raises(ConfigError, match="TeacherWeight=1.5"):
        load_config("configs/lenet.yaml", ["TeacherWeight=1.5"])
