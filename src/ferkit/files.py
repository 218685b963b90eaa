"""Atomic file writes: a file appears complete under its name, or not at all.

Every file ferkit writes for a user goes through `atomic_path`: the content is written to a hidden temporary
file beside the target (`.NAME.tmp-XXXXXXXX.SUFFIX`, same suffix so encoders and Keras pick the format),
flushed to disk, given the usual permissions (0644: readable by others, as a file created with `open` would
be, not mkstemp's 0600) and renamed over the target. A kill leaves at worst a stale temporary file, which
`remove_stale_temporaries` deletes when a run starts again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o644
TEMPORARY_MARK = ".tmp-"
# Keras decides the format of weights files by their whole ending, not only the last suffix.
COMPOUND_SUFFIXES = (".weights.h5",)


def _suffix(path: Path) -> str:
    return next((suffix for suffix in COMPOUND_SUFFIXES if path.name.endswith(suffix)), path.suffix)


def temporary_path_for(path: str | Path) -> Path:
    """A new empty hidden file beside `path` with the same suffix (creating `path`'s folder if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}{TEMPORARY_MARK}", suffix=_suffix(path), dir=path.parent)
    os.close(fd)
    return Path(name)


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # a folder that cannot be opened for syncing (some platforms): the rename still holds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: Path, path: Path, mode: int = FILE_MODE) -> None:
    """Flush `tmp` to disk, set its permissions and rename it over `path` (then flush the folder entry)."""
    _fsync(tmp)
    tmp.chmod(mode)
    os.replace(tmp, path)
    _fsync(path.parent)


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int = FILE_MODE) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; it replaces `path` when the block succeeds.

    On an exception the temporary file is removed and `path` keeps its previous content (or stays absent).
    """
    path = Path(path)
    tmp = temporary_path_for(path)
    try:
        yield tmp
        commit(tmp, path, mode)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def copy_file(source: str | Path, target: str | Path) -> Path:
    """Copy `source` to `target` atomically (a kill mid-copy leaves the old `target`)."""
    with atomic_path(target) as tmp:
        with Path(source).open("rb") as reader, tmp.open("wb") as writer:
            while block := reader.read(1 << 20):
                writer.write(block)
    return Path(target)


def remove_stale_temporaries(folder: str | Path, legacy_stems: tuple[str, ...] = ()) -> list[Path]:
    """Delete the temporary files a killed write left in `folder`; returns what was removed.

    `legacy_stems` also matches the `.STEM.XXXXXXXX.SUFFIX` names of temporaries from earlier ferkit versions.
    Call only while no other process writes into `folder`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    patterns = [f".*{TEMPORARY_MARK}*"] + [f".{stem}.*" for stem in legacy_stems]
    removed = []
    for pattern in patterns:
        for stale in folder.glob(pattern):
            if stale.is_file() and stale not in removed:
                stale.unlink(missing_ok=True)
                removed.append(stale)
    return removed
