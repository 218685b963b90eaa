"""What training and evaluation tell the user: the configuration used, one line per epoch (a progress bar only
on a terminal), a history plot that marks the best epoch, a confusion matrix that names what it shows."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ferkit.config import load_config
from ferkit.evaluation.figures import confusion_figure
from ferkit.evaluation.report import confusion_title
from ferkit.evaluation.tta import SINGLE_CROP_PROTOCOL
from ferkit.training.callbacks import EpochSummary
from ferkit.training.plots import best_epoch, history_figure

SRC = Path(__file__).resolve().parents[1] / "src"
ANSI = re.compile(r"\x1b\[|\r")


@pytest.mark.slow
def test_a_bare_train_says_what_it_trains_and_prints_one_plain_line_per_epoch(faces_folder, tmp_path):
    command = [sys.executable, "-m", "ferkit.cli.main", "train", "--data", str(faces_folder), "--out",
               str(tmp_path / "run"), "--set", "ImageSize=[48,48]", "--set", "NoOfEpochs=3",
               "--set", "NoOfFilters=2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={"PYTHONPATH": str(SRC), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Architecture lenet from the specification's default configuration")
    assert "with ImageSize=[48,48] NoOfEpochs=3 NoOfFilters=2: 3 epochs, batch 32" in lines[0]
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == ["epoch 1/3", "epoch 2/3",
                                                                                    "epoch 3/3"]
    assert not ANSI.search(result.stdout) and not ANSI.search(result.stderr)  # piped: no bar, no colours


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_the_progress_bar_is_drawn_only_on_a_terminal(monkeypatch, terminal):
    stream = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    lines = []
    summary = EpochSummary(64, 2, lines.append, progress_bar=True)
    summary.set_params({"steps": 4})
    for epoch, loss in enumerate((1.0, 1.2)):
        summary.on_epoch_begin(epoch)
        for batch in range(4):
            summary.on_train_batch_end(batch, {"loss": 1.5})
        summary.on_epoch_end(epoch, {"loss": loss, "val_loss": loss})
    assert [line.split(" (")[0] for line in lines] == ["epoch 1/2: loss 1.0000, val_loss 1.0000",
                                                       "epoch 2/2: loss 1.2000, val_loss 1.2000"]
    assert lines[0].endswith("best so far: checkpoint saved") and not lines[1].endswith("checkpoint saved")
    drawn = stream.getvalue()
    assert ("epoch 1/2:" in drawn and "/4 [" in drawn and "epoch 2/2:" in drawn) if terminal else drawn == ""


def test_history_plot_marks_the_best_epoch_with_integer_ticks():
    rows = [{"epoch": e, "loss": 2 - e / 10, "val_loss": v, "categorical_accuracy": 0.3 + e / 20}
            for e, v in enumerate([1.5, 1.1, 0.9, 1.0, 1.2])]
    assert best_epoch(rows) == 3
    for shown, best in ((rows, 3), (rows[:1], 1)):
        figure = history_figure(shown)
        figure.canvas.draw()
        for axis in figure.axes:
            assert f"best epoch ({best})" in [text.get_text() for text in axis.get_legend().get_texts()]
            assert all(float(tick).is_integer() for tick in axis.get_xticks())


def test_the_confusion_matrix_names_model_split_and_accuracy():
    metrics = {"n": 120, "accuracy": 0.6789, "protocol": {
        "model_file": "/x/runs/lenet/model.keras", "data": "/d/fer2013.npz", "split": "PrivateTest",
        "views": SINGLE_CROP_PROTOCOL}}
    title = confusion_title(metrics)
    assert title == "lenet/model.keras on fer2013.npz PrivateTest (120 faces, single crop): accuracy 67.89%"
    assert confusion_figure([[3, 1], [0, 2]], ["a", "b"], title)._suptitle.get_text() == title


def test_the_configuration_line_names_the_file_when_one_is_given():
    from ferkit.cli.train import describe_config

    line = describe_config(Path("configs/lenet.yaml"), [], load_config("configs/lenet.yaml"))
    assert line.startswith("Architecture lenet from configuration configs/lenet.yaml: 30 epochs, batch 32")
