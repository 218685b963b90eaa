"""The npz dataset layout (`images`, `labels`, optional `usage` and `ferplus_votes`, as in `fer2013.npz`):
read without pickles and checked array by array, so a bad file is one line naming the array and the problem."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ferkit.data.ferplus import FERPLUS_COLUMNS
from ferkit.errors import DataError


def read_ferplus_votes(data_source: str | Path) -> np.ndarray | None:
    """The raw `ferplus_votes` array of an npz dataset (row-aligned with its images), or None."""
    path = Path(data_source)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as arrays:
        return arrays["ferplus_votes"] if "ferplus_votes" in arrays.files else None


def ferplus_votes_of(path: Path) -> np.ndarray:
    """The `ferplus_votes` array of an npz dataset, or DataError saying FER+ labels need one."""
    votes = read_ferplus_votes(path)
    if votes is None:
        raise DataError(f"{path}: FER+ labels need an .npz with a 'ferplus_votes' array (like fer2013.npz)")
    return votes


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an npz file (no pickles), or DataError naming the file and why it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: cannot read npz ({str(exc).splitlines()[0] if str(exc) else exc!r})") from None


def checked_npz_arrays(path: Path, arrays: dict[str, np.ndarray], class_names: list[str]):
    """images (N, H, W, C) uint8, labels (N,) int64 indexing `class_names`, usage and votes or None;
    DataError naming any bad array."""
    missing = [name for name in ("images", "labels") if name not in arrays]
    if missing:
        raise DataError(f"{path}: npz has no array {missing[0]!r} (needs 'images' and 'labels')")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or not np.issubdtype(images.dtype, np.number):
        raise DataError(f"{path}: array 'images' has shape {arrays['images'].shape} and dtype "
                        f"{images.dtype}; expected (N, H, W) or (N, H, W, 1 or 3) numbers")
    if images.dtype != np.uint8 and not np.all((images >= 0) & (images <= 255)):
        raise DataError(f"{path}: array 'images' holds values outside 0..255 (pixels must be 8-bit)")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: array 'labels' has shape {labels.shape} and dtype {labels.dtype}; "
                        f"expected (N,) integers")
    for name, expected in (("labels", 1), ("usage", 1), ("ferplus_votes", 2)):
        if name in arrays and (arrays[name].ndim != expected or len(arrays[name]) != len(images)):
            raise DataError(f"{path}: array {name!r} has shape {arrays[name].shape} but 'images' has "
                            f"{len(images)} rows")
    outside = labels[(labels < 0) | (labels >= len(class_names))]
    if outside.size:
        raise DataError(f"{path}: array 'labels' holds {outside.size} values outside 0..{len(class_names) - 1} "
                        f"(e.g. {outside[0]}); FER-2013 numbers its classes {', '.join(class_names)}")
    votes = arrays.get("ferplus_votes")
    if votes is not None and votes.shape[1] != len(FERPLUS_COLUMNS):
        raise DataError(f"{path}: array 'ferplus_votes' has {votes.shape[1]} columns, expected "
                        f"{len(FERPLUS_COLUMNS)} ({', '.join(FERPLUS_COLUMNS)})")
    return images, labels.astype(np.int64), arrays.get("usage"), votes
