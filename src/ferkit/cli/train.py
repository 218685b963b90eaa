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
    distributed: Annotated[bool, typer.Option(
        "--distributed", envvar="FERKIT_DISTRIBUTED",
        help="Be one process of a multi-process data-parallel job (Keras DataParallel on JAX, gloo). "
             "See docs/distributed.md.")] = False,
    distribution: Annotated[str | None, typer.Option(
        help="data-parallel (= --distributed) or mirrored (TensorFlow MirroredStrategy over this host's "
             "GPUs).")] = None,
    coordinator: Annotated[str | None, typer.Option(
        help="HOST:PORT of process 0 (or env FERKIT_COORDINATOR, JAX_COORDINATOR_ADDRESS).")] = None,
    num_processes: Annotated[int | None, typer.Option(
        help="Processes in the job (or env FERKIT_NUM_PROCESSES).")] = None,
    process_id: Annotated[int | None, typer.Option(
        help="This process's rank, 0..N-1; rank 0 writes the run folder (or env FERKIT_PROCESS_ID).")] = None,
    heartbeat_timeout: Annotated[int, typer.Option(
        envvar="FERKIT_HEARTBEAT_TIMEOUT",
        help="Seconds after which a silent process counts as dead and the others stop.")] = 60,
) -> None:
    """Train (or load) a model, writing config.yaml, checkpoint.keras, model.keras, history.csv/png."""
    from ferkit.distributed import strategy_for

    strategy = strategy_for(distribution, distributed, coordinator, num_processes, process_id,
                            heartbeat_timeout)

    def echo(message: str) -> None:
        typer.echo(strategy.tag + message)

    from ferkit.config import check_model_files, load_config
    from ferkit.data import load_data

    overrides = list(set_ or [])
    if model:
        overrides.append(f"Architecture={model}")
    configuration = load_config(config, overrides)
    check_model_files(configuration)
    echo(describe_config(config, overrides, configuration))
    dataset = load_data(data, image_size=configuration.ImageSize, color_mode=configuration.ColorMode,
                        validation_split=configuration.ValidationSplit, seed=configuration.Seed,
                        labels=configuration.Labels)
    echo(f"Data: {dataset.source}: {len(dataset.labels)} images, classes {', '.join(dataset.class_names)}; "
         f"train on {dataset.roles['train']!r}, validate on {dataset.roles['validation']!r}.")
    strategy.check(configuration.BatchSize, len(dataset.split_indices("train")),
                   len(dataset.split_indices("validation")))
    from ferkit.training import train_or_load

    strategy.start()
    if strategy.num_processes > 1 or distribution:
        echo(f"Distribution: {strategy.describe()}.")
    with strategy.stop_on_peer_failure(lambda line: typer.echo(line, err=True)):
        result = train_or_load(configuration, dataset, out, train_again=train_again, print_fn=echo,
                               verbose=1 if strategy.num_processes == 1 else 0, strategy=strategy)
    if result.config_differences:
        echo("Run with --train-again to train it with the new values (or choose another --out).")
    echo(f"Run folder: {out.resolve()}" if result.trained else f"Model: {result.model_path}")


def describe_config(path: Path | None, overrides: list[str], configuration) -> str:
    """Which configuration the run uses, said before anything is read: the file or the spec's defaults."""
    source = f"configuration {path}" if path is not None else (
        "the specification's default configuration (--config configs/fervgg.yaml trains the stronger shipped "
        "architecture)")
    changes = f", with {' '.join(overrides)}" if overrides else ""
    return (f"Architecture {configuration.Architecture} from {source}{changes}: {configuration.NoOfEpochs} "
            f"epochs, batch {configuration.BatchSize}, learning rate {configuration.LearningRate:g}, images "
            f"{configuration.ImageSize[0]}x{configuration.ImageSize[1]} {configuration.ColorMode}.")
