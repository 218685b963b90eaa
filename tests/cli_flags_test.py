"""The CLI's errors name its flags; the library under it names the Python parameters."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ferkit.cli import main as cli_main
from ferkit.distributed import DistributedError
from ferkit.distributed.launcher import launch
from ferkit.tuning.search import StorageError, open_storage

SPACE = Path(__file__).resolve().parents[1] / "configs" / "lenet_space.yaml"


def _cli_error(monkeypatch, capsys, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["ferkit", *args])
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--nproc", "0", "--", "train"], "error: --nproc 0: needs at least 1 process"),
    (["--nproc", "2"], "error: no command to launch; give it after --: ferkit launch --nproc 2 -- train ..."),
    (["--coordinator", "nohost", "--", "train"], "error: --coordinator='nohost' is not HOST:PORT"),
])
def test_launch_flags(monkeypatch, capsys, args, message):
    assert _cli_error(monkeypatch, capsys, "launch", *args).startswith(message)


@pytest.mark.parametrize(("nproc", "command", "coordinator", "message"), [
    (0, ["train"], None, "nproc=0: needs at least 1 process"),
    (2, [], None, "command is empty"),
    (2, ["train"], "nohost", "coordinator='nohost' is not HOST:PORT"),
])
def test_launch_parameters(nproc, command, coordinator, message):
    with pytest.raises(DistributedError) as error:
        launch(nproc, command, coordinator=coordinator, echo=lambda _: None)
    assert str(error.value).startswith(message) and "--" not in str(error.value)


def test_tune_storage_flag_and_parameter(monkeypatch, capsys, tmp_path):
    with pytest.raises(StorageError, match=r"^storage='redis://x': use journal:PATH"):
        open_storage("redis://x")
    line = _cli_error(monkeypatch, capsys, "tune", "--space", str(SPACE), "--data", str(tmp_path / "d.npz"),
                      "--storage", "redis://x", "--out", str(tmp_path / "tune"))
    assert line.startswith("error: --storage 'redis://x': use journal:PATH or a database URL"), line
