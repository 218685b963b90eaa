"""Self-describing model files: a Keras model plus ferkit's metadata (class names, input size, config).

`.keras` files carry the metadata as an extra `ferkit.json` entry in their zip archive; `.h5` files carry it
as an HDF5 attribute. Both are written to a temporary name and renamed, so an interrupted save never leaves
a broken model where a good one was.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ferkit.errors import ModelFileError

METADATA_ENTRY = "ferkit.json"
H5_ATTRIBUTE = "ferkit_metadata"
MODEL_SUFFIXES = (".keras", ".h5")


@dataclass
class ModelMetadata:
    """What a model file must tell its user beyond the weights.

    Args:
        class_names: output index → class name.
        image_size: (height, width) the model expects its face images at.
        color_mode: "grayscale" or "rgb".
        architecture: registry name of the architecture.
        config: the resolved training Configuration as a dict.
        temperature: softmax temperature fitted for calibration (1.0 = uncalibrated).
        face_margin: fraction of the detector's box added on each side to match the training framing
            (None: the detector's framing calibrated on FER-2013, see `ferkit.faces.framing`).
        extra: anything else worth keeping (metrics, data source, version).
    """

    class_names: list[str]
    image_size: tuple[int, int]
    color_mode: str = "grayscale"
    architecture: str = "lenet"
    config: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    face_margin: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=list)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        values = json.loads(text)
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        known["image_size"] = tuple(known["image_size"])
        return cls(**known)


def _write_metadata(path: Path, metadata: ModelMetadata) -> None:
    if path.suffix == ".h5":
        import h5py

        with h5py.File(path, "a") as handle:
            handle.attrs[H5_ATTRIBUTE] = metadata.to_json()
    else:
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(METADATA_ENTRY, metadata.to_json())


def read_metadata(path: str | Path) -> ModelMetadata | None:
    """The metadata stored in a model file, or None for a plain Keras file."""
    path = Path(path)
    try:
        if path.suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as handle:
                text = handle.attrs.get(H5_ATTRIBUTE)
        else:
            with zipfile.ZipFile(path) as archive:
                text = archive.read(METADATA_ENTRY).decode() if METADATA_ENTRY in archive.namelist() else None
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc}") from None
    return ModelMetadata.from_json(text) if text else None


def save_model(model, path: str | Path, metadata: ModelMetadata) -> Path:
    """Save `model` with `metadata` to `path` (`.keras` or `.h5`), never leaving a half-written file."""
    path = Path(path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"model path {path} must end in .keras or .h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        model.save(tmp, overwrite=True)
        _write_metadata(tmp, metadata)
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_model(path: str | Path, compile: bool = False):
    """Load a model file and its metadata: returns `(keras.Model, ModelMetadata)`.

    Raises ModelFileError when the file is missing, unreadable or carries no ferkit metadata.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    metadata = read_metadata(path)
    if metadata is None:
        raise ModelFileError(f"{path} is a Keras model without ferkit metadata (class names, input size)")
    try:
        model = keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise ModelFileError(f"cannot load model file {path}: {str(exc).splitlines()[0]}") from None
    return model, metadata
