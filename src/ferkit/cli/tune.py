"""`ferkit tune`: search hyper-parameters of a configuration with Optuna, trials pruned on validation loss."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def tune(
    space: Annotated[Path, typer.Option(help="YAML search space over Configuration keys "
                                             "(e.g. configs/lenet_space.yaml).")],
    data: Annotated[str, typer.Option(help="Dataset; its validation split (PublicTest for FER-2013) scores "
                                           "the trials.")],
    config: Annotated[Path | None, typer.Option(help="Base YAML configuration of every trial.")] = None,
    trials: Annotated[int, typer.Option(min=0, help="Trials this process runs (each process joining the "
                                                    "study runs its own); 0 only writes the results.")] = 20,
    storage: Annotated[str | None, typer.Option(
        help="journal:PATH (processes on one host) or a database URL, sqlite:///tune.db or "
             "postgresql://user:pw@host/db (many hosts). Default: journal:<out>/study.journal.")] = None,
    study: Annotated[str, typer.Option(help="Study name; processes with the same storage and name "
                                            "share it.")] = "ferkit-tune",
    out: Annotated[Path, typer.Option(help="Folder for trials/, best_config.yaml, trials.csv, plots")] = Path(
        "runs/tune"),
    epochs_per_trial: Annotated[int | None, typer.Option(
        min=1, help="NoOfEpochs of each trial (default: the base configuration's).")] = None,
    timeout: Annotated[float | None, typer.Option(
        min=1, help="Stop starting new trials after this many seconds.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the sampler (reproducible single-process "
                                                  "searches).")] = None,
    baseline: Annotated[bool, typer.Option(help="Queue the base configuration's own values as a trial, to "
                                                "compare (under ferkit launch: rank 0 does).")] = True,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a base key: --set Seed=1")] = None,
) -> None:
    """Search the space, then write best_config.yaml (for `ferkit train --config`), trials.csv and plots."""
    from ferkit.config import load_config
    from ferkit.errors import FerkitError
    from ferkit.tuning import report
    from ferkit.tuning import search as tuning
    from ferkit.tuning.space import load_space

    base = load_config(config, list(set_ or []))
    search_space = load_space(space, base)
    try:
        study_storage = tuning.open_storage(storage or f"journal:{out / 'study.journal'}")
    except tuning.StorageError as exc:
        raise FerkitError(f"--storage {exc.url!r}: {exc.problem}") from None
    search = tuning.Search(base, search_space, data, out, epochs_per_trial, print_fn=typer.echo)
    dataset = search.load_data(base)
    typer.echo(f"Data: {dataset.source}: trials train on {dataset.roles['train']!r} and are scored by the "
               f"best val_loss on {dataset.roles['validation']!r}.")
    optuna_study = tuning.create_study(study_storage, study, trials, seed)
    first_worker = os.environ.get("FERKIT_PROCESS_ID", "0") == "0"
    if trials and baseline and first_worker and tuning.enqueue_baseline(optuna_study, search_space, base):
        typer.echo("Queued the base configuration's values as a baseline trial (marked * below).")
    finished = [t for t in optuna_study.trials if t.state.is_finished()]
    typer.echo(f"Study {study!r}: {len(finished)} finished trial(s) so far; running {trials} more here.")
    try:
        if trials:
            tuning.run_search(search, optuna_study, trials, timeout)
    except ValueError as exc:
        if "parameter name" in str(exc) or "dynamic value space" in str(exc):
            raise FerkitError(f"study {study!r} already searched a different space ({exc}); use another "
                              "--study or --storage") from None
        raise

    if not report.completed(optuna_study):
        raise FerkitError(f"study {study!r}: no trial has completed, so there is no best configuration")
    rows = report.trial_rows(optuna_study, search_space)
    report.write_trials_csv(rows, out / "trials.csv")
    best_path = report.write_best_config(optuna_study, search_space, base, out / "best_config.yaml")
    notes = report.save_plots(optuna_study, out)
    typer.echo(report.format_table(rows, search_space))
    for note in notes:
        typer.echo(note)
    best = optuna_study.best_trial
    typer.echo(f"Best: trial {best.number}, val_loss {best.value:.4f}. Wrote {best_path}, "
               f"{out / 'trials.csv'} and the plots.")
