"""What a search leaves behind: best_config.yaml, trials.csv, a printed table and two plots."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import optuna
import yaml

from ferkit.config import Configuration
from ferkit.evaluation.report import write_atomically
from ferkit.tuning.space import SearchSpace

STATES = {optuna.trial.TrialState.COMPLETE: "complete", optuna.trial.TrialState.PRUNED: "pruned",
          optuna.trial.TrialState.FAIL: "failed", optuna.trial.TrialState.RUNNING: "running",
          optuna.trial.TrialState.WAITING: "waiting"}


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]


def best_config(study: optuna.Study, space: SearchSpace, base: Configuration) -> Configuration:
    """The base configuration with the best trial's values (NoOfEpochs stays the base's, for a full run)."""
    return base.with_updates(**space.values_of(study.best_trial.params))


def write_best_config(study: optuna.Study, space: SearchSpace, base: Configuration, path: Path) -> Path:
    best = study.best_trial
    config = best_config(study, space, base)
    accuracy = best.user_attrs.get("val_accuracy")
    scores = f"validation loss {best.value:.4f}"
    if accuracy is not None:
        scores += f", validation accuracy {accuracy:.4f}"
    header = (f"# Best configuration of Optuna study {study.study_name!r}: trial {best.number}, {scores}.\n"
              f"# Searched keys: {', '.join(space.parameters)}.\n"
              f"# Train it with: ferkit train --config {path.name} --data ...\n")
    text = header + yaml.safe_dump(config.to_dict(), sort_keys=False)
    return write_atomically(path, lambda tmp: tmp.write_text(text))


def trial_rows(study: optuna.Study, space: SearchSpace) -> list[dict]:
    rows = []
    for trial in study.get_trials(deepcopy=False):
        duration = trial.duration.total_seconds() if trial.duration else None
        values = space.values_of(trial.params)
        rows.append({
            "number": trial.number,
            "state": STATES.get(trial.state, trial.state.name.lower()),
            "val_loss": trial.value,
            "val_accuracy": trial.user_attrs.get("val_accuracy"),
            "epochs": trial.user_attrs.get("epochs", len(trial.intermediate_values) or None),
            "seconds": round(duration, 1) if duration is not None else None,
            "baseline": bool(trial.user_attrs.get("baseline", False)),
            "worker": trial.user_attrs.get("worker"),
            **{key: values.get(key) for key in space.parameters},
        })
    return rows


def write_trials_csv(rows: list[dict], path: Path) -> Path:
    def write(tmp: Path) -> None:
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        tmp.write_text(buffer.getvalue())

    return write_atomically(path, write)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: list[dict], space: SearchSpace, limit: int = 20) -> str:
    """Finished trials, best first (then pruned and failed), as an aligned text table."""
    order = {"complete": 0, "pruned": 1, "failed": 2}
    ranked = sorted(rows, key=lambda r: (order.get(r["state"], 3), r["val_loss"] if r["val_loss"] is not None
                                         else float("inf"), r["number"]))[:limit]
    columns = ["number", "state", "val_loss", "val_accuracy", "epochs", *space.parameters]
    cells = [[_cell(row[c]) + ("*" if c == "number" and row["baseline"] else "") for c in columns]
             for row in ranked]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def save_plots(study: optuna.Study, out_dir: Path) -> list[str]:
    """optimization_history.png and param_importances.png; returns notes on plots that could not be made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    notes = []
    for name, plot in (("optimization_history.png", optuna_plots.plot_optimization_history),
                       ("param_importances.png", optuna_plots.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study)
        except (ValueError, RuntimeError) as exc:
            notes.append(f"{name} not written: {str(exc).splitlines()[0]}")
            plt.close("all")
            continue
        figure = axes.figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        write_atomically(out_dir / name, lambda tmp, fig=figure: fig.savefig(tmp, dpi=110, format="png"))
        plt.close(figure)
    return notes
