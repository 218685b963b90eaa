"""Export round-trips: each format reproduces the Keras model, quantised exports still work, runtimes agree
with Keras on a real photo, and a bad export never lands at its destination."""

from __future__ import annotations

import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data as skimage_data

from ferkit.config import load_config
from ferkit.data.synthetic import SYNTHETIC_CLASSES, write_image_folder
from ferkit.errors import ModelFileError
from ferkit.export import ExportError, export_model
from ferkit.export import exporter as exporter_module
from ferkit.inference.classifier import load_classifier
from ferkit.inference.model_files import sidecar_path
from ferkit.models import build_model
from ferkit.models.saving import ModelMetadata, load_model, save_model

ASTRONAUT_FACE = (slice(50, 180), slice(160, 290))  # rows, columns around the face Haar finds at (177, 66)


def keras_probabilities(model, faces: np.ndarray) -> np.ndarray:
    return model(faces.astype(np.float32), training=False).numpy()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained 48×48 grayscale lenet: its batch norms sit after Resizing, the case where an export that
    forgets `training=False` runs them in training mode and disagrees with the model."""
    import keras

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("export")
    config = load_config(None, ["ImageSize=[48,48]"])
    model = build_model(config, len(SYNTHETIC_CLASSES))
    metadata = ModelMetadata(class_names=list(SYNTHETIC_CLASSES), image_size=(48, 48), color_mode="grayscale",
                             architecture="lenet", config=config.to_dict(), temperature=1.5)
    return save_model(model, folder / "model.keras", metadata)


@pytest.fixture(scope="module")
def check_data(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("check") / "faces", per_class=40, size=48, seed=7)


@pytest.fixture(scope="module")
def astronaut_faces():
    """The astronaut's face as the model sees it (48×48 grayscale) and a larger, non-square crop."""
    gray = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2GRAY)
    face = gray[ASTRONAUT_FACE]
    small = cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA)
    shifted = cv2.resize(gray[40:190, 170:300], (48, 48), interpolation=cv2.INTER_AREA)
    return np.stack([small, shifted, np.fliplr(small)])[..., None], face[None, 5:125, 10:110, None]


@pytest.fixture(scope="module")
def exports(tiny_model, check_data, tmp_path_factory):
    """Each fp32 format exported once for the module's tests: format → (path, report)."""
    out = tmp_path_factory.mktemp("exports")
    paths = {"onnx": out / "model.onnx", "litert": out / "model.tflite", "saved_model": out / "model_sm"}
    return {fmt: (path, export_model(tiny_model, fmt, out=path, data=check_data, print_fn=lambda line: None))
            for fmt, path in paths.items()}


@pytest.mark.parametrize("fmt", ["onnx", "litert", "saved_model"])
def test_export_reproduces_the_keras_model(fmt, exports, tiny_model, astronaut_faces):
    path, report = exports[fmt]
    assert path.exists() and sidecar_path(path).is_file()
    assert report.max_abs_diff <= 1e-4 and report.parity_images == 32
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "temporary files left behind"

    model, metadata = load_model(tiny_model)
    stored = load_classifier(path, trust_model=True).metadata  # this test's own exports
    assert stored.class_names == metadata.class_names and stored.image_size == (48, 48)
    assert stored.temperature == 1.5 and stored.extra["export"]["format"] == fmt

    runtime = load_classifier(path, trust_model=True)
    faces, _ = astronaut_faces
    expected = keras_probabilities(model, faces)
    got = runtime.raw_proba(faces)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert got.argmax(axis=1).tolist() == expected.argmax(axis=1).tolist()
    assert runtime.metadata.temperature == 1.5


def test_onnx_file_carries_its_metadata_without_the_sidecar(exports, tmp_path):
    path, _ = exports["onnx"]
    alone = tmp_path / "alone.onnx"
    shutil.copy(path, alone)
    assert load_classifier(alone).metadata.class_names == list(SYNTHETIC_CLASSES)


def test_tflite_without_metadata_is_refused_with_one_line(exports, tmp_path):
    path, _ = exports["litert"]
    alone = tmp_path / "alone.tflite"
    shutil.copy(path, alone)
    with pytest.raises(ModelFileError, match="carries no ferkit metadata"):
        load_classifier(alone)


@pytest.mark.parametrize("fmt", ["onnx", "litert", "saved_model"])
def test_runtimes_resize_other_face_sizes_like_the_model(fmt, exports, tiny_model, astronaut_faces):
    """A 120×100 crop goes through the exported runtime's resize and the Keras model's Resizing layer."""
    model, _ = load_model(tiny_model)
    _, large = astronaut_faces
    got = load_classifier(exports[fmt][0], trust_model=True).raw_proba(large)
    expected = keras_probabilities(model, large)
    np.testing.assert_allclose(got, expected, atol=2e-2)
    assert got.argmax(axis=1).tolist() == expected.argmax(axis=1).tolist()


def test_litert_runtime_handles_any_batch_size(exports, tiny_model, check_data):
    """Batch sizes between the padding buckets and above the largest give each face its own answer."""
    from ferkit.data import load_data

    faces = load_data(check_data, image_size=(48, 48)).images[:70]
    runtime = load_classifier(exports["litert"][0])
    whole = runtime.raw_proba(faces)
    model, _ = load_model(tiny_model)
    np.testing.assert_allclose(whole, keras_probabilities(model, faces), atol=1e-4)
    np.testing.assert_allclose(runtime.raw_proba(faces[:3]), whole[:3], atol=1e-6)
    assert runtime.raw_proba(faces[:0]).shape == (0, len(SYNTHETIC_CLASSES))


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_int8_export_works_and_reports_its_accuracy_change(fmt, exports, tiny_model, check_data, tmp_path,
                                                           astronaut_faces):
    out = tmp_path / f"model.int8{exports[fmt][0].suffix}"
    report = export_model(tiny_model, fmt, out=out, quantize="int8", data=check_data, max_accuracy_drop=1.0,
                          print_fn=lambda line: None)
    assert out.stat().st_size < exports[fmt][0].stat().st_size / 2
    assert report.keras_accuracy is not None and report.export_accuracy is not None
    assert report.evaluation_images == 32 and report.max_abs_diff <= 0.05 and report.label_agreement >= 0.75
    model, _ = load_model(tiny_model)
    faces, _ = astronaut_faces
    got = load_classifier(out).raw_proba(faces)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=2e-2)
    np.testing.assert_allclose(got, keras_probabilities(model, faces), atol=0.1)


def test_int8_without_labelled_data_checks_on_generated_faces(tiny_model, tmp_path):
    """The model records no training data, so the check falls back to drawn faces: parity is still measured,
    the accuracy change is reported as not measurable instead of being made up."""
    report = export_model(tiny_model, "litert", out=tmp_path / "m.tflite", quantize="int8",
                          print_fn=lambda line: None)
    assert report.check_data.startswith("generated faces") and report.parity_images == 300
    assert report.keras_accuracy is None and report.accuracy_change is None
    assert report.warnings == ["accuracy change not measured: no labelled data (give `data`)"]


def test_float16_litert_export_stays_within_its_tolerance(tiny_model, check_data, tmp_path):
    report = export_model(tiny_model, "litert", out=tmp_path / "m.tflite", quantize="float16",
                          data=check_data, print_fn=lambda line: None)
    assert report.tolerance == 1e-2 and report.max_abs_diff <= 1e-2 and report.accuracy_change is not None


def test_export_that_disagrees_fails_with_the_number_and_writes_nothing(tiny_model, check_data, tmp_path,
                                                                       monkeypatch):
    real_load_classifier = exporter_module.load_classifier

    def off_by_a_bit(path, metadata=None, trust_model=False):
        runtime = real_load_classifier(path, metadata=metadata, trust_model=trust_model)
        predict = runtime.raw_proba
        runtime.raw_proba = lambda faces: predict(faces) + 0.003
        return runtime

    monkeypatch.setattr(exporter_module, "load_classifier", off_by_a_bit)
    out = tmp_path / "model_sm"
    with pytest.raises(ExportError, match=r"max abs probability difference 0\.003 > 0\.0001"):
        export_model(tiny_model, "saved_model", out=out, data=check_data, print_fn=lambda line: None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "quantize", "out", "message"),
    [
        ("saved_model", "int8", "m_sm", "quantize='int8' is not available for format 'saved_model'"),
        ("onnx", "float16", "m.onnx", "quantize='float16' is not available for format 'onnx'"),
        ("litert", None, "m.onnx", "must end in .tflite"),
        ("tensorrt", None, "m.plan", "unknown export format 'tensorrt'"),
    ],
)
def test_impossible_requests_fail_before_any_work(fmt, quantize, out, message, tmp_path):
    with pytest.raises(ExportError, match=message):
        export_model(tmp_path / "never-read.keras", fmt, out=tmp_path / out, quantize=quantize)


def test_a_folder_in_the_way_of_a_file_export_is_refused(tmp_path):
    (tmp_path / "taken.onnx").mkdir()
    with pytest.raises(ExportError, match="taken.onnx is a folder; format 'onnx' writes one file"):
        export_model(tmp_path / "never-read.keras", "onnx", out=tmp_path / "taken.onnx")


def test_cli_export_then_predict_gives_the_keras_labels(tiny_model, check_data, tmp_path):
    """`ferkit export` writes a checked ONNX file; `ferkit predict --model x.onnx` on a real photo then finds
    the face and gives the probabilities the Keras model gives."""
    import json

    from ferkit.inference import EmotionRecognizer

    out = tmp_path / "cli.onnx"
    ferkit = [sys.executable, "-m", "ferkit.cli.main"]
    result = subprocess.run([*ferkit, "export", "--model", str(tiny_model), "--format", "onnx", "--out",
                             str(out), "--calibration-data", str(check_data)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "max |p_export - p_keras|" in result.stdout and out.is_file()

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))
    result = subprocess.run([*ferkit, "predict", "--model", str(out), str(photo)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (exported,) = json.loads(result.stdout.strip().splitlines()[-1])["faces"]
    (keras_face,) = EmotionRecognizer.load(tiny_model).predict(photo)
    assert exported["box"] == keras_face.box and exported["emotion"] == keras_face.emotion
    for name, probability in keras_face.probabilities.items():
        assert exported["probabilities"][name] == pytest.approx(probability, abs=2e-4)


def test_evaluate_gives_the_keras_predictions_for_exports(exports, tiny_model, check_data):
    from ferkit.evaluation.runner import evaluate_model

    keras_result = evaluate_model(tiny_model, check_data, split="validation")
    for fmt in ("onnx", "litert", "saved_model"):
        # The SavedModel is this test's own export, so it is trusted.
        result = evaluate_model(exports[fmt][0], check_data, split="validation", trust_model=fmt == "saved_model")
        np.testing.assert_allclose(result.probabilities, keras_result.probabilities, atol=1e-4)
        assert result.metrics["accuracy"] == keras_result.metrics["accuracy"]


def test_cli_user_mistake_is_one_line(tiny_model, tmp_path):
    result = subprocess.run([sys.executable, "-m", "ferkit.cli.main", "export", "--model", str(tiny_model),
                             "--format", "saved_model", "--quantize", "int8", "--out", str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --quantize int8 is not available for --format saved_model "
                                     "(available: none)")
    missing = tmp_path / "missing.keras"
    result = subprocess.run([sys.executable, "-m", "ferkit.cli.main", "export", "--model", str(missing),
                             "--format", "onnx"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip() == f"error: model file not found: {missing}"


def test_classifier_runtime_names_follow_the_export_formats(exports):
    from ferkit.errors import ModelFileError
    from ferkit.inference.classifier import load_classifier

    litert_file = exports["litert"][0]
    assert load_classifier(litert_file).runtime == "litert"
    assert load_classifier(litert_file, runtime="tflite").runtime == "litert"  # LiteRT's former name
    assert load_classifier(exports["onnx"][0], runtime="onnx").runtime == "onnx"
    with pytest.raises(ModelFileError, match="is a litert model; it cannot run with runtime='onnx'"):
        load_classifier(litert_file, runtime="onnx")
