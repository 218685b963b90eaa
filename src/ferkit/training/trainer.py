"""Train or load a model as the specification describes, and leave a complete run folder behind.

Run folder: config.yaml (resolved), checkpoint.keras (best by val_loss), model.keras (final, or ModelPath),
history.csv, history.png, summary.json, train.log, and backup/ while a run is unfinished (resume state).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from ferkit.config import Configuration, save_config
from ferkit.data.pipeline import make_dataset, targets_for
from ferkit.data.sources import LabeledData
from ferkit.distributed.strategies import SingleProcess
from ferkit.errors import ConfigError
from ferkit.models import build_model
from ferkit.models.saving import ModelMetadata, load_model, save_model
from ferkit.training.callbacks import (
    AtomicModelCheckpoint,
    EpochSummary,
    ResumableEarlyStopping,
    epoch_learning_rate,
    previous_epochs,
    trim_history,
)
from ferkit.training.distillation import (
    distilled_targets,
    load_initial_weights,
    teacher_ensemble,
    teacher_probabilities,
)
from ferkit.training.plots import plot_history

log = logging.getLogger("ferkit.train")


@dataclass
class TrainResult:
    """What `train_or_load` produced. `trained` is False when an existing model was loaded."""

    model: keras.Model
    metadata: ModelMetadata
    model_path: Path
    trained: bool
    summary: dict | None = None


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
    for name in ("ferkit",):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)
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
        strategy: how to spread the run over processes or devices (`ferkit.distributed`); only its chief
            (rank 0) writes the run folder. Default: this process alone.
        extra_callbacks: appended to the run's callbacks (e.g. a hyper-parameter search's pruning callback).
    """
    out_dir = Path(out_dir)
    config = resolve_classes(config, data)
    model_path = model_path_for(config, out_dir)
    if model_path.is_file() and not train_again:
        model, metadata = load_model(model_path)
        print_fn(f"Model loaded from {model_path}.")
        return TrainResult(model, metadata, model_path, trained=False)

    strategy = strategy or SingleProcess()
    if not strategy.is_chief:
        return _train_as_follower(config, data, out_dir, print_fn, strategy, extra_callbacks)
    strategy.barrier("ferkit: run folder read")
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = _file_logger(out_dir)
    try:
        with strategy.scope():
            return _train(config, data, out_dir, model_path, print_fn, verbose, strategy, extra_callbacks)
    finally:
        logging.getLogger("ferkit").removeHandler(handler)
        handler.close()


RESUME_STATE = ("backup", "history.csv", "checkpoint.keras")


def _train_as_follower(config, data, out_dir, print_fn, strategy, extra_callbacks) -> TrainResult:
    """Rank > 0 of a distributed run: the same steps as rank 0, but writing to a private scratch folder.

    Doing exactly what rank 0 does (saves included) keeps the processes' collective operations in step; the
    scratch folder starts as a copy of the run folder's resume state so every rank resumes identically.
    """
    run_id = hashlib.sha1(str(out_dir.resolve()).encode()).hexdigest()[:12]
    scratch = Path(tempfile.gettempdir()) / f"ferkit-rank{strategy.process_id}-mirror-{run_id}"
    shutil.rmtree(scratch, ignore_errors=True)  # left behind if an earlier attempt of this run was killed
    scratch.mkdir(parents=True)
    try:
        for name in RESUME_STATE:
            source = out_dir / name
            if source.is_dir():
                shutil.copytree(source, scratch / name)
            elif source.is_file():
                shutil.copy2(source, scratch / name)
        strategy.barrier("ferkit: run folder read")
        model_path = model_path_for(config, out_dir)

        def echo(message: str) -> None:
            print_fn(message.replace(str(scratch / "model.keras"), str(model_path)).replace(str(scratch),
                                                                                             str(out_dir)))

        with strategy.scope():
            result = _train(config, data, scratch, scratch / "model.keras", echo, 0, strategy,
                            extra_callbacks)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.model_path = model_path
    return result


def _train(config, data, out_dir, model_path, print_fn, verbose, strategy, extra_callbacks) -> TrainResult:
    save_config(config, out_dir / "config.yaml")
    backup_dir = out_dir / "backup"
    history_csv = out_dir / "history.csv"
    checkpoint_path = out_dir / "checkpoint.keras"
    resuming = backup_dir.is_dir()
    if resuming:
        state = backup_dir / "training_metadata.json"
        trim_history(history_csv, json.loads(state.read_text())["epoch"] if state.is_file() else 0)
    else:
        history_csv.unlink(missing_ok=True)
        checkpoint_path.unlink(missing_ok=True)
    history = previous_epochs(history_csv)
    for path, reason in data.skipped:
        log.warning("skipped unreadable image %s: %s", path, reason)
    if data.skipped:
        print_fn(f"Skipped {len(data.skipped)} unreadable images (listed in {out_dir / 'train.log'}).")

    train_idx = data.split_indices("train")
    val_idx = data.split_indices("validation")
    keras.utils.set_random_seed(config.Seed)
    train_targets = targets_for(data, train_idx, config.SoftLabelWeight)
    retarget = None
    if config.teacher_paths:
        print_fn(f"Distilling from {', '.join(config.teacher_paths)} (TeacherWeight {config.TeacherWeight}"
                 f"{', on the augmented faces' if config.TeacherSeesAugmented else ''}).")
        if config.TeacherSeesAugmented:
            if keras.backend.backend() != "tensorflow":
                raise ConfigError(f"TeacherSeesAugmented=true runs the teachers inside tf.data, which needs the "
                                  f"TensorFlow backend (this is {keras.backend.backend()})")
            ensemble = teacher_ensemble(config.teacher_paths, data)

            def retarget(images, targets):
                return distilled_targets(targets, ensemble(images), config.TeacherWeight)
        else:
            train_targets = distilled_targets(
                train_targets, teacher_probabilities(config.teacher_paths, data, train_idx), config.TeacherWeight)
    training_ds = strategy.shard_training(
        make_dataset(data.images[train_idx], train_targets,
                     config.BatchSize, training=True, augment=config.Augment, seed=config.Seed,
                     degrade=config.DegradeQuality, domain_gap=config.DomainGap, retarget=retarget),
        config.BatchSize)
    validation_ds = strategy.shard_validation(
        make_dataset(data.images[val_idx], targets_for(data, val_idx), config.BatchSize, training=False),
        config.BatchSize, len(val_idx))
    steps_per_epoch = max(len(train_idx) // config.BatchSize, 1)

    metadata = ModelMetadata(
        class_names=list(data.class_names), image_size=tuple(config.ImageSize), color_mode=config.ColorMode,
        architecture=config.Architecture, config=config.to_dict(),
        extra={"data": data.source, "train_split": data.roles.get("train"),
               "validation_split": data.roles.get("validation")},
    )
    model = build_model(config, data.num_classes)
    if config.InitialWeights:
        new_classes = load_initial_weights(model, config.InitialWeights, data)
        print_fn(f"Starting from the weights of {config.InitialWeights}" + (
            f" (new classes, freshly initialised: {', '.join(new_classes)})." if new_classes else "."))
    model = compile_model(model, config)
    log.info("training %s (%d parameters) on %d images, validating on %d; resuming=%s",
             config.Architecture, model.count_params(), len(train_idx), len(val_idx), resuming)

    early_stopping = ResumableEarlyStopping(history, checkpoint_path, monitor="val_loss",
                                            patience=config.Patience, restore_best_weights=True)
    checkpoint = AtomicModelCheckpoint(
        checkpoint_path, metadata, best=min((r["val_loss"] for r in history if "val_loss" in r), default=None),
        monitor="val_loss", save_best_only=True, save_weights_only=False, verbose=min(verbose, 1),
    )
    summary_line = EpochSummary(steps_per_epoch * config.BatchSize, config.NoOfEpochs, print_fn)
    callbacks = [
        early_stopping,
        checkpoint,
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        keras.callbacks.LearningRateScheduler(
            epoch_learning_rate(config.LearningRate, config.NoOfEpochs, config.LRSchedule, config.WarmupEpochs)),
        summary_line,
        keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True),
        *extra_callbacks,
    ]
    class_weight = None
    if config.ClassWeights:
        labels = data.labels[train_idx]
        weights = compute_class_weight("balanced", classes=np.arange(data.num_classes), y=labels)
        class_weight = dict(enumerate(weights.tolist()))

    start = time.perf_counter()
    fit = model.fit(
        training_ds,
        epochs=config.NoOfEpochs,
        validation_data=validation_ds,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the tf.data pipeline shuffles; Keras cannot shuffle a Dataset itself
        callbacks=callbacks,
        class_weight=class_weight,
        verbose=verbose,
    )
    wall = time.perf_counter() - start
    save_model(model, model_path, metadata)
    rows = previous_epochs(history_csv)
    if rows:
        plot_history(rows, out_dir / "history.png")
    best = min(rows, key=lambda row: row.get("val_loss", np.inf)) if rows else {}
    summary = {
        "architecture": config.Architecture,
        "parameters": int(model.count_params()),
        "epochs_run": len(rows),
        "stopped_early": bool(early_stopping.stopped_epoch),
        "best_epoch": int(best.get("epoch", -1)) + 1,
        "best_val_loss": best.get("val_loss"),
        "best_val_accuracy": best.get("val_categorical_accuracy"),
        "best_val_top3_accuracy": best.get("val_top_k_categorical_accuracy"),
        "train_images_per_second": round(summary_line.images_per_second, 1) if summary_line.epoch_seconds else None,
        "wall_seconds_this_attempt": round(wall, 1),
        "epochs_this_attempt": len(fit.history.get("loss", [])),
        "train_images": int(len(train_idx)),
        "validation_images": int(len(val_idx)),
        "model_path": str(model_path),
        "skipped_images": len(data.skipped),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(backup_dir, ignore_errors=True)
    print_fn(
        f"Trained {config.Architecture} ({summary['parameters']:,} parameters): best epoch {summary['best_epoch']}, "
        f"val_loss {summary['best_val_loss']:.4f}, val_accuracy {summary['best_val_accuracy']:.4f}, "
        f"{summary['train_images_per_second']} img/s, {wall:.0f} s. Model saved to {model_path}."
    )
    return TrainResult(model, metadata, model_path, trained=True, summary=summary)
