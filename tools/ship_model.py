"""Export a shipped model's Keras source to the ONNX file the package ships, and write both checksums.

The `.keras` in `src/ferkit/weights/` is the one source of truth; the `.onnx` beside it is derived from it by
`ferkit.export.export_model` (the parity check against the Keras model must pass, on the model's own
validation data when it is present, else on generated faces) and carries the release version in its metadata.

    .venv/bin/python tools/ship_model.py default        # → src/ferkit/weights/fervgg.onnx (+ .sha256)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from ferkit.errors import FerkitError
from ferkit.export import export_model
from ferkit.inference.shipped import SHIPPED_MODELS, shipped_model, weights_folder


def write_checksum(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def ship(name: str, data: str | None) -> None:
    model = shipped_model(name)
    source = weights_folder() / model.keras_file
    if not source.is_file():
        raise FerkitError(f"{source} is missing: put the trained model there first")
    write_checksum(source)
    out = weights_folder() / model.onnx_file
    export_model(source, "onnx", out=out, data=data, version=model.version, print_fn=print)
    out.with_name(out.name + ".json").unlink(missing_ok=True)  # the metadata is inside the ONNX file
    print(f"{out.name}: sha256 {write_checksum(out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", choices=sorted(SHIPPED_MODELS))
    parser.add_argument("--data", help="dataset for the parity check (default: the model's training data)")
    args = parser.parse_args()
    try:
        for name in args.names:
            ship(name, args.data)
    except FerkitError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
