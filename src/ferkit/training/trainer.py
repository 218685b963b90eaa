"""Train or load a model as the specification describes, and leave a complete run folder behind.

Run folder: config.yaml (resolved), checkpoint.keras (best by val_loss), model.keras (final, or ModelPath),
history.csv, history.png, summary.json, train.log, and backup/ while a run is unfinished (resume state, see
`ferkit.training.resume`: a rerun continues after the last finished epoch exactly as if never interrupted).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras

from ferkit.config import Configuration
from ferkit.data.pipeline import make_dataset, targets_for
from ferkit.data.sources import LabeledData
from ferkit.distributed.strategies import SingleProcess
from ferkit.errors import ConfigError
from ferkit.models import build_model
from ferkit.models.saving import ModelMetadata, load_model, save_model
from ferkit.training.callbacks import EpochSummary, ResumableEarlyStopping, previous_epochs, stopped_early
from ferkit.training.distillation import load_initial_weights
from ferkit.training.resume import restore
from ferkit.training.run import RunContext, class_weights, prepare_run_folder, run_callbacks, training_targets
from ferkit.training.summary import changed_keys, summary_line, write_summary

log = logging.getLogger("ferkit.train")


@dataclass
class TrainResult:
    """What `train_or_load` produced. `trained` is False when an existing model was loaded."""

    model: keras.Model
    metadata: ModelMetadata
    model_path: Path
    trained: bool
    summary: dict | None = None
    config_differences: str = ""


def make_optimizer(config: Configuration) -> keras.optimizers.Optimizer:
    if config.Optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=config.LearningRate, weight_decay=config.WeightDecay)
    if config.Optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=config.LearningRate, momentum=0.9, nesterov=True)
    return keras.optimizers.Adam(learning_rate=config.LearningRate)


def compile_model(model: keras.Model, config: Configuration) -> keras.Model:
    """Adam(LearningRate), CategoricalCrossentropy, CategoricalAccuracy and TopKCategoricalAccuracy(k=3)."""
    model.compile(
        optimizer=make_optimizer(config),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.LabelSmoothing),
        metrics=[keras.metrics.CategoricalAccuracy(), keras.metrics.TopKCategoricalAccuracy(k=3)],
    )
    return model


def resolve_classes(config: Configuration, data: LabeledData) -> Configuration:
    """Take NoOfClasses from the data, or check that the configured value matches it."""
    if config.NoOfClasses is None:
        return config.with_updates(NoOfClasses=data.num_classes)
    if config.NoOfClasses != data.num_classes:
        raise ConfigError(
            f"configuration key NoOfClasses={config.NoOfClasses} does not match the data "
            f"({data.num_classes} classes: {', '.join(data.class_names)})"
        )
    return config


def model_path_for(config: Configuration, out_dir: Path) -> Path:
    path = Path(config.ModelPath) if config.ModelPath else out_dir / "model.keras"
    if path.suffix not in (".keras", ".h5"):
        raise ConfigError(f"configuration key ModelPath={config.ModelPath!r}: must end in .keras or .h5")
    return path


def _file_logger(out_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(out_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("ferkit").addHandler(handler)
    logging.getLogger("ferkit").setLevel(logging.INFO)
    return handler


def train_or_load(config: Configuration, data: LabeledData, out_dir: str | Path, train_again: bool = False,
                  print_fn=print, verbose: int = 1, strategy: SingleProcess | None = None,
                  extra_callbacks: tuple[keras.callbacks.Callback, ...] = ()) -> TrainResult:
    """Load the model at ModelPath if it exists (unless `train_again`), else train it on the data.

    Args:
        config: the validated run configuration.
        data: labelled images with a train and a validation split.
        out_dir: the run folder; an unfinished run in it is resumed from its last finished epoch.
        train_again: train even when a model file already exists.
        verbose: 1 shows a progress bar during each epoch on a terminal; every level prints one line per epoch.
        strategy: how to spread the run over processes or devices (`ferkit.distributed`); only its chief
            (rank 0) writes the run folder. Default: this process alone.
        extra_callbacks: appended to the run's callbacks (e.g. a hyper-parameter search's pruning callback).
    """
    out_dir = Path(out_dir)
    config = resolve_classes(config, data)
    model_path = model_path_for(config, out_dir)
    if model_path.is_file() and not train_again:
        model, metadata = load_model(model_path)
        if (out_dir / "backup").is_dir() and (strategy is None or strategy.is_chief):
            # The model file is written last: this run finished and was stopped while tidying up.
            shutil.rmtree(out_dir / "backup", ignore_errors=True)
        print_fn(f"Model loaded from {model_path}.")
        differences = changed_keys(metadata.config, config.to_dict())
        if differences:
            print_fn(f"warning: {model_path} was trained with a different configuration ({differences}); "
                     f"it is loaded as it is, not retrained")
        return TrainResult(model, metadata, model_path, trained=False, config_differences=differences)

    run = RunContext(config, data, out_dir, model_path, print_fn, verbose, strategy or SingleProcess(),
                     tuple(extra_callbacks))
    if not run.strategy.is_chief:
        return _train_as_follower(run)
    run.strategy.barrier("ferkit: run folder read")
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = _file_logger(out_dir)
    try:
        with run.strategy.scope():
            return _train(run)
    finally:
        logging.getLogger("ferkit").removeHandler(handler)
        handler.close()


RESUME_STATE = ("backup", "history.csv", "checkpoint.keras")


def _train_as_follower(run: RunContext) -> TrainResult:
    """Rank > 0 of a distributed run: the same steps as rank 0, but writing to a private scratch folder.

    Doing exactly what rank 0 does (saves included) keeps the processes' collective operations in step; the
    scratch folder starts as a copy of the run folder's resume state so every rank resumes identically.
    """
    out_dir, model_path = run.out_dir, run.model_path
    run_id = hashlib.sha1(str(out_dir.resolve()).encode()).hexdigest()[:12]
    scratch = Path(tempfile.gettempdir()) / f"ferkit-rank{run.strategy.process_id}-mirror-{run_id}"
    shutil.rmtree(scratch, ignore_errors=True)  # left behind if an earlier attempt of this run was killed
    scratch.mkdir(parents=True)
    try:
        for name in RESUME_STATE:
            source = out_dir / name
            if source.is_dir():
                shutil.copytree(source, scratch / name)
            elif source.is_file():
                shutil.copy2(source, scratch / name)
        run.strategy.barrier("ferkit: run folder read")

        def echo(message: str) -> None:
            run.print_fn(message.replace(str(scratch / "model.keras"), str(model_path))
                         .replace(str(scratch), str(out_dir)))

        follower = RunContext(run.config, run.data, scratch, scratch / "model.keras", echo, 0, run.strategy,
                              run.extra_callbacks)
        with run.strategy.scope():
            result = _train(follower)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.model_path = model_path
    return result


def _train(run: RunContext) -> TrainResult:
    config, data, strategy = run.config, run.data, run.strategy
    point = prepare_run_folder(run)
    history = previous_epochs(run.history_csv)
    for path, reason in data.skipped:
        log.warning("skipped unreadable image %s: %s", path, reason)
    if data.skipped:
        run.print_fn(f"Skipped {len(data.skipped)} unreadable images (listed in {run.out_dir / 'train.log'}).")

    train_idx, val_idx = data.split_indices("train"), data.split_indices("validation")
    steps_per_epoch = max(len(train_idx) // config.BatchSize, 1)
    keras.utils.set_random_seed(config.Seed)
    train_targets, retarget = training_targets(run, train_idx)
    training_ds = strategy.shard_training(
        make_dataset(data.images[train_idx], train_targets, config.BatchSize, training=True,
                     augment=config.Augment, seed=config.Seed, degrade=config.DegradeQuality,
                     domain_gap=config.DomainGap, retarget=retarget, start_batch=point.epoch * steps_per_epoch),
        config.BatchSize)
    validation_ds = strategy.shard_validation(
        make_dataset(data.images[val_idx], targets_for(data, val_idx), config.BatchSize, training=False),
        config.BatchSize, len(val_idx))

    metadata = ModelMetadata(
        class_names=list(data.class_names), image_size=tuple(config.ImageSize), color_mode=config.ColorMode,
        architecture=config.Architecture, config=config.to_dict(),
        extra={"data": data.source, "train_split": data.roles.get("train"),
               "validation_split": data.roles.get("validation")},
    )
    model = build_model(config, data.num_classes)
    if config.InitialWeights:
        new_classes = load_initial_weights(model, config.InitialWeights, data)
        run.print_fn(f"Starting from the weights of {config.InitialWeights}" + (
            f" (new classes, freshly initialised: {', '.join(new_classes)})." if new_classes else "."))
    model = compile_model(model, config)
    restore(model, point)
    run.print_fn(f"Training {config.Architecture} ({model.count_params():,} parameters) on {len(train_idx)} "
                 f"images, validating on {len(val_idx)}, for up to {config.NoOfEpochs} epochs.")
    log.info("training %s (%d parameters) on %d images, validating on %d; resuming after epoch %d",
             config.Architecture, model.count_params(), len(train_idx), len(val_idx), point.epoch)

    callbacks = run_callbacks(run, metadata, history, steps_per_epoch * config.BatchSize)
    # A run killed after early stopping but before its model was saved has nothing left to train.
    last_epoch = point.epoch if stopped_early(history, "val_loss", config.Patience) else config.NoOfEpochs
    start = time.perf_counter()
    fit = model.fit(
        training_ds,
        epochs=last_epoch,
        initial_epoch=point.epoch,
        validation_data=validation_ds,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the tf.data pipeline shuffles; Keras cannot shuffle a Dataset itself
        callbacks=callbacks,
        class_weight=class_weights(run, train_idx),
        verbose=0,
    )
    wall = time.perf_counter() - start
    summary = write_summary(
        run.out_dir, model, fit, wall,
        early_stopping=next(c for c in callbacks if isinstance(c, ResumableEarlyStopping)),
        epoch_lines=next(c for c in callbacks if isinstance(c, EpochSummary)),
        facts={"architecture": config.Architecture, "train_images": int(len(train_idx)),
               "validation_images": int(len(val_idx)), "model_path": str(run.model_path),
               "skipped_images": len(data.skipped)})
    save_model(model, run.model_path, metadata)  # last: a model file means the run folder is complete
    shutil.rmtree(run.backup_dir, ignore_errors=True)
    run.print_fn(summary_line(summary))
    return TrainResult(model, metadata, run.model_path, trained=True, summary=summary)
