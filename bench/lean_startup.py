"""The plain install (`pip install ferkit[serve]`, no TensorFlow): size, cold start, memory and parity.

    .venv/bin/python bench/lean_startup.py [--runs 3] [--faces 1000]

Measures, in a virtual environment built from this checkout by tools/plain_env.py (dependencies from pip's
cache, ferkit from a fresh wheel):
  (a) on-disk size of the environment (all of it, and minus a bare `python -m venv`, i.e. what the install adds);
  (b) cold `ferkit predict photo.jpg` (a new process each time; the page cache is warm): wall time, median of
      `--runs`, CPU time (user + system, far less sensitive to a busy machine than wall time) and peak
      resident memory (the process's ru_maxrss) — beside the same command with the Keras model in this
      (full) environment;
  (c) parity of the shipped ONNX model with its Keras source on the astronaut (end to end, `EmotionRecognizer`)
      and on `--faces` FER-2013 PrivateTest faces (classifier only, calibrated probabilities): max |Δp| and
      label agreement.
Targets (issue 18): ≤ 400 MB, ≤ 2 s, ≤ 300 MB, |Δp| ≤ 0.01.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import FER2013, SHIPPED_MODEL, repo_module

_plain_env = repo_module("plain_env")
PYTHON, clean_environ, plain_env = _plain_env.PYTHON, _plain_env.clean_environ, _plain_env.plain_env


def folder_mb(path: Path) -> float:
    return sum(item.lstat().st_size for item in path.rglob("*") if item.is_file() or item.is_symlink()) / 1e6


def largest_packages(env: Path, count: int = 14) -> str:
    """The `count` largest top-level entries of the env's site-packages, a package's `.libs` folder (bundled
    shared libraries) counted with it, as `name MB` pairs."""
    sizes: dict[str, float] = {}
    for entry in next(env.glob("lib/python3*/site-packages")).iterdir():
        name = entry.name.removesuffix(".libs").removesuffix(".py")
        sizes[name] = sizes.get(name, 0.0) + (folder_mb(entry) if entry.is_dir() else entry.lstat().st_size / 1e6)
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {mb:.1f}" for name, mb in largest)


def bare_venv_mb() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([PYTHON, "-m", "venv", f"{tmp}/bare"], check=True)
        return folder_mb(Path(tmp) / "bare")


def timed_run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """(wall s, CPU s (user + system), peak RSS MB) of one fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def cold_predict(label: str, command: list[str], env: dict[str, str], photo: Path, runs: int) -> str:
    results = [timed_run([*command, "predict", *extra(label), str(photo)], env, photo.parent)
               for _ in range(runs)]
    walls = [wall for wall, _, _ in results]
    cpu = statistics.median(cpu for _, cpu, _ in results)
    peak = max(rss for _, _, rss in results)
    return (f"| {label} | {statistics.median(walls):.2f} | {' / '.join(f'{w:.2f}' for w in walls)} | "
            f"{cpu:.2f} | {peak:.0f} |")


def extra(label: str) -> list[str]:
    return ["--model", str(SHIPPED_MODEL)] if label.startswith("keras") else []


def parity(faces: int, photo: Path, fer2013: Path) -> list[str]:
    from ferkit.inference import EmotionRecognizer, load_classifier
    from ferkit.inference.shipped import resolve_model

    lines = []
    onnx = EmotionRecognizer.load()
    keras = EmotionRecognizer.load(SHIPPED_MODEL)
    (face_onnx,), (face_keras,) = onnx.predict(photo), keras.predict(photo)
    diff = max(abs(face_onnx.probabilities[n] - face_keras.probabilities[n]) for n in onnx.class_names)
    lines.append(f"astronaut: ONNX {face_onnx.emotion} {face_onnx.confidence:.4f}, Keras {face_keras.emotion} "
                 f"{face_keras.confidence:.4f}, max |Δp| {diff:.2e}, same box {face_onnx.box == face_keras.box}")
    if not fer2013.is_file():
        return [*lines, f"{fer2013} not found: FER-2013 parity skipped"]
    from ferkit.data import load_data

    data = load_data(fer2013)
    rows = data.split_indices("PrivateTest")[:faces]
    images = data.images[rows]
    p_onnx = load_classifier(resolve_model(None)).predict_proba(images)
    p_keras = load_classifier(SHIPPED_MODEL).predict_proba(images)
    agree = float(np.mean(p_onnx.argmax(axis=1) == p_keras.argmax(axis=1)))
    lines.append(f"FER-2013 PrivateTest first {len(rows)} faces: max |Δp| {np.abs(p_onnx - p_keras).max():.2e}, "
                 f"same label {agree:.2%}, top-1 ONNX {np.mean(p_onnx.argmax(1) == data.labels[rows]):.2%} / "
                 f"Keras {np.mean(p_keras.argmax(1) == data.labels[rows]):.2%}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--faces", type=int, default=1000)
    parser.add_argument("--data", type=Path, default=FER2013, help="FER-2013 (.npz or .csv)")
    args = parser.parse_args()
    from ferkit.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()

    env = plain_env(("serve",))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; plain env {env}")
    total, bare = folder_mb(env), bare_venv_mb()
    print(f"\n(a) on disk: {total:.0f} MB in all; {total - bare:.0f} MB added by `pip install ferkit[serve]` to a "
          f"bare venv ({bare:.0f} MB: pip, setuptools)")
    print(f"largest in site-packages (MB): {largest_packages(env)}")

    with tempfile.TemporaryDirectory() as tmp:
        import cv2
        from skimage import data

        photo = Path(tmp) / "photo.jpg"
        cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
        print("\n(b) cold `ferkit predict photo.jpg` (512×512 astronaut, default detector: YuNet)\n")
        print("| install / model | wall s (median) | runs | CPU s (median) | peak RSS MB |\n|---|---|---|---|---|")
        print(cold_predict("plain + [serve], shipped ONNX", [str(env / "bin" / "ferkit")], clean_environ(),
                           photo, args.runs))
        print(cold_predict("keras (full install, fervgg.keras)", [sys.executable, "-m", "ferkit.cli.main"],
                           dict(os.environ), photo, args.runs))
        print("\n(c) parity of the shipped ONNX model with its Keras source (calibrated probabilities)")
        print("\n".join(parity(args.faces, photo, args.data)))


if __name__ == "__main__":
    main()
