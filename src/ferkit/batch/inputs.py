"""Which files a batch job reads: folders, glob patterns and manifests (CSV or Parquet lists of paths).

Every input expands to image and video files, deduplicated and in a stable order (given order, each folder
or pattern sorted), so that two runs over the same inputs see the same list and a resumed run can skip
what a previous one finished. Paths are kept as strings exactly as they will be opened; a manifest's
relative paths are resolved against the manifest's own folder.
"""

from __future__ import annotations

import glob
from pathlib import Path

from ferkit.data.images import IMAGE_SUFFIXES
from ferkit.errors import FerkitError
from ferkit.inference.video import VIDEO_SUFFIXES

MEDIA_SUFFIXES = IMAGE_SUFFIXES + VIDEO_SUFFIXES
MANIFEST_SUFFIXES = (".csv", ".parquet")
PATH_COLUMNS = ("path", "file", "filename")
GLOB_CHARACTERS = "*?["


class BatchInputError(FerkitError):
    """An input that names nothing to process: a missing path, an empty folder or pattern, a bad manifest."""


def is_media(path: str | Path) -> bool:
    return Path(path).suffix.lower() in MEDIA_SUFFIXES


def _folder(path: Path) -> list[str]:
    found = sorted(str(p) for p in path.rglob("*") if p.is_file() and is_media(p))
    if not found:
        raise BatchInputError(f"{path}: no images or videos in this folder")
    return found


def _pattern(pattern: str) -> list[str]:
    found = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file() and is_media(p))
    if not found:
        raise BatchInputError(f"{pattern}: the pattern matches no images or videos")
    return found


def _manifest_column(names: list[str], manifest: Path) -> str:
    lowered = {name.lower(): name for name in names}
    for wanted in PATH_COLUMNS:
        if wanted in lowered:
            return lowered[wanted]
    raise BatchInputError(f"{manifest}: a manifest needs a column named {' or '.join(PATH_COLUMNS)} "
                          f"(found {', '.join(names) or 'no columns'})")


def _manifest(manifest: Path) -> list[str]:
    """The paths listed in a CSV or Parquet manifest, relative ones resolved against its folder."""
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    try:
        table = (pyarrow.parquet.read_table(manifest) if manifest.suffix.lower() == ".parquet"
                 else pyarrow.csv.read_csv(manifest))
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BatchInputError(f"{manifest}: cannot read the manifest ({reason})") from None
    column = _manifest_column(table.column_names, manifest)
    paths = []
    for value in table.column(column).to_pylist():
        if value is None or not str(value).strip():
            continue
        path = Path(str(value).strip())
        paths.append(str(path if path.is_absolute() else manifest.parent / path))
    if not paths:
        raise BatchInputError(f"{manifest}: the manifest lists no files")
    return paths


def list_inputs(inputs: list[str | Path]) -> list[str]:
    """Expand folders (recursively), glob patterns and manifests into the files to process.

    A file given directly (or listed in a manifest) is kept whatever its suffix: one that cannot be read
    becomes an error row of the job rather than silently disappearing.
    """
    if not inputs:
        raise BatchInputError("no inputs given: name folders, files, glob patterns or manifests")
    files: list[str] = []
    for given in inputs:
        text = str(given)
        path = Path(text)
        if path.is_dir():
            files += _folder(path)
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            files += _manifest(path)
        elif path.is_file():
            files.append(text)
        elif any(character in text for character in GLOB_CHARACTERS):
            files += _pattern(text)
        else:
            raise BatchInputError(f"{text}: no such file, folder or pattern")
    return list(dict.fromkeys(files))
