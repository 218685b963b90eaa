"""Keras 3's own exporters behind a fixed-size, inference-mode wrapper, and the metadata written into (and
beside) each exported file."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ferkit.inference.model_files import METADATA_KEY, SAVED_MODEL_METADATA, sidecar_path
from ferkit.models.saving import ModelMetadata
from ferkit.quiet import output_discarded


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


def _representative_dataset(images: np.ndarray) -> Callable:
    def generate():
        for image in images:
            yield [image[None].astype(np.float32)]

    return generate


@contextlib.contextmanager
def _quiet():
    """Silence the converters' chatter, Python's and their C++ libraries' own, on stdout and stderr (their
    errors still surface as exceptions); `ferkit --verbose` keeps it."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            output_discarded(1, 2):
        yield


def export_litert(wrapped, tmp: Path, quantize: str | None, calibration: np.ndarray) -> None:
    import tensorflow as tf

    options = {}
    if quantize == "int8":
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": _representative_dataset(calibration)}
    elif quantize == "float16":
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "target_spec": {"supported_types": [tf.float16]}}
    with _quiet():
        wrapped.export(str(tmp), format="litert", verbose=False, input_signature=_signature(wrapped),
                       **options)


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


def export_onnx(wrapped, tmp: Path, quantize: str | None, calibration: np.ndarray) -> None:
    float_path = tmp if quantize is None else tmp.with_name(tmp.stem + ".fp32.onnx")
    try:
        with _quiet():
            wrapped.export(str(float_path), format="onnx", verbose=False, input_signature=_signature(wrapped))
            if quantize is not None:
                _quantize_onnx(float_path, tmp, calibration)
    finally:
        if float_path != tmp:
            float_path.unlink(missing_ok=True)


def export_saved_model(wrapped, tmp: Path, quantize: str | None, calibration: np.ndarray) -> None:
    with _quiet():
        wrapped.export(str(tmp), format="tf_saved_model", verbose=False, input_signature=_signature(wrapped))


def _readable_props(metadata: ModelMetadata) -> dict[str, str]:
    """The metadata fields other ONNX tools (Netron, onnxruntime's model metadata) show as plain keys."""
    return {"class_names": json.dumps(list(metadata.class_names)),
            "image_size": json.dumps(list(metadata.image_size)),
            "color_mode": metadata.color_mode,
            "temperature": repr(float(metadata.temperature)),
            "face_margin": json.dumps(metadata.face_margin),
            "version": str(metadata.extra.get("version", ""))}


def attach_metadata(path: Path, fmt: str, metadata: ModelMetadata) -> None:
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
