"""Every command's --help: Click's plain layout, boolean options shown as flags, never with a `<bool>` value."""

import pytest
from typer.testing import CliRunner

from ferkit.cli import main as cli_main
from ferkit.cli.main import app

COMMANDS = sorted(cli_main.COMMANDS)  # the app imports each command's module only when it runs
FLAGS = [
    (name, " / ".join([*param.opts, *param.secondary_opts]))
    for name in COMMANDS
    for param in cli_main.load_command(name).params
    if param.param_type_name == "option" and getattr(param, "is_flag", False) and not param.hidden
]


def help_text(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_top_level_help_lists_every_command_without_bool_values():
    text = help_text()
    assert "<bool>" not in text
    for name in COMMANDS:
        assert f"  {name} " in text


@pytest.mark.parametrize("name", COMMANDS)
def test_no_command_shows_a_value_for_a_boolean_option(name):
    text = help_text(name)
    assert "<bool>" not in text and "BOOLEAN" not in text
    assert "  --help  " in text


@pytest.mark.parametrize(("name", "flag"), FLAGS)
def test_boolean_options_are_shown_as_flags(name, flag):
    assert f"  {flag}  " in help_text(name), f"{name}: {flag} is not shown as a bare flag"
