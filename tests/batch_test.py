"""`ferkit.batch` without Ray: input listing, the resumable output folder, a local run's tables, the
`Recognize` step a user plugs into their own Ray Dataset, and `ferkit batch` on the command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow", reason="ferkit batch needs pyarrow (ferkit[batch])")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from support.batch import assert_same_faces, read_errors, read_faces  # noqa: E402
from support.inference import FER_CLASSES, on_astronaut_face  # noqa: E402

from ferkit.batch import Recognize, RecognizeFiles, list_inputs, run  # noqa: E402
from ferkit.batch.inputs import BatchInputError  # noqa: E402
from ferkit.batch.rows import ERROR_SCHEMA  # noqa: E402
from ferkit.batch.store import OutputFolderError, ResultStore  # noqa: E402
from ferkit.cli import main as cli_main  # noqa: E402
from ferkit.data.images import decode_image  # noqa: E402
from ferkit.errors import FerkitError  # noqa: E402

FACE_COLUMNS = ["file", "frame", "time_s", "track", "box", "landmarks", "emotion", "confidence", *FER_CLASSES,
                "model", "model_version"]
SRC = Path(__file__).resolve().parents[1] / "src"


def test_inputs_from_folders_patterns_and_manifests(tmp_path):
    for name in ("a/1.jpg", "a/b/2.PNG", "a/b/c.mp4", "a/readme.txt", "d/3.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    folder = list_inputs([tmp_path / "a"])
    assert folder == [str(tmp_path / p) for p in ("a/1.jpg", "a/b/2.PNG", "a/b/c.mp4")]
    assert list_inputs([str(tmp_path / "**" / "*.jpg")]) == [str(tmp_path / "a/1.jpg"), str(tmp_path / "d/3.jpg")]
    (tmp_path / "list.csv").write_text("Path,label\nd/3.jpg,x\n/elsewhere/4.jpg,y\n,z\n")
    assert list_inputs([tmp_path / "list.csv"]) == [str(tmp_path / "d/3.jpg"), "/elsewhere/4.jpg"]
    pq.write_table(pa.table({"file": ["a/1.jpg", "d/3.jpg"]}), tmp_path / "list.parquet")
    both = list_inputs([tmp_path / "list.parquet", tmp_path / "d"])
    assert both == [str(tmp_path / "a/1.jpg"), str(tmp_path / "d/3.jpg")]  # duplicates listed once


@pytest.mark.parametrize(("setup", "given", "message"), [
    (lambda p: None, "missing", "no such file, folder or pattern"),
    (lambda p: (p / "empty").mkdir(), "empty", "no images or videos in this folder"),
    (lambda p: None, "*.jpg", "the pattern matches no images or videos"),
    (lambda p: (p / "m.csv").write_text("name\nx.jpg\n"), "m.csv", "needs a column named path"),
    (lambda p: (p / "m.parquet").write_bytes(b"PAR1 nonsense"), "m.parquet", "cannot read the manifest"),
])
def test_inputs_that_name_nothing_are_one_line_errors(tmp_path, setup, given, message):
    setup(tmp_path)
    with pytest.raises(BatchInputError, match=message) as caught:
        list_inputs([str(tmp_path / given)])
    assert str(tmp_path / given) in str(caught.value) and "\n" not in str(caught.value)


def _tables(files: list[str]) -> tuple[pa.Table, pa.Table]:
    faces = pa.table({"file": files, "emotion": ["happy"] * len(files)})
    return faces, pa.Table.from_pylist([], schema=ERROR_SCHEMA)


def test_store_keeps_only_committed_parts_and_refuses_mixed_or_concurrent_jobs(tmp_path):
    settings = {"model": None, "fps": 1.0}
    with ResultStore(tmp_path, settings) as store:
        store.commit(*_tables(["a.jpg", "b.jpg"]), ["a.jpg", "b.jpg"])
        with pytest.raises(OutputFolderError, match="being written by another ferkit batch job"):
            ResultStore(tmp_path, settings)
    # A crash after a part's rename but before its manifest line, and a torn manifest line.
    pq.write_table(_tables(["c.jpg"])[0], tmp_path / "faces" / "part-000001-deadbeef.parquet")
    (tmp_path / "faces" / ".part-000002-x.parquet.tmp").write_bytes(b"half")
    with (tmp_path / "done.jsonl").open("a") as manifest:
        manifest.write('{"part": "part-000001-deadbeef", "files": ["c.j')
    with ResultStore(tmp_path, settings) as store:
        assert store.done == {"a.jpg", "b.jpg"}
        assert sorted(p.name for p in (tmp_path / "faces").iterdir()) == [f"{store.parts[0]['part']}.parquet"]
        store.commit(*_tables(["c.jpg"]), ["c.jpg"])
    assert [json.loads(line)["files"] for line in (tmp_path / "done.jsonl").read_text().splitlines()] == [
        ["a.jpg", "b.jpg"], ["c.jpg"]]
    assert sorted(pd.read_parquet(tmp_path / "faces")["file"]) == ["a.jpg", "b.jpg", "c.jpg"]
    with pytest.raises(OutputFolderError, match=r"other settings \(fps 1.0 → 2.0\)"):
        ResultStore(tmp_path, {"model": None, "fps": 2.0})


def test_local_run_writes_one_row_per_face_and_one_error_row_per_corrupt_file(batch_collection, batch_local_run):
    _, kinds = batch_collection
    out, summary = batch_local_run
    faces, errors = read_faces(out), read_errors(out)
    assert list(faces.columns) == FACE_COLUMNS
    assert (summary.files, summary.skipped, summary.processed) == (10, 0, 10)
    assert (summary.faces, summary.errors) == (len(faces), 3)
    for path in kinds["astronaut"]:
        rows = faces[faces["file"] == str(path)]
        assert len(rows) == 1 and rows["frame"].isna().all() and rows["time_s"].isna().all()
        assert on_astronaut_face(list(rows["box"].iloc[0]), tolerance=40)
        assert rows["emotion"].iloc[0] == "happy"
        assert rows["track"].isna().all()  # photos have no track
        eyes = rows["landmarks"].iloc[0]  # the default detector (YuNet) gives five points
        assert eyes["right_eye"][0] < eyes["left_eye"][0]  # the subject's right eye is on the image's left
    probabilities = faces[FER_CLASSES].to_numpy(float)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(probabilities.max(axis=1), faces["confidence"].to_numpy(float), atol=1e-6)
    video = faces[faces["file"] == str(kinds["video"][0])]
    assert set(video["frame"]) <= {0, 2, 4, 6, 8} and len(set(video["frame"])) >= 3  # 10 fps sampled at 5
    np.testing.assert_allclose(video["time_s"].to_numpy(float), video["frame"].to_numpy(float) / 10)
    assert video["track"].notna().all() and video["track"].nunique() == 1  # one person, one track
    assert faces["model"].unique().tolist() == ["fervgg.onnx"] and faces["model_version"].str.len().eq(12).all()
    assert errors["file"].tolist() == sorted(str(p) for p in kinds["corrupt"])
    assert all(error.startswith(file) and "\n" not in error for file, error in zip(errors["file"], errors["error"],
                                                                                   strict=True))
    done = {file for line in (out / "done.jsonl").read_text().splitlines() for file in json.loads(line)["files"]}
    assert str(kinds["other"][1]) in done  # the cat: done with no face row


def test_a_second_run_skips_finished_files_and_does_only_new_ones(batch_collection, batch_local_run, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # the local engine must never import Ray
    root, _ = batch_collection
    out = Path(shutil.copytree(batch_local_run[0], tmp_path / "out"))
    before = read_faces(out)
    again = run([root], out, fps=5, batch_size=4, progress=False)
    assert (again.skipped, again.processed, again.faces) == (10, 0, 0)
    assert_same_faces(read_faces(out), before)
    extra = tmp_path / "late.jpg"
    extra.write_bytes((root / "astronaut_0.jpg").read_bytes())
    added = run([root, extra], out, fps=5, batch_size=4, progress=False)
    assert (added.skipped, added.processed, added.faces) == (10, 1, 1)
    assert len(read_faces(out)) == len(before) + 1


def test_recognize_step_for_user_datasets_gives_the_same_rows_as_the_file_step(batch_collection):
    _, kinds = batch_collection
    file = str(kinds["astronaut"][0])
    from_files = RecognizeFiles(batch_size=4).process([file])
    expected = pa.Table.from_struct_array(from_files.column("faces").combine_chunks().flatten()).to_pylist()
    images = np.empty(3, dtype=object)
    decoded = decode_image(file)
    images[:] = [decoded, np.zeros((5,), np.uint8), decoded[..., 0]]  # RGB, unusable, grayscale
    with pytest.warns(UserWarning, match="bad.png"):
        rows = Recognize(batch_size=4)({"image": images, "path": np.array([file, "bad.png", "gray.png"])})
    assert rows.column_names == FACE_COLUMNS
    assert rows.column("file").to_pylist() == [file, "gray.png"]
    first = rows.to_pylist()[0]
    assert {k: v for k, v in first.items() if k not in FER_CLASSES + ["confidence"]} == {
        k: v for k, v in expected[0].items() if k not in FER_CLASSES + ["confidence"]}
    np.testing.assert_allclose([first[c] for c in FER_CLASSES], [expected[0][c] for c in FER_CLASSES], atol=1e-5)


def test_ray_engine_without_ray_installed_says_what_to_install(batch_collection, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(FerkitError, match=r"engine='ray' needs Ray: pip install 'ferkit\[cluster\]'"):
        run([batch_collection[0]], tmp_path / "out", engine="ray")
    assert not (tmp_path / "out").exists()


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "ferkit.cli.main", "batch", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize(("args", "message"), [
    (["{tmp}/nothing-here", "--out", "{tmp}/o"], "{tmp}/nothing-here: no such file, folder or pattern"),
    (["{root}", "--out", "{tmp}/o", "--workers", "2"], "address and workers need engine='ray'"),
    (["{root}", "--out", "{tmp}/o", "--engine", "spark"], "engine='spark' is not one of local, ray"),
    (["{root}", "--out", "{tmp}/o", "--fps", "0"], "fps must be positive, got 0.0"),
    (["{root}", "--out", "{tmp}/o", "--detector", "yolo"], "detector='yolo' is not one of"),
    (["{root}", "--out", "{tmp}/o", "--model", "{tmp}/damaged.keras"], "cannot read model file {tmp}/damaged.keras"),
])
def test_cli_user_mistakes_are_one_line_errors(batch_collection, tmp_path, monkeypatch, capsys, args, message):
    root, _ = batch_collection
    (tmp_path / "damaged.keras").write_text("not a model")
    monkeypatch.setattr(sys, "argv", ["ferkit", "batch", *(arg.format(root=root, tmp=tmp_path) for arg in args)])
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message.format(tmp=tmp_path)}"), lines
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_resumes_after_the_driver_is_killed(batch_collection, batch_local_run, tmp_path):
    root, _ = batch_collection
    out = tmp_path / "out"
    process = _cli(str(root), "--out", str(out), "--fps", "5", "--batch-size", "1", "--commit-every", "1")
    manifest, deadline = out / "done.jsonl", time.monotonic() + 120
    while not (manifest.is_file() and manifest.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
        assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed = sum(len(json.loads(line)["files"]) for line in manifest.read_text().splitlines())
    assert 0 < committed < 10
    process = _cli(str(root), "--out", str(out), "--fps", "5", "--batch-size", "1")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert f"({committed} already done)" in stderr
    assert_same_faces(read_faces(out), read_faces(batch_local_run[0]))
    pd.testing.assert_frame_equal(read_errors(out), read_errors(batch_local_run[0]))
