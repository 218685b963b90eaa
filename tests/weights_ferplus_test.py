"""The committed FER+ model: intact (sha256), FER+'s eight classes, calibrated, trained by its committed config."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ferkit.config import load_config
from ferkit.data.ferplus import FERPLUS_CLASSES
from ferkit.models.saving import read_metadata

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "weights"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_ferplus_model_is_intact_and_describes_itself():
    path = WEIGHTS / "ferplus.keras"
    expected = (WEIGHTS / "ferplus.keras.sha256").read_text().split()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected
    metadata = read_metadata(path)
    assert metadata.class_names == FERPLUS_CLASSES
    assert metadata.color_mode == "grayscale" and tuple(metadata.image_size) == (48, 48)
    assert metadata.temperature != 1.0 and metadata.extra["calibration"]["split"] == "PublicTest"
    committed = load_config(CONFIGS / "fervgg-ferplus-finetune.yaml").to_dict()
    trained = {key: value for key, value in metadata.config.items() if key != "NoOfClasses"}
    assert trained == {key: value for key, value in committed.items() if key != "NoOfClasses"}
