"""Video: sampled frames streamed through the recognizer, timelines, summary and annotated video."""

import csv
import json

import av
import cv2
import numpy as np
import pytest
from support.inference import FER_CLASSES, HEAD, astronaut, write_tiny_model, write_video

from ferkit.inference import EmotionRecognizer
from ferkit.inference.timeline import EmotionTimeline
from ferkit.inference.video import VideoError, predict_video, sample_step, sampled_frames


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    return EmotionRecognizer.load(write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.keras"))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """12 frames at 10 fps: a face in frames 0-7, an empty scene in 8-11."""
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4")


def test_sampling_step_from_every_or_fps():
    assert sample_step(30.0) == 1
    assert sample_step(30.0, every=5) == 5
    assert sample_step(30.0, fps=2) == 15
    assert sample_step(10.0, fps=50) == 1
    with pytest.raises(VideoError, match="not both"):
        sample_step(30.0, fps=1, every=2)
    with pytest.raises(VideoError, match="frame step .every. must be at least 1"):
        sample_step(30.0, every=0)
    with pytest.raises(VideoError, match="sampling rate .fps. must be positive"):
        sample_step(30.0, fps=0)


def test_frames_are_streamed_every_nth(video):
    capture = cv2.VideoCapture(str(video))
    indices = [index for index, rgb in sampled_frames(capture, 3)]
    capture.release()
    assert indices == [0, 3, 6, 9]


def test_every_sampled_frame_gets_a_record_and_the_outputs_are_written(recognizer, video, tmp_path):
    records = []
    summary = predict_video(recognizer, video, records.append, every=2, out_stem=tmp_path / "out" / "clip",
                            batch_frames=4, progress=False)
    assert [r["frame"] for r in records] == [0, 2, 4, 6, 8, 10]
    assert all(r["file"] == str(video) and r["error"] is None for r in records)
    assert [len(r["faces"]) for r in records] == [1, 1, 1, 1, 0, 0]
    assert records[2]["faces"][0]["box"][0] > records[0]["faces"][0]["box"][0]  # the face drifts right

    assert summary["samples"] == 6 and summary["samples_with_faces"] == 4 and summary["sample_every"] == 2
    emotions = [r["faces"][0]["emotion"] for r in records if r["faces"]]
    assert emotions.count(summary["dominant_emotion"]) == max(emotions.count(e) for e in emotions)
    assert sum(summary["emotion_share"].values()) == pytest.approx(1.0, abs=1e-3)
    assert summary["segments"][0]["start_s"] == 0.0 and summary["segments"][-1]["end_s"] == pytest.approx(0.8)

    folder = tmp_path / "out"
    with (folder / "clip.timeline.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["frame"]) for row in rows] == [0, 2, 4, 6, 8, 10]
    assert [row["emotion"] for row in rows[:4]] == emotions and rows[4]["emotion"] == ""
    assert [row["track"] for row in rows] == ["1"] * 4 + [""] * 2  # one person, one track
    assert summary["tracks"]["1"]["samples"] == 4
    assert float(rows[1]["time_s"]) == pytest.approx(0.2)
    assert set(FER_CLASSES) <= set(rows[0])
    timeline = json.loads((folder / "clip.timeline.json").read_text())
    assert [frame["frame"] for frame in timeline["frames"]] == [0, 2, 4, 6, 8, 10]
    assert timeline["frames"][0]["faces"] == records[0]["faces"]
    assert json.loads((folder / "clip.summary.json").read_text()) == summary

    annotated = cv2.VideoCapture(str(folder / "clip.annotated.mp4"))
    frames = 0
    while annotated.read()[0]:
        frames += 1
    annotated.release()
    assert frames == 6
    with av.open(str(folder / "clip.annotated.mp4")) as container:  # H.264 in MP4: plays in browsers
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert sorted(p.name for p in folder.iterdir()) == ["clip.annotated.mp4", "clip.summary.json",
                                                        "clip.timeline.csv", "clip.timeline.json",
                                                        "clip.timeline.png"]
    assert cv2.imread(str(folder / "clip.timeline.png")) is not None


def test_fps_sampling_and_no_outputs_without_a_folder(recognizer, video, tmp_path):
    records = []
    summary = predict_video(recognizer, video, records.append, fps=2.5, progress=False)
    assert [r["frame"] for r in records] == [0, 4, 8]
    assert summary["sample_every"] == 4


def test_unreadable_video_is_a_user_error_and_leaves_no_files(recognizer, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    with pytest.raises(VideoError, match="broken.mp4"):
        predict_video(recognizer, broken, print, out_stem=tmp_path / "out" / "broken", progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_segments_are_runs_of_one_emotion():
    timeline = EmotionTimeline(0.5)
    for time_s, emotion in [(0.0, "happy"), (0.5, "happy"), (1.0, None), (1.5, "sad"), (2.0, "sad"),
                            (2.5, "happy")]:
        timeline.add(time_s, emotion)
    assert timeline.samples == 6 and timeline.counts == {"happy": 3, "sad": 2}
    assert timeline.segments() == [
        {"start_s": 0.0, "end_s": 1.0, "emotion": "happy", "samples": 2},
        {"start_s": 1.5, "end_s": 2.5, "emotion": "sad", "samples": 2},
        {"start_s": 2.5, "end_s": 3.0, "emotion": "happy", "samples": 1},
    ]


def test_people_keep_their_track_through_a_gap_and_labels_are_smoothed(recognizer, tmp_path):
    """Two people; the left one vanishes for two frames and comes back: both keep their ids."""
    head = cv2.resize(astronaut()[HEAD], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    path = tmp_path / "two.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (480, 240))
    for index in range(10):
        frame = np.full((240, 480, 3), 90, np.uint8)
        if index not in (4, 5):
            frame[40:40 + head.shape[0], 20 + 3 * index:20 + 3 * index + head.shape[1]] = head
        frame[60:60 + head.shape[0], 300 - 2 * index:300 - 2 * index + head.shape[1]] = head
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    records = []
    predict_video(recognizer, path, records.append, smooth_seconds=0.5, progress=False)
    by_side = [{("left" if face["box"][0] < 200 else "right"): face["track"] for face in r["faces"]}
               for r in records]
    assert [len(sides) for sides in by_side] == [2, 2, 2, 2, 1, 1, 2, 2, 2, 2]
    assert {sides["left"] for sides in by_side if "left" in sides} == {by_side[0]["left"]}
    assert {sides["right"] for sides in by_side} == {by_side[0]["right"]} != {by_side[0]["left"]}
    unsmoothed = []
    predict_video(recognizer, path, unsmoothed.append, smooth_seconds=0, progress=False)
    first = records[0]["faces"][0]["probabilities"]
    assert first == unsmoothed[0]["faces"][0]["probabilities"]  # a track's first sample is its own answer
