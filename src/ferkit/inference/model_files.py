"""Where an exported model keeps ferkit's metadata (class names, input size, colour mode, temperature, face
margin, version): inside the ONNX file (`metadata_props["ferkit"]`), in `<saved_model>/assets.extra/ferkit.json`,
and in a `<file>.json` sidecar written next to every export. `ferkit.export` writes them; the runtimes here
read them.
"""

from __future__ import annotations

from pathlib import Path

from ferkit.errors import ModelFileError
from ferkit.models.saving import ModelMetadata

METADATA_KEY = "ferkit"
SAVED_MODEL_METADATA = Path("assets.extra") / "ferkit.json"


def sidecar_path(path: str | Path) -> Path:
    """`model.onnx` → `model.onnx.json`: the metadata file written next to an exported model."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_json_metadata(path: Path) -> ModelMetadata | None:
    """The metadata in a JSON file, None when the file does not exist."""
    if not path.is_file():
        return None
    try:
        return ModelMetadata.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: unreadable ferkit metadata ({exc})") from None


def require_metadata(metadata: ModelMetadata | None, path: Path) -> ModelMetadata:
    if metadata is None:
        raise ModelFileError(f"{path} carries no ferkit metadata (expected {sidecar_path(path)} next to it); "
                             "export models with `ferkit export`")
    return metadata


def exported_metadata(path: Path, embedded: ModelMetadata | None = None) -> ModelMetadata:
    """The metadata of an exported model: `embedded` (read from the file itself) or else its sidecar."""
    return require_metadata(embedded or read_json_metadata(sidecar_path(path)), path)
