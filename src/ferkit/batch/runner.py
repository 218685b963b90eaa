"""`run`: a whole batch job, from inputs to a resumable Parquet output folder, on either engine."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ferkit.batch.decode import check_fps
from ferkit.batch.engines import ENGINES, RAY_NEEDS_EXTRA, StepSettings, local_results, ray_results
from ferkit.batch.inputs import list_inputs
from ferkit.batch.recognize import DEFAULT_BATCH_SIZE, load_recognizer
from ferkit.batch.rows import error_table, face_table
from ferkit.batch.store import ResultStore
from ferkit.errors import FerkitError
from ferkit.faces import DETECTORS

COMMIT_FILES = 256
COMMIT_SECONDS = 30.0


@dataclass(frozen=True)
class BatchSummary:
    """What a run did: files found, skipped as already done, processed now; faces and failed files found
    now; wall time of this run."""

    out: Path
    files: int
    skipped: int
    processed: int
    faces: int
    errors: int
    seconds: float

    def line(self) -> str:
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.processed} files processed ({self.skipped} already done), {self.faces} faces, "
                f"{self.errors} files failed, {self.seconds:.1f} s ({rate:.1f} files/s); results in "
                f"{self.out}/faces, failures in {self.out}/errors")


class _Progress:
    """A tqdm bar over files, with the faces found and their rate."""

    def __init__(self, total: int, done: int, show: bool | None):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit="file", desc="batch", dynamic_ncols=True,
                        disable=None if show is None else not show)
        self.faces = 0
        self.start = time.monotonic()

    def update(self, files: int, faces: int) -> None:
        self.faces += faces
        elapsed = max(time.monotonic() - self.start, 1e-9)
        self.bar.set_postfix(faces=self.faces, faces_per_s=f"{self.faces / elapsed:.1f}", refresh=False)
        self.bar.update(files)

    def close(self) -> None:
        self.bar.close()


class _Buffer:
    """File results waiting to be committed as one part."""

    def __init__(self, store: ResultStore, commit_every: int):
        self.store = store
        self.commit_every = commit_every
        self.faces: list[pa.Table] = []
        self.errors: list[pa.Table] = []
        self.files: list[str] = []
        self.last_commit = time.monotonic()

    def add(self, faces: pa.Table, errors: pa.Table, files: list[str]) -> None:
        self.faces.append(faces)
        self.errors.append(errors)
        self.files += files
        if len(self.files) >= self.commit_every or time.monotonic() - self.last_commit >= COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        if self.files:
            self.store.commit(pa.concat_tables(self.faces), pa.concat_tables(self.errors), self.files)
        self.faces, self.errors, self.files = [], [], []
        self.last_commit = time.monotonic()


def _check(engine: str, address: str | None, workers: int | None, batch_size: int, fps: float | None,
           model: str | Path | None, detector: str | None, commit_every: int) -> None:
    if engine not in ENGINES:
        raise FerkitError(f"engine={engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise FerkitError(RAY_NEEDS_EXTRA)
    if engine == "local" and (address is not None or workers is not None):
        raise FerkitError("address and workers need engine='ray' (the local engine is this one process)")
    if workers is not None and workers < 1:
        raise FerkitError(f"workers must be at least 1, got {workers}")
    if batch_size < 1:
        raise FerkitError(f"batch_size must be at least 1, got {batch_size}")
    if commit_every < 1:
        raise FerkitError(f"commit_every must be at least 1, got {commit_every}")
    check_fps(fps)
    if detector is not None and detector not in DETECTORS:
        raise FerkitError(f"detector={detector!r} is not one of {', '.join(DETECTORS)}")
    if model is not None and not Path(model).exists():
        raise FerkitError(f"model={str(model)!r}: no such file")
    if engine == "ray" and model is not None:
        load_recognizer(str(model), detector)  # a damaged file fails here in one line, not in every worker


def run(inputs: list[str | Path], out: str | Path, *, engine: str = "local", address: str | None = None,
        workers: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, fps: float | None = None,
        model: str | Path | None = None, detector: str | None = None, runtime: str = "auto",
        progress: bool | None = None, commit_every: int = COMMIT_FILES) -> BatchSummary:
    """Recognise the emotions of every face in `inputs` into Parquet tables under `out`.

    Args:
        inputs: folders (searched recursively), files, glob patterns, or CSV/Parquet manifests with a
            `path` column.
        out: the output folder; files already committed there by an earlier run are skipped.
        engine: "local" (this process, no Ray) or "ray".
        address: the Ray cluster to use (`ray://host:10001`, `host:6379` or "auto"); None starts one here.
        workers: Ray actors, each holding one recognizer (default: one per CPU of the cluster).
        batch_size: images or video frames classified together (and files per Ray batch).
        fps: frames per second sampled from videos (None: every frame).
        model / detector / runtime: the recognizer (default: the shipped model, its default detector).
        progress: show a progress bar on stderr (None: when stderr is a terminal).
        commit_every: files per committed part (also committed every 30 s): at most what a kill loses.
    """
    _check(engine, address, workers, batch_size, fps, model, detector, commit_every)
    files = list_inputs(inputs)
    model = None if model is None else str(Path(model).resolve())
    settings = {"model": model, "detector": detector, "runtime": runtime, "fps": fps}
    step = StepSettings(model, detector, runtime, fps, batch_size)
    start = time.monotonic()
    with ResultStore(out, settings) as store:
        pending = [file for file in files if file not in store.done]
        if not pending:
            results = iter(())
        elif engine == "local":
            results = local_results(pending, step)
        else:
            results = ray_results(pending, step, address, workers)
        buffer = _Buffer(store, commit_every)
        bar = _Progress(len(files), len(files) - len(pending), progress)
        faces = errors = 0
        try:
            for result in results:
                found, failed = face_table(result), error_table(result)
                buffer.add(found, failed, result.column("file").to_pylist())
                faces, errors = faces + found.num_rows, errors + failed.num_rows
                bar.update(result.num_rows, found.num_rows)
        finally:
            buffer.commit()  # also on Ctrl-C: what finished is kept
            bar.close()
            getattr(results, "close", lambda: None)()
    return BatchSummary(Path(out), len(files), len(files) - len(pending), len(pending), faces, errors,
                        time.monotonic() - start)
