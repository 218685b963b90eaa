"""Run an Optuna study whose trials are ordinary ferkit training runs, pruned on validation loss.

Several processes (on one host, or many hosts sharing an RDB) can run `ferkit tune` with the same storage and
study name: each one draws its own trials from the shared study. The objective is the best validation loss
of the trial's run, the quantity the trainer's checkpoint and early stopping select on.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import optuna

from ferkit.config import Configuration
from ferkit.data import LabeledData, load_data
from ferkit.errors import ConfigError, FerkitError
from ferkit.tuning.space import SearchSpace

RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")


class StorageError(FerkitError):
    """A `storage` value that is not a usable Optuna storage; `url` and `problem` let the CLI name its flag."""

    def __init__(self, url: str, problem: str):
        self.url, self.problem = url, problem
        super().__init__(f"storage={url!r}: {problem}")


def open_storage(url: str) -> str | optuna.storages.BaseStorage:
    """`journal:PATH` → a journal file (one host, many processes); an RDB URL (sqlite:///…, postgresql://…)."""
    if url.startswith("journal:"):
        path_text = url.removeprefix("journal:").strip()
        if not path_text:
            raise StorageError(url, "give the journal file's path: journal:runs/tune.journal")
        path = Path(path_text)
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if "://" not in url or scheme not in RDB_SCHEMES:
        raise StorageError(url, "use journal:PATH or a database URL such as sqlite:///tune.db or "
                                "postgresql://user:password@host/db")
    if scheme == "sqlite":
        database = url.split(":///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # SQLAlchemy and drivers raise many types for a bad URL or an unreachable server
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(url, f"cannot open the database ({reason})") from None


class Search:
    """The objective of a study: train the base configuration with the trial's values.

    Args:
        base: the configuration every trial starts from.
        space: the searched keys.
        data_path: the dataset; its validation split scores the trials.
        out_dir: trials are trained in `out_dir/trials/trial-NNNN`.
        epochs_per_trial: NoOfEpochs of a trial (default: the base configuration's).
        print_fn: where progress lines go.
    """

    def __init__(self, base: Configuration, space: SearchSpace, data_path: str | Path, out_dir: Path,
                 epochs_per_trial: int | None = None, print_fn: Callable[[str], None] = print):
        self.base = base
        self.space = space
        self.data_path = data_path
        self.out_dir = Path(out_dir)
        self.epochs_per_trial = epochs_per_trial
        self.print_fn = print_fn
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._data_key: tuple | None = None
        self._data: LabeledData | None = None

    def load_data(self, config: Configuration) -> LabeledData:
        """The dataset as `config` reads it (cached: trials usually share it)."""
        key = (tuple(config.ImageSize), config.ColorMode, config.ValidationSplit, config.Seed, config.Labels)
        if key != self._data_key:
            self._data = load_data(self.data_path, image_size=config.ImageSize, color_mode=config.ColorMode,
                                   validation_split=config.ValidationSplit, seed=config.Seed,
                                   labels=config.Labels)
            self._data_key = key
        return self._data

    def trial_config(self, values: dict) -> Configuration:
        updates = dict(values, ModelPath=None)
        if self.epochs_per_trial:
            updates["NoOfEpochs"] = self.epochs_per_trial
        return self.base.with_updates(**updates)

    def __call__(self, trial: optuna.Trial) -> float:
        from ferkit.training import train_or_load
        from ferkit.tuning.pruning import PruneOnValidationLoss

        trial.set_user_attr("worker", self.worker)
        values = self.space.suggest(trial)
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        try:
            config = self.trial_config(values)
        except ConfigError as exc:
            self.print_fn(f"[trial {trial.number}] skipped, invalid combination: {exc}")
            trial.set_user_attr("error", str(exc))
            raise
        run_dir = self.out_dir / "trials" / f"trial-{trial.number:04d}"
        shutil.rmtree(run_dir, ignore_errors=True)
        trial.set_user_attr("run_dir", str(run_dir))
        self.print_fn(f"[trial {trial.number}] {shown}")
        start = time.perf_counter()
        try:
            result = train_or_load(config, self.load_data(config), run_dir, train_again=True, verbose=0,
                                   print_fn=lambda line: None,
                                   extra_callbacks=(PruneOnValidationLoss(trial, config.NoOfEpochs),))
        except optuna.TrialPruned as pruned:
            self.print_fn(f"[trial {trial.number}] {pruned} ({time.perf_counter() - start:.0f} s)")
            raise
        summary = result.summary
        trial.set_user_attr("val_accuracy", summary["best_val_accuracy"])
        trial.set_user_attr("epochs", summary["epochs_run"])
        self.print_fn(f"[trial {trial.number}] val_loss {summary['best_val_loss']:.4f}, val_accuracy "
                      f"{summary['best_val_accuracy']:.4f} ({summary['epochs_run']} epochs, "
                      f"{time.perf_counter() - start:.0f} s)")
        return float(summary["best_val_loss"])


def create_study(storage: str | optuna.storages.BaseStorage, name: str, trials: int,
                 seed: int | None = None) -> optuna.Study:
    """Create or join the study `name`: TPE sampling, median pruning after the first epoch."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, trials // 3)))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    return optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                               direction="minimize", load_if_exists=True)


def enqueue_baseline(study: optuna.Study, space: SearchSpace, base: Configuration) -> bool:
    """Queue the base configuration's own values as a trial, so the search reports its score beside the best.

    Returns False when a base value lies outside the space (then there is nothing to queue).
    """
    params = space.optuna_params_of(base)
    if params is None:
        return False
    study.enqueue_trial(params, user_attrs={"baseline": True}, skip_if_exists=True)
    return True


def run_search(search: Search, study: optuna.Study, trials: int, timeout: float | None = None) -> None:
    """Run `trials` trials in this process (fewer if `timeout` seconds pass first)."""
    study.optimize(search, n_trials=trials, timeout=timeout, catch=(ConfigError,), gc_after_trial=True)
