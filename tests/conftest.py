"""Shared fixtures: small generated datasets and tiny configurations, so the suite runs fast on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ferkit.data.synthetic import SYNTHETIC_CLASSES, make_faces, write_image_folder  # noqa: E402

SHARED_FER2013 = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "fer2013" / "fer2013.npz"


@pytest.fixture(scope="session")
def tiny_fervgg() -> list[str]:
    """`--set` overrides for a fervgg small enough to train in seconds (the shipped recipe's optimizer)."""
    return ["Architecture=fervgg", "NoOfFilters=4", "ImageSize=[48,48]", "CropSize=[44,44]", "Optimizer=adamw"]


@pytest.fixture(scope="session")
def faces_folder(tmp_path_factory) -> Path:
    """root/<class>/*.png with 60 drawn 48x48 faces per class (4 classes)."""
    return write_image_folder(tmp_path_factory.mktemp("faces") / "data", per_class=60, size=48, seed=3)


@pytest.fixture(scope="session")
def split_faces_folder(tmp_path_factory) -> Path:
    """root/train|val|test/<class>/*.png."""
    return write_image_folder(tmp_path_factory.mktemp("split") / "data", per_class=40, size=32, seed=4,
                              splits={"train": 0.6, "val": 0.2, "test": 0.2})


@pytest.fixture(scope="session")
def fer_npz(tmp_path_factory) -> Path:
    """A small npz in the layout of fer2013.npz (7 classes, usage column, FER+ votes)."""
    rng = np.random.default_rng(0)
    images, labels = make_faces(30, size=48, classes=SYNTHETIC_CLASSES, seed=5)
    labels = np.array([0, 3, 4, 5])[labels]  # angry, happy, sad, surprise in FER-2013 numbering
    usage = np.array(["Training"] * 80 + ["PublicTest"] * 20 + ["PrivateTest"] * 20)
    votes = rng.integers(0, 4, size=(len(labels), 10)).astype(np.uint8)
    path = tmp_path_factory.mktemp("npz") / "fer.npz"
    np.savez_compressed(path, images=images[..., 0], labels=labels.astype(np.int8), usage=usage,
                        ferplus_votes=votes)
    return path


@pytest.fixture(scope="session")
def batch_collection(tmp_path_factory) -> tuple[Path, dict]:
    """A small collection of photos, a video and corrupt files for the batch tests (support.batch)."""
    from support.batch import write_collection

    root = tmp_path_factory.mktemp("collection")
    return root, write_collection(root)


@pytest.fixture(scope="session")
def batch_local_run(batch_collection, tmp_path_factory):
    """`ferkit.batch.run` over the collection with the local engine: (output folder, summary)."""
    from ferkit.batch import run

    root, _ = batch_collection
    out = tmp_path_factory.mktemp("batch-local") / "out"
    return out, run([root], out, fps=5, batch_size=4, progress=False)
