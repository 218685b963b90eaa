import subprocess
import sys

import pytest


def run_ferkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferkit.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "DropOutRate=1.5"], "error: configuration key DropOutRate=1.5: Input should be less than 1"),
        (["--set", "Colour=rgb"], "error: unknown configuration key 'Colour'"),
        (["--config", "missing.yaml"], "error: config file not found: missing.yaml"),
        (["--set", "Teacher=[gone.keras]"], "error: configuration key Teacher='gone.keras': model file not found"),
        (["--set", "InitialWeights=gone.keras"],
         "error: configuration key InitialWeights='gone.keras': model file not found"),
    ],
)
def test_user_mistakes_end_with_one_line_and_exit_2(args, message, faces_folder, tmp_path):
    result = run_ferkit("train", "--data", str(faces_folder), "--out", str(tmp_path / "run"), *args)
    assert result.returncode == 2
    assert result.stderr.strip() == message.strip() or result.stderr.strip().startswith(message)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists(), "nothing heavy may start before the config is valid"


def test_missing_data_is_one_line(tmp_path):
    result = run_ferkit("train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and result.stderr.strip() == f"error: data not found: {tmp_path / 'nowhere'}"


def test_every_command_has_help():
    result = run_ferkit("--help")
    assert result.returncode == 0
    for command in ("train",):
        assert command in result.stdout
        assert run_ferkit(command, "--help").returncode == 0
