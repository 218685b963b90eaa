"""`ferkit evaluate`: metrics, figures and predictions of a model on a dataset split, with their protocol."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.options import TrustModelOption


class Detector(StrEnum):
    none = "none"
    yunet = "yunet"
    haar = "haar"
    mtcnn = "mtcnn"


DataOption = Annotated[str, typer.Option(help="Dataset in any format `ferkit train` reads (folder, FER-2013 "
                                              ".csv, .npz).")]
SplitOption = Annotated[str | None, typer.Option(
    help="Split name (PrivateTest, PublicTest, test, val, ...) or role; default: the test split, else validation.")]
class Labels(StrEnum):
    dataset = "dataset"
    ferplus = "ferplus"


LabelsOption = Annotated[Labels, typer.Option(
    help="Truth to score against: the data's own labels, or 'ferplus': the FER+ majority label over FER+'s "
         "eight classes (needs an .npz with ferplus_votes, like fer2013.npz, and a model with those classes).")]
DetectorOption = Annotated[Detector, typer.Option(
    help="'none' uses images as given (pre-cropped faces); yunet, haar or mtcnn detect the face first.")]


def evaluate(
    data: DataOption,
    model: Annotated[Path | None, typer.Option(
        help="Shipped model name (default) or model file (.onnx, .keras, .h5, .tflite); default: the shipped "
             "model.")
    ] = None,
    split: SplitOption = None,
    detector: DetectorOption = Detector.none,
    tta: Annotated[bool, typer.Option("--tta", help="Average flipped and shifted views of each face.")
                   ] = False,
    out: Annotated[Path, typer.Option(help="Folder for metrics.json, predictions.npz and figures.")] = Path(
        "runs/evaluate"),
    batch_size: Annotated[int, typer.Option(help="Images per classifier call.")] = 256,
    labels: LabelsOption = Labels.dataset,
    trust_model: TrustModelOption = False,
) -> None:
    """Evaluate a model: writes metrics.json, predictions.npz and (with ferkit[plots]) confusion_matrix.png,
    reliability.png and wrong_examples.png, and prints per-class and headline metrics."""
    from ferkit.evaluation import evaluate_model, format_table, write_report
    from ferkit.inference.shipped import resolve_model

    result = evaluate_model(resolve_model(model), data, split=split, detector=detector.value, tta=tta,
                            batch_size=batch_size, labels=labels.value, trust_model=trust_model)
    write_report(result, out)
    typer.echo(format_table(result.metrics))
    typer.echo(f"Reports written to {out.resolve()}")
