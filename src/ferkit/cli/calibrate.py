"""`ferkit calibrate`: fit a softmax temperature on the validation split and store it in a model copy."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ferkit.cli.evaluate import Labels, LabelsOption


class Objective(StrEnum):
    """`ferkit.evaluation.calibration.OBJECTIVES`, spelled out so `--help` need not import scikit-learn."""

    nll = "nll"
    ece = "ece"
    auto = "auto"


def calibrate(
    model: Annotated[Path, typer.Option(help="Model file (.keras or .h5) written by ferkit.")],
    data: Annotated[str, typer.Option(help="Dataset in any format `ferkit train` reads.")],
    split: Annotated[str, typer.Option(help="Split to fit on: the validation split (PublicTest for "
                                            "FER-2013), never the test split you report on.")] = "validation",
    out: Annotated[Path | None, typer.Option(help="Calibrated model file to write (default: "
                                                  "<model>.calibrated.keras beside the model).")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per classifier call.")] = 256,
    objective: Annotated[Objective, typer.Option(help="What the temperature minimises on the split: nll, ece, "
                                                      "or auto (the one with the lower ECE on held-out halves "
                                                      "of the split).")] = Objective.nll,
    labels: LabelsOption = Labels.dataset,
) -> None:
    """Fit temperature scaling on a split, write the calibrated copy and print ECE and NLL before/after."""
    from ferkit.evaluation.runner import calibrate_model_file

    destination = out or model.with_name(f"{model.stem}.calibrated{model.suffix}")
    outcome = calibrate_model_file(model, data, destination, split=split, batch_size=batch_size,
                                   objective=objective.value, labels=labels.value)
    fit = outcome.fit
    if fit.held_out_ece:
        typer.echo("Held-out ECE (2-fold, repeated) by objective: "
                   + ", ".join(f"{name} {value:.4f}" for name, value in fit.held_out_ece.items())
                   + f" -> {fit.objective}")
    typer.echo(f"Fitted on {outcome.split!r} of {data} ({fit.n} images): temperature {fit.temperature:.4f} "
               f"({fit.objective.upper()} minimised; was {outcome.previous_temperature:.4f}).")
    typer.echo(f"ECE (15 bins): {fit.ece_before:.4f} -> {fit.ece_after:.4f}   "
               f"NLL: {fit.nll_before:.4f} -> {fit.nll_after:.4f}")
    typer.echo(f"Calibrated model written to {destination}")
    if outcome.fitted_on_test:
        typer.echo(f"warning: {outcome.split!r} is the test split; its ECE is no longer an honest measure",
                   err=True)
