"""`ferkit batch`: emotions of every face in large photo and video collections, into resumable Parquet tables,
in this process (`--engine local`) or on a Ray cluster (`--engine ray`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferkit.errors import FerkitError

PYARROW_NEEDED = "ferkit batch needs pyarrow to write Parquet: pip install 'ferkit[batch]'"


def batch(
    inputs: Annotated[list[str], typer.Argument(show_default=False)],
    out: Annotated[Path, typer.Option(
        help="Output folder: faces/ (one Parquet row per face), errors/ (one row per failed file). "
             "Files already done there are skipped.", show_default=False)],
    engine: Annotated[str, typer.Option(
        help="local: this process, no Ray. ray: an actor pool on a Ray cluster.")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster address (host:6379, ray://host:10001 or auto); default: start Ray on this machine.",
        show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Ray workers, each holding one model; default: one per CPU of the cluster.",
        show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(help="Images or video frames classified together.")] = 16,
    fps: Annotated[float | None, typer.Option(
        help="Videos: sample this many frames per second (default: every frame).", show_default=False)] = None,
    model: Annotated[Path | None, typer.Option(
        help="Model file; default: the model shipped with ferkit.", show_default=False)] = None,
    detector: Annotated[str | None, typer.Option(
        help="Face detector; default: the recognizer's default.", show_default=False)] = None,
    commit_every: Annotated[int | None, typer.Option(
        help="Files per committed Parquet part (also every 30 s; default 256): the most a crash makes redo.",
        show_default=False)] = None,
) -> None:
    """Recognise the emotion of every face in photos and videos into Parquet tables, resumably.

    INPUTS: folders (searched recursively), image or video files, glob patterns ('photos/**/*.jpg', quoted) or
    CSV/Parquet manifests with a 'path' column.
    """
    try:
        import pyarrow  # noqa: F401 - fail early with the install hint
    except ImportError:
        raise FerkitError(PYARROW_NEEDED) from None
    from ferkit.batch.runner import run

    options = {} if commit_every is None else {"commit_every": commit_every}
    summary = run(inputs, out, engine=engine, address=address, workers=workers, batch_size=batch_size,
                  fps=fps, model=model, detector=detector, **options)
    typer.echo(summary.line(), err=True)
