"""`ferkit train`: train the configured model on a dataset, or load it if it was already trained."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train(
    data: Annotated[str, typer.Option(help="Dataset: a folder of class (or split/class) folders, a FER-2013 "
                                           ".csv, or an .npz like fer2013.npz.")],
    config: Annotated[Path | None, typer.Option(help="YAML configuration (defaults: the spec model).")] = None,
    out: Annotated[Path, typer.Option(help="Run folder for config, checkpoints, history and model.")] = Path(
        "runs/train"),
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: --set LearningRate=1e-4")] = None,
    model: Annotated[str | None, typer.Option(help="Architecture name from the registry (e.g. lenet).")] = None,
    train_again: Annotated[bool, typer.Option("--train-again", help="Train even if the model file exists.")] = False,
) -> None:
    """Train (or load) a model, writing config.yaml, checkpoint.keras, model.keras, history.csv/png."""
    from ferkit.config import load_config
    from ferkit.data import load_data
    from ferkit.training import train_or_load

    overrides = list(set_ or [])
    if model:
        overrides.append(f"Architecture={model}")
    configuration = load_config(config, overrides)
    dataset = load_data(data, image_size=configuration.ImageSize, color_mode=configuration.ColorMode,
                        validation_split=configuration.ValidationSplit, seed=configuration.Seed)
    typer.echo(f"Data: {dataset.source}: {len(dataset.labels)} images, classes {', '.join(dataset.class_names)}; "
               f"train on {dataset.roles['train']!r}, validate on {dataset.roles['validation']!r}.")
    result = train_or_load(configuration, dataset, out, train_again=train_again, print_fn=typer.echo)
    typer.echo(f"Run folder: {out.resolve()}" if result.trained else f"Model: {result.model_path}")
