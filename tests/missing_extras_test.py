"""Without `ferkit[plots]` (matplotlib) and `ferkit[video]` (PyAV) predict and evaluate still write every other
output: the annotated video in mp4v through OpenCV, the timelines and reports without their PNGs, and one
`note:` line each naming the extra. Absence is simulated here (`sys.modules[name] = None`, which makes the
import fail as if the package were not installed); tests/plain_install_test.py checks a real plain install."""

from __future__ import annotations

import json
import sys

import cv2
import numpy as np
import pytest
from support.cli import run_cli
from support.inference import EVALUATION_FIGURES_NOTE, TIMELINE_PLOT_NOTE, VIDEO_NOTE, write_video

from ferkit.extras import MissingExtraWarning, installed
from ferkit.inference import EmotionRecognizer
from ferkit.inference.video import predict_video


@pytest.fixture
def without(monkeypatch):
    """Make the named top-level packages (and their submodules already imported) unimportable."""

    def hide(*packages: str) -> None:
        for name in list(sys.modules):
            if name.split(".")[0] in packages:
                monkeypatch.delitem(sys.modules, name)
        for package in packages:
            monkeypatch.setitem(sys.modules, package, None)

    return hide


def test_installed_tells_a_missing_package_without_importing_it(without):
    assert installed("numpy")
    without("matplotlib")
    assert not installed("matplotlib")
    assert sys.modules["matplotlib"] is None


def test_a_video_without_pyav_is_written_in_mp4v_with_a_warning(without, tmp_path):
    without("av")
    video = write_video(tmp_path / "clip.mp4")
    records = []
    with pytest.warns(MissingExtraWarning, match=r"mp4v.*pip install 'ferkit\[video\]'"):
        predict_video(EmotionRecognizer.load(), video, records.append, every=3, out_stem=tmp_path / "out" / "clip",
                      progress=False)
    annotated = cv2.VideoCapture(str(tmp_path / "out" / "clip.annotated.mp4"))
    codec = int(annotated.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    frames = []
    while (frame := annotated.read())[0]:
        frames.append(frame[1])
    annotated.release()
    assert codec in ("FMP4", "mp4v") and len(frames) == len(records) == 4  # FMP4: FFmpeg's MPEG-4 Part 2
    assert frames[0].shape == (240, 320, 3)
    assert frames[0].std() > 10  # the annotated frame itself, not an empty picture
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "clip.annotated.mp4", "clip.summary.json", "clip.timeline.csv", "clip.timeline.json", "clip.timeline.png"]


def test_cli_predict_on_a_video_without_either_extra_writes_the_rest_and_two_notes(without, monkeypatch, capsys,
                                                                                  tmp_path):
    without("av", "matplotlib")
    video = write_video(tmp_path / "clip.mp4")
    code, stdout, stderr = run_cli(monkeypatch, capsys, "predict", str(video), "--every", "4",
                                    "--out", str(tmp_path / "out"))
    assert code == 0
    assert [json.loads(line)["frame"] for line in stdout.splitlines()] == [0, 4, 8]
    notes = [line for line in stderr.splitlines() if line.startswith("note:")]
    assert notes == [VIDEO_NOTE, TIMELINE_PLOT_NOTE]
    assert "Traceback" not in stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "clip.annotated.mp4", "clip.summary.json", "clip.timeline.csv", "clip.timeline.json"]


def test_cli_evaluate_without_matplotlib_writes_metrics_and_predictions_and_a_note(without, monkeypatch, capsys,
                                                                                   tmp_path):
    without("matplotlib")
    faces = np.random.default_rng(0).integers(0, 256, (14, 48, 48), dtype=np.uint8)
    np.savez(tmp_path / "faces.npz", images=faces, labels=np.arange(14) % 7, usage=np.array(["PrivateTest"] * 14))
    out = tmp_path / "evaluation"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "evaluate", "--data", str(tmp_path / "faces.npz"),
                                    "--out", str(out))
    assert code == 0 and "accuracy:" in stdout
    assert stderr == EVALUATION_FIGURES_NOTE + "\n"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "predictions.npz"]
    assert json.loads((out / "metrics.json").read_text())["n"] == 14
