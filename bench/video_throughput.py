"""Every frame of a 1-minute 640×480 video through ferkit's video path: frames/s vs real time, and memory.

    .venv/bin/python bench/video_throughput.py [--model src/ferkit/weights/fervgg.keras] [--outputs]

The video is generated here (OpenCV, mp4v): the astronaut's head from scikit-image drifting and changing
size over a photo background at 30 frames/s. It is then processed by `ferkit.inference.video.predict_video`
with ferkit's default detector (YuNet; `--detector` to change) at every frame (no sampling), faces tracked
and smoothed per person, as `ferkit predict video.mp4` does; `--outputs` also writes the annotated video
(H.264) and timelines. Resident memory is sampled every second of video to show that it
stays flat.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from pathlib import Path

from common import REPO, SHIPPED_ONNX, rss_mb

SIZE = (640, 480)


def make_video(path: Path, seconds: float, fps: int) -> Path:
    """A 640×480 video of the astronaut's head moving over a photo background, written with OpenCV."""
    import cv2
    from skimage import data as skimage_data

    background = cv2.resize(skimage_data.coffee(), SIZE, interpolation=cv2.INTER_AREA)
    head = skimage_data.astronaut()[0:300, 90:390]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE)
    frames = int(seconds * fps)
    for index in range(frames):
        phase = 2 * math.pi * index / frames
        side = int(200 + 60 * math.sin(3 * phase))
        x = int((SIZE[0] - side) * (0.5 + 0.45 * math.sin(2 * phase)))
        y = int((SIZE[1] - side) * (0.5 + 0.45 * math.sin(5 * phase)))
        frame = background.copy()
        frame[y:y + side, x:x + side] = cv2.resize(head, (side, side), interpolation=cv2.INTER_AREA)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    tmp.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=SHIPPED_ONNX,
                        help="model file or export (default: the shipped ONNX model, as ferkit predict)")
    parser.add_argument("--video", type=Path, default=REPO / "runs" / "video_bench" / "astronaut_60s.mp4")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--batch-frames", type=int, default=16, help="frames per recognizer call")
    parser.add_argument("--min-face", type=int, help="minimum face size in pixels (default: ferkit's)")
    parser.add_argument("--detector", default="yunet", help="face detector (default: ferkit's, yunet)")
    parser.add_argument("--outputs", action="store_true", help="also write the annotated video and timelines")
    args = parser.parse_args()

    import cv2

    from ferkit.faces import MIN_FACE, make_detector
    from ferkit.inference import EmotionRecognizer, load_classifier
    from ferkit.inference.video import open_video, predict_video

    if not args.video.is_file():
        started = time.perf_counter()
        make_video(args.video, args.seconds, args.fps)
        print(f"generated {args.video} in {time.perf_counter() - started:.1f} s")
    with open_video(args.video) as (capture, info):
        duration = info.frame_count / info.fps
        first = cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB)

    min_face = args.min_face or MIN_FACE
    recognizer = EmotionRecognizer(load_classifier(args.model), make_detector(args.detector, min_face=min_face))
    for batch in (1, args.batch_frames):  # warm-up: the classifier's batch sizes are compiled before timing
        recognizer.predict_many([first] * batch)
    frames_seen, frames_with_face, memory = 0, 0, []
    baseline = rss_mb()

    def count(record: dict) -> None:
        nonlocal frames_seen, frames_with_face
        frames_seen += 1
        frames_with_face += bool(record["faces"])
        if frames_seen % int(round(info.fps)) == 0:
            memory.append(rss_mb())

    out_stem = args.video.with_suffix("") if args.outputs else None
    started, cpu_started = time.perf_counter(), time.process_time()
    predict_video(recognizer, args.video, count, out_stem=out_stem, batch_frames=args.batch_frames,
                  progress=False)
    seconds = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu_started) * 1000 / max(frames_seen, 1)

    memory = memory or [baseline]
    quarter, end = memory[len(memory) // 4], memory[-1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"video: {args.video.name}, {info.width}×{info.height}, {info.frame_count} frames at {info.fps:g} "
          f"fps ({duration:.1f} s); model: {args.model}; runtime: {recognizer.classifier.runtime}; "
          f"detector {args.detector}, minimum face {min_face} px; "
          f"cpus: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}")
    print(f"processed {frames_seen} frames (every frame) in {seconds:.1f} s: {frames_seen / seconds:.1f} "
          f"frames/s, {duration / seconds:.2f}× real time; a face in "
          f"{frames_with_face / max(frames_seen, 1):.1%} of frames; {cpu_ms:.1f} ms of CPU per frame (all threads)")
    print(f"memory: {baseline:.0f} MB after loading, {quarter:.0f} MB at 25%, {end:.0f} MB at the end "
          f"(growth after 25%: {end - quarter:+.1f} MB), peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
