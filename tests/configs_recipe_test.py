"""The shipped model's recipe (`make default-model`) is a chain of configs; check that the chain holds together."""

import re
import shlex
from pathlib import Path

import pytest

from ferkit.config import load_config

REPO = Path(__file__).resolve().parents[1]


def recipe_commands() -> list[list[str]]:
    """The `ferkit` commands of the Makefile's `default-model` target, in order, as argument lists."""
    makefile = (REPO / "Makefile").read_text().replace("\\\n", " ")
    body = re.search(r"^default-model:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    return [shlex.split(line)[1:] for line in body.splitlines() if "ferkit" in line]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


CONFIGS = sorted(path for path in (REPO / "configs").glob("*.yaml") if not path.name.endswith("_space.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_every_config_is_valid(path):
    assert load_config(path).NoOfEpochs >= 1


def test_each_stage_starts_from_and_learns_from_earlier_stages_only():
    commands = recipe_commands()
    trains = [command for command in commands if command[0] == "train"]
    assert [command[0] for command in commands] == ["train"] * len(trains) + ["calibrate"]
    finished: set[str] = set()
    for command in trains:
        config = load_config(REPO / option(command, "--config"))
        for needed in [config.InitialWeights, *config.teacher_paths]:
            if needed is not None:
                assert needed in finished, f"{option(command, '--config')} needs {needed} before it is trained"
        finished.add(f"{option(command, '--out')}/model.keras")
    assert option(commands[-1], "--model") == f"{option(trains[-1], '--out')}/model.keras"
    assert option(commands[-1], "--split") == "PublicTest"
    assert option(commands[-1], "--objective") == "auto"


def test_committed_checkpoints_are_finished_stages_of_the_chain():
    from ferkit.config.configuration import build_config
    from ferkit.models.saving import read_metadata

    stages = {Path(option(command, "--out")).name: option(command, "--config")
              for command in recipe_commands() if command[0] == "train"}
    checkpoints = sorted((REPO / "checkpoints").glob("*.keras"))
    assert checkpoints, "the recipe is longer than a session, so its long stages must be committed"
    for checkpoint in checkpoints:
        assert checkpoint.stem in stages, f"{checkpoint.name} is not the output of a default-model stage"
        trained_with = build_config(read_metadata(checkpoint).config)
        configured = load_config(REPO / stages[checkpoint.stem])
        assert trained_with.to_dict() == {**configured.to_dict(), "NoOfClasses": trained_with.NoOfClasses}, (
            f"{checkpoint.name} was trained with another configuration than {stages[checkpoint.stem]}")
