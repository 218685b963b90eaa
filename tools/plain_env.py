"""A virtual environment with ferkit installed from this checkout as a user would: `pip install ferkit[...]`.

Used by `tests/plain_install_test.py` (the install layers stay honest) and `bench/lean_startup.py` (size,
start-up and memory of the plain install). The environment is cached under `test-artifacts/` keyed by the
Python version and the requirement lists of the chosen extras: the dependencies are installed once per
change of those lists (from pip's cache afterwards), while ferkit itself is rebuilt into a wheel from the
checkout and reinstalled every time.

    python tools/plain_env.py [--extras serve]     # prints the environment's path
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "test-artifacts" / "plain-env"
PYTHON = shutil.which("python3.11") or sys.executable
INSTALLED = ".dependencies-installed"


def requirements(extras: tuple[str, ...]) -> list[str]:
    """The base dependencies plus those of `extras` (self-references such as `ferkit[train]` followed)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found, pending, seen = list(project["dependencies"]), list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            if requirement.startswith("ferkit["):
                pending += requirement[len("ferkit["):-1].split(",")
            else:
                found.append(requirement)
    return sorted(set(found))


def clean_environ() -> dict[str, str]:
    """The environment for commands in the plain env: without PYTHONPATH, which could point at the checkout."""
    return {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, env=clean_environ(), **kwargs)


def build_wheel(out: Path) -> Path:
    """ferkit's wheel from a copy of the checkout's sources (the checkout itself is left untouched)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "ferkit"
        shutil.copytree(REPO / "src", source / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (REPO / name).is_file():
                shutil.copy(REPO / name, source / name)
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)])
    return next(out.glob("ferkit-*.whl"))


def plain_env(extras: tuple[str, ...] = ()) -> Path:
    """A venv with `ferkit[extras]` installed from this checkout; returns its folder."""
    wanted = requirements(extras)
    key = hashlib.sha256(json.dumps([PYTHON, sys.version_info[:2], wanted]).encode()).hexdigest()[:12]
    env = CACHE / f"{'-'.join(extras) or 'plain'}-{key}"
    pip = [str(env / "bin" / "python"), "-m", "pip"]
    if not (env / INSTALLED).is_file():
        for stale in CACHE.glob(f"{env.name.rsplit('-', 1)[0]}-*"):  # older requirement lists of these extras
            shutil.rmtree(stale, ignore_errors=True)
        _run([PYTHON, "-m", "venv", str(env)])
        _run([*pip, "install", "--quiet", *wanted])
        (env / INSTALLED).write_text("\n".join(wanted) + "\n")
    with tempfile.TemporaryDirectory() as wheels:
        wheel = build_wheel(Path(wheels))
        _run([*pip, "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)])
    _run([*pip, "check"])
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", nargs="*", default=[])
    print(plain_env(tuple(parser.parse_args().extras)))


if __name__ == "__main__":
    main()
