"""`ferkit serve`: safe defaults, options reaching the app, and user mistakes as one-line errors (exit 2)."""

from __future__ import annotations

import sys

import pytest
import uvicorn
from typer.testing import CliRunner

from ferkit.cli.main import app, main
from ferkit.serving.server import HeaderTimeoutH11Protocol


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"only its existence is checked before the server starts")
    return path


@pytest.fixture
def started(monkeypatch):
    """Replaces uvicorn.run, recording what `ferkit serve` would have served and how."""
    calls: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda served, **options: calls.update(app=served, **options))
    return calls


def test_serve_binds_loopback_with_a_10_mb_limit_by_default(model_file, started):
    result = CliRunner().invoke(app, ["serve", "--model", str(model_file)])
    assert result.exit_code == 0, result.output
    assert started["host"] == "127.0.0.1" and started["port"] == 8000
    assert started["access_log"] is False  # ferkit writes its own JSON access log
    assert issubclass(started["http"], HeaderTimeoutH11Protocol) and started["timeout_keep_alive"] == 5
    settings = started["app"].state.service.settings
    assert settings.model == model_file
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.detector == "yunet" and settings.min_face == 32 and settings.threads == 2


def test_serve_options_reach_the_app(model_file, started):
    arguments = ["--model", str(model_file), "--host", "0.0.0.0", "--port", "9123", "--max-body-mb", "0.5",
                 "--workers-threads", "3", "--detector", "none", "--min-face", "60"]
    result = CliRunner().invoke(app, ["serve", *arguments])
    assert result.exit_code == 0, result.output
    assert started["host"] == "0.0.0.0" and started["port"] == 9123
    assert "exposes the service" in result.output
    settings = started["app"].state.service.settings
    assert settings.max_body_bytes == 512 * 1024 and settings.threads == 3
    assert settings.detector == "none" and settings.min_face == 60


@pytest.mark.parametrize("arguments, message", [
    (["--model", "missing.keras"], "model file not found: missing.keras"),
    (["--detector", "dlib"], "--detector must be one of yunet, haar, mtcnn, none"),
    (["--runtime", "tensorrt"], "--runtime must be one of"),
    (["--max-body-mb", "0"], "--max-body-mb must be positive"),
])
def test_user_mistakes_exit_2_with_one_line(arguments, message, monkeypatch, capsys, started):
    monkeypatch.setattr(sys, "argv", ["ferkit", "serve", *arguments])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not started
