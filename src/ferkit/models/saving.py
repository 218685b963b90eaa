"""Self-describing model files: a Keras model plus ferkit's metadata (class names, input size, config).

`.keras` files carry the metadata as an extra `ferkit.json` entry in their zip archive; `.h5` files carry it
as an HDF5 attribute. Both are written atomically (`ferkit.files`), so an interrupted save never leaves a
broken model where a good one was.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ferkit.errors import ModelFileError
from ferkit.files import atomic_path
from ferkit.limits import MAX_IMAGE_SIDE

METADATA_ENTRY = "ferkit.json"
H5_ATTRIBUTE = "ferkit_metadata"
MODEL_SUFFIXES = (".keras", ".h5")
# ferkit's metadata is a few kB (the class names and the resolved configuration); anything far larger is not
# ferkit's, and a compressed entry could otherwise expand to gigabytes in memory before it is refused.
MAX_METADATA_BYTES = 1 << 20
# Keras reads a .keras archive's entries whole; these bounds refuse a decompression bomb before it does (the
# largest shipped network is a few MB of weights, its config.json tens of kB).
MAX_KERAS_CONFIG_BYTES = 16 << 20
MAX_KERAS_ARCHIVE_BYTES = 2 << 30


class _MetadataSchema(BaseModel):
    """The shape `ferkit.json` must have; unknown keys are ignored (written by a newer ferkit)."""

    model_config = ConfigDict(extra="ignore", strict=False)

    class_names: list[str] = Field(min_length=1)
    image_size: tuple[int, int]
    color_mode: Literal["grayscale", "rgb"] = "grayscale"
    architecture: str = "lenet"
    config: dict[str, Any] = Field(default_factory=dict)
    temperature: float = Field(1.0, gt=0, allow_inf_nan=False)
    face_margin: float | None = Field(None, ge=0, le=10, allow_inf_nan=False)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("class_names")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("class names must be distinct")
        return names

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, size: tuple[int, int]) -> tuple[int, int]:
        if not all(1 <= side <= MAX_IMAGE_SIDE for side in size):
            raise ValueError(f"both sides must be 1..{MAX_IMAGE_SIDE} pixels")
        return size


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
    def from_json(cls, text: str | bytes, source: str = "model metadata") -> ModelMetadata:
        """Parse and validate stored metadata; anything malformed is a one-line ModelFileError naming `source`."""
        if len(text) > MAX_METADATA_BYTES:
            raise ModelFileError(f"{source}: metadata larger than {MAX_METADATA_BYTES} bytes")
        try:
            values = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"{source}: metadata is not valid JSON ({exc})") from None
        if not isinstance(values, dict):
            raise ModelFileError(f"{source}: metadata must be a JSON object, not {type(values).__name__}")
        try:
            checked = _MetadataSchema.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "metadata"
            raise ModelFileError(f"{source}: metadata key {where}: {error['msg']}") from None
        return cls(**checked.model_dump())

    @property
    def channels(self) -> int:
        """Image channels the model takes: 1 for grayscale, 3 for RGB."""
        return 1 if self.color_mode == "grayscale" else 3

    def check_outputs(self, outputs: int, source: str) -> None:
        """Raise ModelFileError when the model's `outputs` do not match the number of class names."""
        if outputs != len(self.class_names):
            raise ModelFileError(f"{source}: the metadata names {len(self.class_names)} classes but the model has "
                                 f"{outputs} outputs")


def _write_metadata(path: Path, metadata: ModelMetadata) -> None:
    if path.suffix == ".h5":
        import h5py

        with h5py.File(path, "a") as handle:
            handle.attrs[H5_ATTRIBUTE] = metadata.to_json()
    else:
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(METADATA_ENTRY, metadata.to_json())


def _check_archive_sizes(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse a .keras archive whose entries would expand beyond what any ferkit model needs.

    zipfile stops at each entry's declared size, so the declared sizes bound what reading can cost.
    """
    entries = archive.infolist()
    for entry in entries:
        if entry.filename.endswith(".json") and entry.file_size > MAX_KERAS_CONFIG_BYTES:
            raise ModelFileError(f"{path}: {entry.filename} expands to {entry.file_size} bytes "
                                 f"(limit {MAX_KERAS_CONFIG_BYTES})")
    total = sum(entry.file_size for entry in entries)
    if total > MAX_KERAS_ARCHIVE_BYTES:
        raise ModelFileError(f"{path}: the archive expands to {total} bytes (limit {MAX_KERAS_ARCHIVE_BYTES})")


def _read_zip_entry(path: Path, name: str) -> bytes | None:
    """An entry of a zip archive, read no further than MAX_METADATA_BYTES (None when there is no such entry)."""
    with zipfile.ZipFile(path) as archive:
        _check_archive_sizes(path, archive)
        if name not in archive.namelist():
            return None
        with archive.open(name) as entry:
            data = entry.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise ModelFileError(f"{path}: {name} is larger than {MAX_METADATA_BYTES} bytes")
    return data


def _read_h5_attribute(path: Path, name: str) -> str | bytes | None:
    import h5py

    with h5py.File(path, "r") as handle:
        if name not in handle.attrs:
            return None
        stored = handle.attrs.get_id(name)
        if stored.get_storage_size() > MAX_METADATA_BYTES:
            raise ModelFileError(f"{path}: attribute {name} is larger than {MAX_METADATA_BYTES} bytes")
        value = handle.attrs[name]
    if not isinstance(value, str | bytes):
        raise ModelFileError(f"{path}: attribute {name} is not a JSON string")
    return value


def read_metadata(path: str | Path) -> ModelMetadata | None:
    """The metadata stored in a model file, or None for a plain Keras file.

    Raises ModelFileError, naming the file and the problem, for unreadable or malformed metadata.
    """
    path = Path(path)
    try:
        text = _read_h5_attribute(path, H5_ATTRIBUTE) if path.suffix == ".h5" else _read_zip_entry(
            path, METADATA_ENTRY)
    except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"cannot read model file {path}: {reason}") from None
    return ModelMetadata.from_json(text, source=str(path)) if text else None


def save_model(model, path: str | Path, metadata: ModelMetadata) -> Path:
    """Save `model` with `metadata` to `path` (`.keras` or `.h5`), never leaving a half-written file."""
    path = Path(path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"model path {path} must end in .keras or .h5")
    with atomic_path(path) as tmp:
        model.save(tmp, overwrite=True)
        _write_metadata(tmp, metadata)
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
    metadata.check_outputs(model_outputs(model), str(path))
    return model, metadata


def model_outputs(model) -> int:
    """The number of classes a Keras classifier predicts (its last output axis)."""
    return int(model.outputs[0].shape[-1])

