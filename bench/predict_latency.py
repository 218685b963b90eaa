"""Prediction speed: per-image latency of detection + framing + classification on a 640×480 photo, and
classifier throughput (faces/s) for batches of face crops.

    .venv/bin/python bench/predict_latency.py             # the shipped model, else an untrained fervgg
    .venv/bin/python bench/predict_latency.py --model runs/fervgg/model.keras --detectors haar mtcnn

The photo is scikit-image's astronaut scaled to 480×480 and widened to 640×480 with mirrored borders (one
face). Each timing is repeated after a warm-up call; the table gives the median and 90th percentile of wall
time, and the median CPU time of the process (all threads), which other processes sharing the cores inflate
far less than wall time. The machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from common import REPO  # noqa: E402

from ferkit.inference import EmotionRecognizer  # noqa: E402
from ferkit.inference.tf_runtimes import BATCH_BUCKETS, KerasClassifier  # noqa: E402


def photo_640x480() -> np.ndarray:
    from skimage import data

    face = cv2.resize(data.astronaut(), (480, 480), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(face, 0, 0, 80, 80, cv2.BORDER_REFLECT)


def untrained_default(folder: Path) -> Path:
    """The default architecture (configs/fervgg.yaml), untrained: it costs what the trained one does."""
    from ferkit.config import load_config
    from ferkit.data import FER2013_CLASSES
    from ferkit.models import build_model
    from ferkit.models.saving import ModelMetadata, save_model

    config = load_config(REPO / "configs" / "fervgg.yaml", ["NoOfClasses=7"])
    metadata = ModelMetadata(class_names=list(FER2013_CLASSES), image_size=tuple(config.ImageSize),
                             color_mode=config.ColorMode, architecture=config.Architecture,
                             config=config.to_dict())
    return save_model(build_model(config, 7), folder / "fervgg-untrained.keras", metadata)


def timings(function, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and process CPU seconds of each of `repeats` calls, after one warm-up call."""
    function()
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return np.array(wall), np.array(cpu)


def row(label: str, measured: tuple[np.ndarray, np.ndarray]) -> str:
    wall, cpu = measured
    return (f"| {label} | {np.median(wall) * 1000:.1f} | {np.percentile(wall, 90) * 1000:.1f} | "
            f"{np.median(cpu) * 1000:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model file (default: shipped, else untrained fervgg)")
    parser.add_argument("--detectors", nargs="+", default=["yunet"], choices=["yunet", "haar", "mtcnn", "none"])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    args = parser.parse_args()

    model = args.model
    if model is None:
        from ferkit.errors import ModelFileError
        from ferkit.inference.shipped import shipped_model_path

        try:
            model = shipped_model_path()
        except ModelFileError:
            import tempfile

            model = untrained_default(Path(tempfile.mkdtemp()))
    image = photo_640x480()
    print(f"model {model}, photo {image.shape[1]}x{image.shape[0]}, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} CPUs")
    print("\n| step (one 640x480 photo, 1 face) | median ms | p90 ms | CPU ms (median) |\n|---|---|---|---|")
    for detector in args.detectors:
        recognizer = EmotionRecognizer.load(model, detector=detector)
        faces = recognizer.predict(image)  # also the warm-up that traces the batch-of-1 function
        assert len(faces) == 1, f"{detector} found {len(faces)} faces in the benchmark photo"
        print(row(f"{detector}: detection", timings(lambda r=recognizer: r.detector.detect(image), args.repeats)))
        print(row(f"{detector}: detection + framing + classification",
                  timings(lambda r=recognizer: r.predict(image), args.repeats)), flush=True)

    classifier = recognizer.classifier
    crop = faces[0].crop
    print("\n| batch of face crops | median ms per batch | faces/s | faces per CPU-second |\n|---|---|---|---|")
    for size in args.batches:
        batch = np.repeat(crop[None], size, axis=0)
        wall, cpu = timings(lambda b=batch: classifier.predict_proba(b), max(10, args.repeats // 3))
        print(f"| {size} | {np.median(wall) * 1000:.1f} | {size / np.median(wall):.0f} | "
              f"{size / np.median(cpu):.0f} |", flush=True)
    if isinstance(classifier, KerasClassifier):
        print(f"\nKeras runtime: batches padded to {list(BATCH_BUCKETS)}, larger ones cut into "
              f"{BATCH_BUCKETS[-1]}s")


if __name__ == "__main__":
    main()
