"""`ferkit evaluate` and `ferkit calibrate` end to end: a tiny model and a tiny npz in the FER-2013 layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from support.cli import run_cli

from ferkit.data.sources import FER2013_CLASSES
from ferkit.evaluation.calibration import apply_temperature
from ferkit.evaluation.compare import mcnemar_exact
from ferkit.evaluation.report import REPORT_FILES
from ferkit.models.saving import ModelMetadata, read_metadata, save_model

K = len(FER2013_CLASSES)
CENTRES = (np.arange(K) + 0.5) / K
SPLIT_SIZES = {"Training": 42, "PublicTest": 70, "PrivateTest": 70}
PLANTED_DUPLICATES = 5


def _brightness_model(sharpness: float, centres: np.ndarray = CENTRES):
    """Predicts the class whose brightness centre is nearest the image's mean brightness."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(None, None, 1))
    x = layers.Resizing(8, 8)(inputs)
    x = layers.Rescaling(1 / 255)(x)
    x = layers.GlobalAveragePooling2D()(x)
    dense = layers.Dense(len(centres), activation="softmax")
    outputs = dense(x)
    dense.set_weights([sharpness * centres[None, :], -sharpness * centres**2 / 2])
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    metadata = ModelMetadata(class_names=list(FER2013_CLASSES), image_size=(48, 48), color_mode="grayscale",
                             architecture="brightness", config={"Seed": 1})
    return save_model(_brightness_model(sharpness=120.0), path, metadata)


@pytest.fixture(scope="module")
def fer_like_npz(tmp_path_factory) -> Path:
    """Brightness encodes the class (noisily, so some rows are wrong); planted duplicates and FER+ votes."""
    rng = np.random.default_rng(0)
    usage = np.concatenate([[name] * size for name, size in SPLIT_SIZES.items()])
    labels = np.concatenate([rng.permutation(np.arange(size) % K) for size in SPLIT_SIZES.values()])
    level = CENTRES[labels] + rng.normal(scale=0.06, size=len(labels))
    images = np.clip(level[:, None, None] * 255 + rng.normal(scale=4, size=(len(labels), 48, 48)), 0, 255)
    images = images.astype(np.uint8)
    private = np.flatnonzero(usage == "PrivateTest")
    images[private[:PLANTED_DUPLICATES]] = images[:PLANTED_DUPLICATES]
    votes = rng.multinomial(10, np.full(10, 0.1), size=len(labels)).astype(np.uint8)
    path = tmp_path_factory.mktemp("data") / "fer.npz"
    np.savez_compressed(path, images=images, labels=labels.astype(np.int8), usage=usage, ferplus_votes=votes)
    return path


def _ferplus_majority_by_hand(votes: np.ndarray) -> np.ndarray:
    fer_index = {1: "happy", 2: "surprise", 3: "sad", 4: "angry", 5: "disgust", 6: "fear", 0: "neutral"}
    labels = []
    for row in votes.astype(int):
        best = sorted(range(10), key=lambda c: -row[c])
        unique_winner = row[best[0]] > 0 and row[best[0]] > row[best[1]]
        fer_class_winner = unique_winner and best[0] in fer_index
        labels.append(FER2013_CLASSES.index(fer_index[best[0]]) if fer_class_winner else -1)
    return np.array(labels)


def _ece_by_hand(probabilities, labels, bins=15):
    total = 0.0
    confidence, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidence) if (low < c <= high) or (b == 0 and c == 0)]
        if members:
            accuracy = np.mean([predicted[i] == labels[i] for i in members])
            total += len(members) / len(labels) * abs(accuracy - confidence[members].mean())
    return total


def test_evaluate_writes_every_report_and_its_numbers_match_the_predictions(
        model_file, fer_like_npz, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report"
    code, stdout, _ = run_cli(monkeypatch, capsys, "evaluate", "--model", str(model_file), "--data",
                              str(fer_like_npz), "--out", str(out), "--batch-size", "16")
    assert code == 0
    for name in REPORT_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    saved = np.load(out / "predictions.npz")
    probabilities, labels, indices = saved["probabilities"], saved["labels"], saved["indices"]
    data = np.load(fer_like_npz)

    # The default split is the test split, and the saved rows are that split's rows and labels.
    assert metrics["protocol"]["split"] == "PrivateTest"
    assert np.array_equal(indices, np.flatnonzero(data["usage"] == "PrivateTest"))
    assert np.array_equal(labels, data["labels"][indices])
    predicted = probabilities.argmax(axis=1)
    accuracy = np.mean(predicted == labels)
    assert 0.3 < accuracy < 1.0  # a real mix of right and wrong answers
    assert metrics["n"] == len(indices)
    assert metrics["accuracy"] == pytest.approx(accuracy)
    top3 = np.mean([label in np.argsort(-row)[:3] for row, label in zip(probabilities, labels, strict=True)])
    assert metrics["top3_accuracy"] == pytest.approx(top3)
    matrix = np.zeros((K, K), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    assert np.array_equal(metrics["confusion_matrix"], matrix)
    recall = np.diag(matrix) / matrix.sum(axis=1)
    assert metrics["balanced_accuracy"] == pytest.approx(recall.mean())
    assert metrics["per_class"]["happy"]["recall"] == pytest.approx(recall[FER2013_CLASSES.index("happy")])
    assert metrics["ece"] == pytest.approx(_ece_by_hand(probabilities, labels))
    assert metrics["nll"] == pytest.approx(-np.mean(np.log(probabilities[np.arange(len(labels)), labels])),
                                           rel=1e-6)
    assert metrics["class_names"] == FER2013_CLASSES

    # FER+ majority and duplicate exclusion, computed by hand from the file.
    majority = _ferplus_majority_by_hand(data["ferplus_votes"][indices])
    labelled = majority >= 0
    assert metrics["ferplus_majority"]["n"] == labelled.sum()
    assert metrics["ferplus_majority"]["accuracy"] == pytest.approx(np.mean(predicted[labelled] ==
                                                                            majority[labelled]))
    unique = np.ones(len(indices), dtype=bool)
    unique[:PLANTED_DUPLICATES] = False
    assert metrics["non_duplicate"]["excluded_duplicates"] == PLANTED_DUPLICATES
    assert metrics["non_duplicate"]["accuracy"] == pytest.approx(np.mean(predicted[unique] == labels[unique]))

    protocol = metrics["protocol"]
    assert protocol["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert protocol["data_sha256"] == hashlib.sha256(fer_like_npz.read_bytes()).hexdigest()
    assert protocol["detector"] == "none" and protocol["views"].startswith("single crop")
    assert protocol["temperature"] == 1.0
    assert "accuracy" in stdout and "happy" in stdout and "FER+ majority" in stdout


def test_evaluate_against_ferplus_majority_labels(fer_like_npz, tmp_path, monkeypatch, capsys):
    eight = [*FER2013_CLASSES, "contempt"]
    path = tmp_path / "eight.keras"
    metadata = ModelMetadata(class_names=eight, image_size=(48, 48), color_mode="grayscale",
                             architecture="brightness", config={"Seed": 1})
    save_model(_brightness_model(120.0, (np.arange(8) + 0.5) / 8), path, metadata)
    out = tmp_path / "ferplus"
    code, _, _ = run_cli(monkeypatch, capsys, "evaluate", "--model", str(path), "--data", str(fer_like_npz),
                         "--labels", "ferplus", "--out", str(out))
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    saved = np.load(out / "predictions.npz")
    votes = np.load(fer_like_npz)["ferplus_votes"].astype(int)
    private = np.flatnonzero(np.load(fer_like_npz)["usage"] == "PrivateTest")
    plus_to_ferkit = {0: "neutral", 1: "happy", 2: "surprise", 3: "sad", 4: "angry", 5: "disgust", 6: "fear",
                      7: "contempt"}
    by_hand = []
    for row in votes[private]:
        top = np.flatnonzero(row == row.max())
        if row.max() > 0 and len(top) == 1 and top[0] in plus_to_ferkit:
            by_hand.append(eight.index(plus_to_ferkit[top[0]]))
    assert metrics["n"] == len(by_hand) and 0 < len(by_hand) < len(private)
    assert saved["labels"].tolist() == by_hand
    assert metrics["accuracy"] == pytest.approx(np.mean(saved["probabilities"].argmax(1) == saved["labels"]))
    assert metrics["class_names"] == eight and metrics["ferplus_majority"] is None
    assert metrics["protocol"]["labels"].startswith("FER+ majority")


def test_ferplus_labels_need_a_model_with_ferplus_classes(model_file, fer_like_npz, monkeypatch, capsys):
    code, _, stderr = run_cli(monkeypatch, capsys, "evaluate", "--model", str(model_file), "--data",
                              str(fer_like_npz), "--labels", "ferplus")
    assert code == 2 and stderr.strip().count("\n") == 0
    assert "contempt" in stderr and "do not match" in stderr


def test_evaluate_with_tta_on_a_named_split(model_file, fer_like_npz, tmp_path, monkeypatch, capsys):
    out = tmp_path / "tta"
    code, _, _ = run_cli(monkeypatch, capsys, "evaluate", "--model", str(model_file), "--data",
                         str(fer_like_npz), "--split", "PublicTest", "--tta", "--out", str(out))
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"]["split"] == "PublicTest"
    assert metrics["protocol"]["views"].startswith("tta: 6 views")
    assert metrics["n"] == SPLIT_SIZES["PublicTest"]


def test_calibrate_stores_a_temperature_that_evaluate_applies(model_file, fer_like_npz, tmp_path, monkeypatch,
                                                              capsys):
    calibrated = tmp_path / "calibrated.keras"
    code, stdout, _ = run_cli(monkeypatch, capsys, "calibrate", "--model", str(model_file), "--data",
                              str(fer_like_npz), "--split", "PublicTest", "--out", str(calibrated))
    assert code == 0
    assert "ECE (15 bins):" in stdout
    temperature = read_metadata(calibrated).temperature
    assert temperature != pytest.approx(1.0, abs=0.05)
    assert read_metadata(model_file).temperature == 1.0  # the original is untouched
    assert read_metadata(calibrated).extra["calibration"]["split"] == "PublicTest"

    reports = {}
    for name, path in (("raw", model_file), ("calibrated", calibrated)):
        code, _, _ = run_cli(monkeypatch, capsys, "evaluate", "--model", str(path), "--data",
                             str(fer_like_npz), "--split", "PublicTest", "--out", str(tmp_path / name))
        assert code == 0
        reports[name] = np.load(tmp_path / name / "predictions.npz")["probabilities"]
    assert reports["calibrated"] == pytest.approx(apply_temperature(reports["raw"], temperature), abs=1e-6)
    metrics = json.loads((tmp_path / "calibrated" / "metrics.json").read_text())
    raw_metrics = json.loads((tmp_path / "raw" / "metrics.json").read_text())
    assert metrics["protocol"]["temperature"] == pytest.approx(temperature)
    assert metrics["nll"] < raw_metrics["nll"]  # fitted on this split, so NLL must improve here


@pytest.mark.parametrize("command", ["evaluate", "calibrate"])
def test_bad_split_is_a_one_line_error(command, model_file, fer_like_npz, tmp_path, monkeypatch, capsys):
    code, _, stderr = run_cli(monkeypatch, capsys, command, "--model", str(model_file), "--data",
                              str(fer_like_npz), "--split", "Nope")
    assert code == 2
    assert stderr.strip().count("\n") == 0
    assert "'Nope'" in stderr and "PrivateTest" in stderr


@pytest.mark.parametrize("command", ["evaluate", "calibrate"])
def test_missing_model_is_a_one_line_error(command, fer_like_npz, tmp_path, monkeypatch, capsys):
    missing = tmp_path / "absent.keras"
    code, _, stderr = run_cli(monkeypatch, capsys, command, "--model", str(missing), "--data",
                              str(fer_like_npz))
    assert code == 2
    assert stderr.strip().count("\n") == 0
    assert str(missing) in stderr


@pytest.mark.parametrize("detector", ["yunet", "haar"])
def test_evaluate_with_a_detector_counts_images_without_a_face_as_wrong(model_file, tmp_path, monkeypatch,
                                                                         capsys, detector):
    import cv2
    from skimage import data as skimage_data

    def gray_256(rgb):
        return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (256, 256), interpolation=cv2.INTER_AREA)

    face, cat = gray_256(skimage_data.astronaut()), gray_256(skimage_data.chelsea())
    images = np.stack([face, face, cat, np.full_like(face, 128)])
    path = tmp_path / "photos.npz"
    np.savez(path, images=images, labels=np.array([3, 6, 3, 3], np.int8), usage=np.array(["PrivateTest"] * 4))
    out = tmp_path / "detected"
    code, stdout, _ = run_cli(monkeypatch, capsys, "evaluate", "--model", str(model_file), "--data",
                              str(path), "--detector", detector, "--out", str(out))
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    saved = np.load(out / "predictions.npz")
    assert saved["face_found"].tolist() == [True, True, False, False]
    assert np.isnan(saved["probabilities"][2:]).all()
    assert metrics["n_without_prediction"] == 2
    assert metrics["protocol"]["detector"] == detector
    # The two faces get the same prediction, which can match at most one of their two labels.
    assert metrics["accuracy"] <= 0.25
    assert np.array(metrics["confusion_matrix"]).sum() == 2
    assert "no face found" in stdout


def test_mcnemar_exact_matches_the_binomial_tail():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert mcnemar_exact(0, 10) == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(10, 0) == mcnemar_exact(0, 10)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 2**10)  # P(X <= 1) = (1 + 10) / 1024, two-sided


def test_compare_counts_the_images_each_model_alone_gets_right(
        model_file, fer_like_npz, tmp_path, monkeypatch, capsys):
    shifted = save_model(_brightness_model(sharpness=120.0, centres=CENTRES + 0.04), tmp_path / "shifted.keras",
                         read_metadata(model_file))
    out = tmp_path / "comparison.json"
    code, stdout, _ = run_cli(monkeypatch, capsys, "compare", "--model", str(model_file), "--model", str(shifted),
                              "--data", str(fer_like_npz), "--split", "PublicTest", "--json", str(out))
    assert code == 0, stdout
    comparison = json.loads(out.read_text())
    assert comparison["split"] == "PublicTest" and comparison["n"] == SPLIT_SIZES["PublicTest"]

    data = np.load(fer_like_npz)
    public = data["usage"] == "PublicTest"
    level = data["images"][public].mean(axis=(1, 2)) / 255
    labels = data["labels"][public]
    sharp_right = np.abs(level[:, None] - CENTRES[None]).argmin(axis=1) == labels  # the sharp model by hand
    base, other = comparison["scores"]
    assert base["accuracy"] == pytest.approx(sharp_right.mean(), abs=1.5 / len(labels))
    assert base["only_baseline_right"] == base["only_this_right"] == 0 and base["p_value"] == 1.0
    assert other["accuracy"] < base["accuracy"]  # its class boundaries sit off the data's
    assert other["only_baseline_right"] > 0
    assert base["accuracy"] - other["accuracy"] == pytest.approx(
        (other["only_baseline_right"] - other["only_this_right"]) / comparison["n"])
    assert other["p_value"] == pytest.approx(mcnemar_exact(other["only_baseline_right"], other["only_this_right"]))
    assert "PublicTest (70 images)" in stdout and "McNemar" in stdout


def test_compare_needs_two_models(model_file, fer_like_npz, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "compare", "--model", str(model_file), "--data", str(fer_like_npz))
    assert code == 2 and err.strip() == "error: compare needs at least two models, got 1"


def test_evaluate_without_a_model_scores_the_shipped_model(fer_like_npz, tmp_path, monkeypatch, capsys):
    """The issue's done-when command: `ferkit evaluate --data ... --split PrivateTest` with no --model."""
    from ferkit.inference.classifier import load_classifier
    from ferkit.inference.shipped import shipped_model_path

    out = tmp_path / "shipped"
    code, stdout, _ = run_cli(monkeypatch, capsys, "evaluate", "--data", str(fer_like_npz), "--split",
                              "PrivateTest", "--out", str(out))
    assert code == 0, stdout
    protocol = json.loads((out / "metrics.json").read_text())["protocol"]
    shipped = shipped_model_path()
    assert protocol["model_file"] == str(shipped.resolve())
    assert protocol["model_sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert shipped.suffix == ".onnx"
    assert protocol["temperature"] == pytest.approx(load_classifier(shipped).metadata.temperature)


def _optimizer_variables(path: Path) -> int:
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive:
        (path.parent / "weights.h5").write_bytes(archive.read("model.weights.h5"))
    with h5py.File(path.parent / "weights.h5") as weights:
        if "optimizer" not in weights:
            return 0
        found = []
        weights["optimizer"].visit(lambda name: found.append(name))
        return len(found)


def test_calibrate_writes_the_model_without_optimizer_state(fer_like_npz, tmp_path, monkeypatch, capsys):
    """A trained model file keeps Adam's moments (to resume training); the calibrated one is for inference."""
    import keras

    model = _brightness_model(sharpness=120.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-6), loss="categorical_crossentropy")
    model.fit(np.full((8, 48, 48, 1), 128, np.uint8), np.eye(K)[np.arange(8) % K], epochs=1, verbose=0)
    trained = save_model(model, tmp_path / "trained" / "model.keras",
                         ModelMetadata(class_names=list(FER2013_CLASSES), image_size=(48, 48)))
    calibrated = tmp_path / "calibrated" / "model.keras"
    code, _, _ = run_cli(monkeypatch, capsys, "calibrate", "--model", str(trained), "--data", str(fer_like_npz),
                         "--out", str(calibrated))
    assert code == 0
    assert _optimizer_variables(trained) > 0 and _optimizer_variables(calibrated) == 0
    assert calibrated.stat().st_size < trained.stat().st_size
    faces = np.load(fer_like_npz)["images"][:16, ..., None]
    from ferkit.models.saving import load_model

    before, after = load_model(trained)[0], load_model(calibrated)[0]
    assert np.array_equal(before.predict(faces, verbose=0), after.predict(faces, verbose=0))


def test_calibrate_auto_reports_the_objective_it_chose(model_file, fer_like_npz, tmp_path, monkeypatch, capsys):
    calibrated = tmp_path / "auto.keras"
    code, stdout, _ = run_cli(monkeypatch, capsys, "calibrate", "--model", str(model_file), "--data",
                              str(fer_like_npz), "--split", "PublicTest", "--objective", "auto",
                              "--out", str(calibrated))
    assert code == 0
    record = read_metadata(calibrated).extra["calibration"]
    assert record["objective"] == "auto"
    chosen = min(record["held_out_ece"], key=record["held_out_ece"].get)
    assert record["method"] == f"temperature scaling ({chosen.upper()} minimised)"
    assert f"-> {chosen}" in stdout
