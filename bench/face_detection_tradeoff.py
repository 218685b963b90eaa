"""Faces found against CPU time and false faces: YuNet at several detection scales, with and without the
second look at unsure detections (`ferkit.faces.second_look`).

    .venv/bin/python bench/face_detection_tradeoff.py [--n 40] [--fer ../shared/datasets/fer2013/fer2013.npz]
        [--sfew ../shared/datasets/sfew/Train] [--configs 32,32+,21,21+,16,16+]

Each configuration is a minimum face size (`--min-face`: 32 is the default, YuNet then sees a 640×480 frame
at half size; 21 at 3/4 size; 16 at full size) and `+` for the second look (the default) or nothing for
without it. On each:
- FER-2013 PrivateTest faces pasted into 640×480 scenes exactly as `bench/face_detection.py --only b` does
  (48×48 grey frames cut at brow and chin, sides 32-128 px, rolls -30..30°): faces found;
- SFEW 2.0 Train images (colour film faces with hair and background, `--n` picked at random, never Val)
  pasted the same way, the face about the given side: faces found (a closer stand-in for faces in photos);
- 200 face-free 640×480 frames (scikit-image sample photos without people, whole and random crops): faces
  reported there (false faces);
- CPU time per detection (median and mean over the pasted frames; the mean includes the second looks).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
from common import FER2013, SFEW
from face_detection import ROLLS, SIZES, backgrounds, paste

FACE_FREE = ("coffee", "chelsea", "rocket", "hubble_deep_field", "brick", "coins", "moon", "page", "text",
             "clock", "immunohistochemistry", "retina", "cell", "colorwheel", "grass", "gravel", "logo",
             "stereo_motorcycle", "checkerboard")
SFEW_FACE_SHARE = 0.85  # an SFEW image is about this much wider than the face in it


def face_free_frames(count: int = 200) -> list[np.ndarray]:
    """The face-free sample photos resized to 640×480, then random crops of them (30-100 % of the side)."""
    from skimage import data

    photos = []
    for name in FACE_FREE:
        image = getattr(data, name)()
        image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle is a pair
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image[..., :3]
        photos.append(np.ascontiguousarray(image))
    rng = np.random.default_rng(5)
    frames = [cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA) for photo in photos]
    while len(frames) < count:
        photo = photos[len(frames) % len(photos)]
        height, width = photo.shape[:2]
        share = rng.uniform(0.3, 1.0)
        crop_h, crop_w = int(height * share), min(width, int(width * share * rng.uniform(0.8, 1.25)))
        y, x = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
        frames.append(cv2.resize(photo[y:y + crop_h, x:x + crop_w], (640, 480), interpolation=cv2.INTER_AREA))
    return frames


def paste_rgb(scene: np.ndarray, image: np.ndarray, side: int, roll: float, rng) -> tuple[np.ndarray, tuple]:
    """A colour image scaled so the face in it is about `side` px, rolled and pasted at a random place."""
    width = round(side / SFEW_FACE_SHARE)
    height = round(width * image.shape[0] / image.shape[1])
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    diagonal = int(np.ceil(np.hypot(width, height))) + 2
    canvas = np.zeros((diagonal, diagonal, 3), np.uint8)
    mask = np.zeros((diagonal, diagonal), np.uint8)
    top, left = (diagonal - height) // 2, (diagonal - width) // 2
    canvas[top:top + height, left:left + width] = small
    mask[top:top + height, left:left + width] = 255
    matrix = cv2.getRotationMatrix2D((diagonal / 2, diagonal / 2), roll, 1.0)
    canvas = cv2.warpAffine(canvas, matrix, (diagonal, diagonal))
    mask = cv2.warpAffine(mask, matrix, (diagonal, diagonal), flags=cv2.INTER_NEAREST) > 0
    x, y = int(rng.integers(0, 640 - diagonal)), int(rng.integers(0, 480 - diagonal))
    out = scene.copy()
    out[y:y + diagonal, x:x + diagonal][mask] = canvas[mask]
    return out, (x + diagonal / 2, y + diagonal / 2)


def pasted_sets(fer: Path, sfew: Path, n: int) -> dict[str, list]:
    """(frame, face centre, face side) for every pasted face of both sets."""
    arrays = np.load(fer)
    rows = np.flatnonzero(arrays["usage"] == "PrivateTest")
    grey = arrays["images"][rows]
    grey = grey[grey.std(axis=(1, 2)) > 1][:n]
    paths = sorted(p for p in sfew.glob("*/*") if p.suffix.lower() in (".png", ".jpg"))
    paths = [paths[i] for i in np.random.default_rng(3).choice(len(paths), min(n, len(paths)), replace=False)]
    colour = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in paths]
    scenes = backgrounds()
    sets = {}
    for name, faces, paster in (("FER-2013", grey, paste), ("SFEW Train", colour, paste_rgb)):
        rng = np.random.default_rng(0)
        sets[name] = [(*paster(scenes[index % len(scenes)], face, side, roll, rng), side)
                      for index, face in enumerate(faces) for side in SIZES for roll in ROLLS]
    return sets


def is_found(boxes, centre, side) -> bool:
    return any(np.hypot(b.x + b.w / 2 - centre[0], b.y + b.h / 2 - centre[1]) <= 0.35 * side for b in boxes)


def measure(detector, sets: dict, free: list[np.ndarray]) -> dict[str, float]:
    result, cpu = {}, []
    for name, frames in sets.items():
        hits = 0
        for frame, centre, side in frames:
            started = time.process_time()
            boxes = detector.detect(frame)
            cpu.append(time.process_time() - started)
            hits += is_found(boxes, centre, side)
        result[name] = 100 * hits / len(frames)
    result["false faces"] = sum(len(detector.detect(frame)) for frame in free)
    result["cpu median"], result["cpu mean"] = 1000 * np.median(cpu), 1000 * np.mean(cpu)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer", type=Path, default=FER2013)
    parser.add_argument("--sfew", type=Path, default=SFEW / "Train")
    parser.add_argument("--n", type=int, default=40, help="faces of each set pasted per size and roll")
    parser.add_argument("--configs", default="32,32+,21,21+,16,16+")
    args = parser.parse_args()

    from ferkit.faces.yunet import YuNetDetector

    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M')}")
    sets = pasted_sets(args.fer, args.sfew, args.n)
    free = face_free_frames()
    print(f"{args.n} faces per size×roll cell ({len(SIZES)}×{len(ROLLS)}), {len(free)} face-free frames")
    print("| min face | second look | FER-2013 pasted found | SFEW Train pasted found | false faces "
          "| CPU ms median / mean |")
    print("|---|---|---|---|---|---|")
    for config in args.configs.split(","):
        min_face, look = int(config.rstrip("+")), config.endswith("+")
        detector = YuNetDetector(min_face=min_face, second_look=look)
        detector.detect(free[0])  # warm-up
        r = measure(detector, sets, free)
        print(f"| {min_face} | {'yes' if look else 'no'} | {r['FER-2013']:.1f} % | {r['SFEW Train']:.1f} % | "
              f"{r['false faces']} | {r['cpu median']:.1f} / {r['cpu mean']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
