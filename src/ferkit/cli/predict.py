"""`ferkit predict`: emotions of the faces in images, folders of images and videos, one JSON line per image
(per sampled frame for a video) on stdout.

Every input is handled on its own: one that cannot be read gets a record with `"error"` naming the problem,
and the others still complete. The exit code is 0 when at least one input succeeded, 1 when none did.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ferkit.cli.options import TrustModelOption
from ferkit.errors import FerkitError
from ferkit.faces.detectors import MIN_FACE

STDIN = "-"
EXIT_NOTHING_SUCCEEDED = 1


@dataclass(frozen=True)
class Input:
    """One input: an image file, a video file or stdin, and the path its outputs get under --out."""

    source: str
    kind: str  # "image", "video" or "stdin"
    relative: Path


def collect_inputs(paths: list[str]) -> list[Input]:
    """Expand folders (recursively, image and video files only, sorted); keep files and `-` as given."""
    from ferkit.data.images import IMAGE_SUFFIXES
    from ferkit.inference.video import VIDEO_SUFFIXES, is_video

    inputs = []
    for given in paths:
        if given == STDIN:
            inputs.append(Input(STDIN, "stdin", Path("stdin")))
            continue
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
            inputs += [Input(str(p), "video" if is_video(p) else "image", p.relative_to(path)) for p in found]
        else:
            inputs.append(Input(given, "video" if is_video(path) else "image", Path(path.name)))
    return inputs


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _output_stem(out: Path, item: Input) -> Path:
    return out / item.relative.parent / item.relative.stem


class Run:
    """Predicts the inputs in batches of images, writing records and annotated outputs as it goes."""

    def __init__(self, recognizer, out: Path | None, explain: bool, fps: float | None, every: int | None,
                 smooth: float):
        self.recognizer = recognizer
        self.out = out
        self.explain = explain
        self.fps = fps
        self.every = every
        self.smooth = smooth
        self.succeeded = 0
        self.images_predicted = 0
        self.without_face: list[str] = []

    def images(self, items: list[Input]) -> None:
        """Decode each image, predict the readable ones together, then emit the records in input order (an
        unreadable image gets its error record)."""
        from ferkit.data.images import decode_image

        decoded = []
        for item in items:
            try:
                source = sys.stdin.buffer.read() if item.kind == "stdin" else item.source
                decoded.append((item, decode_image(source, name=item.source), None))
            except FerkitError as exc:
                decoded.append((item, None, exc))
        readable = [rgb for _, rgb, _ in decoded if rgb is not None]
        predictions = iter(self.recognizer.predict_many(readable) if readable else [])
        for item, rgb, error in decoded:
            if error is None:
                self._finish_image(item, rgb, next(predictions))
            else:
                _emit(_error_record(item.source, error))

    def _finish_image(self, item: Input, rgb, faces) -> None:
        from ferkit.inference import annotate
        from ferkit.inference.outputs import write_image

        if self.out is not None:
            if self.explain:
                self.recognizer.explain(faces)
            stem = _output_stem(self.out, item)
            write_image(stem.with_name(stem.name + ".annotated.png"), annotate(rgb, faces))
        _emit(faces.to_json(file=item.source))
        self.succeeded += 1
        self.images_predicted += 1
        if not faces:
            self.without_face.append(item.source)

    def video(self, item: Input) -> None:
        from ferkit.inference.video import predict_video

        try:
            summary = predict_video(self.recognizer, item.source, _emit, fps=self.fps, every=self.every,
                                    out_stem=_output_stem(self.out, item) if self.out else None,
                                    explain=self.explain, smooth_seconds=self.smooth)
        except FerkitError as exc:
            _emit(_error_record(item.source, exc))
            return
        self.succeeded += 1
        dominant = summary["dominant_emotion"]
        share = f" ({summary['emotion_share'][dominant]:.0%} of frames with a face)" if dominant else ""
        people = len(summary["tracks"])
        typer.echo(f"{item.source}: {summary['samples']} frames sampled, {summary['samples_with_faces']} "
                   f"with a face, {people} {'person' if people == 1 else 'people'} tracked; dominant emotion "
                   f"{dominant or 'none'}{share}", err=True)


def no_face_hint(files: list[str], images: int, detector: str, min_face: int) -> str:
    """What was searched and what to try when images had no face."""
    where = files[0] if len(files) == 1 else f"{len(files)} of {images} images (e.g. {files[0]})"
    if detector == "none":
        return f"no face in {where}"
    return (f"hint: no face found in {where} with --detector {detector}, faces from {min_face} px; try "
            f"--min-face {max(8, min_face // 2)} for smaller faces, another --detector, or --detector none "
            "if each image is already a face crop")


def _error_record(file: str, exc: Exception) -> dict[str, Any]:
    from ferkit.inference.predictor import record

    message = str(exc)
    return record(file, error=message if message.startswith(file) else f"{file}: {message}")


def predict(
    paths: Annotated[list[str], typer.Argument(show_default=False)],
    model: Annotated[Path | None, typer.Option(
        help="Shipped model name (default) or model file (.onnx, .keras, .h5, .tflite); default: the shipped "
             "model.")] = None,
    detector: Annotated[str, typer.Option(
        help="Face detector: yunet (fast, five landmarks), haar, mtcnn or none (each image is one face).")
    ] = "yunet",
    min_face: Annotated[int, typer.Option(
        help="Smallest face side to look for, in pixels: lower finds smaller faces (crowds), higher is faster.",
        min=8)] = MIN_FACE,
    align: Annotated[bool, typer.Option(
        "--align/--no-align", help="Warp each face upright by its landmarks before classifying.")] = True,
    smooth: Annotated[float, typer.Option(
        help="Videos: half-life in seconds of each person's probability smoothing (0 = off).", min=0.0)
    ] = 0.5,
    out: Annotated[Path | None, typer.Option(
        help="Folder for annotated images and, for videos, an annotated video and timelines.")] = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Add a Grad-CAM heat map per face to the annotated output (needs --out).")] = False,
    fps: Annotated[float | None, typer.Option(help="Videos: sample this many frames per second.")] = None,
    every: Annotated[int | None, typer.Option(help="Videos: sample every N-th frame (default: all).")] = None,
    runtime: Annotated[str, typer.Option(
        help="Model runtime: auto (from the file), keras, onnx or litert (alias tflite).")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Images read and classified together.")] = 16,
    trust_model: TrustModelOption = False,
) -> None:
    """Predict the emotion of every face; one JSON line per image (per sampled frame of a video).

    PATHS: image files, folders (searched recursively), video files, or - for one image on stdin.
    """
    from tqdm import tqdm

    from ferkit.faces import DETECTORS
    from ferkit.inference import EmotionRecognizer
    from ferkit.inference.predictor import KERAS_FOR_GRADCAM
    from ferkit.inference.shipped import is_shipped_name

    if detector not in DETECTORS:
        raise FerkitError(f"--detector {detector!r} is not one of {', '.join(DETECTORS)}")
    if explain and out is None:
        raise FerkitError("--explain draws heat maps into the annotated output: add --out DIR")
    if batch_size < 1:
        raise FerkitError(f"--batch-size must be at least 1, got {batch_size}")
    if fps is not None and every is not None:
        raise FerkitError("use either --fps or --every, not both")
    if every is not None and every < 1:
        raise FerkitError(f"--every must be at least 1, got {every}")
    if fps is not None and fps <= 0:
        raise FerkitError(f"--fps must be positive, got {fps}")
    if paths.count(STDIN) > 1:
        raise FerkitError("stdin (-) can be read only once")
    inputs = collect_inputs(paths)
    if not inputs:
        raise FerkitError(f"no images or videos found in {', '.join(paths)}")
    if explain and runtime == "auto" and is_shipped_name(model):
        runtime = "keras"  # Grad-CAM reads the network's gradients: the shipped model's Keras source
    recognizer = EmotionRecognizer.load(model, detector=detector, runtime=runtime, min_face=min_face,
                                        align=align, trust_model=trust_model)
    if explain and not recognizer.can_explain:
        raise FerkitError(f"--explain needs {KERAS_FOR_GRADCAM}")
    run = Run(recognizer, out, explain, fps, every, smooth)
    pending: list[Input] = []
    with tqdm(total=len(inputs), unit="input", disable=None if len(inputs) > 1 else True) as bar:
        for item in inputs:
            if item.kind == "video":
                run.images(pending)
                run.video(item)
                bar.update(len(pending) + 1)
                pending = []
                continue
            pending.append(item)
            if len(pending) == batch_size:
                run.images(pending)
                bar.update(len(pending))
                pending = []
        run.images(pending)
        bar.update(len(pending))
    if run.without_face:
        typer.echo(no_face_hint(run.without_face, run.images_predicted, detector, min_face), err=True)
    if run.succeeded == 0:
        typer.echo(f"no input could be processed ({len(inputs)} given)", err=True)
        raise typer.Exit(EXIT_NOTHING_SUCCEEDED)
