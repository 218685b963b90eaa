"""`ferkit` — one Typer app; each command lives in its own module, imported only when that command runs.

`ferkit --help` lists the commands from `COMMANDS` without importing any of them, and `ferkit predict` loads
only what prediction uses. A command whose optional dependencies are missing says which extra to install.
TensorFlow (its C++ log and start-up lines, see `ferkit.quiet`), absl and library warnings are quiet unless
`--verbose` is given: the environment is set here, before any command can import them.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec

import typer
from typer.core import TyperGroup
from typer.models import CommandInfo

from ferkit.errors import FerkitError, UntrustedModelError
from ferkit.extras import MissingExtraWarning
from ferkit.quiet import VERBOSE_VARIABLE, quiet_tensorflow_import

QUIET_LOGGERS = ("tensorflow", "absl", "keras", "jax", "h5py")


@dataclass(frozen=True)
class CommandSpec:
    """A command of `ferkit.cli.<name>`: a summary for `ferkit --help` (the start of the command function's
    docstring, which `--help` of the command shows in full), the extra it needs and the modules that tell
    whether that extra is installed."""

    summary: str
    extra: str | None = None
    needs: tuple[str, ...] = ()
    context_settings: dict | None = None


COMMANDS = {
    "train": CommandSpec("Train (or load) a model, writing config.yaml, checkpoint.keras, model.keras, "
                         "history.csv/png.", "train",
                         ("tensorflow", "keras")),
    "predict": CommandSpec("Predict the emotion of every face; one JSON line per image (per sampled frame of a "
                           "video)."),
    "launch": CommandSpec("Run a ferkit command as N local processes of one job, such as data-parallel "
                          "training.",
                          "distributed", ("tensorflow", "keras", "jax"),
                          {"allow_extra_args": True, "ignore_unknown_options": True}),
    "tune": CommandSpec("Search the space, then write best_config.yaml (for `ferkit train --config`), trials.csv "
                        "and plots.", "tune", ("tensorflow", "keras", "optuna")),
    "serve": CommandSpec("Serve the REST API (POST /v1/predict, /healthz, /v1/model, /metrics, /docs) and the "
                         "web page at /.", "serve", ("fastapi", "uvicorn", "multipart", "prometheus_client")),
    "evaluate": CommandSpec("Evaluate a model: writes metrics.json, predictions.npz and (with ferkit[plots]) "
                            "confusion_matrix.png, reliability.png and wrong_examples.png, and prints per-class "
                            "and headline metrics."),
    "calibrate": CommandSpec("Fit temperature scaling on a split, write the calibrated copy and print ECE and NLL "
                             "before/after.", "train",
                             ("tensorflow", "keras")),
    "compare": CommandSpec("Compare models on one split: accuracy, difference to the baseline, and whether it is "
                           "significant."),
    "export": CommandSpec("Export a model with a fixed input size and its metadata, after checking it "
                          "reproduces the Keras model's probabilities (fp32: max abs difference <= 1e-4) and, "
                          "when quantised, measuring the accuracy change.", "export",
                          ("tensorflow", "keras", "tf2onnx", "onnx")),
    "demo": CommandSpec("Find the faces in a photo (default: scikit-image's astronaut, Eileen Collins), print "
                        "one JSON line with their emotions, and write the photo annotated with boxes, labels "
                        "and probability bars."),
    "batch": CommandSpec("Recognise the emotion of every face in photos and videos into Parquet tables, "
                         "resumably.", "batch", ("pyarrow",)),
}


def missing_extra(name: str) -> str | None:
    """The extra a command needs when one of its modules is not installed, else None."""
    spec = COMMANDS[name]
    if any(find_spec(module) is None for module in spec.needs):
        return spec.extra
    return None


def load_command(name: str):
    """The click command for `name`, built from `ferkit.cli.<name>.<name>`."""
    spec = COMMANDS[name]
    function = getattr(import_module(f"ferkit.cli.{name}"), name)
    info = CommandInfo(name=name, callback=function, context_settings=spec.context_settings)
    return typer.main.get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None)


class LazyCommands(TyperGroup):
    """Lists commands from `COMMANDS` and imports a command's module only when it is invoked."""

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, cmd_name: str):
        """A summary-only stand-in (for the command list in `--help`); `resolve_command` loads the real one."""
        if cmd_name not in COMMANDS:
            return None
        return typer.core.TyperCommand(cmd_name, help=COMMANDS[cmd_name].summary)

    def resolve_command(self, ctx, args: list[str]):
        name = args[0] if args else None
        if name not in COMMANDS:
            return super().resolve_command(ctx, args)
        if ctx.params.get("verbose"):
            set_verbosity(True)  # the group callback runs after this; TensorFlow may be imported below
        asks_help = bool({"--help", "-h"} & set(args[1:]))
        extra = missing_extra(name)
        if extra and not asks_help:
            raise FerkitError(f"ferkit {name} needs ferkit[{extra}]: pip install 'ferkit[{extra}]'")
        return name, load_command(name), args[1:]


def set_verbosity(verbose: bool) -> None:
    """Quiet (default): TensorFlow's C++ log, absl and the Python loggers of TF/Keras/JAX show errors only, and
    library warnings are hidden. Verbose: all of them as the libraries set them up."""
    if verbose:
        os.environ[VERBOSE_VARIABLE] = "1"  # also for the processes `ferkit launch` starts
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore", module=r"(keras|tensorflow|jax|absl|tf2onnx|onnx)(\.|$)")


set_verbosity(os.environ.get(VERBOSE_VARIABLE) == "1")
quiet_tensorflow_import()

app = typer.Typer(
    name="ferkit",
    cls=LazyCommands,
    help="Facial emotion recognition: train, evaluate, predict, serve and export models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # Click's plain help: flags as `--flag` / `--flag / --no-flag`, never `<bool>`
    context_settings={"max_content_width": 120},  # wide terminals show whole command summaries
)


@app.callback()
def _ferkit(verbose: bool = typer.Option(False, "--verbose", help="Show TensorFlow, absl and library logs and "
                                                                   "warnings (hidden by default).")) -> None:
    """Facial emotion recognition: train, evaluate, predict, serve and export models."""
    if verbose:
        set_verbosity(True)


python_show_warning = warnings.showwarning


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """`warnings.showwarning` for the CLI: an output skipped for a missing extra is one `note:` line on
    stderr; other warnings keep Python's format."""
    if issubclass(category, MissingExtraWarning):
        typer.echo(f"note: {message}", err=True)
    else:
        python_show_warning(message, category, filename, lineno, file, line)


def main() -> None:
    """Entry point: user mistakes end with one line on stderr and exit code 2, never a traceback."""
    warnings.showwarning = show_warning
    try:
        app()
    except UntrustedModelError as exc:
        typer.echo(f"error: {exc} (--trust-model, if you trust its source)", err=True)
        sys.exit(2)
    except FerkitError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted; run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
