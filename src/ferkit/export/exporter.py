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

import contextlib
import io
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import FerkitError, ModelFileError
from ferkit.inference.classifier import load_classifier
from ferkit.inference.model_files import METADATA_KEY, SAVED_MODEL_METADATA, sidecar_path
from ferkit.models.saving import ModelMetadata, load_model

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "litert": ".tflite", "saved_model": ""}
QUANTIZATIONS = {"onnx": ("int8",), "litert": ("int8", "float16"), "saved_model": ()}
TOLERANCES = {None: 1e-4, "float16": 1e-2}
PARITY_IMAGES = 300
CALIBRATION_IMAGES = 300
DEFAULT_MAX_ACCURACY_DROP = 0.02
CHECK_BATCH = 256


class ExportError(FerkitError):
    """An export that cannot be made or that does not reproduce the Keras model."""


@dataclass
class CheckImages:
    """Faces at the model's input size used to check (and calibrate) an export.

    Args:
        parity: a few hundred faces whose probabilities must match the Keras model's.
        calibration: faces from the training split for int8 calibration.
        evaluation: the held-out split whose accuracy change is reported for quantised exports.
        evaluation_labels: its labels in the model's class order, or None when the data has none.
        description: where the faces came from, for the report.
    """

    parity: np.ndarray
    calibration: np.ndarray
    evaluation: np.ndarray
    evaluation_labels: np.ndarray | None
    description: str


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


def _fit_size(images: np.ndarray, metadata: ModelMetadata) -> np.ndarray:
    """Faces resized to exactly the model's `image_size` (the exported input shape)."""
    height, width = metadata.image_size
    channels = images.shape[-1]
    if images.shape[1:3] != (height, width):
        images = np.stack([cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                           .reshape(height, width, channels) for image in images])
    return np.ascontiguousarray(images, dtype=np.uint8)


def _spread(indices: np.ndarray, count: int, seed: int | None = None) -> np.ndarray:
    """`count` rows of `indices`: evenly spaced, or a seeded random sample."""
    if len(indices) <= count:
        return indices
    if seed is None:
        return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]
    return np.sort(np.random.default_rng(seed).choice(indices, count, replace=False))


def check_images(metadata: ModelMetadata, data_path: str | Path | None) -> CheckImages:
    """The faces that check an export: from `data_path`, else the model's training data if it is still
    there, else generated faces (which allow a parity check but no accuracy)."""
    from ferkit.data import load_data
    from ferkit.errors import DataError

    source = data_path or metadata.extra.get("data")
    if source is not None and (data_path is not None or Path(source).exists()):
        data = load_data(source, image_size=metadata.image_size, color_mode=metadata.color_mode)
        if sorted(data.class_names) != sorted(metadata.class_names):
            raise DataError(f"{source}: classes {', '.join(data.class_names)} do not match the model's "
                            f"classes {', '.join(metadata.class_names)}")
        order = np.array([metadata.class_names.index(name) for name in data.class_names])
        held_out_role = "validation" if "validation" in data.roles else "test"
        held_out = data.split_indices(held_out_role)
        train = data.split_indices("train")
        return CheckImages(
            parity=_fit_size(data.images[_spread(held_out, PARITY_IMAGES)], metadata),
            calibration=_fit_size(data.images[_spread(train, CALIBRATION_IMAGES, seed=0)], metadata),
            evaluation=_fit_size(data.images[held_out], metadata),
            evaluation_labels=order[data.labels[held_out]],
            description=f"{source} ({data.roles[held_out_role]}, {len(held_out)} faces; calibration from "
                        f"{data.roles['train']})",
        )
    from ferkit.data.synthetic import make_faces

    per_class = PARITY_IMAGES // 4
    parity, _ = make_faces(per_class, size=max(metadata.image_size), seed=11, color_mode=metadata.color_mode)
    calibration, _ = make_faces(per_class, size=max(metadata.image_size), seed=12,
                                color_mode=metadata.color_mode)
    parity = _fit_size(parity, metadata)
    return CheckImages(parity=parity, calibration=_fit_size(calibration, metadata), evaluation=parity,
                       evaluation_labels=None, description="generated faces (no labelled data found)")


def fixed_input_model(model, metadata: ModelMetadata):
    """`model` behind a fixed `(None, H, W, C)` float32 input, always called in inference mode."""
    import keras

    height, width = metadata.image_size
    channels = 1 if metadata.color_mode == "grayscale" else 3
    inputs = keras.Input(shape=(height, width, channels), dtype="float32", name="image")
    return keras.Model(inputs, model(inputs, training=False), name=f"{model.name}_inference")


def _signature(wrapped) -> list:
    import keras

    return [keras.InputSpec(shape=wrapped.inputs[0].shape, dtype="float32", name="image")]


def keras_forward(model, metadata: ModelMetadata) -> Callable[[np.ndarray], np.ndarray]:
    """The Keras model's probabilities through one compiled forward pass (no `model.predict` overhead)."""
    import tensorflow as tf

    height, width = metadata.image_size
    channels = 1 if metadata.color_mode == "grayscale" else 3
    forward = tf.function(lambda batch: model(batch, training=False),
                          input_signature=[tf.TensorSpec((None, height, width, channels), tf.float32)])

    def probabilities(images: np.ndarray) -> np.ndarray:
        return np.concatenate([forward(images[start:start + CHECK_BATCH].astype(np.float32)).numpy()
                               for start in range(0, len(images), CHECK_BATCH)])

    return probabilities


def _representative_dataset(images: np.ndarray) -> Callable:
    def generate():
        for image in images:
            yield [image[None].astype(np.float32)]

    return generate


@contextlib.contextmanager
def _quiet():
    """Silence the converters' chatter on stdout/stderr (their errors still surface as exceptions)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _export_litert(wrapped, tmp: Path, quantize: str | None, calibration: np.ndarray) -> None:
    import tensorflow as tf

    options = {}
    if quantize == "int8":
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": _representative_dataset(calibration)}
    elif quantize == "float16":
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "target_spec": {"supported_types": [tf.float16]}}
    wrapped.export(str(tmp), format="litert", verbose=False, input_signature=_signature(wrapped), **options)


def _quantize_onnx(source: Path, target: Path, calibration: np.ndarray) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class CalibrationReader(CalibrationDataReader):
        """Feeds the calibration faces to the quantiser in batches of 32."""

        def __init__(self, input_name: str):
            self._batches = iter([{input_name: calibration[start:start + 32].astype(np.float32)}
                                  for start in range(0, len(calibration), 32)])

        def get_next(self):
            return next(self._batches, None)

    prepared = source.with_name(source.stem + ".prep.onnx")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
        quantize_static(str(prepared), str(target), CalibrationReader(input_name),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        prepared.unlink(missing_ok=True)


def _export_onnx(wrapped, tmp: Path, quantize: str | None, calibration: np.ndarray) -> None:
    if quantize is None:
        wrapped.export(str(tmp), format="onnx", verbose=False, input_signature=_signature(wrapped))
        return
    float_path = tmp.with_name(tmp.stem + ".fp32.onnx")
    try:
        wrapped.export(str(float_path), format="onnx", verbose=False, input_signature=_signature(wrapped))
        _quantize_onnx(float_path, tmp, calibration)
    finally:
        float_path.unlink(missing_ok=True)


def _readable_props(metadata: ModelMetadata) -> dict[str, str]:
    """The metadata fields other ONNX tools (Netron, onnxruntime's model metadata) show as plain keys."""
    return {"class_names": json.dumps(list(metadata.class_names)),
            "image_size": json.dumps(list(metadata.image_size)),
            "color_mode": metadata.color_mode,
            "temperature": repr(float(metadata.temperature)),
            "face_margin": json.dumps(metadata.face_margin),
            "version": str(metadata.extra.get("version", ""))}


def _attach_metadata(path: Path, fmt: str, metadata: ModelMetadata) -> None:
    """Store the metadata with the artifact (ONNX metadata_props, SavedModel assets.extra) and beside it.

    In ONNX, `metadata_props["ferkit"]` holds the whole `ModelMetadata` as JSON (what ferkit reads); the main
    fields are repeated as plain keys for other tools.
    """
    text = metadata.to_json()
    if fmt == "onnx":
        import onnx

        model = onnx.load(str(path))
        props = {METADATA_KEY: text, **_readable_props(metadata)}
        kept = [prop for prop in model.metadata_props if prop.key not in props]
        del model.metadata_props[:]
        model.metadata_props.extend(kept)
        for key, value in props.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(path))
    elif fmt == "saved_model":
        (path / SAVED_MODEL_METADATA).parent.mkdir(exist_ok=True)
        (path / SAVED_MODEL_METADATA).write_text(text)
    sidecar_path(path).write_text(text)


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
            with _quiet():
                if fmt == "litert":
                    _export_litert(wrapped, tmp, quantize, images.calibration)
                elif fmt == "onnx":
                    _export_onnx(wrapped, tmp, quantize, images.calibration)
                else:
                    wrapped.export(str(tmp), format="tf_saved_model", verbose=False,
                                   input_signature=_signature(wrapped))
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
        _attach_metadata(tmp, fmt, final_metadata)
        report.size_bytes = _size(tmp)
        _move_into_place(tmp, out)
    finally:
        _remove(tmp)
    print_fn(f"Exported {out} ({report.size_bytes / 1e6:.2f} MB)")
    return report


def _check(model, metadata: ModelMetadata, path: Path, fmt: str, quantize: str | None, images: CheckImages,
           print_fn: Callable[[str], None]) -> ExportReport:
    """Compare the export at `path` with the Keras model; raise ExportError when fp32/float16 disagree."""
    runtime = load_classifier(path, metadata=metadata)
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

