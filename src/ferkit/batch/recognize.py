"""The recognition step of a batch job, as callable classes for Ray Data's `map_batches` (or a plain loop).

Each instance loads one `EmotionRecognizer` when it is created and keeps it for every batch, so an actor
pool pays the model's start-up once per worker. Two entry points share the face rows of `rows.py`:

- `Recognize`: batches of decoded images in, face rows out, for your own Ray Dataset:

      ds = ray.data.read_images("s3://bucket/photos/", include_paths=True, mode="RGB")
      faces = ds.map_batches(ferkit.batch.Recognize, batch_size=16, concurrency=2, num_cpus=1)

- `RecognizeFiles`: batches of file names in, one result row per file out (its face rows nested, or the
  reason it failed); what `ferkit batch` runs, decoding each file inside the worker.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from ferkit.batch.decode import Frame, frames_of
from ferkit.batch.rows import face_row, face_schema, file_result_schema, model_identity
from ferkit.errors import FerkitError
from ferkit.faces.tracking import FaceTracker

DEFAULT_BATCH_SIZE = 16
FILE_COLUMNS = ("path", "file")


def load_recognizer(model: str | None = None, detector: str | None = None, runtime: str = "auto"):
    """An `EmotionRecognizer` (the shipped model and the default detector unless told otherwise)."""
    from ferkit.inference import EmotionRecognizer

    options: dict[str, Any] = {"runtime": runtime}
    if detector is not None:
        options["detector"] = detector
    return EmotionRecognizer.load(model, **options)


def _error_message(file: str, exc: Exception) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not isinstance(exc, FerkitError):
        message = f"{type(exc).__name__}: {message}"
    return message if message.startswith(file) else f"{file}: {message}"


class _RecognizerStep:
    def __init__(self, model: str | None = None, detector: str | None = None, runtime: str = "auto",
                 batch_size: int = DEFAULT_BATCH_SIZE):
        self.recognizer = load_recognizer(model, detector, runtime)
        self.identity = model_identity(self.recognizer)
        self.schema = face_schema(self.recognizer.class_names)
        self.batch_size = batch_size

    def _rows(self, frame: Frame, faces) -> list[dict[str, Any]]:
        return [face_row(face, frame.file, frame.frame, frame.time_s, self.identity) for face in faces]


class Recognize(_RecognizerStep):
    """Decoded images → face rows (the columns of `rows.face_schema`), one Ray Data batch at a time.

    The batch needs an `image` column (RGB, grayscale or RGBA uint8 arrays, e.g. from
    `ray.data.read_images`); `path` or `file` names the image in the rows; optional `frame` and `time_s`
    columns are copied. An image the recognizer cannot use is skipped with a warning naming it.

    Args:
        model: a model file; None for the model shipped with ferkit.
        detector: a face detector name; None for the recognizer's default.
        runtime: the classifier runtime ("auto": from the file).
    """

    def __call__(self, batch: Mapping[str, Any]) -> pa.Table:
        from ferkit.inference.predictor import load_image

        images = list(batch["image"])
        names = next((list(batch[column]) for column in FILE_COLUMNS if column in batch), None)
        frames_column = list(batch["frame"]) if "frame" in batch else [None] * len(images)
        times_column = list(batch["time_s"]) if "time_s" in batch else [None] * len(images)
        frames = []
        for i, image in enumerate(images):
            name = str(names[i]) if names is not None else f"<image {i}>"
            try:
                rgb = load_image(np.asarray(image))
            except (FerkitError, ValueError) as exc:
                warnings.warn(_error_message(name, exc), stacklevel=2)
                continue
            frame, time_s = frames_column[i], times_column[i]
            frames.append(Frame(name, None if frame is None else int(frame),
                                None if time_s is None else float(time_s), rgb))
        rows = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start:start + self.batch_size]
            for frame, faces in zip(chunk, self.recognizer.predict_many([f.rgb for f in chunk]), strict=True):
                rows += self._rows(frame, faces)
        return pa.Table.from_pylist(rows, schema=self.schema)


class RecognizeFiles(_RecognizerStep):
    """File names → one result row per file (`rows.file_result_schema`): every frame decoded here, frames
    of several files classified together in batches of `batch_size`; a file that cannot be decoded or
    classified gets its error and no faces, and the others carry on. The faces of a video are tracked
    (`ferkit.faces.tracking`: a `track` id per person); their probabilities stay per frame, unsmoothed.

    Args:
        model / detector / runtime: as for `Recognize`.
        fps: frames per second sampled from videos (None: every frame).
        batch_size: frames classified together.
    """

    def __init__(self, model: str | None = None, detector: str | None = None, runtime: str = "auto",
                 fps: float | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(model, detector, runtime, batch_size)
        self.fps = fps
        self.result_schema = file_result_schema(self.recognizer.class_names)

    def __call__(self, batch: Mapping[str, Any]) -> pa.Table:
        return self.process([str(file) for file in batch["file"]])

    def process(self, files: Iterable[str]) -> pa.Table:
        """Decode, detect and classify `files`; the result rows in the same order."""
        files = list(files)
        faces: dict[str, list[dict[str, Any]]] = {file: [] for file in files}
        errors: dict[str, str] = {}
        self._trackers: dict[str, FaceTracker] = {}
        pending: list[Frame] = []
        for file in files:
            try:
                for frame in frames_of(file, self.fps):
                    pending.append(frame)
                    if len(pending) == self.batch_size:
                        self._classify(pending, faces, errors)
                        pending = []
            except Exception as exc:  # noqa: BLE001 - any failure of one file is that file's error row
                errors[file] = _error_message(file, exc)
        self._classify(pending, faces, errors)
        return pa.Table.from_pylist(
            [{"file": file, "error": errors.get(file), "faces": [] if file in errors else faces[file]}
             for file in files], schema=self.result_schema)

    def _classify(self, frames: list[Frame], faces: dict, errors: dict) -> None:
        """Classify frames together; when that fails, one by one so the failure lands on its own file."""
        frames = [frame for frame in frames if frame.file not in errors]
        if not frames:
            return
        try:
            predictions = self.recognizer.predict_many([frame.rgb for frame in frames])
        except Exception:  # noqa: BLE001 - retried frame by frame below to find the file at fault
            predictions = None
        for i, frame in enumerate(frames):
            if frame.file in errors:
                continue
            try:
                found = predictions[i] if predictions is not None else self.recognizer.predict(frame.rgb)
            except Exception as exc:  # noqa: BLE001 - this frame's file becomes an error row
                errors[frame.file] = _error_message(frame.file, exc)
                continue
            if frame.frame is not None:
                self._track(frame, found)
            faces[frame.file] += self._rows(frame, found)

    def _track(self, frame: Frame, found) -> None:
        """Give the faces of a video frame their person's track id (frames of a file arrive in order)."""
        tracker = self._trackers.setdefault(frame.file, FaceTracker())
        for face, track in zip(found, tracker.update([face.box for face in found], frame.time_s), strict=True):
            face.track = track
