"""The output folder of a batch job, written so that a crash or a kill never leaves half a result.

    OUT/faces/part-000000-1f2e3d4c.parquet    one row per face (rows.face_schema)
    OUT/errors/part-000000-1f2e3d4c.parquet   one row per file that failed (rows.ERROR_SCHEMA)
    OUT/done.jsonl                            one line per committed part: its name and its files
    OUT/job.json                              the settings the results were made with

A part is written under a hidden temporary name and renamed into place; it counts only once its line is in
`done.jsonl` (appended and fsynced after the renames). On opening, parts without a line (a crash between
the rename and the append) and a torn last line are removed, so a re-run redoes exactly the unfinished
files. `pandas.read_parquet("OUT/faces")` reads the whole table (hidden temporary files are ignored).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ferkit.errors import FerkitError

MANIFEST = "done.jsonl"
SETTINGS = "job.json"
LOCK = ".lock"
TABLES = ("faces", "errors")


class OutputFolderError(FerkitError):
    """An output folder that cannot be used: in use by another job, or holding another job's results."""


def _fsync_append(path: Path, line: str) -> None:
    with path.open("a") as stream:
        stream.write(line + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def _write_atomically(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, tmp)
        with tmp.open("rb") as stream:
            os.fsync(stream.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


class ResultStore:
    """Commits finished files to OUT and remembers which are done (resume).

    Args:
        out: the output folder (created if missing).
        settings: what the results depend on (model, detector, fps...); a folder made with other settings
            is refused rather than mixed.
    """

    def __init__(self, out: str | Path, settings: dict[str, Any]):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise OutputFolderError(f"out={str(self.out)!r} is a file, not a folder")
        self._created = not self.out.exists()
        for table in TABLES:
            (self.out / table).mkdir(parents=True, exist_ok=True)
        self._lock = (self.out / LOCK).open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise OutputFolderError(f"{self.out} is being written by another ferkit batch job") from None
        self.parts: list[dict[str, Any]] = self._read_manifest()
        self._check_settings(settings)
        self.done: set[str] = {file for part in self.parts for file in part["files"]}
        self._remove_uncommitted()

    def _check_settings(self, settings: dict[str, Any]) -> None:
        """Refuse other settings once results exist; before that, (re)write them (a first run that failed
        before committing anything, e.g. on a mistyped detector, does not pin its settings)."""
        path = self.out / SETTINGS
        if self.parts and path.is_file():
            previous = json.loads(path.read_text())
            changed = {key: (previous.get(key), value) for key, value in settings.items()
                       if previous.get(key) != value}
            if changed:
                what = ", ".join(f"{key} {old!r} → {new!r}" for key, (old, new) in changed.items())
                self.close()
                raise OutputFolderError(f"{self.out} holds results made with other settings ({what}); "
                                        "use another output folder or the same settings")
        else:
            tmp = path.with_name(f".{SETTINGS}.tmp")
            tmp.write_text(json.dumps(settings, indent=2) + "\n")
            tmp.replace(path)

    def _read_manifest(self) -> list[dict[str, Any]]:
        """Committed parts; a torn last line (a kill during the append) is dropped from the file."""
        path = self.out / MANIFEST
        if not path.is_file():
            return []
        parts, lines = [], path.read_text().splitlines()
        for line in lines:
            try:
                parts.append(json.loads(line))
            except json.JSONDecodeError:
                break
        if len(parts) < len(lines):
            tmp = path.with_name(f".{MANIFEST}.tmp")
            tmp.write_text("".join(json.dumps(part) + "\n" for part in parts))
            tmp.replace(path)
        return parts

    def _remove_uncommitted(self) -> None:
        committed = {part["part"] for part in self.parts}
        for table in TABLES:
            for path in (self.out / table).iterdir():
                if path.name.startswith(".") or path.name.removesuffix(".parquet") not in committed:
                    path.unlink()

    def commit(self, faces: pa.Table, errors: pa.Table, files: list[str]) -> None:
        """Write the faces and errors of `files` as one part and mark the files done."""
        name = f"part-{len(self.parts):06d}-{uuid.uuid4().hex[:8]}"
        _write_atomically(faces, self.out / "faces" / f"{name}.parquet")
        _write_atomically(errors, self.out / "errors" / f"{name}.parquet")
        part = {"part": name, "files": files, "faces": faces.num_rows, "errors": errors.num_rows}
        _fsync_append(self.out / MANIFEST, json.dumps(part))
        self.parts.append(part)
        self.done.update(files)

    def close(self) -> None:
        """Release the folder; one this job created and never committed to is removed (a job that stopped
        before its first result, e.g. on a damaged model, leaves nothing behind)."""
        if not self._lock.closed:
            if self._created and not self.parts:
                shutil.rmtree(self.out, ignore_errors=True)
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
