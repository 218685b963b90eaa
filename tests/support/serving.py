"""Helpers shared by the serving and browser tests: a tiny model file, test photos, a real server process."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def write_tiny_model(path: Path) -> Path:
    """An untrained, very small lenet for 48x48 grayscale faces and 7 classes, as a ferkit model file."""
    from ferkit.config import load_config
    from ferkit.models import build_model
    from ferkit.models.saving import ModelMetadata, save_model

    config = load_config(None, ["ImageSize=[48,48]", "NoOfFilters=2", "NoOfUDense1=8", "NoOfUDense2=8"])
    model = build_model(config, len(FER_CLASSES))
    metadata = ModelMetadata(class_names=FER_CLASSES, image_size=(48, 48), color_mode="grayscale",
                             architecture="lenet", config=config.model_dump(mode="json"),
                             extra={"version": "test-1", "metrics": {"accuracy": 0.25}})
    return save_model(model, path, metadata)


def encode(rgb: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt)
    return buffer.getvalue()


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo: one real, frontal human face (512x512 RGB)."""
    from skimage import data

    return data.astronaut()


def chelsea() -> np.ndarray:
    """scikit-image's cat photo: no human face."""
    from skimage import data

    return data.chelsea()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, port: int, log_path: Path, *extra: str) -> subprocess.Popen:
    """`ferkit serve` in a subprocess, exactly as a user starts it."""
    command = [sys.executable, "-m", "ferkit.cli.main", "serve", "--port", str(port), "--model", str(model),
               "--workers-threads", "2", *extra]
    log = log_path.open("w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def wait_healthy(base: str, server: subprocess.Popen | None = None, log_path: Path | None = None,
                 timeout: float = 300) -> None:
    """Poll `/healthz` until it answers 200; fail early if the server process (when there is one) exits."""
    tail = (lambda: ":\n" + log_path.read_text()[-3000:]) if log_path else (lambda: "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}{tail()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout} s{tail()}")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
