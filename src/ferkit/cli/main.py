"""`ferkit` — one Typer app; each command lives in its own module and is registered here."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402

from ferkit.cli import batch as batch_command  # noqa: E402 - light: imports Ray and the model only when run
from ferkit.cli import calibrate as calibrate_command  # noqa: E402
from ferkit.cli import compare as compare_command  # noqa: E402
from ferkit.cli import demo as demo_command  # noqa: E402
from ferkit.cli import evaluate as evaluate_command  # noqa: E402
from ferkit.cli import export as export_command  # noqa: E402
from ferkit.cli import launch as launch_command  # noqa: E402
from ferkit.cli import predict as predict_command  # noqa: E402
from ferkit.cli import serve as serve_command  # noqa: E402
from ferkit.cli import train as train_command  # noqa: E402
from ferkit.cli import tune as tune_command  # noqa: E402
from ferkit.errors import FerkitError  # noqa: E402

app = typer.Typer(
    name="ferkit",
    help="Facial emotion recognition: train, evaluate, predict, serve and export models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # Click's plain help: flags as `--flag` / `--flag / --no-flag`, never `<bool>`
    context_settings={"max_content_width": 120},  # wide terminals show whole command summaries
)


@app.callback()
def _ferkit() -> None:
    """Facial emotion recognition: train, evaluate, predict, serve and export models."""


app.command("train")(train_command.train)
app.command("predict")(predict_command.predict)
app.command("launch", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    launch_command.launch)
app.command("tune")(tune_command.tune)
app.command("serve")(serve_command.serve)
app.command("evaluate")(evaluate_command.evaluate)
app.command("calibrate")(calibrate_command.calibrate)
app.command("compare")(compare_command.compare)
app.command("export")(export_command.export)
app.command("demo")(demo_command.demo)
app.command("batch")(batch_command.batch)


def main() -> None:
    """Entry point: user mistakes end with one line on stderr and exit code 2, never a traceback."""
    try:
        app()
    except FerkitError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted; run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
