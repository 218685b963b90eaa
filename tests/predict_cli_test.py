"""`ferkit predict`: JSON lines per input, annotated outputs, bad inputs never stop the run, exit codes."""

import json
import sys

import pytest
from support.inference import (
    FER_CLASSES,
    astronaut,
    awkward_files,
    chelsea,
    encode,
    group_photo,
    on_astronaut_face,
    write_tiny_model,
    write_video,
)
from typer.testing import CliRunner

from ferkit.cli import main as cli_main
from ferkit.cli.main import app


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.keras")


def run(*args, stdin: bytes | None = None):
    result = CliRunner().invoke(app, ["predict", *map(str, args)], input=stdin)
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, records


def test_every_awkward_file_gets_its_record_and_the_good_ones_their_face(model, tmp_path):
    files = awkward_files(tmp_path / "inputs")
    result, records = run(*[path for path, _ in files.values()], "--model", model)
    assert result.exit_code == 0, result.output
    assert [r["file"] for r in records] == [str(path) for path, _ in files.values()]
    for record, (path, expected) in zip(records, files.values(), strict=True):
        if expected == "face":
            assert record["error"] is None, record
            assert len(record["faces"]) == 1 and on_astronaut_face(record["faces"][0]["box"]), record
        else:
            assert record["faces"] == [] and expected in record["error"], record
            assert record["error"].startswith(str(path))


def test_folders_are_searched_recursively_and_annotated_images_written(model, tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.jpg").write_bytes(encode(astronaut(), "JPEG"))
    (tmp_path / "in" / "sub" / "group.png").write_bytes(encode(group_photo()[0]))
    (tmp_path / "in" / "sub" / "cat.png").write_bytes(encode(chelsea()))
    (tmp_path / "in" / "notes.txt").write_text("not an input")
    out = tmp_path / "out"
    result, records = run(tmp_path / "in", "--model", model, "--out", out, "--explain")
    assert result.exit_code == 0, result.output
    by_name = {r["file"].split("/")[-1]: r for r in records}
    assert sorted(by_name) == ["a.jpg", "cat.png", "group.png"]
    assert len(by_name["group.png"]["faces"]) == 3 and by_name["cat.png"]["faces"] == []
    assert all(set(face["probabilities"]) == set(FER_CLASSES) for r in records for face in r["faces"])
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a.annotated.png", "sub/cat.annotated.png", "sub/group.annotated.png"]
    from ferkit.data.images import decode_image

    assert decode_image(out / "sub" / "group.annotated.png").shape == (480, 640, 3)


def test_images_without_a_face_get_a_hint_on_stderr(model, tmp_path):
    (tmp_path / "cat.png").write_bytes(encode(chelsea()))
    (tmp_path / "a.png").write_bytes(encode(astronaut()))
    result, records = run(tmp_path / "cat.png", tmp_path / "a.png", "--model", model, "--min-face", "40")
    assert result.exit_code == 0 and [len(r["faces"]) for r in records] == [0, 1]
    assert records[1]["faces"][0]["landmarks"] is not None
    hint = [line for line in result.stderr.splitlines() if line.startswith("hint:")]
    assert hint == [f"hint: no face found in {tmp_path / 'cat.png'} with --detector yunet, faces from 40 px; "
                    "try --min-face 20 for smaller faces, another --detector, or --detector none if each image "
                    "is already a face crop"]
    result, _ = run(tmp_path / "a.png", "--model", model)
    assert "hint:" not in result.stderr


def test_stdin_image(model):
    result, records = run("-", "--model", model, "--detector", "none", stdin=encode(chelsea(), "JPEG"))
    assert result.exit_code == 0, result.output
    (record,) = records
    assert record["file"] == "-" and record["faces"][0]["box"] == [0, 0, 451, 300]


def test_video_gives_a_record_per_sampled_frame(model, tmp_path):
    video = write_video(tmp_path / "clip.mp4")
    result, records = run(video, "--model", model, "--every", "3", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert [r["frame"] for r in records] == [0, 3, 6, 9]
    assert [len(r["faces"]) for r in records] == [1, 1, 1, 0]
    assert "4 frames sampled, 3 with a face, 1 person tracked" in result.stderr
    assert (tmp_path / "out" / "clip.annotated.mp4").stat().st_size > 0
    assert (tmp_path / "out" / "clip.timeline.csv").is_file()


def test_exit_code_is_non_zero_when_no_input_succeeded(model, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    result, records = run(bad, tmp_path / "missing.jpg", "--model", model)
    assert result.exit_code == 1
    assert [r["error"] for r in records] == [f"{bad}: empty file (0 bytes)", f"{tmp_path / 'missing.jpg'}: "
                                             "file not found"]


def _main_exit_code(monkeypatch, *args) -> int:
    monkeypatch.setattr(sys, "argv", ["ferkit", "predict", *map(str, args)])
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    return exited.value.code


@pytest.mark.parametrize("options, message", [
    (["--detector", "yolo"], "--detector 'yolo' is not one of yunet, haar, mtcnn, none"),
    (["--explain"], "--explain draws heat maps into the annotated output: add --out DIR"),
    (["--fps", "2", "--every", "3"], "use either --fps or --every, not both"),
    (["--runtime", "onnx"], "cannot run with runtime='onnx'"),
])
def test_user_mistakes_exit_2_with_one_line(model, tmp_path, monkeypatch, capsys, options, message):
    image = tmp_path / "a.png"
    image.write_bytes(encode(chelsea()))
    assert _main_exit_code(monkeypatch, image, "--model", model, *options) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error


def test_missing_model_exits_2(tmp_path, monkeypatch, capsys):
    image = tmp_path / "a.png"
    image.write_bytes(encode(chelsea()))
    assert _main_exit_code(monkeypatch, image, "--model", tmp_path / "none.keras") == 2
    assert "model file not found" in capsys.readouterr().err
