"""Running the `ferkit` entry point inside the test process."""

from __future__ import annotations

import sys

import pytest

from ferkit.cli.main import main


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`ferkit ARGS` through `main()` (its error handling and stderr notes included): (exit code, stdout,
    stderr)."""
    monkeypatch.setattr(sys, "argv", ["ferkit", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err
