"""The models shipped inside the package, by name: `EmotionRecognizer.load("default")`, `--model default`.

Each shipped model is an ONNX file in `ferkit/weights/` (run by onnxruntime, no TensorFlow needed), checked
against its `<file>.sha256` at every load. Its Keras source, the training artefact it was exported from by
`ferkit export` (see `tools/ship_model.py`), sits beside it in the source tree but is left out of the wheel;
`runtime="keras"` (Grad-CAM, `ferkit export`, `ferkit calibrate`) uses it from a checkout.

Adding a shipped model: put `<name>.keras` in `src/ferkit/weights/`, add one `ShippedModel` entry below, and
run `python tools/ship_model.py <name>` (exports the ONNX file with the parity check, writes the checksums).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ferkit.errors import ModelFileError

DEFAULT_MODEL = "default"


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model.

    Args:
        name: what users pass as `model` / `--model`.
        stem: its files are `<stem>.onnx` (shipped) and `<stem>.keras` (source), each with a `.sha256`.
        version: the release name stored in the ONNX metadata (see docs/model-card.md).
        summary: one line for listings.
    """

    name: str
    stem: str
    version: str
    summary: str

    @property
    def onnx_file(self) -> str:
        return f"{self.stem}.onnx"

    @property
    def keras_file(self) -> str:
        return f"{self.stem}.keras"


SHIPPED_MODELS = {
    model.name: model for model in (
        ShippedModel("default", "fervgg", "fervgg-2026.11.28.5",
                     "fervgg on FER-2013 (7 classes, 48x48 grayscale, temperature-calibrated)"),
        ShippedModel("ferplus", "ferplus", "ferplus-2026.12.04.3",
                     "fervgg on the FER+ votes (8 classes with contempt, 48x48 grayscale, temperature-calibrated)"),
    )
}


def weights_folder() -> Path:
    return Path(str(resources.files("ferkit"))) / "weights"


def _verified(path: Path) -> Path:
    checksum = path.with_name(path.name + ".sha256")
    if not checksum.is_file():
        raise ModelFileError(f"the shipped model {path} has no checksum file {checksum.name}")
    fields = checksum.read_text().split()  # `sha256sum` format: "<hex>  <file name>"
    expected = fields[0].lower() if fields else ""
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise ModelFileError(f"{path} is damaged: its sha256 {actual} does not match {checksum.name} "
                             f"({expected})")
    return path


def shipped_model(name: str) -> ShippedModel:
    if name not in SHIPPED_MODELS:
        raise ModelFileError(f"no shipped model named {name!r}; shipped: {', '.join(SHIPPED_MODELS)}")
    return SHIPPED_MODELS[name]


def shipped_model_path(name: str = DEFAULT_MODEL, keras_source: bool = False) -> Path:
    """The shipped model's ONNX file (or, with `keras_source`, the `.keras` it came from), sha256-checked."""
    model = shipped_model(name)
    path = weights_folder() / (model.keras_file if keras_source else model.onnx_file)
    if not path.is_file():
        if keras_source:
            raise ModelFileError(f"the Keras source of the shipped model {name!r} ({model.keras_file}) is not "
                                 "installed: it is in the repository's src/ferkit/weights/; pass a .keras "
                                 "model file instead")
        raise ModelFileError(f"the shipped model {name!r} is not installed ({path} is missing)")
    return _verified(path)


def is_shipped_name(model: str | Path | None) -> bool:
    """True for None and for a shipped model's name that is not also an existing path."""
    return model is None or (str(model) in SHIPPED_MODELS and not Path(model).exists())


def resolve_model(model: str | Path | None, runtime: str = "auto") -> Path:
    """A model argument as a path: None or a shipped name → the shipped file (the Keras source when
    `runtime` is "keras"); anything else is a path, returned as given."""
    if not is_shipped_name(model):
        return Path(model)
    return shipped_model_path(str(model or DEFAULT_MODEL), keras_source=runtime == "keras")
