"""The shipped models: ONNX files found by name, checked by sha256, described by their own ONNX metadata, run
without TensorFlow, and equal to the Keras model they were exported from."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from ferkit.errors import ModelFileError
from ferkit.inference import EmotionRecognizer, load_classifier
from ferkit.inference import shipped as shipped_module
from ferkit.inference.onnx_runtime import OnnxClassifier
from ferkit.inference.shipped import SHIPPED_MODELS, resolve_model, shipped_model_path

FER2013 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "fer2013" / "fer2013.npz"
AGREEMENT_FACES = 300


def test_the_default_model_is_an_onnx_file_described_by_its_own_metadata():
    path = shipped_model_path()
    classifier = load_classifier(path)
    assert path.name == "fervgg.onnx" and isinstance(classifier, OnnxClassifier)
    metadata = classifier.metadata
    assert metadata.class_names == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert metadata.image_size == (48, 48) and metadata.color_mode == "grayscale"
    assert metadata.temperature == pytest.approx(1.0547, abs=1e-4)
    assert metadata.extra["version"] == SHIPPED_MODELS["default"].version
    assert metadata.extra["export"]["max_abs_diff"] <= 1e-4
    assert not path.with_name(path.name + ".json").exists(), "the metadata travels inside the ONNX file"
    props = classifier.session.get_modelmeta().custom_metadata_map
    assert props["color_mode"] == "grayscale" and props["version"] == SHIPPED_MODELS["default"].version


def test_none_and_default_name_the_shipped_model_and_anything_else_is_a_path(tmp_path, monkeypatch):
    assert resolve_model(None) == resolve_model("default") == shipped_model_path()
    assert resolve_model(tmp_path / "mine.onnx") == tmp_path / "mine.onnx"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_bytes(b"a file that happens to be called default")
    assert resolve_model("default") == Path("default")
    with pytest.raises(ModelFileError, match="no shipped model named 'nosuchmodel'; shipped: default"):
        shipped_model_path("nosuchmodel")


def _copy_weights(folder: Path, monkeypatch) -> Path:
    weights = folder / "weights"
    weights.mkdir()
    for name in ("fervgg.onnx", "fervgg.onnx.sha256"):
        shutil.copy(shipped_model_path().parent / name, weights / name)
    monkeypatch.setattr(shipped_module, "weights_folder", lambda: weights)
    return weights


def test_a_damaged_or_missing_shipped_model_is_refused_with_one_line(tmp_path, monkeypatch):
    weights = _copy_weights(tmp_path, monkeypatch)
    damaged = bytearray((weights / "fervgg.onnx").read_bytes())
    damaged[-1] ^= 0xFF
    (weights / "fervgg.onnx").write_bytes(bytes(damaged))
    with pytest.raises(ModelFileError, match=r"fervgg.onnx is damaged: its sha256 [0-9a-f]{64} does not match"):
        EmotionRecognizer.load()
    (weights / "fervgg.onnx").unlink()
    with pytest.raises(ModelFileError, match="the shipped model 'default' is not installed"):
        EmotionRecognizer.load("default")
    with pytest.raises(ModelFileError, match=r"Keras source of the shipped model 'default' \(fervgg.keras\) is "
                                             "not installed"):
        resolve_model(None, runtime="keras")


def test_a_new_shipped_model_is_its_files_plus_one_registry_entry(tmp_path, monkeypatch):
    """How the FER+ model will be added: `<stem>.onnx` + `.sha256` in the weights folder and one entry."""
    weights = _copy_weights(tmp_path, monkeypatch)
    for name in ("onnx", "onnx.sha256"):
        (weights / f"fervgg.{name}").rename(weights / f"other.{name}")
    sha = weights / "other.onnx.sha256"
    sha.write_text(sha.read_text().replace("fervgg.onnx", "other.onnx"))
    entry = dataclasses.replace(SHIPPED_MODELS["default"], name="other", stem="other")
    monkeypatch.setitem(SHIPPED_MODELS, "other", entry)
    recognizer = EmotionRecognizer.load("other", detector="none")
    assert recognizer.model_path == weights / "other.onnx"
    (face,) = recognizer.predict(np.full((48, 48), 128, np.uint8))
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def test_the_ferplus_model_is_chosen_by_name_and_answers_with_eight_classes():
    recognizer = EmotionRecognizer.load("ferplus", detector="none")
    assert recognizer.model_path == shipped_model_path("ferplus") and recognizer.model_path.suffix == ".onnx"
    (face,) = recognizer.predict(np.full((48, 48), 128, np.uint8))
    assert list(face.probabilities) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
                                        "contempt"]
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def _agreement_faces() -> tuple[np.ndarray, str]:
    if FER2013.is_file():
        from ferkit.data import load_data

        data = load_data(FER2013)
        rows = data.split_indices("PrivateTest")
        return data.images[rows[np.linspace(0, len(rows) - 1, AGREEMENT_FACES).astype(int)]], "FER-2013"
    from ferkit.data.synthetic import make_faces

    faces, _ = make_faces(AGREEMENT_FACES // 4, size=48, seed=3)
    return faces, "generated"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED_MODELS))
def test_the_shipped_onnx_file_computes_what_its_keras_source_computes(name):
    """The `.keras` in the source tree is the one source of truth; the shipped `.onnx` must agree with it."""
    pytest.importorskip("tensorflow", reason="the Keras source needs ferkit[train]")
    try:
        keras_path = resolve_model(name, runtime="keras")
    except ModelFileError:
        pytest.skip("the shipped model's Keras source is only in a checkout")
    faces, source = _agreement_faces()
    onnx = load_classifier(shipped_model_path(name))
    keras = load_classifier(keras_path)
    assert onnx.metadata.class_names == keras.metadata.class_names
    assert onnx.metadata.temperature == keras.metadata.temperature
    expected, got = keras.predict_proba(faces), onnx.predict_proba(faces)
    assert len(faces) >= 200, source
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


@pytest.mark.slow
def test_export_without_a_model_exports_the_shipped_model_into_the_current_folder(tmp_path, monkeypatch):
    pytest.importorskip("tf2onnx", reason="ferkit export needs ferkit[export]")
    try:
        resolve_model(None, runtime="keras")
    except ModelFileError:
        pytest.skip("the shipped model's Keras source is only in a checkout")
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "ferkit.cli.main", "export"], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    exported = load_classifier(tmp_path / "fervgg.onnx")
    assert exported.metadata.extra["version"] == SHIPPED_MODELS["default"].version
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1), dtype=np.uint8)
    np.testing.assert_allclose(exported.predict_proba(faces), load_classifier(shipped_model_path())
                               .predict_proba(faces), atol=1e-5)
