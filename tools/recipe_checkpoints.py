"""Save and restore finished stages of the default model's recipe, so that it resumes across sessions.

`make default-model` runs nine `ferkit train` stages (≈ 4.9 h on 2 cores) and skips any stage whose run
folder already holds `model.keras` (train-or-load). The three longest stages (1–3, ≈ 3.7 h) are committed
under `checkpoints/<run>.keras`, so that a fresh clone finishes the recipe in ≈ 80 min
(`make default-model-resume`), and a session that finishes a stage can commit it for the next one.

A checkpoint is the stage's final model without optimizer state (4.8 MB instead of 14 MB): later stages only
read weights (`InitialWeights` copies them, `Teacher` predicts with them), so they train exactly as from the
full file. The resolved configuration travels in the file's ferkit metadata and is written beside the
restored model as `config.yaml`.

    .venv/bin/python tools/recipe_checkpoints.py save fervgg fervgg-distill fervgg-cycle3
    .venv/bin/python tools/recipe_checkpoints.py restore
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ferkit.config.configuration import build_config, save_config
from ferkit.errors import FerkitError, ModelFileError
from ferkit.models.saving import load_model, read_metadata, save_model

RUNS = Path("runs")
CHECKPOINTS = Path("checkpoints")


def save(run: str, runs: Path = RUNS, checkpoints: Path = CHECKPOINTS) -> Path:
    """Write `runs/<run>/model.keras` without its optimizer state to `checkpoints/<run>.keras`."""
    model, metadata = load_model(runs / run / "model.keras")  # loaded uncompiled: the optimizer stays behind
    return save_model(model, checkpoints / f"{run}.keras", metadata)


def restore(runs: Path = RUNS, checkpoints: Path = CHECKPOINTS) -> list[Path]:
    """Copy every `checkpoints/<run>.keras` to `runs/<run>/model.keras` (with its `config.yaml`) where the run
    folder has no model yet; returns the models written. A finished run is never overwritten."""
    restored = []
    for checkpoint in sorted(checkpoints.glob("*.keras")):
        target = runs / checkpoint.stem / "model.keras"
        if target.exists():
            continue
        metadata = read_metadata(checkpoint)
        if metadata is None:
            raise ModelFileError(f"{checkpoint} has no ferkit metadata; it is not a recipe checkpoint")
        target.parent.mkdir(parents=True, exist_ok=True)
        save_config(build_config(metadata.config), target.parent / "config.yaml")
        partial = target.with_name(".model.keras.restoring")
        shutil.copyfile(checkpoint, partial)
        partial.replace(target)
        restored.append(target)
    return restored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("save", help="runs/<run>/model.keras -> checkpoints/<run>.keras").add_argument(
        "runs", nargs="+", help="run folder names under runs/")
    commands.add_parser("restore", help="checkpoints/<run>.keras -> runs/<run>/model.keras where absent")
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            for run in args.runs:
                print(f"saved {save(run)}")
        else:
            for path in restore():
                print(f"restored {path}")
    except FerkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
