"""A seeded sample of the fuzz campaign (bench/fuzz.py runs the full 10,000 inputs): mutated images, multipart
bodies and odd requests through the API, damaged images, datasets, model files and configurations through the
CLI. No input may give a 5xx, an error without `{"error": ...}`, a traceback, or a file without its output
line."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ferkit.serving import ServeSettings, create_app

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_bench_module(name: str):
    """A module of bench/ (not a package), imported by path with bench/ on sys.path, as when run as a script."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


fuzz = load_bench_module("fuzz")


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return fuzz.inputs.seed_images()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return fuzz.write_tiny_model(tmp_path_factory.mktemp("fuzz") / "tiny.keras")


def assert_nothing_found(tally) -> None:
    assert tally.inputs > 0
    assert tally.findings == 0, "\n".join(tally.examples)


@pytest.mark.slow
def test_fuzzed_requests_get_answers_never_5xx(tiny_model, seeds):
    app = create_app(ServeSettings(model=tiny_model, body_timeout=3))
    tally = fuzz.Tally("api_http")
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while client.get("/healthz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        fuzz.fuzz_http(client, 300, np.random.default_rng(21), seeds, tally)
    assert_nothing_found(tally)
    assert tally.outcomes[200] > 0 and tally.outcomes[415] > 0 and tally.outcomes[400] > 0  # it reached the model


@pytest.mark.slow
def test_fuzzed_files_through_the_cli_give_no_traceback(tiny_model, seeds, tmp_path):
    from typer.testing import CliRunner

    runner, rng = CliRunner(), np.random.default_rng(21)
    photo = fuzz.inputs.write(tmp_path / "photo.jpg", seeds[0])
    dataset = tmp_path / "tiny.npz"
    np.savez(dataset, **fuzz.inputs.fer_arrays(np.random.default_rng(0)))
    images = fuzz.Tally("cli_images")
    fuzz.fuzz_cli_images(runner, tiny_model, 60, rng, seeds, tmp_path, images)
    assert_nothing_found(images)
    for kind, count in (("cli_npz", 8), ("cli_csv", 8), ("cli_models", 6), ("cli_configs", 6)):
        tally = fuzz.Tally(kind)
        fuzz.fuzz_cli_files(runner, kind, count, rng, tmp_path, tally, tiny_model, tiny_model.read_bytes(), photo,
                            dataset)
        assert_nothing_found(tally)
