"""`ferkit export`: write a model as ONNX, LiteRT or a TF SavedModel, checked against the Keras model."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ferkit.errors import FerkitError


class ExportFormat(StrEnum):
    onnx = "onnx"
    litert = "litert"
    saved_model = "saved_model"


class Quantization(StrEnum):
    int8 = "int8"
    float16 = "float16"


def export(
    model: Annotated[Path | None, typer.Option(
        help="Model file (.keras or .h5) written by ferkit, or a shipped model's name; default: the shipped "
             "model (its Keras source, in a checkout).")] = None,
    format: Annotated[ExportFormat, typer.Option("--format", help="onnx (onnxruntime), litert (.tflite) or "
                                                                  "saved_model (TF Serving folder).")
                      ] = ExportFormat.onnx,
    out: Annotated[Path | None, typer.Option(help="Output file (.onnx / .tflite) or SavedModel folder "
                                                  "(default: beside the model; for a shipped model, in the "
                                                  "current folder).")] = None,
    quantize: Annotated[Quantization | None, typer.Option(help="int8 (litert, onnx; calibrated on training "
                                                               "faces) or float16 (litert).")] = None,
    calibration_data: Annotated[str | None, typer.Option(
        help="Dataset (folder, FER-2013 .csv or .npz) whose training split calibrates int8 and whose "
             "validation split checks the export (default: the model's training data if present, else "
             "generated faces).")] = None,
    max_accuracy_drop: Annotated[float, typer.Option(
        help="Fail a quantised export losing more validation accuracy than this (0.02 = 2 points).")] = 0.02,
) -> None:
    """Export a model with a fixed input size and its metadata, after checking it reproduces the Keras
    model's probabilities (fp32: max abs difference <= 1e-4) and, when quantised, measuring the accuracy
    change."""
    from ferkit.export import export_model
    from ferkit.export.exporter import QUANTIZATIONS, default_out_path
    from ferkit.inference.shipped import DEFAULT_MODEL, is_shipped_name, resolve_model, shipped_model

    if quantize is not None and quantize.value not in QUANTIZATIONS[format.value]:
        allowed = ", ".join(QUANTIZATIONS[format.value]) or "none"
        raise FerkitError(f"--quantize {quantize.value} is not available for --format {format.value} "
                          f"(available: {allowed})")
    version = None
    if is_shipped_name(model):
        version = shipped_model(str(model or DEFAULT_MODEL)).version
        model = resolve_model(model, runtime="keras")
        out = out or default_out_path(Path.cwd() / model.name, format.value, quantize and quantize.value)
    export_model(model, format.value, out=out, quantize=quantize.value if quantize else None,
                 data=calibration_data, max_accuracy_drop=max_accuracy_drop, print_fn=typer.echo,
                 version=version)
