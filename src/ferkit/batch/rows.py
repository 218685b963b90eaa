"""The tables a batch job writes: one row per face, one row per failed file, and how faces become rows.

Face table columns: `file, frame, time_s, track, box, landmarks, emotion, confidence, <one float column per
class>, model, model_version`. `frame` and `time_s` are null for still images; `track` and `landmarks` are
null when the face detector or tracker does not give them. `box` is `[x, y, w, h]` in image pixels;
`landmarks` is a struct of five `[x, y]` points named from the subject's point of view.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ferkit.errors import FerkitError
from ferkit.faces.boxes import LANDMARK_NAMES

POINT = pa.list_(pa.float32(), 2)
LANDMARKS = pa.struct([(name, POINT) for name in LANDMARK_NAMES])
FIXED_COLUMNS = ("file", "frame", "time_s", "track", "box", "landmarks", "emotion", "confidence",
                 "model", "model_version")
ERROR_SCHEMA = pa.schema([("file", pa.string()), ("error", pa.string())])
HASH_CHUNK = 1 << 20
VERSION_DIGITS = 12


def face_schema(class_names: Sequence[str]) -> pa.Schema:
    """The face table's schema for a model with these classes (one probability column per class)."""
    clashes = sorted(set(class_names) & set(FIXED_COLUMNS))
    if clashes:
        raise FerkitError(f"the model's class names {clashes} clash with the batch table's own columns")
    return pa.schema([
        ("file", pa.string()), ("frame", pa.int64()), ("time_s", pa.float64()), ("track", pa.int64()),
        ("box", pa.list_(pa.int32(), 4)), ("landmarks", LANDMARKS), ("emotion", pa.string()),
        ("confidence", pa.float32()), *[(name, pa.float32()) for name in class_names],
        ("model", pa.string()), ("model_version", pa.string()),
    ])


def file_result_schema(class_names: Sequence[str]) -> pa.Schema:
    """What a worker returns per input file: its face rows nested in one row, or the reason it failed."""
    return pa.schema([("file", pa.string()), ("error", pa.string()),
                      ("faces", pa.list_(pa.struct(list(face_schema(class_names)))))])


def model_identity(recognizer) -> tuple[str, str]:
    """`(model, model_version)`: the model file's name and the first digits of its sha256, so rows from
    different runs, engines or machines say exactly which weights produced them."""
    path = getattr(recognizer, "model_path", None)
    if path is None or not Path(path).is_file():
        return str(getattr(recognizer.metadata, "architecture", "unknown")), "unknown"
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return Path(path).name, digest.hexdigest()[:VERSION_DIGITS]


def _point(value) -> list[float]:
    x, y = value
    return [float(x), float(y)]


def landmarks_row(landmarks) -> dict[str, list[float]] | None:
    """A face's landmarks (a name → (x, y) mapping, five points in `LANDMARK_NAMES` order, or an object
    with `to_json()`) as the table's struct; None when the face has none."""
    if landmarks is None:
        return None
    if hasattr(landmarks, "to_json"):
        landmarks = landmarks.to_json()
    if isinstance(landmarks, Mapping):
        return {name: _point(landmarks[name]) for name in LANDMARK_NAMES}
    points = [_point(point) for point in landmarks]
    return dict(zip(LANDMARK_NAMES, points, strict=True))


def face_row(face, file: str, frame: int | None, time_s: float | None,
             identity: tuple[str, str]) -> dict[str, Any]:
    """One face as a row of the face table."""
    track = getattr(face, "track", None)
    return {
        "file": file, "frame": frame, "time_s": time_s, "track": None if track is None else int(track),
        "box": [int(v) for v in face.box], "landmarks": landmarks_row(getattr(face, "landmarks", None)),
        "emotion": face.emotion, "confidence": float(face.confidence),
        **{name: float(p) for name, p in face.probabilities.items()},
        "model": identity[0], "model_version": identity[1],
    }


def error_table(results: pa.Table) -> pa.Table:
    """The failed files of a batch of file results, as rows of the error table."""
    failed = results.filter(pc.is_valid(results.column("error")))
    return failed.select(["file", "error"]).cast(ERROR_SCHEMA)


def face_table(results: pa.Table) -> pa.Table:
    """The face rows nested in a batch of file results, flattened into the face table."""
    return pa.Table.from_struct_array(results.column("faces").combine_chunks().flatten())
