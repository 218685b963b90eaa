"""A FER+ run: FER-2013 weights carried over by class name into an eight-class model trained on the votes."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.config import load_config
from ferkit.data import load_data
from ferkit.data.ferplus import FERPLUS_CLASSES
from ferkit.models.saving import load_model
from ferkit.training import train_or_load


@pytest.mark.slow
def test_ferplus_run_starts_from_a_fer2013_model(fer_npz, tiny_fervgg, tmp_path):
    settings = [*tiny_fervgg, "NoOfEpochs=1", "BatchSize=16"]
    fer = load_data(fer_npz)
    first = load_config(None, settings)
    train_or_load(first, fer, tmp_path / "fer", print_fn=lambda _: None, verbose=0)

    config = load_config(None, [*settings, "Labels=ferplus", "SoftLabelWeight=1.0",
                                f"InitialWeights={tmp_path / 'fer' / 'model.keras'}"])
    plus = load_data(fer_npz, labels=config.Labels)
    messages = []
    result = train_or_load(config, plus, tmp_path / "plus", print_fn=messages.append, verbose=0)
    assert result.metadata.class_names == FERPLUS_CLASSES
    assert any("new classes, freshly initialised: contempt" in m for m in messages)
    model, _ = load_model(result.model_path)
    probabilities = np.asarray(model(plus.images[:4].astype("float32"), training=False))
    assert probabilities.shape == (4, 8)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
