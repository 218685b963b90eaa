"""A TensorFlow SavedModel runs its own operations when loaded: refused unless the user says it is trusted."""

from __future__ import annotations

import sys

import pytest
from support.inference import astronaut, encode
from typer.testing import CliRunner

from ferkit.cli.main import app, load_command, main
from ferkit.errors import ModelFileError, UntrustedModelError
from ferkit.inference.classifier import load_classifier


@pytest.fixture()
def crafted_saved_model(tmp_path):
    """A folder that looks like a SavedModel; if anything parsed it, loading would fail differently."""
    folder = tmp_path / "crafted"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"\x08\x01 not a real graph")
    return folder


def test_a_saved_model_is_refused_before_anything_of_it_is_read(crafted_saved_model):
    with pytest.raises(UntrustedModelError, match="is a TensorFlow SavedModel, which runs its own operations"):
        load_classifier(crafted_saved_model)


def test_trust_model_lets_it_load(crafted_saved_model):
    with pytest.raises(ModelFileError) as error:
        load_classifier(crafted_saved_model, trust_model=True)
    assert not isinstance(error.value, UntrustedModelError)


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_the_cli_refuses_it_in_one_line_naming_the_flag(command, crafted_saved_model, tmp_path, monkeypatch,
                                                        capsys):
    image = tmp_path / "a.png"
    image.write_bytes(encode(astronaut()))
    args = {"predict": ["predict", str(image)], "evaluate": ["evaluate", "--data", str(tmp_path)]}[command]
    monkeypatch.setattr(sys, "argv", ["ferkit", *args, "--model", str(crafted_saved_model)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith(f"error: {crafted_saved_model} is a TensorFlow SavedModel") and "\n" not in err
    assert err.endswith("(--trust-model, if you trust its source)")


@pytest.mark.parametrize("command", ["predict", "evaluate", "serve", "compare"])
def test_help_explains_the_risk(command):
    options = {opt: param for param in load_command(command).params for opt in param.opts}
    assert "can read and write files" in options["--trust-model"].help
    assert "safe mode" in options["--trust-model"].help
    assert "--trust-model" in CliRunner().invoke(app, [command, "--help"]).output
