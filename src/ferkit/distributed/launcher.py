"""Start N local ferkit processes as one job, prefix their output with their rank, and stop them together.

If one process fails, the others get a grace period to stop by themselves, then SIGTERM, then SIGKILL, and
the launcher exits non-zero naming the process, so a job never hangs waiting for a rank that is gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ferkit.distributed.process_group import DistributedError, check_coordinator


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class _Rank:
    rank: int
    process: subprocess.Popen
    threads: list[threading.Thread]


def _relay(stream, tag: str, write: Callable[[str], None]) -> None:
    """Copy lines from a child's pipe, each starting with its rank tag (added unless already there)."""
    for line in iter(stream.readline, ""):
        text = line.rstrip("\n")
        write(text if text.startswith(tag) else tag + text)
    stream.close()


def _wait(ranks: list[_Rank], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while any(r.process.poll() is None for r in ranks) and time.monotonic() < deadline:
        time.sleep(0.05)


def _stop(ranks: list[_Rank], grace: float = 5.0) -> None:
    """SIGTERM every running rank (its whole process group), then SIGKILL whatever is left after `grace`."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        running = [r for r in ranks if r.process.poll() is None]
        for r in running:
            try:
                os.killpg(r.process.pid, sig)
            except ProcessLookupError:
                pass
        _wait(running, wait)


def child_environment(command: Sequence[str], coordinator: str, nproc: int, rank: int,
                      base: dict[str, str] | None = None) -> dict[str, str]:
    """Rank `rank`'s environment: the job's topology, and for `train` the JAX backend and --distributed."""
    env = dict(os.environ if base is None else base)
    env.update({
        "FERKIT_COORDINATOR": coordinator,
        "FERKIT_NUM_PROCESSES": str(nproc),
        "FERKIT_PROCESS_ID": str(rank),
        "PYTHONUNBUFFERED": "1",
    })
    if command and command[0] == "train":
        env["KERAS_BACKEND"] = "jax"
        env["FERKIT_DISTRIBUTED"] = "1"
    return env


def launch(nproc: int, command: Sequence[str], coordinator: str | None = None, grace: float = 10.0,
           echo: Callable[[str], None] = print, echo_err: Callable[[str], None] | None = None,
           program: Sequence[str] | None = None) -> int:
    """Run `ferkit <command>` in `nproc` local processes; return 0 when all succeed, else a failure status.

    Args:
        nproc: number of processes (ranks 0..nproc-1).
        command: the ferkit command and its arguments, e.g. ["train", "--data", "x.npz", ...].
        coordinator: HOST:PORT for rank 0's coordination service (default: a free port on 127.0.0.1).
        grace: when one rank fails, seconds the others get to stop by themselves (they notice the loss
            of a peer) before they are sent SIGTERM, and SIGKILL 5 s later.
        program: what to run with `command` appended (default: this Python's `-m ferkit.cli.main`).
    """
    if nproc < 1:
        raise DistributedError(f"nproc={nproc}: needs at least 1 process")
    if not command:
        raise DistributedError("command is empty: give the ferkit command to run, e.g. ['train', ...]")
    if coordinator:
        check_coordinator(coordinator, "coordinator")
    else:
        coordinator = f"127.0.0.1:{free_port()}"
    echo_err = echo_err or echo
    lock = threading.Lock()

    def locked(write):
        def emit(text: str) -> None:
            with lock:
                write(text)
        return emit

    echo(f"launch: {nproc} process(es), coordinator {coordinator}: ferkit {' '.join(command)}")
    ranks: list[_Rank] = []
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    try:
        for rank in range(nproc):
            process = subprocess.Popen(
                [*(program or (sys.executable, "-m", "ferkit.cli.main")), *command],
                env=child_environment(command, coordinator, nproc, rank),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                start_new_session=True,
            )
            tag = f"[rank {rank}] "
            threads = [
                threading.Thread(target=_relay, args=(process.stdout, tag, locked(echo)), daemon=True),
                threading.Thread(target=_relay, args=(process.stderr, tag, locked(echo_err)), daemon=True),
            ]
            for thread in threads:
                thread.start()
            ranks.append(_Rank(rank, process, threads))
            echo(f"launch: rank {rank} is pid {process.pid}")
        failed = _wait_for_all_or_first_failures(ranks)
        if failed:
            code = failed[0].process.returncode
            _wait(ranks, grace)
            others = [r.rank for r in ranks if r.process.poll() is None]
            _stop(ranks)
            what = "; ".join(f"rank {r.rank} (pid {r.process.pid}) {describe_exit(r.process.returncode)}"
                             for r in failed)
            stopped = f"; stopped rank(s) {', '.join(map(str, others))} after {grace:g} s" if others else ""
            hint = " Run the same command again to resume from the last finished epoch." \
                if command[0] == "train" else ""
            echo_err(f"launch: {what}{stopped}." + hint)
            return code if code > 0 else 1
        return 0
    except KeyboardInterrupt:
        _stop(ranks)
        echo_err("launch: interrupted; stopped every rank")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        _stop(ranks)
        for r in ranks:
            for thread in r.threads:
                thread.join(timeout=5)


def _interrupt(signum, frame) -> None:
    """SIGTERM to the launcher stops the job like Ctrl-C does (the ranks run in their own sessions)."""
    raise KeyboardInterrupt


def _wait_for_all_or_first_failures(ranks: list[_Rank]) -> list[_Rank]:
    """Block until every rank exited successfully ([]) or some failed (those seen failed, likeliest cause first)."""
    while True:
        codes = [r.process.poll() for r in ranks]
        failed = [(r.rank, code) for r, code in zip(ranks, codes, strict=True) if code not in (None, 0)]
        if failed:
            return [ranks[rank] for rank in likeliest_cause_first(failed)]
        if all(code == 0 for code in codes):
            return []
        time.sleep(0.1)


def likeliest_cause_first(failed: list[tuple[int, int]]) -> list[int]:
    """Order the ranks seen failed in one poll so the probable cause comes first.

    A rank killed by a signal (negative code) is taken as the cause over ranks that exited with a status,
    because a rank that loses a peer notices it and exits by itself, often within the same 0.1 s poll.

    Args:
        failed: (rank, exit code) pairs, all codes non-zero.
    """
    return [rank for rank, code in sorted(failed, key=lambda pair: (pair[1] > 0, pair[0]))]
