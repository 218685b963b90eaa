"""The inference layer stays lean: predicting, evaluating and serving with the shipped model import no
TensorFlow, Keras or JAX; `ferkit --help` imports no command; a command whose extra is missing says which one."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ferkit.cli.main import COMMANDS, main

HEAVY = ("tensorflow", "keras", "jax", "torch")

REPORT_HEAVY = f"""
import json, sys
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))
"""


def _python(code: str, tmp_path) -> list[str]:
    result = subprocess.run([sys.executable, "-c", code + REPORT_HEAVY], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage import data

    path = tmp_path_factory.mktemp("lean") / "astronaut.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def test_predicting_with_the_python_api_imports_no_tensorflow(photo, tmp_path):
    loaded = _python(f"""
import ferkit, ferkit.inference
from ferkit import EmotionRecognizer
(face,) = EmotionRecognizer.load().predict({str(photo)!r})
assert face.emotion == "happy", face
""", tmp_path)
    assert loaded == []


def test_cli_predict_and_evaluate_import_no_tensorflow(photo, tmp_path):
    faces = np.random.default_rng(0).integers(0, 256, (21, 48, 48), dtype=np.uint8)
    np.savez(tmp_path / "faces.npz", images=faces, labels=np.arange(21) % 7,
             usage=np.array(["PrivateTest"] * 21))
    loaded = _python(f"""
import sys
from ferkit.cli.main import main
for argv in (["predict", {str(photo)!r}],
             ["evaluate", "--data", "faces.npz", "--split", "PrivateTest", "--out", "evaluation"]):
    sys.argv = ["ferkit", *argv]
    try:
        main()
    except SystemExit as exit:
        assert exit.code in (0, None), exit.code
""", tmp_path)
    assert loaded == []
    assert (tmp_path / "evaluation" / "metrics.json").is_file()


def test_serving_a_prediction_imports_no_tensorflow(photo, tmp_path):
    pytest.importorskip("fastapi")
    loaded = _python(f"""
from fastapi.testclient import TestClient
from ferkit.serving import ServeSettings, create_app
import time
with TestClient(create_app(ServeSettings())) as client:
    deadline = time.monotonic() + 120
    while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    response = client.post("/v1/predict", content=open({str(photo)!r}, "rb").read(),
                           headers={{"content-type": "image/jpeg"}})
    assert response.status_code == 200 and response.json()["faces"][0]["emotion"] == "happy", response.text
""", tmp_path)
    assert loaded == []


def test_help_imports_no_command_and_nothing_heavy(tmp_path):
    result = subprocess.run([sys.executable, "-c", """
import sys
from ferkit.cli.main import main
sys.argv = ["ferkit", "--help"]
try:
    main()
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.startswith("ferkit.cli.") and m != "ferkit.cli.main"
             or m.split(".")[0] in ("cv2", "numpy", "onnxruntime", "tensorflow")))
"""], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert all(name in result.stdout for name in COMMANDS)


def test_each_command_summary_is_the_start_of_its_docstring():
    for name, spec in COMMANDS.items():
        function = getattr(importlib.import_module(f"ferkit.cli.{name}"), name)
        assert " ".join(function.__doc__.split()).startswith(spec.summary), name


def test_a_command_whose_extra_is_missing_says_which_one_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # what find_spec reports for a package not installed
    monkeypatch.setattr(sys, "argv", ["ferkit", "tune", "--data", "x.npz"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: ferkit tune needs ferkit[tune]: pip install 'ferkit[tune]'\n"


@pytest.mark.slow
def test_commands_that_load_tensorflow_print_no_banner_unless_verbose(photo, tmp_path):
    pytest.importorskip("tensorflow")
    from support.inference import write_tiny_model

    model = write_tiny_model(tmp_path / "tiny.keras")
    command = [sys.executable, "-m", "ferkit.cli.main"]
    quiet = subprocess.run([*command, "predict", "--model", str(model), str(photo)], capture_output=True,
                           text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == ""
    verbose = subprocess.run([*command, "--verbose", "predict", "--model", str(model), str(photo)],
                             capture_output=True, text=True, timeout=300)
    assert verbose.returncode == 0 and "oneDNN" in verbose.stderr


def test_data_without_splits_of_its_own_names_the_extra_that_draws_one(tmp_path, monkeypatch):
    from ferkit.data import load_data
    from ferkit.data.synthetic import write_image_folder
    from ferkit.errors import DataError

    folder = write_image_folder(tmp_path / "faces", per_class=3, size=24, seed=0)
    monkeypatch.setitem(sys.modules, "sklearn.model_selection", None)  # as in the plain install
    with pytest.raises(DataError, match=r"drawing one needs scikit-learn: pip install 'ferkit\[train\]'"):
        load_data(folder, image_size=(24, 24))


def test_demo_without_scikit_image_asks_for_the_extra_or_a_photo(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "skimage", None)  # as in the plain install
    monkeypatch.setattr(sys, "argv", ["ferkit", "demo", "--out", str(tmp_path / "demo")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("error: the default photo comes with scikit-image: pip install "
                                       "'ferkit[demo]', or give --image PHOTO\n")
