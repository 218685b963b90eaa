"""ferkit against the PyPI `fer` package, on the same machine, in one run, on the same images.

    .venv/bin/python bench/vs_fer.py [--model src/ferkit/weights/fervgg.keras] [--rounds 2]

Measures, for each side in its own fresh process (so peak memory is its own):
  (a) end-to-end latency per 640×480 JPEG photo with one face (decode → Haar detection → crop → classify),
      median and p90 over every photo × repeat, after a warm-up;
  (b) classifier-only throughput on FER-2013 PrivateTest crops (faces/s, each tool's own preprocessing
      included) and top-1 accuracy of each;
  (c) peak resident memory of the process.

`fer` is installed into its own virtual environment (`runs/fer-venv` by default) the first time: `fer` itself
without its declared dependencies (they drag in PyTorch for facenet-pytorch's MTCNN and moviepy/pandas for its
video class, none of which its Haar image path imports), plus what that path imports: TensorFlow (the same
`tensorflow-cpu==2.21.0` ferkit uses, which fer accepts), OpenCV contrib (headless), Pillow, requests and
`setuptools<81` (fer imports `pkg_resources`). fer's default model (mini-Xception, quantised TFLite) and its
Haar cascade ship inside its wheel; nothing is downloaded at run time.

The ferkit side uses `ferkit.inference.EmotionRecognizer` with its default detector (YuNet; `--detector`
to change; photos are kept only when ferkit's Haar path and fer's find the face, as before) and, besides the Keras
model file, its ONNX and int8 LiteRT exports made here with `ferkit export`'s checked exporter; by default
at ferkit's minimum face size and, for the int8 export, also at fer's (50 px), so like is compared with like.
Sides run alternately (`--rounds` times each) so a busy machine slows both alike; latencies are pooled over
rounds, throughputs are the best round. CPU time (all threads) is reported beside wall time: it is far less
sensitive to other processes on a busy machine.

With `--fer-python` pointing at an interpreter where `from fer.fer import FER` works, no venv is built.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import (
    FER2013,
    FER_ENV,
    FER_VENV,
    REPO,
    SHIPPED_MODEL,
    ensure_fer_venv,
    fer_classifier,
    peak_rss_mb,
    repo_module,
)

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
WARMUP_PHOTOS = 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --------------------------------------------------------------------------------------------- inputs

def make_photos(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """640×480 JPEGs, each with the astronaut's head at a different place and size on a photo background,
    kept only when both detectors (ferkit's and OpenCV's with fer's settings) find exactly that one face."""
    import cv2
    import numpy as np
    from skimage import data as skimage_data

    from ferkit.faces import make_detector

    ferkit_haar = make_detector("haar")
    opencv_haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    rng = np.random.default_rng(seed)
    head = skimage_data.astronaut()[0:300, 90:390]  # head and shoulders, 300×300
    backgrounds = [cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA) for image in (
        skimage_data.coffee(), skimage_data.rocket(), skimage_data.chelsea(), skimage_data.hubble_deep_field())]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    while len(paths) < count:
        canvas = backgrounds[len(paths) % len(backgrounds)].copy()
        side = int(rng.integers(180, 300))
        x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
        canvas[y:y + side, x:x + side] = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
        jpeg = cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        fer_like = opencv_haar.detectMultiScale(cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY), scaleFactor=1.1,
                                                minNeighbors=5, minSize=(50, 50))
        if len(fer_like) != 1 or len(ferkit_haar.detect(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))) != 1:
            continue
        path = folder / f"photo_{len(paths):02d}.jpg"
        path.write_bytes(jpeg.tobytes())
        paths.append(path)
    return paths


def write_crops(path: Path, fer2013: Path) -> bool:
    """FER-2013 PrivateTest crops and labels into a small npz both virtualenvs can read."""
    import numpy as np

    if not fer2013.is_file():
        return False
    arrays = np.load(fer2013)
    private = arrays["usage"] == "PrivateTest"
    np.savez(path, images=arrays["images"][private], labels=arrays["labels"][private].astype(np.int64))
    return True


# --------------------------------------------------------------------------------------------- workers

def time_photos(predict, photos: list[str], repeats: int) -> dict:
    """Wall-clock latency in ms of `predict(path)` per photo × repeat (after a warm-up), the process CPU time
    per photo (all threads; less sensitive than wall time to other processes on a busy machine), and the
    faces found per photo."""
    for path in photos[:WARMUP_PHOTOS]:
        predict(path)
    latencies, faces = [], []
    cpu_start = time.process_time()
    for _ in range(repeats):
        for path in photos:
            start = time.perf_counter()
            found = predict(path)
            latencies.append((time.perf_counter() - start) * 1000)
            faces.append(found)
    cpu_ms = (time.process_time() - cpu_start) * 1000 / len(latencies)
    return {"latencies_ms": latencies, "cpu_ms_per_photo": cpu_ms, "faces_found": faces}


def time_crops(classify, images, labels, class_names: list[str], batch: int = 256, passes: int = 3) -> dict:
    """Faces/s of `classify(uint8 (N, 48, 48)) -> (N, K)` over all crops (best of `passes`, wall clock; and
    faces per CPU-second), and top-1 on the FER-2013 labels."""
    import numpy as np

    classify(images[:batch])
    best_wall, best_cpu = 0.0, 0.0
    for _ in range(passes):
        start, cpu_start = time.perf_counter(), time.process_time()
        probabilities = np.concatenate([classify(images[i:i + batch]) for i in range(0, len(images), batch)])
        best_wall = max(best_wall, len(images) / (time.perf_counter() - start))
        best_cpu = max(best_cpu, len(images) / max(time.process_time() - cpu_start, 1e-9))
    order = np.array([FER_CLASSES.index(name) for name in class_names])
    predicted = order[probabilities.argmax(axis=1)]
    return {"faces": len(images), "faces_per_s": best_wall, "faces_per_cpu_s": best_cpu,
            "top1": float(np.mean(predicted == labels))}


def fer_worker(args) -> dict:
    """Run inside fer's virtualenv: fer's defaults (Haar, quantised TFLite mini-Xception)."""
    started = time.perf_counter()
    import numpy as np

    detector, classify = fer_classifier()
    result = {"side": "fer", "load_s": time.perf_counter() - started}
    photos = json.loads(Path(args.workdir, "photos.json").read_text())
    result.update(time_photos(lambda path: len(detector.detect_emotions(path)), photos, args.repeats))
    crops = Path(args.workdir, "crops.npz")
    if crops.is_file():
        arrays = np.load(crops)
        result["crops"] = time_crops(classify, arrays["images"], arrays["labels"], FER_CLASSES)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def ferkit_worker(args) -> dict:
    """Run in ferkit's virtualenv: `EmotionRecognizer` with its detector on the given model file or export."""
    started = time.perf_counter()
    import numpy as np

    from ferkit.faces import MIN_FACE, make_detector
    from ferkit.inference import EmotionRecognizer, load_classifier
    from ferkit.inference.shipped import resolve_model

    min_face = args.min_face or MIN_FACE
    recognizer = EmotionRecognizer(load_classifier(resolve_model(args.model_file)),
                                   make_detector(args.detector, min_face=min_face))
    result = {"side": f"ferkit {args.label}, {args.detector}, min face {min_face}",
              "load_s": time.perf_counter() - started}
    photos = json.loads(Path(args.workdir, "photos.json").read_text())
    result.update(time_photos(lambda path: len(recognizer.predict(path)), photos, args.repeats))
    crops = Path(args.workdir, "crops.npz")
    if crops.is_file():
        arrays = np.load(crops)
        classifier = recognizer.classifier
        result["crops"] = time_crops(lambda gray: classifier.predict_proba(gray[..., None]), arrays["images"],
                                     arrays["labels"], recognizer.class_names)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


# --------------------------------------------------------------------------------------------- driver

def run_worker(python: str, side: str, workdir: Path, repeats: int, model_file: Path | None = None,
               label: str = "", min_face: int | None = None, detector: str = "yunet") -> dict:
    command = [python, str(Path(__file__).resolve()), "--worker", side, "--workdir", str(workdir),
               "--repeats", str(repeats), "--detector", detector]
    if model_file is not None:
        command += ["--model-file", str(model_file), "--label", label]
    if min_face is not None:
        command += ["--min-face", str(min_face)]
    env = {**os.environ, **FER_ENV}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    if done.returncode != 0:
        raise SystemExit(f"{side} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def lean_python() -> str:
    """The python of the plain install (`ferkit[serve]`, no TensorFlow) built from this checkout."""
    return str(repo_module("plain_env").plain_env(("serve",)) / "bin" / "python")


def export_variants(model: Path, workdir: Path) -> dict[str, Path]:
    """The model itself plus its checked ONNX (fp32) and LiteRT int8 exports."""
    from ferkit.export import export_model

    data = FER2013 if FER2013.is_file() else None
    variants = {"keras": model}
    for label, fmt, quantize, name in [("onnx", "onnx", None, "model.onnx"),
                                       ("litert-int8", "litert", "int8", "model.int8.tflite")]:
        out = workdir / name
        if not out.is_file() or out.stat().st_mtime < model.stat().st_mtime:
            export_model(model, fmt, out=out, quantize=quantize, data=data, print_fn=print)
        variants[label] = out
    return variants


def merge(runs: list[dict]) -> dict:
    """Pool the rounds of one side: all latencies, the best throughput, the largest peak memory."""
    latencies = [value for run in runs for value in run["latencies_ms"]]
    merged = {"side": runs[0]["side"], "median_ms": statistics.median(latencies),
              "p90_ms": percentile(latencies, 0.9), "photos_timed": len(latencies),
              "cpu_ms_per_photo": statistics.median(run["cpu_ms_per_photo"] for run in runs),
              "faces_found": sorted(set(n for run in runs for n in run["faces_found"])),
              "load_s": statistics.median(run["load_s"] for run in runs),
              "peak_rss_mb": max(run["peak_rss_mb"] for run in runs)}
    if "crops" in runs[0]:
        merged["faces_per_s"] = max(run["crops"]["faces_per_s"] for run in runs)
        merged["faces_per_cpu_s"] = max(run["crops"]["faces_per_cpu_s"] for run in runs)
        merged["top1"] = runs[0]["crops"]["top1"]
        merged["crops"] = runs[0]["crops"]["faces"]
    return merged


def table(rows: list[dict]) -> str:
    lines = ["| side | e2e median ms | e2e p90 ms | e2e CPU ms | faces found/photo | crops faces/s | "
             "crops faces/CPU-s | PrivateTest top-1 | peak RSS MB | start-up s |", "|" + "---|" * 10]
    for row in rows:
        crops = (f"{row['faces_per_s']:.0f} | {row['faces_per_cpu_s']:.0f} | {row['top1']:.2%}"
                 if "faces_per_s" in row else "n/a | n/a | n/a")
        lines.append(f"| {row['side']} | {row['median_ms']:.1f} | {row['p90_ms']:.1f} | "
                     f"{row['cpu_ms_per_photo']:.1f} | {'/'.join(map(str, row['faces_found']))} | {crops} | "
                     f"{row['peak_rss_mb']:.0f} | {row['load_s']:.1f} |")
    return "\n".join(lines)


def ratios(fer: dict, ferkit: dict) -> list[str]:
    lines = [f"{ferkit['side']} vs fer: end-to-end {fer['median_ms'] / ferkit['median_ms']:.2f}× faster "
             f"(median wall; target ≥ 3), p90 {fer['p90_ms'] / ferkit['p90_ms']:.2f}×, "
             f"CPU per photo {fer['cpu_ms_per_photo'] / ferkit['cpu_ms_per_photo']:.2f}× less"]
    if "faces_per_s" in ferkit and "faces_per_s" in fer:
        lines.append(f"  crops {ferkit['faces_per_s'] / fer['faces_per_s']:.2f}× the throughput "
                     f"(wall; target ≥ 1.5), {ferkit['faces_per_cpu_s'] / fer['faces_per_cpu_s']:.2f}× per "
                     f"CPU-second; top-1 {100 * (ferkit['top1'] - fer['top1']):+.1f} points (target > 0); "
                     f"peak memory {ferkit['peak_rss_mb'] / fer['peak_rss_mb']:.2f}× fer's")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="ferkit model file (.keras)")
    parser.add_argument("--fer-venv", type=Path, default=FER_VENV)
    parser.add_argument("--fer-python", help="an existing python with fer installed (skips the venv)")
    parser.add_argument("--workdir", type=Path, default=REPO / "runs" / "vs_fer")
    parser.add_argument("--photos", type=int, default=20, help="distinct 640×480 photos")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes over the photos per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--variants", default="keras,onnx,litert-int8,litert-int8@50,lean",
                        help="ferkit runs: model variant (keras, onnx, litert-int8; lean = the plain install "
                             "of tools/plain_env.py with its shipped ONNX model), optionally @ the Haar "
                             "minimum face size in pixels (default: ferkit's; fer uses 50)")
    parser.add_argument("--worker", choices=["fer", "ferkit"], help=argparse.SUPPRESS)
    parser.add_argument("--model-file", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    parser.add_argument("--min-face", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--detector", default="yunet", help="ferkit's face detector (default: yunet)")
    args = parser.parse_args()

    if args.worker:
        worker = fer_worker if args.worker == "fer" else ferkit_worker
        print(json.dumps(worker(args)))
        return

    if not args.model.is_file():
        raise SystemExit(f"model not found: {args.model}")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    photos = make_photos(workdir / "photos", args.photos)
    (workdir / "photos.json").write_text(json.dumps([str(p) for p in photos]))
    if not write_crops(workdir / "crops.npz", FER2013):
        (workdir / "crops.npz").unlink(missing_ok=True)
        print(f"{FER2013} not found: (b) classifier throughput and top-1 are skipped")
    fer_python = args.fer_python or str(ensure_fer_venv(args.fer_venv.resolve()))
    models = {**export_variants(args.model.resolve(), workdir), "lean": "default"}
    pythons = {"lean": lean_python() if "lean" in args.variants else None}
    variants = {}
    for spec in args.variants.split(","):
        label, _, min_face = spec.partition("@")
        if label not in models:
            raise SystemExit(f"unknown variant {label!r}; choose from {', '.join(models)}")
        variants[spec] = (label, models[label], int(min_face) if min_face else None)

    runs: dict[str, list[dict]] = {}
    for round_index in range(args.rounds):
        print(f"round {round_index + 1}/{args.rounds}: fer", flush=True)
        runs.setdefault("fer", []).append(run_worker(fer_python, "fer", workdir, args.repeats))
        for spec, (label, path, min_face) in variants.items():
            print(f"round {round_index + 1}/{args.rounds}: ferkit {spec}", flush=True)
            runs.setdefault(spec, []).append(
                run_worker(pythons.get(label) or sys.executable, "ferkit", workdir, args.repeats, path, label,
                           min_face, args.detector))
    rows = {label: merge(side_runs) for label, side_runs in runs.items()}
    print()
    print(f"model: {args.model}  photos: {args.photos} × {args.repeats} repeats × {args.rounds} rounds  "
          f"cpus: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}")
    print(table(list(rows.values())))
    print()
    for spec in variants:
        print("\n".join(ratios(rows["fer"], rows[spec])))
    (workdir / "results.json").write_text(json.dumps({"model": str(args.model), "rows": rows,
                                                      "raw": runs}, indent=2))
    print(f"\nraw numbers: {workdir / 'results.json'}")


if __name__ == "__main__":
    main()
