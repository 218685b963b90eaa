"""Helpers for the batch tests: a small photo-and-video collection with awkward files, and table comparison."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from support.inference import astronaut, chelsea, group_photo, write_video


def write_collection(root: Path, photos: int = 4) -> dict[str, list[Path]]:
    """photos/ (astronaut copies, shifted), a group photo, a cat (no face), a 10-frame video in a subfolder,
    and corrupt files (text as .jpg, half a PNG, random bytes as .mp4). Returns the paths by kind."""
    (root / "clips").mkdir(parents=True, exist_ok=True)
    kinds: dict[str, list[Path]] = {"astronaut": [], "other": [], "video": [], "corrupt": []}
    for i in range(photos):
        path = root / f"astronaut_{i}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(np.roll(astronaut(), 4 * i, axis=1), cv2.COLOR_RGB2BGR))
        kinds["astronaut"].append(path)
    group, _ = group_photo()
    for name, rgb in (("group.png", group), ("cat.png", chelsea())):
        cv2.imwrite(str(root / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        kinds["other"].append(root / name)
    kinds["video"].append(write_video(root / "clips" / "drift.mp4", frames=10, fps=10.0, face_frames=10))
    (root / "notes.jpg").write_text("this is not a picture")
    half_png = (root / "cat.png").read_bytes()
    (root / "truncated.png").write_bytes(half_png[: len(half_png) // 3])
    (root / "clips" / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    kinds["corrupt"] += [root / "notes.jpg", root / "truncated.png", root / "clips" / "noise.mp4"]
    return kinds


def read_faces(out: Path) -> pd.DataFrame:
    """The face table in a stable row order (file, frame, box), index reset."""
    table = pd.read_parquet(out / "faces", dtype_backend="pyarrow")
    keys = [(file, -1 if pd.isna(frame) else int(frame), tuple(int(v) for v in box))
            for file, frame, box in zip(table["file"], table["frame"], table["box"], strict=True)]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return table.iloc[order].reset_index(drop=True)


def read_errors(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "errors").sort_values("file").reset_index(drop=True)


def assert_same_faces(left: pd.DataFrame, right: pd.DataFrame, atol: float = 1e-5) -> None:
    """Row for row: identical files, frames, times, boxes, emotions, models; probabilities within `atol`."""
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right)
    numeric = [c for c in left.columns if pd.api.types.is_float_dtype(left[c].dtype) and c != "time_s"]
    exact = [c for c in left.columns if c not in numeric and c not in ("box", "landmarks")]
    pd.testing.assert_frame_equal(left[exact], right[exact])
    assert [list(b) for b in left["box"]] == [list(b) for b in right["box"]]
    assert left["landmarks"].astype(str).tolist() == right["landmarks"].astype(str).tolist()
    np.testing.assert_allclose(left[numeric].to_numpy(float), right[numeric].to_numpy(float), atol=atol)
