"""The `Classifier` contract every model runtime meets, and `load_classifier`, which picks the runtime.

A classifier takes faces as uint8 `(N, H, W, C)` and returns `(N, K)` probabilities in
`metadata.class_names` order: `raw_proba` as the network gives them (evaluation and calibration apply
temperatures themselves) and `predict_proba` with the metadata's temperature applied, softmax(log p / T).
Runtimes (one module each, imported only when a file needs them, so a plain install never loads TensorFlow):

- `.onnx` → onnxruntime (`ferkit.inference.onnx_runtime`), the runtime of the shipped models;
- `.keras`/`.h5` → a compiled Keras function, `saved_model` folders → TensorFlow (`tf_runtimes`, needs
  `ferkit[train]`);
- `.tflite` → LiteRT (`litert_runtime`, needs `ferkit[export]`).

`RuntimeClassifier` holds what they share: one input check (`check_faces`) and one batching helper
(`run_in_batches`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ferkit.errors import ModelFileError, UntrustedModelError
from ferkit.models.saving import ModelMetadata
from ferkit.models.temperature import apply_temperature

RUNTIMES = ("auto", "keras", "onnx", "litert", "saved_model")
RUNTIME_ALIASES = {"tflite": "litert"}  # LiteRT's former name, as in the `.tflite` suffix
RUNTIME_OF_SUFFIX = {".keras": "keras", ".h5": "keras", ".onnx": "onnx", ".tflite": "litert"}
EXTRA_OF_RUNTIME = {"keras": "train", "saved_model": "train", "litert": "export", "onnx": None}


@runtime_checkable
class Classifier(Protocol):
    """What `EmotionRecognizer`, evaluation, serving and export checks need from a model runtime."""

    runtime: str
    metadata: ModelMetadata
    path: Path | None

    def raw_proba(self, faces: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 faces → (N, K) float32 probabilities as the network gives them."""

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """(N, H, W, C) uint8 faces → (N, K) float32 probabilities with the metadata's temperature applied."""


def channels_of(metadata: ModelMetadata) -> int:
    return 1 if metadata.color_mode == "grayscale" else 3


def check_faces(faces: np.ndarray, channels: int, input_size: tuple[int, int] | None = None) -> np.ndarray:
    """`faces` as a uint8 `(N, H, W, channels)` array, resized bilinearly to `input_size` (h, w) if given.

    A 3-D `(N, H, W)` array counts as one channel. Raises ValueError naming the expected shape.
    """
    faces = np.asarray(faces)
    if faces.ndim == 3:
        faces = faces[..., None]
    if faces.ndim != 4 or faces.shape[-1] != channels:
        raise ValueError(f"faces must have shape (N, H, W, {channels}), got {faces.shape}")
    faces = faces.astype(np.uint8, copy=False)
    if input_size is not None and len(faces) and faces.shape[1:3] != tuple(input_size):
        height, width = input_size
        faces = np.stack([cv2.resize(face, (width, height), interpolation=cv2.INTER_LINEAR)
                          .reshape(height, width, channels) for face in faces])
    return np.ascontiguousarray(faces)


def run_in_batches(run: Callable[[np.ndarray], np.ndarray], faces: np.ndarray, max_batch: int,
                   buckets: tuple[int, ...] | None = None) -> np.ndarray:
    """`run` over chunks of at most `max_batch` faces, concatenated as float32.

    With `buckets` (ascending, the last equal to `max_batch`), each chunk is zero-padded to the next bucket
    size and the padding's rows dropped again: runtimes that compile or allocate per batch size then see only
    those few sizes, whatever mix of batch sizes arrives.
    """
    outputs = []
    for start in range(0, len(faces), max_batch):
        chunk = faces[start:start + max_batch]
        if buckets:
            size = next(bucket for bucket in buckets if bucket >= len(chunk))
            padded = np.zeros((size, *chunk.shape[1:]), chunk.dtype)
            padded[:len(chunk)] = chunk
            outputs.append(np.asarray(run(padded))[:len(chunk)])
        else:
            outputs.append(np.asarray(run(chunk)))
    return np.concatenate(outputs).astype(np.float32, copy=False)


class RuntimeClassifier:
    """A `Classifier` whose subclass only says how to run one batch (`_run`).

    Subclasses set `runtime`, `metadata`, `path`, and may set `input_size` (a fixed (h, w) the runtime needs;
    None: any size, the network resizes itself), `max_batch` and `buckets` (see `run_in_batches`).
    """

    runtime = ""
    input_size: tuple[int, int] | None = None
    max_batch = 256
    buckets: tuple[int, ...] | None = None

    def __init__(self, metadata: ModelMetadata, path: str | Path | None):
        self.metadata = metadata
        self.path = Path(path) if path is not None else None
        self.channels = channels_of(metadata)

    def raw_proba(self, faces: np.ndarray) -> np.ndarray:
        faces = check_faces(faces, self.channels, self.input_size)
        if len(faces) == 0:
            return np.zeros((0, len(self.metadata.class_names)), np.float32)
        return run_in_batches(self._run, faces, self.max_batch, self.buckets)

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        return apply_temperature(self.raw_proba(faces), self.metadata.temperature)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """One uint8 batch → its probabilities."""
        raise NotImplementedError


def runtime_for(path: Path) -> str:
    """The runtime a model path implies: keras, onnx, litert or saved_model."""
    implied = RUNTIME_OF_SUFFIX.get(path.suffix.lower())
    if implied:
        return implied
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "saved_model"
    raise ModelFileError(f"{path}: not a model file (expected .keras, .h5, .onnx, .tflite or a SavedModel "
                         "folder)")


def _runtime_module(runtime: str, path: Path):
    """The runtime's module; a missing optional dependency names the extra that brings it."""
    from importlib import import_module

    module = {"onnx": "onnx_runtime", "litert": "litert_runtime"}.get(runtime, "tf_runtimes")
    try:
        return import_module(f"ferkit.inference.{module}")
    except ImportError as exc:
        extra = EXTRA_OF_RUNTIME[runtime]
        hint = f": pip install 'ferkit[{extra}]'" if extra else ""
        raise ModelFileError(f"{path} needs the {runtime} runtime, which is not installed ({exc.name}){hint}"
                             ) from None


def load_classifier(path: str | Path, runtime: str = "auto", metadata: ModelMetadata | None = None,
                    threads: int | None = None, trust_model: bool = False) -> Classifier:
    """Load a model file as a `Classifier`.

    Args:
        path: `.keras`/`.h5` (Keras), `.onnx` (onnxruntime), `.tflite` (LiteRT) or a SavedModel folder.
        runtime: "auto" (from the path) or the runtime the path must match.
        metadata: use this instead of the metadata stored with an exported file (while an export is checked).
        threads: intra-op threads of the ONNX and LiteRT runtimes (default: one per core, at most 4).
        trust_model: allow a TensorFlow SavedModel folder. Loading one runs the TensorFlow operations it
            contains, which can read and write files: a crafted SavedModel is a program, not data. `.keras`
            files are loaded in Keras' safe mode (no Lambda layers, no code), ONNX and LiteRT files run only
            their runtime's fixed operators, so they need no trust.
    """
    path = Path(path)
    runtime = RUNTIME_ALIASES.get(runtime, runtime)
    if runtime not in RUNTIMES:
        raise ModelFileError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    implied = runtime_for(path)
    if runtime not in ("auto", implied):
        raise ModelFileError(f"{path} is a {implied} model; it cannot run with runtime={runtime!r}")
    if implied == "saved_model" and not trust_model:
        raise UntrustedModelError(f"{path} is a TensorFlow SavedModel, which runs its own operations (they can "
                                  f"read and write files) when loaded; refused unless trust_model is set")
    return _runtime_module(implied, path).load(path, implied, metadata=metadata, threads=threads)
