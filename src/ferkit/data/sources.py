"""Read labelled face images from the formats people have, into one in-memory `LabeledData`.

Supported: a folder of class sub-folders (`root/<class>/*.png`), a folder of split sub-folders
(`root/train|val|test/<class>/...`), the original FER-2013 CSV (`emotion,pixels[,Usage]`) and the npz
layout of `fer2013.npz` (`images`, `labels`, optional `usage` and `ferplus_votes`). Unreadable images are
skipped and listed in `LabeledData.skipped`, never fatal; an empty dataset or an empty class is.
"""

from __future__ import annotations

import csv
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ferkit.data.ferplus import FERPLUS_COLUMNS, FERPLUS_TO_FERKIT, LABEL_CHOICES, ferplus_relabel
from ferkit.data.images import IMAGE_SUFFIXES, ImageDecodeError, decode_image, to_color_mode
from ferkit.data.npz import checked_npz_arrays, ferplus_votes_of, read_npz
from ferkit.errors import DataError

log = logging.getLogger(__name__)

FER2013_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FERPLUS_TO_FER2013 = {plus: name for plus, name in FERPLUS_TO_FERKIT.items() if name in FER2013_CLASSES}

ROLES = ("train", "validation", "test")
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "validation", "valid": "validation", "validation": "validation", "publictest": "validation",
    "test": "test", "testing": "test", "privatetest": "test",
}


@dataclass
class LabeledData:
    """Images with integer labels and named splits.

    Args:
        images: (N, H, W, C) uint8.
        labels: (N,) int class indices into `class_names`.
        class_names: label index → name.
        splits: split name as the data calls it (e.g. "Training", "val") → row indices.
        roles: "train" / "validation" / "test" → split name.
        source: where the data came from.
        soft_labels: optional (N, K) human vote distributions over `class_names` (FER+).
        skipped: (path, reason) of every image that could not be read.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    splits: dict[str, np.ndarray]
    roles: dict[str, str]
    source: str
    soft_labels: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    own_split: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split_indices(self, name: str) -> np.ndarray:
        """Indices of a split given by its own name ("PrivateTest") or by role ("test")."""
        if name in self.splits:
            return self.splits[name]
        role = SPLIT_ALIASES.get(name.lower(), name.lower())
        if role in self.roles:
            return self.splits[self.roles[role]]
        known = sorted(set(self.splits) | set(self.roles))
        raise DataError(f"{self.source}: no split named {name!r}; available: {', '.join(known)}")


def _ferplus_distribution(votes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """FER+ votes → per-row distributions over the FER-2013 classes (contempt, unknown, NF dropped)."""
    columns = [FERPLUS_COLUMNS.index(plus) for plus, _ in
               sorted(FERPLUS_TO_FER2013.items(), key=lambda item: FER2013_CLASSES.index(item[1]))]
    counts = votes[:, columns].astype(np.float32)
    totals = counts.sum(axis=1, keepdims=True)
    one_hot = np.eye(len(FER2013_CLASSES), dtype=np.float32)[labels]
    return np.where(totals > 0, counts / np.maximum(totals, 1), one_hot)


def _fer_splits(usage: np.ndarray | None, labels: np.ndarray, validation_split: float, seed: int):
    if usage is None:
        return _stratified_split(labels, validation_split, seed)
    names = [name for name in ("Training", "PublicTest", "PrivateTest") if np.any(usage == name)]
    splits = {name: np.flatnonzero(usage == name) for name in names}
    roles = {role: name for role, name in zip(ROLES, ("Training", "PublicTest", "PrivateTest"), strict=True)
             if name in splits}
    return splits, roles, True


def _stratified_split(labels: np.ndarray, validation_split: float, seed: int):
    """Hold out `validation_split` of the rows, keeping the class proportions when the sizes allow it."""
    indices = np.arange(len(labels))
    held_out = math.ceil(len(labels) * validation_split)  # how scikit-learn sizes the held-out part
    if held_out >= len(labels):
        raise DataError(f"{len(labels)} labelled row(s) are too few to hold out a validation split of "
                        f"{validation_split:g}")
    counts = np.bincount(labels)
    classes = np.count_nonzero(counts)
    stratified = counts[counts > 0].min() >= 2 and classes <= min(held_out, len(labels) - held_out)
    try:
        from sklearn.model_selection import train_test_split
    except ImportError:  # the plain install has no scikit-learn; only data without splits of its own needs it
        raise DataError("this dataset has no validation split of its own, and drawing one needs scikit-learn: "
                        "pip install 'ferkit[train]'") from None
    train, validation = train_test_split(indices, test_size=validation_split, random_state=seed,
                                         stratify=labels if stratified else None)
    splits = {"train": np.sort(train), "validation": np.sort(validation)}
    return splits, {"train": "train", "validation": "validation"}, False


def _load_npz(path: Path, validation_split: float, seed: int) -> LabeledData:
    images, labels, usage, votes = checked_npz_arrays(path, read_npz(path), FER2013_CLASSES)
    soft = _ferplus_distribution(votes, labels) if votes is not None else None
    splits, roles, own = _fer_splits(usage, labels, validation_split, seed)
    return LabeledData(images.astype(np.uint8), labels, list(FER2013_CLASSES), splits, roles, str(path),
                       soft_labels=soft, own_split=own)


def _load_fer_csv(path: Path, validation_split: float, seed: int) -> LabeledData:
    images, labels, usage, skipped = [], [], [], []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"emotion", "pixels"} <= set(reader.fieldnames):
            raise DataError(f"{path}: CSV needs the columns 'emotion' and 'pixels' (FER-2013 layout)")
        for row_number, row in enumerate(reader, start=2):
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.int32)
                label = int(row["emotion"])
                side = int(round(len(pixels) ** 0.5))
                if side * side != len(pixels) or side == 0 or pixels.min() < 0 or pixels.max() > 255:
                    raise ValueError(f"{len(pixels)} pixel values do not form a square 8-bit image")
                if not 0 <= label < len(FER2013_CLASSES):
                    raise ValueError(f"emotion {label} is not in 0..6")
            except (ValueError, AttributeError) as exc:
                skipped.append((f"{path}:{row_number}", str(exc)))
                continue
            images.append(pixels.astype(np.uint8).reshape(side, side))
            labels.append(label)
            usage.append(row.get("Usage") or "")
    if not images:
        raise DataError(f"{path}: no usable rows")
    if len({image.shape for image in images}) > 1:
        raise DataError(f"{path}: rows hold images of different sizes")
    labels_array = np.array(labels, dtype=np.int64)
    usage_array = np.array(usage) if all(usage) else None
    splits, roles, own = _fer_splits(usage_array, labels_array, validation_split, seed)
    return LabeledData(np.stack(images)[..., None], labels_array, list(FER2013_CLASSES), splits, roles,
                       str(path), skipped=skipped, own_split=own)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_folder_image(path: Path, image_size: tuple[int, int], color_mode: str) -> np.ndarray:
    rgb = decode_image(path)
    height, width = image_size
    resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return to_color_mode(resized, color_mode)


def _load_folders(root: Path, image_size, color_mode, validation_split, seed) -> LabeledData:
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_folders = [p for p in subfolders if p.name.lower() in SPLIT_ALIASES]
    by_split = bool(split_folders) and len(split_folders) == len(subfolders)
    if by_split:
        class_names = sorted({c.name for s in split_folders for c in s.iterdir()
                              if c.is_dir() and not c.name.startswith(".")})
        groups = [(s.name, s / name, name) for s in split_folders for name in class_names]
    else:
        class_names = [p.name for p in subfolders]
        groups = [(None, p, p.name) for p in subfolders]
    if not class_names:
        raise DataError(f"{root}: no class sub-folders (expected root/<class>/*.png or root/train/<class>/...)")
    files, labels, split_of = [], [], []
    for split, folder, name in groups:
        found = _image_files(folder) if folder.is_dir() else []
        files += found
        labels += [class_names.index(name)] * len(found)
        split_of += [split] * len(found)
    training_split = next((s.name for s in split_folders if SPLIT_ALIASES[s.name.lower()] == "train"), None)
    for index, name in enumerate(class_names):
        in_training = [i for i, label in enumerate(labels) if label == index
                       and (training_split is None or split_of[i] == training_split)]
        if not in_training:
            raise DataError(f"{root}: class {name!r} has no images" + (
                f" in {training_split!r}" if training_split else ""))

    def read(path: Path):
        try:
            return _read_folder_image(path, image_size, color_mode), None
        except ImageDecodeError as exc:
            return None, str(exc)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(read, files))
    keep = [i for i, (image, _) in enumerate(results) if image is not None]
    skipped = [(str(files[i]), reason) for i, (image, reason) in enumerate(results) if image is None]
    if not keep:
        raise DataError(f"{root}: no readable images ({len(skipped)} unreadable)")
    images = np.stack([results[i][0] for i in keep])
    labels_array = np.array([labels[i] for i in keep], dtype=np.int64)
    if by_split:
        kept_splits = np.array([split_of[i] for i in keep])
        splits = {s.name: np.flatnonzero(kept_splits == s.name) for s in split_folders}
        roles = {SPLIT_ALIASES[s.name.lower()]: s.name for s in split_folders}
        own = True
        if "validation" not in roles:
            train_name = roles["train"]
            sub = _stratified_split(labels_array[splits[train_name]], validation_split, seed)[0]
            base = splits[train_name]
            splits[train_name], splits["validation"] = base[sub["train"]], base[sub["validation"]]
            roles["validation"] = "validation"
    else:
        splits, roles, own = _stratified_split(labels_array, validation_split, seed)
    return LabeledData(images, labels_array, class_names, splits, roles, str(root), skipped=skipped,
                       own_split=own)


def load_data(path: str | Path, image_size=(256, 256), color_mode: str = "grayscale",
              validation_split: float = 0.2, seed: int = 42, labels: str = "dataset") -> LabeledData:
    """Load a dataset from any supported layout (see module docstring).

    Args:
        path: a folder, a FER-2013 style `.csv`, or an `.npz`.
        image_size: (height, width) folder images are resized to when read (arrays keep their size; the
            model resizes them).
        color_mode: "grayscale" or "rgb" for folder images (FER-2013 arrays are grayscale).
        validation_split: fraction held out for validation when the data has no split of its own.
        seed: seed of that deterministic, stratified split.
        labels: "dataset" (the data's own labels) or "ferplus" (FER+'s eight classes from the npz's
            `ferplus_votes`, votes as soft labels; see `ferkit.data.ferplus`).
    """
    if labels not in LABEL_CHOICES:
        raise DataError(f"labels={labels!r}: choose one of {', '.join(LABEL_CHOICES)}")
    path = Path(path)
    if not path.exists():
        raise DataError(f"data not found: {path}")
    try:
        if path.is_dir():
            data = _load_folders(path, tuple(image_size), color_mode, validation_split, seed)
        elif path.suffix.lower() == ".npz":
            data = _load_npz(path, validation_split, seed)
        elif path.suffix.lower() == ".csv":
            data = _load_fer_csv(path, validation_split, seed)
        else:
            raise DataError(f"{path}: unsupported data format (use a folder, a FER-2013 .csv or an .npz)")
    except PermissionError as exc:
        raise DataError(f"{exc.filename or path}: permission denied (not readable)") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (cannot decode it as UTF-8)") from None
    if len(data.labels) == 0:
        raise DataError(f"{path}: the dataset is empty")
    if labels == "ferplus":
        data = ferplus_relabel(data, ferplus_votes_of(path))
    if color_mode == "rgb" and data.images.shape[-1] == 1:
        data.images = np.repeat(data.images, 3, axis=-1)
    elif color_mode == "grayscale" and data.images.shape[-1] == 3:
        data.images = np.stack([to_color_mode(image, "grayscale") for image in data.images])
    for reason in data.skipped:
        log.warning("skipped unreadable image %s: %s", *reason)
    return data
