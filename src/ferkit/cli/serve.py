"""`ferkit serve`: run the REST API and the web page with uvicorn."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

import typer

from ferkit.cli.options import TrustModelOption
from ferkit.errors import ConfigError, ModelFileError
from ferkit.faces import MIN_FACE


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's and ferkit's loggers writing one JSON object per line to stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "ferkit.serving.observability.JsonLogFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "ferkit": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 = every network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    model: Annotated[Path | None, typer.Option(help="Shipped model name (default) or model file (.onnx, .keras, "
                                                    ".h5, .tflite, SavedModel); default: the shipped "
                                                    "model.")] = None,
    detector: Annotated[str, typer.Option(help="Face detector: yunet (fast, landmarks), haar, mtcnn or none.")
                        ] = "yunet",
    min_face: Annotated[int, typer.Option(help="Smallest face side in pixels to look for; larger is faster.",
                                          min=8)] = MIN_FACE,
    runtime: Annotated[str, typer.Option(help="auto (by file), keras, onnx, litert, saved_model.")] = "auto",
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, in MB (larger → 413).")] = 10.0,
    max_pixels: Annotated[int, typer.Option(help="Largest accepted image, in pixels (larger → 413).")] = (
        25_000_000),
    workers_threads: Annotated[int, typer.Option(help="Threads that decode images and run inference.",
                                                 min=1)] = 2,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    trust_model: TrustModelOption = False,
) -> None:
    """Serve the REST API (POST /v1/predict, /healthz, /v1/model, /metrics, /docs) and the web page at /."""
    if max_body_mb <= 0:
        raise ConfigError(f"--max-body-mb must be positive, got {max_body_mb}")
    if max_pixels < 1:
        raise ConfigError(f"--max-pixels must be positive, got {max_pixels}")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"--log-level must be debug, info, warning or error, got {log_level!r}")
    from ferkit.faces import DETECTORS
    from ferkit.inference.classifier import RUNTIMES
    from ferkit.inference.shipped import is_shipped_name, resolve_model

    if detector not in DETECTORS:
        raise ConfigError(f"--detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if not is_shipped_name(model) and not model.exists():
        raise ModelFileError(f"model file not found: {model}")
    model = resolve_model(model, runtime)

    from ferkit.serving import ServeSettings, create_app
    from ferkit.serving.server import run

    settings = ServeSettings(model=model, detector=detector, min_face=min_face, runtime=runtime,
                             max_body_bytes=int(max_body_mb * 1024 * 1024), max_pixels=max_pixels,
                             threads=workers_threads, trust_model=trust_model)
    if not _is_loopback(host):
        typer.echo(f"warning: {host} exposes the service (no authentication) to the network", err=True)
    typer.echo(f"ferkit: serving on http://{host}:{port}/ (API docs at /docs); Ctrl+C stops", err=True)
    run(create_app(settings), host=host, port=port, log_config=log_config(log_level))
