"""Evaluate a model file on a dataset split: predictions, metrics and the exact protocol behind them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ferkit.data import LabeledData, load_data
from ferkit.data.classes import class_positions
from ferkit.data.ferplus import LABEL_CHOICES, ferplus_majority_data
from ferkit.data.sources import SPLIT_ALIASES
from ferkit.errors import DataError, ModelFileError
from ferkit.evaluation.calibration import TemperatureFit, apply_temperature, fit_temperature
from ferkit.evaluation.fer2013 import NOT_LABELLED, ferplus_majority, read_ferplus_votes, rows_duplicated_in
from ferkit.evaluation.metrics import ECE_BINS, accuracy_on, classification_metrics
from ferkit.evaluation.tta import SINGLE_CROP_PROTOCOL, predict_with_tta, tta_protocol

DETECTION_MIN_SIDE = 256


@dataclass
class EvaluationResult:
    """Everything `ferkit evaluate` reports.

    Args:
        metrics: the content of metrics.json.
        probabilities: (N, K) calibrated probabilities (rows without a face hold NaN).
        labels: (N,) true class indices in the model's class order.
        indices: (N,) row indices into the dataset.
        face_found: (N,) False where the detector found no face.
        inputs: (N, H, W, C) uint8 images as the model saw them (single view), for the example grid.
    """

    metrics: dict
    probabilities: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    face_found: np.ndarray
    inputs: list[np.ndarray]


def content_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and bytes, in sorted order).

    A file that cannot be read counts by its name alone: data loading skipped it and reported why.
    """
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        try:
            with file.open("rb") as handle:
                for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                    digest.update(block)
        except PermissionError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def load_evaluation_classifier(model_path: str | Path, trust_model: bool = False):
    """The model file (.keras, .h5, .onnx, .tflite, SavedModel) as the compiled classifier prediction uses.

    Evaluation calls its `raw_proba` (uncalibrated) and applies the stored temperature itself, after
    combining TTA views and so that `calibrate` can fit from the raw probabilities.
    """
    from ferkit.inference.classifier import load_classifier

    return load_classifier(model_path, trust_model=trust_model)


def load_data_for(data_path: str | Path, metadata, for_detection: bool = False,
                  labels: str = "dataset") -> LabeledData:
    """Load data the way the model was trained on it: its image size, colour mode and validation split.

    `labels="ferplus"` scores against the FER+ majority labels over FER+'s eight classes instead of the
    data's own labels (rows without a majority left out; see `ferkit.data.ferplus.ferplus_majority`).

    For face detection, images are loaded in RGB and folder images at least `DETECTION_MIN_SIDE` pixels
    high and wide, so the detector gets more than a thumbnail (arrays such as FER-2013 keep their size).
    """
    config = metadata.config or {}
    image_size = tuple(metadata.image_size)
    if for_detection:
        image_size = tuple(max(side, DETECTION_MIN_SIDE) for side in image_size)
    if labels not in LABEL_CHOICES:
        raise DataError(f"labels={labels!r}: choose one of {', '.join(LABEL_CHOICES)}")
    data = load_data(data_path, image_size=image_size,
                     color_mode="rgb" if for_detection else metadata.color_mode,
                     validation_split=config.get("ValidationSplit", 0.2), seed=config.get("Seed", 42))
    if labels == "ferplus":
        votes = read_ferplus_votes(data.source)
        if votes is None or len(votes) != len(data.labels):
            raise DataError(f"{data.source}: FER+ labels need an .npz with a 'ferplus_votes' array (like "
                            "fer2013.npz)")
        data = ferplus_majority_data(data, votes)
    return data


def resolve_split(data: LabeledData, split: str | None) -> tuple[str, np.ndarray]:
    """The split's own name and row indices; by default the test split, else the validation split."""
    if split is None:
        split = "test" if "test" in data.roles else "validation"
    indices = data.split_indices(split)
    if split in data.splits:
        return split, indices
    return data.roles[SPLIT_ALIASES.get(split.lower(), split.lower())], indices


def _labels_in_model_order(data: LabeledData, class_names: list[str]) -> np.ndarray:
    """The data's labels as indices into the model's classes, matched by name in any case (`Happy` = `happy`)."""
    positions = class_positions(data.class_names, class_names)
    if None in positions or len(set(positions)) != len(class_names):
        raise DataError(f"{data.source}: classes {', '.join(data.class_names)} do not match the model's "
                        f"classes {', '.join(class_names)}")
    return np.array(positions)[data.labels]


def predict_in_batches(predict_proba: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                       batch_size: int, tta: bool, description: str = "classifying") -> np.ndarray:
    """`predict_proba` of `images`, `batch_size` at a time, optionally with test-time augmentation."""
    chunks = []
    for start in tqdm(range(0, len(images), batch_size), desc=description, unit="batch", leave=False,
                      disable=None):
        batch = images[start:start + batch_size]
        chunks.append(predict_with_tta(predict_proba, batch) if tta else predict_proba(batch))
    return np.concatenate(chunks).astype(np.float64)


def _detected_faces(data: LabeledData, indices: np.ndarray, detector: str, metadata):
    """Each row's largest detected face, framed for the model; rows without a face get None."""
    from ferkit.faces.framing import crop_largest_face

    return [crop_largest_face(data.images[i], detector, metadata)
            for i in tqdm(indices, desc=f"detecting faces ({detector})", unit="image", leave=False,
                          disable=None)]


def _ferplus_report(data: LabeledData, indices: np.ndarray, predicted: np.ndarray,
                    class_names: list[str]) -> dict | None:
    votes = read_ferplus_votes(data.source)
    if votes is None or len(votes) != len(data.labels):
        return None
    majority = ferplus_majority(votes[indices], class_names)
    labelled = majority.labels != NOT_LABELLED
    return {
        "accuracy": accuracy_on(predicted, majority.labels, labelled),
        "n": int(labelled.sum()),
        "excluded": majority.excluded,
        "rule": "label with strictly the most of the 10 FER+ votes; rows left out when the top count is "
                "tied, or the winner is contempt, unknown or NF (not a face), or there are no votes",
    }


def _non_duplicate_report(data: LabeledData, split_name: str, indices: np.ndarray, predicted: np.ndarray,
                          labels: np.ndarray) -> dict | None:
    train_name = data.roles.get("train")
    if train_name is None or train_name == split_name:
        return None
    duplicated = rows_duplicated_in(data.images, indices, data.splits[train_name])
    return {
        "accuracy": accuracy_on(predicted, labels, ~duplicated),
        "n": int((~duplicated).sum()),
        "excluded_duplicates": int(duplicated.sum()),
        "rule": f"rows whose image is an exact pixel copy of an image in {train_name!r} are left out",
    }


def evaluate_model(model_path: str | Path, data_path: str | Path, split: str | None = None,
                   detector: str = "none", tta: bool = False, batch_size: int = 256,
                   classifier=None, labels: str = "dataset", trust_model: bool = False) -> EvaluationResult:
    """Classify a dataset split with a model file and compute every reported metric.

    Args:
        model_path: a ferkit model file.
        data_path: any dataset `ferkit.data.load_data` reads.
        split: the split's own name ("PrivateTest") or a role ("test"); default test, else validation.
        detector: "none" uses images as the data provides them; "yunet"/"haar"/"mtcnn" detect the largest face
            first and frame it as `ferkit.inference` does for prediction (no face: counted as wrong).
        tta: average flipped and shifted views (see `ferkit.evaluation.tta`).
        batch_size: images per classifier call.
        classifier: an already loaded classifier for `model_path` (loaded when None); it needs
            `raw_proba(uint8 NHWC) -> uncalibrated probabilities` and `metadata`.
        labels: "dataset" (the data's own labels) or "ferplus" (FER+ majority labels over FER+'s eight
            classes, for a model with those classes).
        trust_model: allow a TensorFlow SavedModel folder (see `ferkit.inference.classifier.load_classifier`).
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be at least 1, got {batch_size}")
    classifier = classifier or load_evaluation_classifier(model_path, trust_model)
    metadata = classifier.metadata
    class_names = list(metadata.class_names)
    data = load_data_for(data_path, metadata, for_detection=detector != "none", labels=labels)
    split_name, indices = resolve_split(data, split)
    if len(indices) == 0:
        raise DataError(f"{data.source}: split {split_name!r} is empty")
    true_labels = _labels_in_model_order(data, class_names)[indices]

    if detector == "none":
        inputs = list(data.images[indices])
        face_found = np.ones(len(indices), dtype=bool)
    else:
        crops = _detected_faces(data, indices, detector, metadata)
        face_found = np.array([crop is not None for crop in crops], dtype=bool)
        blank = np.zeros((*metadata.image_size, metadata.channels), dtype=np.uint8)
        inputs = [blank if crop is None else crop for crop in crops]
    probabilities = np.full((len(indices), len(class_names)), np.nan)
    if face_found.any():
        found_images = np.stack([inputs[i] for i in np.flatnonzero(face_found)])
        raw = predict_in_batches(classifier.raw_proba, found_images, batch_size, tta)
        probabilities[face_found] = apply_temperature(raw, metadata.temperature)

    safe = np.where(face_found[:, None], probabilities, 1.0 / len(class_names))
    metrics = classification_metrics(safe, true_labels, class_names, valid=face_found)
    predicted = np.where(face_found, safe.argmax(axis=1), -1)
    metrics["ferplus_majority"] = (_ferplus_report(data, indices, predicted, class_names)
                                   if labels == "dataset" else None)
    metrics["non_duplicate"] = _non_duplicate_report(data, split_name, indices, predicted, true_labels)
    metrics["protocol"] = {
        "data": str(data.source),
        "data_sha256": content_sha256(data.source),
        "split": split_name,
        "labels": ("the data's own labels" if labels == "dataset" else
                   "FER+ majority: the class with strictly the most of the 10 FER+ votes; rows with a tie, "
                   "an unknown or NF (not a face) majority, or no votes left out"),
        "views": tta_protocol((1, *np.shape(inputs[0]))) if tta else SINGLE_CROP_PROTOCOL,
        "detector": detector,
        "no_face_rows": "counted as wrong (accuracy, top-3, recall, F1); left out of ECE and NLL",
        "model_file": str(Path(model_path).resolve()),
        "model_sha256": content_sha256(model_path),
        "temperature": float(metadata.temperature),
        "ece_bins": ECE_BINS,
        "confusion_matrix": "rows = true class, columns = predicted class, in class_names order",
    }
    return EvaluationResult(metrics, probabilities, true_labels, indices, face_found, inputs)


@dataclass
class CalibrationOutcome:
    """What `calibrate_model_file` did: the fit, the split it used and the temperature it replaced.

    `fitted_on_test` is True when that split is the data's test split, whose ECE is then optimistic.
    """

    fit: TemperatureFit
    split: str
    previous_temperature: float
    path: Path
    fitted_on_test: bool


def calibrate_model_file(model_path: str | Path, data_path: str | Path, destination: str | Path,
                         split: str = "validation", batch_size: int = 256,
                         objective: str = "nll", labels: str = "dataset") -> CalibrationOutcome:
    """Fit a temperature on a split (by `objective`, see `fit_temperature`) and write the model for inference
    with it stored in the metadata.

    The written file holds the weights without the optimizer's state (a third of the size for Adam), since a
    calibrated model is a finished one; a run can still start from it through `InitialWeights`.

    The fit starts from the raw probabilities (T = 1), so calibrating an already calibrated model refits T
    rather than compounding it. `destination` may equal `model_path`; it is replaced atomically.
    """
    from ferkit.models.saving import save_model  # imports Keras, so only when a file is written

    model_path, destination = Path(model_path), Path(destination)
    if model_path.suffix not in (".keras", ".h5"):
        raise ModelFileError(f"{model_path}: calibrate needs a .keras or .h5 model file (calibrate before "
                             "exporting; exported files keep the temperature of the model they came from)")
    if destination.suffix != model_path.suffix:
        raise ModelFileError(f"destination {destination} must have the model's suffix {model_path.suffix!r}")
    classifier = load_evaluation_classifier(model_path)
    metadata = classifier.metadata
    data = load_data_for(data_path, metadata, labels=labels)
    split_name, indices = resolve_split(data, split)
    if len(indices) == 0:
        raise DataError(f"{data.source}: split {split_name!r} is empty")
    labels = _labels_in_model_order(data, list(metadata.class_names))[indices]
    raw = predict_in_batches(classifier.raw_proba, data.images[indices], batch_size, tta=False)
    fit = fit_temperature(raw, labels, objective)
    calibrated = replace(metadata, temperature=fit.temperature, extra={**metadata.extra, "calibration": {
        "method": f"temperature scaling ({fit.objective.upper()} minimised)", "objective": objective,
        "held_out_ece": fit.held_out_ece, "data": str(data.source), "split": split_name, "n": fit.n,
        "ece_before": fit.ece_before, "ece_after": fit.ece_after, "nll_before": fit.nll_before,
        "nll_after": fit.nll_after}})
    save_model(classifier.model, destination, calibrated)  # loaded uncompiled: no optimizer state is written
    return CalibrationOutcome(fit, split_name, float(metadata.temperature), destination,
                              fitted_on_test=split_name == data.roles.get("test"))
