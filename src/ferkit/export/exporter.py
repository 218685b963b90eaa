"""Export a ferkit model to ONNX, LiteRT or a TF SavedModel, and prove the export computes the same thing.

The export goes through Keras 3's own `Model.export` (ONNX via tf2onnx, LiteRT via the TFLite converter,
SavedModel via `ExportArchive`). Two things are done around it:

- The model is wrapped in a Functional model with a fixed `(None, H, W, C)` input taken from the metadata,
  whose call passes `training=False`. Keras' ONNX and SavedModel exports trace `model.__call__` without a
  `training` argument, and in Keras 3.15 a BatchNormalization placed after a preprocessing layer
  (`Resizing`, `CenterCrop`) then runs in training mode, so the unwrapped export disagrees with the model.
- Every export is written to a temporary name, loaded back with its runtime and compared with the Keras
  model on real faces before it is moved into place; a mismatch fails the export with the measured number.

Quantisation: LiteRT int8 (weights and activations, calibrated on training images, float fallback for
any op without an int8 kernel; float32 input and output) and float16 (weights); ONNX int8 (static QDQ,
per-channel weights, calibrated on the same images, by onnxruntime's quantiser).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ferkit.errors import FerkitError, ModelFileError
from ferkit.export.check_faces import CheckImages, check_images
from ferkit.export.converters import (
    attach_metadata,
    export_litert,
    export_onnx,
    export_saved_model,
    fixed_input_model,
)
from ferkit.inference.classifier import load_classifier
from ferkit.inference.model_files import sidecar_path
from ferkit.models.saving import ModelMetadata, load_model

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "litert": ".tflite", "saved_model": ""}
QUANTIZATIONS = {"onnx": ("int8",), "litert": ("int8", "float16"), "saved_model": ()}
TOLERANCES = {None: 1e-4, "float16": 1e-2}
DEFAULT_MAX_ACCURACY_DROP = 0.02
EXPORTERS = {"onnx": export_onnx, "litert": export_litert, "saved_model": export_saved_model}
CHECK_BATCH = 256


class ExportError(FerkitError):
    """An export that cannot be made or that does not reproduce the Keras model."""


@dataclass
class ExportReport:
    """What an export produced and how well it reproduces the Keras model."""

    path: Path
    format: str
    quantize: str | None
    size_bytes: int
    parity_images: int
    max_abs_diff: float
    tolerance: float | None
    label_agreement: float
    check_data: str
    keras_accuracy: float | None = None
    export_accuracy: float | None = None
    evaluation_images: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def accuracy_change(self) -> float | None:
        if self.keras_accuracy is None or self.export_accuracy is None:
            return None
        return self.export_accuracy - self.keras_accuracy

    def as_dict(self) -> dict:
        values = asdict(self)
        values["path"] = str(self.path)
        values["accuracy_change"] = self.accuracy_change
        return values


def default_out_path(model_path: str | Path, fmt: str, quantize: str | None) -> Path:
    """`runs/x/model.keras` → `runs/x/model.onnx`, `model.int8.tflite`, `model_saved_model/`."""
    model_path = Path(model_path)
    stem = model_path.stem + (f".{quantize}" if quantize else "")
    if fmt == "saved_model":
        return model_path.with_name(f"{stem.replace('.', '_')}_saved_model")
    return model_path.with_name(stem + FORMATS[fmt])


def _check_request(fmt: str, quantize: str | None, out: Path) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS[fmt]:
        allowed = ", ".join(QUANTIZATIONS[fmt]) or "none"
        raise ExportError(f"quantize={quantize!r} is not available for format {fmt!r} (available: {allowed})")
    if FORMATS[fmt] and out.suffix.lower() != FORMATS[fmt]:
        raise ExportError(f"output path {out} must end in {FORMATS[fmt]} for format {fmt!r}")
    if not FORMATS[fmt] and out.exists() and not out.is_dir():
        raise ExportError(f"output path {out} is a file; a SavedModel is written as a folder")
    if FORMATS[fmt] and out.is_dir():
        raise ExportError(f"output path {out} is a folder; format {fmt!r} writes one file")


def keras_forward(model, metadata: ModelMetadata) -> Callable[[np.ndarray], np.ndarray]:
    """The Keras model's probabilities through one compiled forward pass (no `model.predict` overhead)."""
    import tensorflow as tf

    height, width = metadata.image_size
    channels = metadata.channels
    forward = tf.function(lambda batch: model(batch, training=False),
                          input_signature=[tf.TensorSpec((None, height, width, channels), tf.float32)])

    def probabilities(images: np.ndarray) -> np.ndarray:
        return np.concatenate([forward(images[start:start + CHECK_BATCH].astype(np.float32)).numpy()
                               for start in range(0, len(images), CHECK_BATCH)])

    return probabilities


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the checked export (and its sidecar) to `out`; a SavedModel folder replaces the old one."""
    if tmp.is_dir():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.replace(out)
    sidecar_path(tmp).replace(sidecar_path(out))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)


def _accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def export_model(model_path: str | Path, fmt: str, out: str | Path | None = None, quantize: str | None = None,
                 data: str | Path | None = None, max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
                 print_fn: Callable[[str], None] = log.info, version: str | None = None) -> ExportReport:
    """Export a ferkit model file and check the export against it before putting it at `out`.

    Args:
        model_path: a `.keras`/`.h5` file written by ferkit.
        fmt: "onnx", "litert" or "saved_model".
        out: where to write (default: next to the model, see `default_out_path`).
        quantize: None, "int8" or "float16" (see QUANTIZATIONS for what each format offers).
        data: dataset for the checks and the int8 calibration (any `load_data` format); default: the data
            the model was trained on, if present, else generated faces.
        max_accuracy_drop: a quantised export losing more held-out accuracy than this fails.
        print_fn: receives one line per step.
        version: a release name stored in the export's metadata (`extra["version"]`).

    Raises:
        ExportError: the request is invalid, the converter failed, or the export does not match the model.
    """
    out = Path(out) if out is not None else default_out_path(model_path, fmt, quantize)
    _check_request(fmt, quantize, out)
    if not Path(model_path).is_file():  # before load_model, which imports TensorFlow first
        raise ModelFileError(f"model file not found: {model_path}")
    model, metadata = load_model(model_path)
    images = check_images(metadata, data)
    print_fn(f"Check faces: {images.description}")
    wrapped = fixed_input_model(model, metadata)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    _remove(tmp)
    try:
        try:
            EXPORTERS[fmt](wrapped, tmp, quantize, images.calibration)
        except Exception as exc:  # converters raise anything from ValueError to ConverterError
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"{fmt} export of {model_path} failed: {reason}") from None

        report = _check(model, metadata, tmp, fmt, quantize, images, print_fn)
        report.path = out
        if report.accuracy_change is not None and -report.accuracy_change > max_accuracy_drop:
            raise ExportError(f"{fmt} {quantize} export loses {-report.accuracy_change:.2%} accuracy on "
                              f"{images.description} (allowed {max_accuracy_drop:.2%})")
        export_info = {key: value for key, value in report.as_dict().items()
                       if key not in ("path", "warnings")}
        export_info["source_model"] = str(Path(model_path).resolve())
        extra = {**metadata.extra, "export": export_info, **({"version": version} if version else {})}
        final_metadata = replace(metadata, extra=extra)
        attach_metadata(tmp, fmt, final_metadata)
        report.size_bytes = _size(tmp)
        _move_into_place(tmp, out)
    finally:
        _remove(tmp)
    print_fn(f"Exported {out} ({report.size_bytes / 1e6:.2f} MB)")
    return report


def _check(model, metadata: ModelMetadata, path: Path, fmt: str, quantize: str | None, images: CheckImages,
           print_fn: Callable[[str], None]) -> ExportReport:
    """Compare the export at `path` with the Keras model; raise ExportError when fp32/float16 disagree."""
    runtime = load_classifier(path, metadata=metadata, trust_model=True)  # the export ferkit just wrote
    keras_probabilities = keras_forward(model, metadata)
    expected = keras_probabilities(images.parity)
    got = runtime.raw_proba(images.parity)
    max_diff = float(np.max(np.abs(got - expected)))
    agreement = float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
    tolerance = TOLERANCES.get(quantize)
    print_fn(f"Parity on {len(images.parity)} faces: max |p_export - p_keras| = {max_diff:.3g}"
             + (f" (tolerance {tolerance:g})" if tolerance is not None else "")
             + f", same label for {agreement:.1%}")
    if tolerance is not None and not max_diff <= tolerance:
        raise ExportError(f"{fmt} export does not match the Keras model: max abs probability difference "
                          f"{max_diff:.3g} > {tolerance:g} on {len(images.parity)} faces")
    report = ExportReport(path=path, format=fmt, quantize=quantize, size_bytes=0,
                          parity_images=len(images.parity), max_abs_diff=max_diff, tolerance=tolerance,
                          label_agreement=agreement, check_data=images.description)
    if quantize is not None:
        if images.evaluation_labels is None:
            report.warnings.append("accuracy change not measured: no labelled data (give `data`)")
            print_fn(f"Warning: {report.warnings[-1]}")
        else:
            report.keras_accuracy = _accuracy(keras_probabilities(images.evaluation),
                                              images.evaluation_labels)
            report.export_accuracy = _accuracy(runtime.raw_proba(images.evaluation),
                                               images.evaluation_labels)
            report.evaluation_images = len(images.evaluation)
            print_fn(f"Accuracy on {len(images.evaluation)} held-out faces: "
                     f"keras {report.keras_accuracy:.2%}, {fmt} {quantize} {report.export_accuracy:.2%} "
                     f"(change {report.accuracy_change * 100:+.2f} points)")
    return report

