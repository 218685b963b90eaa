"""A rank that dies mid-run stops the job within a bounded time, and the same command then resumes it."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from support.distributed import epoch_lines, start, write_config, write_tiny_npz

from ferkit.distributed.launcher import describe_exit, launch, likeliest_cause_first

pytest.importorskip("jax")

EPOCHS = 6


def _read_lines(process, sink: list[str]) -> threading.Thread:
    def pump():
        for line in iter(process.stdout.readline, ""):
            sink.append(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow  # two 2-process jobs, each process importing TensorFlow and JAX
def test_killed_rank_stops_the_job_and_the_rerun_resumes(tmp_path):
    data = write_tiny_npz(tmp_path / "tiny.npz", train=512)
    config = write_config(tmp_path / "tiny.yaml", NoOfEpochs=EPOCHS, Patience=EPOCHS)
    out = tmp_path / "run"
    command = ["launch", "--nproc", "2", "--grace", "60", "--", "train", "--data", str(data), "--config",
               str(config), "--out", str(out), "--heartbeat-timeout", "10"]

    process = start(command)
    lines: list[str] = []
    reader = _read_lines(process, lines)
    backup = out / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 900
    while not backup.exists():
        assert process.poll() is None, "".join(lines)[-3000:]
        assert time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.02)
    rank1_pid = int(re.search(r"launch: rank 1 is pid (\d+)", "".join(lines)).group(1))
    os.kill(rank1_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    process.wait(timeout=180)
    reader.join(timeout=10)
    stopped_after = time.monotonic() - killed_at
    output = "".join(lines)

    assert process.returncode != 0
    assert f"launch: rank 1 (pid {rank1_pid}) was killed by SIGKILL" in output
    assert stopped_after < 90, f"the job took {stopped_after:.0f} s to stop"
    assert "[rank 0] error: lost another process of the job" in output, output[-3000:]
    assert len(epoch_lines(output, rank=0)) < EPOCHS, "the kill came too late to test a resume"
    assert not (out / "model.keras").exists() and backup.exists()
    run_id = hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:12]
    rank1_scratch = Path(tempfile.gettempdir()) / f"ferkit-rank1-mirror-{run_id}"
    assert rank1_scratch.is_dir(), "the killed rank's scratch folder is left behind..."

    rerun = start(command)
    rerun_output, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, rerun_output[-3000:]
    resumed = epoch_lines(rerun_output, rank=0)
    assert resumed == epoch_lines(rerun_output, rank=1)
    assert resumed and not resumed[0].startswith("epoch 1/"), "the rerun started over instead of resuming"
    assert resumed[-1].startswith(f"epoch {EPOCHS}/{EPOCHS}")
    with (out / "history.csv").open(newline="") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert sorted(set(epochs)) == list(range(EPOCHS))
    assert (out / "model.keras").is_file() and not (out / "backup").exists()
    assert not rank1_scratch.exists(), "...and the next attempt of the run removes it"


def test_launcher_stops_the_others_when_one_rank_fails(capsys):
    """Rank 1 fails at once while rank 0 would run for 10 minutes: the job ends within the grace period."""
    script = ("import os, sys, time\n"
              "rank = int(os.environ['FERKIT_PROCESS_ID'])\n"
              "env = os.environ\n"
              "print('hello from', rank, env['FERKIT_NUM_PROCESSES'], env['FERKIT_COORDINATOR'])\n"
              "sys.stdout.flush()\n"
              "time.sleep(600 if rank == 0 else 0.5)\n"
              "sys.exit(3)\n")
    started = time.monotonic()
    code = launch(2, ["job"], grace=1, program=[sys.executable, "-c", script])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr().out
    assert code == 3 and elapsed < 30, (code, elapsed, captured)
    assert re.search(r"\[rank 0\] hello from 0 2 127\.0\.0\.1:\d+", captured)
    assert re.search(r"\[rank 1\] hello from 1 2 127\.0\.0\.1:\d+", captured)
    assert re.search(r"launch: rank 1 \(pid \d+\) exited with status 3; stopped rank\(s\) 0 after 1 s\.",
                     captured)
    assert "resume" not in captured


def test_exit_descriptions():
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with status 3"


def test_a_rank_killed_by_a_signal_is_named_before_the_peers_that_noticed_it():
    """CI once saw rank 0's own exit (it noticed the lost peer) and rank 1's SIGKILL in the same poll."""
    assert likeliest_cause_first([(0, 1), (1, -signal.SIGKILL)]) == [1, 0]
    assert likeliest_cause_first([(2, 1), (1, 3)]) == [1, 2]
    assert likeliest_cause_first([(3, -signal.SIGTERM), (1, -signal.SIGKILL), (0, 2)]) == [1, 3, 0]
