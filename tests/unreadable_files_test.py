"""A file the user may not read is one bad input among good ones: predict, evaluate and train carry on.

The commands run in a subprocess without the file-permission override a root user has (setpriv drops
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so `chmod 000` really makes a file unreadable, as it is for
every other user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.inference import astronaut, encode, write_tiny_model

from ferkit.data.synthetic import SYNTHETIC_CLASSES, write_image_folder

SRC = Path(__file__).resolve().parents[1] / "src"


def _unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def ferkit(*args) -> subprocess.CompletedProcess:
    command = [*_unprivileged(), sys.executable, "-c", "from ferkit.cli.main import main; main()",
               *map(str, args)]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def _assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "PermissionError" not in result.stderr, result.stderr


@pytest.fixture()
def locked_folder(tmp_path) -> Path:
    folder = tmp_path / "p"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (folder / name).write_bytes(encode(astronaut(), "JPEG"))
    (folder / "b.jpg").chmod(0)
    return folder


@pytest.mark.slow
def test_predict_gives_every_file_its_line_and_the_unreadable_one_an_error(locked_folder, tmp_path):
    model = write_tiny_model(tmp_path / "tiny.keras")
    result = ferkit("predict", locked_folder, "--model", model)
    _assert_no_traceback(result)
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [Path(r["file"]).name for r in records] == ["a.jpg", "b.jpg", "c.jpg"]
    assert records[0]["error"] is None and records[2]["error"] is None
    assert records[1]["error"] == f"{locked_folder / 'b.jpg'}: permission denied (file not readable)"
    assert result.returncode == 0, result.stderr  # the documented code when at least one input succeeded


@pytest.fixture()
def locked_dataset(tmp_path) -> tuple[Path, Path]:
    root = write_image_folder(tmp_path / "data", per_class=6, size=48, seed=3)
    locked = sorted((root / SYNTHETIC_CLASSES[0]).iterdir())[0]
    locked.chmod(0)
    return root, locked


@pytest.mark.slow
def test_evaluate_skips_and_reports_the_unreadable_image(locked_dataset, tmp_path):
    from ferkit.config import load_config
    from ferkit.models import build_model
    from ferkit.models.saving import ModelMetadata, save_model

    root, locked = locked_dataset
    config = load_config(None, ["ImageSize=[48,48]", "NoOfFilters=2", "NoOfUDense1=8", "NoOfUDense2=8"])
    model = save_model(build_model(config, len(SYNTHETIC_CLASSES)), tmp_path / "m.keras",
                       ModelMetadata(class_names=list(SYNTHETIC_CLASSES), image_size=(48, 48),
                                     config=config.to_dict()))
    result = ferkit("evaluate", "--model", model, "--data", root, "--split", "validation",
                    "--out", tmp_path / "report")
    _assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert f"skipped unreadable image {locked}: {locked}: permission denied" in result.stderr
    assert (tmp_path / "report" / "metrics.json").is_file()


@pytest.mark.slow
def test_train_skips_and_reports_the_unreadable_image(locked_dataset, tmp_path):
    root, locked = locked_dataset
    out = tmp_path / "run"
    result = ferkit("train", "--data", root, "--out", out, "--set", "ImageSize=[48,48]", "--set", "NoOfEpochs=1",
                    "--set", "NoOfFilters=2", "--set", "NoOfUDense1=8", "--set", "NoOfUDense2=8")
    _assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "Skipped 1 unreadable images" in result.stdout
    assert f"{locked}: permission denied" in (out / "train.log").read_text()
    assert (out / "model.keras").is_file()


@pytest.mark.slow
def test_an_unreadable_csv_or_class_folder_is_one_line(tmp_path):
    csv_file = tmp_path / "fer.csv"
    csv_file.write_text("emotion,pixels\n0," + " ".join(["1"] * 4) + "\n")
    csv_file.chmod(0)
    folder = write_image_folder(tmp_path / "data", per_class=2, size=16, seed=1)
    folder.chmod(0)
    for data in (csv_file, folder):
        result = ferkit("train", "--data", data, "--out", tmp_path / "run")
        _assert_no_traceback(result)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1] == f"error: {data}: permission denied (not readable)"
