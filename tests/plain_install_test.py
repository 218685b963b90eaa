"""The install layers stay honest: in a fresh virtual environment with `pip install ferkit[serve]` from this
checkout (no `[train]`, `[plots]` or `[video]`), there is no TensorFlow, matplotlib, PyAV or rich, and predict
(photos and videos), evaluate and the REST API work with the shipped ONNX model, the outputs of the missing
extras left out with a note. The environment's dependencies are cached under test-artifacts/
(tools/plain_env.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from plain_env import clean_environ, plain_env  # noqa: E402
from support.inference import EVALUATION_FIGURES_NOTE, TIMELINE_PLOT_NOTE, VIDEO_NOTE, write_video  # noqa: E402
from support.serving import free_port  # noqa: E402

from ferkit.inference.shipped import SHIPPED_MODELS  # noqa: E402

HEAVY = ("tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "torch", "scipy", "scikit-learn")
OTHER_EXTRAS = ("matplotlib", "av", "rich", "pygments")  # [plots], [video], and what `typer` would pull


@pytest.fixture(scope="module")
def env() -> Path:
    return plain_env(("serve",))


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("plain") / "astronaut.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def _ferkit(env: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(env / "bin" / "ferkit"), *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=clean_environ())


@pytest.mark.slow
def test_the_plain_install_has_no_tensorflow_and_predicts_and_evaluates_without_extras(env, photo, tmp_path):
    listed = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
                            capture_output=True, text=True, check=True, env=clean_environ()).stdout
    installed = {package["name"].lower() for package in json.loads(listed)}
    assert "ferkit" in installed and not installed & set(HEAVY + OTHER_EXTRAS)
    weights = {path.name for path in env.glob("lib/python3*/site-packages/ferkit/weights/*")}
    shipped = {name for model in SHIPPED_MODELS.values() for name in (model.onnx_file, model.onnx_file + ".sha256")}
    assert weights == shipped, "the wheel ships the ONNX models, not their sources"

    result = _ferkit(env, "predict", str(photo), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (face,) = json.loads(result.stdout)["faces"]
    assert face["emotion"] == "happy" and result.stderr == ""

    faces = np.random.default_rng(0).integers(0, 256, (14, 48, 48), dtype=np.uint8)
    np.savez(tmp_path / "faces.npz", images=faces, labels=np.arange(14) % 7, usage=np.array(["PrivateTest"] * 14))
    result = _ferkit(env, "evaluate", "--data", "faces.npz", "--out", "evaluation", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "evaluation" / "metrics.json").read_text())["n"] == 14
    assert result.stderr == EVALUATION_FIGURES_NOTE + "\n"
    assert sorted(path.name for path in (tmp_path / "evaluation").iterdir()) == ["metrics.json", "predictions.npz"]

    write_video(tmp_path / "clip.mp4")
    result = _ferkit(env, "predict", "clip.mp4", "--every", "4", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["frame"] for line in result.stdout.splitlines()] == [0, 4, 8]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [VIDEO_NOTE, TIMELINE_PLOT_NOTE]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "clip.annotated.mp4", "clip.summary.json", "clip.timeline.csv", "clip.timeline.json"]
    annotated = cv2.VideoCapture(str(tmp_path / "out" / "clip.annotated.mp4"))
    assert sum(1 for _ in iter(lambda: annotated.read()[0], False)) == 3
    annotated.release()

    result = _ferkit(env, "train", "--data", "faces.npz", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: ferkit train needs ferkit[train]: pip install 'ferkit[train]'\n"


@pytest.mark.slow
def test_the_plain_install_serves_the_api(env, photo, tmp_path):
    port = free_port()
    server = subprocess.Popen([str(env / "bin" / "ferkit"), "serve", "--port", str(port)], cwd=tmp_path,
                              env=clean_environ(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.3)
        request = urllib.request.Request(f"{base}/v1/predict", data=photo.read_bytes(),
                                         headers={"content-type": "image/jpeg"})
        with urllib.request.urlopen(request, timeout=60) as response:
            (face,) = json.loads(response.read())["faces"]
        assert face["emotion"] == "happy"
    finally:
        server.terminate()
        server.wait(timeout=30)
